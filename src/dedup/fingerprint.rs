//! The fingerprint of a text: its shingles, and the sample of them (the
//! keys) that the index keeps of a record.

use serde::{Deserialize, Serialize};

use super::hash::{shingle_hash, text_hash};
use super::normalize::word_hashes;

/// Bump when shingling, hashing or sampling changes: fingerprints of another
/// version share no keys with this one, so persisted ones must be recomputed.
pub const FINGERPRINT_VERSION: u16 = 1;

/// Words per shingle. Five words keep the stock phrases of a news beat
/// ("russian president vladimir putin said") from looking like copied text,
/// while one edited word still leaves most of a paragraph's shingles intact.
/// On the labelled set, 4 to 8 words all separate copies from reports of the
/// same event; 5 and 6 leave the widest gap.
const SHINGLE_WORDS: usize = 5;

/// Sampling by shingle position: up to position `.0` (exclusive) a shingle
/// is a key when `hash & .1 == 0`. Leads are sampled densely so that a
/// two-paragraph teaser still has ~25 keys; the rest at 1 in 16.
const SAMPLING: [(usize, u64); 3] = [(48, 1), (128, 3), (usize::MAX, SPARSE_MASK)];

/// A shingle is a sparse key when `hash & SPARSE_MASK == 0` (1 in 16), in
/// every position. The key keeps these low bits, so sparse keys are
/// recognisable in the index.
const SPARSE_MASK: u64 = 15;

/// Compact summary of an article body for the index and for persistence
/// (~60 keys, a few hundred bytes as JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fingerprint {
    /// [`FINGERPRINT_VERSION`] of the code that computed it. The index does
    /// not compare versions: recompute persisted fingerprints of another
    /// version from the stored text before inserting them.
    pub version: u16,
    /// Sampled shingle keys, sorted and distinct: what the index keeps of a
    /// record.
    pub(super) keys: Vec<u32>,
    /// Every distinct shingle, sorted, for comparing with seeds (which the
    /// index holds whole). Not persisted: it costs 4 bytes a word, and a
    /// fingerprint read back is only inserted, not checked. Without it, a
    /// check compares with seeds through the keys, a fair sample.
    #[serde(skip)]
    pub(super) shingles: Vec<u32>,
    /// The shingles with no word inside quotation marks (also not
    /// persisted). Independent reports of one event quote the same people;
    /// what they do not share is the reporter's own sentences.
    #[serde(skip)]
    pub(super) narration: Vec<u32>,
    /// Distinct shingles in the text.
    pub(super) shingle_count: u32,
    /// Hash of the normalized word sequence; `None` for a text without words.
    pub(super) text_hash: Option<u64>,
}

impl Fingerprint {
    /// Fingerprint of an article body.
    ///
    /// Pass the body without the headline: syndicated copies change
    /// headlines. Headline-like lines (short, no sentence punctuation) are
    /// dropped anyway, so a headline left in costs little.
    pub fn of(text: &str) -> Fingerprint {
        let (words, quoted) = word_hashes(text);
        let mut keys = Vec::new();
        let mut shingles = Vec::new();
        let mut narration = Vec::new();
        for_each_shingle(&words, &quoted, |pos, h, quotes| {
            let key = key_of(h);
            if h & sampling_mask(pos) == 0 {
                keys.push(key);
            }
            shingles.push(key);
            if !quotes {
                narration.push(key);
            }
        });
        for set in [&mut keys, &mut shingles, &mut narration] {
            set.sort_unstable();
            set.dedup();
        }
        Fingerprint {
            version: FINGERPRINT_VERSION,
            keys,
            shingle_count: shingles.len() as u32,
            shingles,
            narration,
            text_hash: text_hash(&words),
        }
    }

    /// Number of sampled shingle keys (what the index stores for this text).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Keys per sampling tier (all, 1 in 4, 1 in 16).
    pub(super) fn tier_counts(&self) -> [u32; 3] {
        let mut counts = [0u32; 3];
        for &k in &self.keys {
            for (tier, count) in counts.iter_mut().enumerate() {
                *count += u32::from(in_tier(k, tier));
            }
        }
        counts
    }
}

/// Calls `f(position, hash, whether a word is quoted)` for every shingle of
/// `words`; a text shorter than a shingle is one shingle.
fn for_each_shingle(words: &[u64], quoted: &[bool], mut f: impl FnMut(usize, u64, bool)) {
    if words.len() < SHINGLE_WORDS {
        if !words.is_empty() {
            f(0, shingle_hash(words), quoted.contains(&true));
        }
        return;
    }
    let windows = words
        .windows(SHINGLE_WORDS)
        .zip(quoted.windows(SHINGLE_WORDS));
    for (pos, (window, quotes)) in windows.enumerate() {
        f(pos, shingle_hash(window), quotes.contains(&true));
    }
}

/// The sampling mask at shingle position `pos`, see `SAMPLING`.
fn sampling_mask(pos: usize) -> u64 {
    SAMPLING
        .iter()
        .find(|(end, _)| pos < *end)
        .map_or(SPARSE_MASK, |(_, mask)| *mask)
}

/// The high 32 bits identify the shingle; the low 4 bits of the hash are kept
/// so that sparse keys stay recognisable.
fn key_of(h: u64) -> u32 {
    ((h >> 32) as u32 & !(SPARSE_MASK as u32)) | (h as u32 & SPARSE_MASK as u32)
}

/// Tiers are nested samples: every key is in tier 0 (1 in 2), tier 1 holds
/// the keys sampled at 1 in 4, tier 2 those at 1 in 16 (`SAMPLING`'s masks).
pub(super) fn in_tier(key: u32, tier: usize) -> bool {
    u64::from(key) & SAMPLING[tier].1 == 0
}

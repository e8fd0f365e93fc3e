//! Exact and near-duplicate detection against the seed corpus and the stream.
//!
//! The pure core of the dedup stage: no I/O, no clock. The caller builds a
//! [`Fingerprint`] from an article body, asks [`Index::check`] for a verdict,
//! then [`Index::insert`]s the article so later copies of it are caught.
//!
//! # Method
//! Text is normalized (NFKC, case and punctuation folded, boilerplate lines
//! dropped) and cut into overlapping 5-word shingles, each hashed with a
//! fixed hash (fingerprints are persisted, so it must not change between
//! builds; see [`FINGERPRINT_VERSION`]).
//!
//! *Seeds* are few and matter most, so the index holds every shingle of a
//! seed and compares a query's shingles with it exactly.
//!
//! *Records* (the stream, up to 100,000s) are kept as a sample of their
//! shingles, the *keys*: Broder's MOD-m sampling ("On the resemblance and
//! containment of documents", 1997) rather than a fixed-size MinHash
//! signature, because MinHash cannot estimate containment: a teaser holding
//! 10% of an article shares ~10% of the article's minima, but ~100% of the
//! article's sampled shingles that it could hold. The sample is nested in
//! three tiers: 1 shingle in 16 anywhere (a uniform, position-independent
//! sample), 1 in 4 up to shingle 128 and 1 in 2 up to shingle 48. Teasers are
//! leads, and the dense lead gives a 40-word teaser ~18 keys instead of ~2.
//!
//! Candidates come from inverted indexes (key -> documents; the query
//! touches only the lists of its own keys, so its cost does not grow with
//! the index, and lists of keys shared by very many documents are capped).
//! Verification measures resemblance `|A∩B| / |A∪B|` and containment
//! `|A∩B| / min(|A|, |B|)` (teasers inside articles, articles inside
//! updates), scored as a Wilson lower confidence bound so that a short
//! text's few keys count for what they are worth.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::record::{DupMethod, Duplicate};

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
    keys: Vec<u32>,
    /// Every distinct shingle, sorted, for comparing with seeds (which the
    /// index holds whole). Not persisted: it costs 4 bytes a word, and a
    /// fingerprint read back is only inserted, not checked. Without it, a
    /// check compares with seeds through the keys, a fair sample.
    #[serde(skip)]
    shingles: Vec<u32>,
    /// The shingles with no word inside quotation marks (also not
    /// persisted). Independent reports of one event quote the same people;
    /// what they do not share is the reporter's own sentences.
    #[serde(skip)]
    narration: Vec<u32>,
    /// Distinct shingles in the text.
    shingle_count: u32,
    /// Hash of the normalized word sequence; `None` for a text without words.
    text_hash: Option<u64>,
}

impl Fingerprint {
    /// Fingerprint of an article body.
    ///
    /// Pass the body without the headline: syndicated copies change
    /// headlines. Headline-like lines (short, no sentence punctuation) are
    /// dropped anyway, so a headline left in costs little.
    pub fn of(text: &str) -> Fingerprint {
        let (words, quoted) = word_hashes(text);
        let text_hash = words.first().map(|_| {
            words
                .iter()
                .fold(FNV_OFFSET, |h, &w| mix64(h.rotate_left(17) ^ w))
        });
        let mut keys = Vec::new();
        let mut shingles = Vec::new();
        let mut narration = Vec::new();
        let mut sample = |pos: usize, h: u64, quotes: bool| {
            let mask = SAMPLING
                .iter()
                .find(|(end, _)| pos < *end)
                .map_or(SPARSE_MASK, |(_, mask)| *mask);
            if h & mask == 0 {
                keys.push(key_of(h));
            }
            shingles.push(key_of(h));
            if !quotes {
                narration.push(key_of(h));
            }
        };
        if words.len() < SHINGLE_WORDS {
            if !words.is_empty() {
                sample(0, shingle_hash(&words), quoted.contains(&true));
            }
        } else {
            let windows = words
                .windows(SHINGLE_WORDS)
                .zip(quoted.windows(SHINGLE_WORDS));
            for (pos, (window, quotes)) in windows.enumerate() {
                sample(pos, shingle_hash(window), quotes.contains(&true));
            }
        }
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
            text_hash,
        }
    }

    /// Number of sampled shingle keys (what the index stores for this text).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Keys per sampling tier (all, 1 in 4, 1 in 16).
    fn tier_counts(&self) -> [u32; 3] {
        let mut counts = [0u32; 3];
        for &k in &self.keys {
            for (tier, count) in counts.iter_mut().enumerate() {
                *count += u32::from(in_tier(k, tier));
            }
        }
        counts
    }
}

/// The high 32 bits identify the shingle; the low 4 bits of the hash are kept
/// so that sparse keys stay recognisable.
fn key_of(h: u64) -> u32 {
    ((h >> 32) as u32 & !(SPARSE_MASK as u32)) | (h as u32 & SPARSE_MASK as u32)
}

/// Tiers are nested samples: every key is in tier 0 (1 in 2), tier 1 holds
/// the keys sampled at 1 in 4, tier 2 those at 1 in 16 (`SAMPLING`'s masks).
fn in_tier(key: u32, tier: usize) -> bool {
    u64::from(key) & SAMPLING[tier].1 == 0
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// splitmix64 finalizer: FNV alone leaves the low bits, which pick samples,
/// poorly mixed.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn shingle_hash(words: &[u64]) -> u64 {
    words
        .iter()
        .fold(0x9e37_79b9_7f4a_7c15, |h, &w| mix64(h.rotate_left(23) ^ w))
}

fn hash_bytes(bytes: impl IntoIterator<Item = u8>) -> u64 {
    mix64(bytes.into_iter().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    }))
}

/// Hashes of the body's words after normalization, and whether each word
/// is inside quotation marks. Normalization: NFKC, lowercase, words are the
/// maximal runs of alphanumeric characters (so quotes, dashes and
/// apostrophes fold away), boilerplate lines skipped.
fn word_hashes(text: &str) -> (Vec<u64>, Vec<bool>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !is_boilerplate(l))
        .collect();
    // A text made only of short lines (a one-line teaser without a full
    // stop) is still a text: better shingle it whole than not at all.
    if kept.is_empty() {
        kept = lines;
    }
    let mut words = Vec::new();
    let mut quoted = Vec::new();
    for (segment, in_quotes) in kept.into_iter().flat_map(quote_segments) {
        // Normalizing word by word, and only words with non-ASCII letters,
        // costs a fraction of normalizing the whole text. Combining marks
        // stay inside the run so NFKC can compose them with their letter.
        let runs = segment
            .split(|c: char| match c.is_ascii() {
                true => !c.is_ascii_alphanumeric(),
                false => !(c.is_alphanumeric() || is_combining_mark(c)),
            })
            .filter(|w| !w.is_empty());
        let before = words.len();
        for run in runs {
            if run.is_ascii() {
                words.push(hash_bytes(run.bytes().map(|b| b.to_ascii_lowercase())));
            } else {
                let folded: String = run.nfkc().flat_map(char::to_lowercase).collect();
                words.extend(words_of(&folded).map(|w| hash_bytes(w.bytes())));
            }
        }
        quoted.resize(quoted.len() + words.len() - before, in_quotes);
    }
    (words, quoted)
}

/// A line cut at quotation marks into (text, inside quotes). Only closed
/// quotes count: a stray `"` (inches, a typo) leaves the rest as narration.
fn quote_segments(line: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut open: Option<(usize, char)> = None;
    for (i, c) in line.char_indices() {
        match open {
            None => {
                let close = match c {
                    '“' => '”',
                    '„' => '“',
                    '«' => '»',
                    '"' => '"',
                    _ => continue,
                };
                open = Some((i, close));
            }
            Some((at, close)) if c == close || (close == '“' && c == '”') => {
                out.push((&line[start..at], false));
                out.push((&line[at..i], true));
                start = i;
                open = None;
            }
            Some(_) => {}
        }
    }
    out.push((&line[start..], false));
    out
}

/// Words of a line: maximal runs of alphanumeric characters, except that
/// each Han, Hiragana or Katakana character is a word of its own (those
/// scripts do not separate words by spaces, so a run would be a sentence).
fn words_of(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .flat_map(split_cjk)
}

fn split_cjk(run: &str) -> impl Iterator<Item = &str> {
    let mut rest = run;
    std::iter::from_fn(move || {
        let mut chars = rest.char_indices();
        let (_, first) = chars.next()?;
        let end = match is_cjk(first) {
            true => first.len_utf8(),
            false => chars
                .find(|&(_, c)| is_cjk(c))
                .map_or(rest.len(), |(i, _)| i),
        };
        let (word, tail) = rest.split_at(end);
        rest = tail;
        Some(word)
    })
}

fn is_cjk(c: char) -> bool {
    matches!(u32::from(c), 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x2_0000..=0x2_FA1F)
}

/// Labels that open caption, credit and navigation lines ("Photo: ...",
/// "Read more: ...").
const LINE_LABELS: &[&str] = &[
    "photo",
    "photos",
    "image",
    "images",
    "picture",
    "video",
    "credit",
    "credits",
    "source",
    "caption",
    "file",
    "read",
    "related",
    "see",
    "watch",
    "listen",
    "advertisement",
    "sponsored",
    "subscribe",
    "follow",
    "share",
    "tags",
    "topics",
    "updated",
    "published",
];

/// Lines that are not article prose: headlines, section heads, bylines,
/// captions, credits, share and subscribe prompts, copyright notices. The
/// rules look at the shape of the line, not at site-specific wording.
fn is_boilerplate(line: &str) -> bool {
    let line = line.trim();
    let words = words_of(line).count();
    if words <= 4 {
        return true;
    }
    let lower = line.to_lowercase();
    if lower.starts_with("by ") && words <= 8 {
        return true;
    }
    if let Some((label, _)) = lower.split_once(':')
        && words_of(label).count() <= 3
        && words_of(label).any(|w| LINE_LABELS.contains(&w))
        && words <= 30
    {
        return true;
    }
    if (line.contains('©')
        || lower.contains("all rights reserved")
        || lower.starts_with("copyright"))
        && words <= 30
    {
        return true;
    }
    let ending = line.trim_end_matches(['"', '\'', '”', '’', '»', ')', ']', '*']);
    let sentence_end = ending.ends_with(['.', '!', '?', '…', ':', ';', '。', '！', '？']);
    !sentence_end && words <= 20
}

/// Thresholds of the near-duplicate decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// Containment of the smaller key set in the larger at or above which two
    /// texts are near duplicates.
    pub containment: f64,
    /// Resemblance (Jaccard) of the key sets at or above which two texts are
    /// near duplicates, whatever their sizes.
    pub resemblance: f64,
    /// Scores are lower confidence bounds (Wilson, this many standard
    /// deviations) on the shared fraction, so that 3 keys out of 4 count for
    /// less than 60 out of 80: a short text's sample is small.
    pub confidence_z: f64,
    /// Containment needs the smaller text to have at least this many
    /// shingles: a sentence quoted from an article is not a copy of it.
    pub min_shingles: u32,
    /// Documents kept per key. A key shared by more documents is a stock
    /// phrase of the beat, not evidence of copying; capping its list bounds
    /// the query cost.
    pub max_postings: usize,
}

impl Default for Params {
    /// Set from `tests/fixtures/dedup/`: against seeds, copies score 0.66
    /// and up and other reports of the same events 0.14 and below; between
    /// records (sampled, no quote discount) 0.64 and up against 0.38 and
    /// below. 0.45 sits inside both gaps, not just under the lowest copy.
    /// On 92 real articles of the extraction dev set, no two score above
    /// 0.25, and copies edited one word in 20 with a paragraph dropped
    /// score 0.61 and up in 95% of cases.
    fn default() -> Params {
        Params {
            containment: 0.45,
            resemblance: 0.45,
            confidence_z: 1.28,
            min_shingles: 16,
            max_postings: 256,
        }
    }
}

/// The exact identities of an article, besides its text.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keys<'a> {
    /// Canonicalized again by the index, so any form of the URL will do.
    pub canonical_url: Option<&'a str>,
    pub guid: Option<&'a str>,
}

/// The index's answer for one article.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The document this one duplicates, if any; seeds come first.
    pub duplicate: Option<Duplicate>,
    /// Best similarity to any indexed document, also when below the
    /// thresholds: 1.0 for an exact match, else the larger of resemblance
    /// and containment as a lower confidence bound (so a short teaser that
    /// is a verbatim lead scores ~0.9, not 1.0).
    pub similarity: f64,
}

#[derive(Clone, Copy, Debug)]
struct Doc {
    /// Unix seconds of insertion; seeds are never evicted.
    at: i64,
    /// End of this document's id in `Index::ids`.
    id_end: u32,
    /// Distinct shingles, all of them and those outside quotes (the latter
    /// only kept for seeds). Counts saturate: only texts of 65,000+ words
    /// reach the limit, and their scores are then merely approximate.
    shingles: u16,
    narration: u16,
    /// Keys per sampling tier, see [`in_tier`] (records only).
    tiers: [u16; 3],
    seed: bool,
}

/// Narration shingles (outside quotes) both texts need before a match with a
/// seed must also hold without the quotes: about two sentences' worth.
const MIN_NARRATION: u32 = 8;

/// Marks a free slot in a [`MultiMap`]; document numbers stay below it.
const FREE: u32 = u32::MAX;

/// A key of a [`MultiMap`]: already a well-mixed hash.
trait SlotKey: Copy + Eq + Default {
    fn spread(self) -> u64;
}

impl SlotKey for u32 {
    fn spread(self) -> u64 {
        u64::from(self).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// A 64-bit hash as two halves, so a slot is 12 bytes rather than 16.
impl SlotKey for [u32; 2] {
    fn spread(self) -> u64 {
        (u64::from(self[0]) << 32 | u64::from(self[1])).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

fn split64(h: u64) -> [u32; 2] {
    [(h >> 32) as u32, h as u32]
}

/// Open-addressing multimap from key to document numbers, with linear
/// probing; a key shared by several documents occupies several slots.
///
/// Memory is the point: a posting is one `(key, doc)` slot, 8 bytes for a
/// shingle key, with no per-key allocation, and the table grows by a quarter
/// (not double) so its load stays between 0.68 and 0.85.
struct MultiMap<K> {
    slots: Vec<(K, u32)>,
    len: usize,
}

impl<K: SlotKey> MultiMap<K> {
    fn new() -> MultiMap<K> {
        MultiMap {
            slots: Vec::new(),
            len: 0,
        }
    }

    fn home(&self, key: K) -> usize {
        // Lemire's multiply-shift range reduction: table sizes need not be
        // powers of two.
        ((u128::from(key.spread()) * self.slots.len() as u128) >> 64) as usize
    }

    /// Adds `doc` under `key` unless `cap` documents hold it already.
    fn insert(&mut self, key: K, doc: u32, cap: usize) {
        if (self.len + 1) * 20 > self.slots.len() * 17 {
            self.resize(
                ((self.len + 1) * 20 / 17)
                    .max(self.slots.len() * 5 / 4)
                    .max(16),
            );
        }
        let n = self.slots.len();
        let mut i = self.home(key);
        let mut held = 0;
        while self.slots[i].1 != FREE {
            if self.slots[i].0 == key {
                held += 1;
                if held >= cap {
                    return;
                }
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        self.slots[i] = (key, doc);
        self.len += 1;
    }

    fn for_each(&self, key: K, mut f: impl FnMut(u32)) {
        let n = self.slots.len();
        if n == 0 {
            return;
        }
        let mut i = self.home(key);
        while self.slots[i].1 != FREE {
            if self.slots[i].0 == key {
                f(self.slots[i].1);
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
    }

    fn resize(&mut self, size: usize) {
        let old = std::mem::replace(&mut self.slots, vec![(K::default(), FREE); size]);
        self.len = 0;
        for (key, doc) in old.into_iter().filter(|s| s.1 != FREE) {
            self.insert(key, doc, usize::MAX);
        }
    }

    /// Renumbers documents through `remap`, dropping those mapped to
    /// [`FREE`], and resizes to the survivors.
    fn remap(&mut self, remap: &[u32]) {
        let live: Vec<(K, u32)> = self
            .slots
            .iter()
            .filter(|s| s.1 != FREE)
            .map(|&(k, d)| (k, remap[d as usize]))
            .filter(|s| s.1 != FREE)
            .collect();
        self.slots = vec![(K::default(), FREE); (live.len() * 10 / 7).max(16)];
        self.len = 0;
        for (key, doc) in live {
            self.insert(key, doc, usize::MAX);
        }
    }

    fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<(K, u32)>()
    }
}

/// Exact and near-duplicate index over seeds and ingested records.
pub struct Index {
    params: Params,
    docs: Vec<Doc>,
    /// All ids, concatenated; a `String` per id would cost 24 bytes more each.
    ids: String,
    /// Sampled shingle key -> records.
    postings: MultiMap<u32>,
    /// Every shingle -> seeds. Seeds are few and come first, so they are
    /// held whole: a copy is compared with its seed exactly, not through
    /// samples.
    seed_postings: MultiMap<u32>,
    /// A seed's shingles outside quotation marks -> seeds.
    seed_narration: MultiMap<u32>,
    /// Canonical URL, guid and text hashes (tagged by kind) -> documents.
    exact: MultiMap<[u32; 2]>,
    /// Records inserted before this instant (Unix seconds) are gone even if
    /// not compacted away yet.
    horizon: i64,
    /// Documents below the horizon still occupying memory.
    dead: usize,
}

/// Which identity an exact key hashes; mixed into the key so one table
/// holds all three.
#[derive(Clone, Copy)]
enum Identity {
    Url = 1,
    Guid = 2,
    Text = 3,
}

fn identity_key(kind: Identity, h: u64) -> [u32; 2] {
    split64(mix64(h ^ (kind as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)))
}

struct Candidate {
    doc: u32,
    similarity: f64,
    near: bool,
}

impl Index {
    pub fn new(params: Params) -> Index {
        Index {
            params,
            docs: Vec::new(),
            ids: String::new(),
            postings: MultiMap::new(),
            seed_postings: MultiMap::new(),
            seed_narration: MultiMap::new(),
            exact: MultiMap::new(),
            horizon: i64::MIN,
            dead: 0,
        }
    }

    /// Adds a seed, given its text (seeds are held whole, which a
    /// [`Fingerprint`] read back from storage could not provide). Seeds are
    /// never evicted, and a text copying a seed is reported as a copy of the
    /// seed, not of a record that copies it too.
    pub fn add_seed(&mut self, id: &str, text: &str) {
        let fp = Fingerprint::of(text);
        let doc = self.push_doc(id, &fp, i64::MAX, true);
        if let Some(h) = fp.text_hash {
            self.exact
                .insert(identity_key(Identity::Text, h), doc, usize::MAX);
        }
        for &shingle in &fp.shingles {
            self.seed_postings.insert(shingle, doc, usize::MAX);
        }
        for &shingle in &fp.narration {
            self.seed_narration.insert(shingle, doc, usize::MAX);
        }
    }

    /// Adds an ingested record, seen at `at` (the time window counts from
    /// it). Ids are not checked for uniqueness: check before inserting.
    pub fn insert(&mut self, id: &str, keys: &Keys, fp: Fingerprint, at: DateTime<Utc>) {
        let doc = self.push_doc(id, &fp, at.timestamp(), false);
        let identities = [
            keys.canonical_url.map(|u| (Identity::Url, url_key(u))),
            keys.guid.map(|g| (Identity::Guid, hash_bytes(g.bytes()))),
            fp.text_hash.map(|h| (Identity::Text, h)),
        ];
        for (kind, h) in identities.into_iter().flatten() {
            self.exact
                .insert(identity_key(kind, h), doc, self.params.max_postings);
        }
        for &key in &fp.keys {
            self.postings.insert(key, doc, self.params.max_postings);
        }
    }

    /// The duplicate verdict for an article, or `None` if it is new.
    pub fn check(&self, keys: &Keys, fp: &Fingerprint) -> Option<Duplicate> {
        self.assess(keys, fp).duplicate
    }

    /// Best similarity of `fp` to anything indexed, duplicate or not.
    pub fn best_similarity(&self, fp: &Fingerprint) -> f64 {
        self.assess(&Keys::default(), fp).similarity
    }

    /// The verdict plus the best similarity, in one pass over the index.
    ///
    /// Order of precedence: a seed with the same text, a seed near enough,
    /// then the same URL, guid or text among records, then a near record.
    /// Among records the earliest one is named.
    pub fn assess(&self, keys: &Keys, fp: &Fingerprint) -> Verdict {
        let exact = |doc: u32, method| Verdict {
            duplicate: Some(self.duplicate(doc, 1.0, method)),
            similarity: 1.0,
        };
        let text_holder = fp.text_hash.and_then(|h| self.holder(Identity::Text, h));
        if let Some(d) = text_holder.filter(|&d| self.docs[d as usize].seed) {
            return exact(d, DupMethod::Hash);
        }
        let (best_seed, best_record, best) = self.near(fp);
        if let Some(c) = best_seed.filter(|c| c.near) {
            return Verdict {
                duplicate: Some(self.duplicate(c.doc, c.similarity, DupMethod::Near)),
                similarity: c.similarity,
            };
        }
        let by_url = keys
            .canonical_url
            .and_then(|u| self.holder(Identity::Url, url_key(u)));
        let by_guid = keys
            .guid
            .and_then(|g| self.holder(Identity::Guid, hash_bytes(g.bytes())));
        for (holder, method) in [
            (by_url, DupMethod::Url),
            (by_guid, DupMethod::Guid),
            (text_holder, DupMethod::Hash),
        ] {
            if let Some(d) = holder {
                return exact(d, method);
            }
        }
        match best_record.filter(|c| c.near) {
            Some(c) => Verdict {
                duplicate: Some(self.duplicate(c.doc, c.similarity, DupMethod::Near)),
                similarity: c.similarity,
            },
            None => Verdict {
                duplicate: None,
                similarity: best,
            },
        }
    }

    /// Forgets records inserted before `t`; seeds stay.
    pub fn evict_before(&mut self, t: DateTime<Utc>) {
        let t = t.timestamp();
        if t <= self.horizon {
            return;
        }
        self.horizon = t;
        self.dead = self.docs.iter().filter(|d| !d.seed && d.at < t).count();
        // Compacting costs a pass over the whole index: do it once a good
        // share is dead, so a caller evicting after every insert pays O(1)
        // amortized. Until then dead documents are skipped by `is_live`.
        if self.dead > 0 && self.dead * 8 >= self.docs.len() {
            self.compact();
        }
    }

    /// Live documents: seeds plus records inside the time window.
    pub fn len(&self) -> usize {
        self.docs.len() - self.dead
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the index holds on the heap (capacity, not just length).
    pub fn heap_bytes(&self) -> usize {
        self.docs.capacity() * std::mem::size_of::<Doc>()
            + self.ids.capacity()
            + self.postings.heap_bytes()
            + self.seed_postings.heap_bytes()
            + self.seed_narration.heap_bytes()
            + self.exact.heap_bytes()
    }

    fn is_live(&self, doc: u32) -> bool {
        let d = &self.docs[doc as usize];
        d.seed || d.at >= self.horizon
    }

    /// The live document holding an identity: a seed if any, else the
    /// earliest.
    fn holder(&self, kind: Identity, h: u64) -> Option<u32> {
        let mut best: Option<u32> = None;
        self.exact.for_each(identity_key(kind, h), |d| {
            if !self.is_live(d) {
                return;
            }
            let rank = |d: u32| (!self.docs[d as usize].seed, d);
            if best.is_none_or(|b| rank(d) < rank(b)) {
                best = Some(d);
            }
        });
        best
    }

    fn push_doc(&mut self, id: &str, fp: &Fingerprint, at: i64, seed: bool) -> u32 {
        let small = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        let (narration, tiers) = match seed {
            true => (small(fp.narration.len()), [0; 3]),
            false => (0, fp.tier_counts().map(|n| small(n as usize))),
        };
        self.ids.push_str(id);
        let doc = self.docs.len() as u32;
        self.docs.push(Doc {
            at,
            id_end: self.ids.len() as u32,
            shingles: small(fp.shingle_count as usize),
            narration,
            tiers,
            seed,
        });
        if !seed && at < self.horizon {
            self.dead += 1;
        }
        doc
    }

    fn id(&self, doc: u32) -> &str {
        let start = match doc {
            0 => 0,
            d => self.docs[d as usize - 1].id_end as usize,
        };
        &self.ids[start..self.docs[doc as usize].id_end as usize]
    }

    fn duplicate(&self, doc: u32, similarity: f64, method: DupMethod) -> Duplicate {
        Duplicate {
            duplicate_of: self.id(doc).to_string(),
            similarity,
            method,
        }
    }

    /// Best near candidates among seeds and among records, and the best
    /// similarity overall.
    fn near(&self, fp: &Fingerprint) -> (Option<Candidate>, Option<Candidate>, f64) {
        let mut best = 0.0f64;
        let mut keep = |slot: &mut Option<Candidate>, doc: u32, (similarity, near): (f64, bool)| {
            best = best.max(similarity);
            // Documents come in order, so on a tie the earlier one stays.
            if slot
                .as_ref()
                .is_none_or(|c| (near, similarity) > (c.near, c.similarity))
            {
                *slot = Some(Candidate {
                    doc,
                    similarity,
                    near,
                });
            }
        };

        // Seeds hold every shingle, so the share of the query's shingles
        // (or, read back from storage, of its keys) found in a seed
        // estimates |A∩S| / |A| without bias, wherever the text sits.
        let probe = if fp.shingles.is_empty() {
            &fp.keys
        } else {
            &fp.shingles
        };
        let mut best_seed = None;
        let narration = runs(&fp.narration, &self.seed_narration);
        for (doc, hits) in runs(probe, &self.seed_postings) {
            let d = &self.docs[doc as usize];
            let sizes = (f64::from(fp.shingle_count), f64::from(d.shingles));
            let mut score = self.score_seed(hits, probe.len(), sizes, self.params.min_shingles);
            // A copy shares the reporter's sentences as well as the quotes;
            // when both texts have some sentences of their own, the score is
            // the lower of the two. Only a text that is nearly all quotes
            // (a teaser of a quote paragraph) is judged on quotes alone.
            let (na, nb) = (fp.narration.len(), usize::from(d.narration));
            if na.min(nb) >= MIN_NARRATION as usize {
                let hits = narration
                    .binary_search_by_key(&doc, |r| r.0)
                    .map_or(0, |i| narration[i].1);
                let sizes = (na as f64, nb as f64);
                let own = self.score_seed(hits, na, sizes, MIN_NARRATION);
                score = (score.0.min(own.0), score.1 && own.1);
            }
            keep(&mut best_seed, doc, score);
        }

        let own = fp.tier_counts();
        let mut best_record = None;
        for (doc, run) in record_runs(&fp.keys, &self.postings) {
            if !self.is_live(doc) {
                continue;
            }
            let d = &self.docs[doc as usize];
            let tiers: [(u32, u32, u32); 3] = std::array::from_fn(|t| {
                let hits = run.iter().filter(|&&k| in_tier(k, t)).count() as u32;
                (hits, own[t], u32::from(d.tiers[t]))
            });
            let sizes = (f64::from(fp.shingle_count), f64::from(d.shingles));
            keep(&mut best_record, doc, self.score_records(&tiers, sizes));
        }
        (best_seed, best_record, best)
    }

    /// Similarity and decision against a seed: `hits` of the `sample`
    /// shingles (or keys) probed were in the seed; `a` and `b` are the two
    /// texts' shingle counts.
    fn score_seed(&self, hits: u32, sample: usize, (a, b): (f64, f64), min: u32) -> (f64, bool) {
        let p = &self.params;
        let shared = wilson_lower(f64::from(hits), sample as f64, p.confidence_z) * a;
        let resemblance = shared / (a + b - shared).max(1.0);
        let small = a.min(b);
        let containment = if small >= f64::from(min) {
            shared / small
        } else {
            0.0
        };
        self.decide(resemblance, containment)
    }

    /// Similarity and decision between two records from (hits, |A|, |B|)
    /// in each sampling tier of their keys; `a` and `b` are the texts'
    /// shingle counts.
    ///
    /// The dense tiers weigh the lead more, so they suit teasers, but only
    /// where both texts have the lead at about the same position; the sparse
    /// tier is position-independent, so it still sees a copy whose lead
    /// moved (a caption kept in one copy, a paragraph inserted on top). The
    /// confidence bound lets the tier with the best-supported evidence win.
    fn score_records(&self, tiers: &[(u32, u32, u32); 3], (a, b): (f64, f64)) -> (f64, bool) {
        let z = self.params.confidence_z;
        let mut resemblance = 0.0f64;
        let mut containment = 0.0f64;
        for &(h, ka, kb) in tiers {
            let h = f64::from(h);
            resemblance = resemblance.max(wilson_lower(h, f64::from(ka + kb) - h, z));
            containment = containment.max(wilson_lower(h, f64::from(ka.min(kb)), z));
        }
        if a.min(b) < f64::from(self.params.min_shingles) {
            containment = 0.0;
        }
        self.decide(resemblance, containment)
    }

    fn decide(&self, resemblance: f64, containment: f64) -> (f64, bool) {
        let p = &self.params;
        let near = resemblance >= p.resemblance || containment >= p.containment;
        (resemblance.max(containment).clamp(0.0, 1.0), near)
    }

    /// Drops the documents below the horizon and renumbers the rest.
    fn compact(&mut self) {
        let mut remap = vec![FREE; self.docs.len()];
        let mut docs = Vec::with_capacity(self.docs.len() - self.dead);
        let mut ids = String::with_capacity(self.ids.len());
        for (old, d) in self.docs.iter().enumerate() {
            if d.seed || d.at >= self.horizon {
                ids.push_str(self.id(old as u32));
                remap[old] = docs.len() as u32;
                docs.push(Doc {
                    id_end: ids.len() as u32,
                    ..*d
                });
            }
        }
        ids.shrink_to_fit();
        self.postings.remap(&remap);
        self.seed_postings.remap(&remap);
        self.seed_narration.remap(&remap);
        self.exact.remap(&remap);
        self.docs = docs;
        self.ids = ids;
        self.dead = 0;
    }
}

/// Lower bound of the Wilson score interval for a proportion: the share
/// that `hits` out of `n` observations support with `z` standard deviations
/// of confidence. Exactly 0 without observations.
fn wilson_lower(hits: f64, n: f64, z: f64) -> f64 {
    if n <= 0.0 {
        return 0.0;
    }
    let p = (hits / n).min(1.0);
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - spread) / (1.0 + z2 / n)).max(0.0)
}

/// Hits per seed: (seed, shingles of the probe found in it).
fn runs(probe: &[u32], postings: &MultiMap<u32>) -> Vec<(u32, u32)> {
    let mut docs: Vec<u32> = Vec::new();
    for &key in probe {
        postings.for_each(key, |doc| docs.push(doc));
    }
    docs.sort_unstable();
    docs.chunk_by(|a, b| a == b)
        .map(|run| (run[0], run.len() as u32))
        .collect()
}

/// Keys shared per record: (record, the shared keys).
fn record_runs(keys: &[u32], postings: &MultiMap<u32>) -> Vec<(u32, Vec<u32>)> {
    let mut shared: Vec<(u32, u32)> = Vec::new();
    for &key in keys {
        postings.for_each(key, |doc| shared.push((doc, key)));
    }
    shared.sort_unstable();
    shared
        .chunk_by(|a, b| a.0 == b.0)
        .map(|run| (run[0].0, run.iter().map(|h| h.1).collect()))
        .collect()
}

fn url_key(url: &str) -> u64 {
    match crate::url::canonicalize(url) {
        Some(c) => hash_bytes(c.bytes()),
        None => hash_bytes(url.trim().bytes()),
    }
}

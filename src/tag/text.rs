//! Text folding for matching, with a map back to the text as written, and
//! sentence boundaries.
//!
//! Folding: compatibility decomposition (NFKD, so "ﬁ" is "fi" and full-width
//! letters are ASCII), combining marks dropped (Erdoğan = Erdogan, and
//! precomposed or decomposed input fold alike), lower case, typographic
//! apostrophes and quotes made ASCII, hyphens and dashes made spaces
//! ("cease-fire" = "cease fire"), invisible characters dropped, and runs of
//! white space made one space, or one newline when they hold a line break.

use std::sync::LazyLock;

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Folded text with the way back to the original, plus word starts and
/// sentence stops recorded on the way, so that no later pass has to decode
/// the text again.
#[derive(Debug, Default)]
pub struct Folded {
    pub text: String,
    /// `(folded, original)` offsets where the folded text stops running in
    /// step with the original: folded byte `p` came from original byte
    /// `o + (p - f)` for the last checkpoint `(f, o)` at or before `p`.
    /// Mostly-ASCII text needs few, where a byte-per-byte map would cost four
    /// bytes written per byte read.
    checkpoints: Vec<(u32, u32)>,
    /// `o - f` of the last checkpoint.
    shift: u32,
    /// Offsets of the first character of every word.
    pub words: Vec<u32>,
    /// Offsets of every `.`, `!`, `?` and line break.
    pub stops: Vec<u32>,
    /// Offsets where an em or en dash was folded (to a space): clause
    /// boundaries, which the folded text no longer shows.
    pub dashes: Vec<u32>,
    in_word: bool,
}

impl Folded {
    /// Empties the buffers, keeping their memory for the next article.
    pub fn clear(&mut self) {
        self.text.clear();
        self.checkpoints.clear();
        self.shift = 0;
        self.words.clear();
        self.stops.clear();
        self.dashes.clear();
        self.in_word = false;
    }

    /// Makes room for folding `len` bytes of mostly ASCII text.
    pub fn reserve(&mut self, len: usize) {
        self.text.reserve(len);
        self.words.reserve(len / 4);
        self.stops.reserve(len / 32);
    }

    /// Bytes held by the buffers.
    pub fn capacity(&self) -> usize {
        self.text.capacity()
            + 8 * self.checkpoints.capacity()
            + 4 * (self.words.capacity() + self.stops.capacity() + self.dashes.capacity())
    }

    /// Appends the folding of `src`, whose first byte is at `base` in the
    /// original.
    pub fn push(&mut self, src: &str, base: u32) {
        self.reserve(src.len());
        let bytes = src.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if ASCII_CLASS[usize::from(bytes[i])] & PLAIN != 0 {
                i = self.plain_run(src, i, base);
                continue;
            }
            let at = base + i as u32;
            let b = bytes[i];
            if b.is_ascii() {
                i += 1;
                match b {
                    b'\n' | b'\r' | 0x0b | 0x0c => self.space(true, at),
                    b'`' => self.one('\'', at),
                    b' ' if !matches!(self.text.as_bytes().last(), None | Some(b' ' | b'\n')) => {
                        // The common case, kept off the general path.
                        self.in_word = false;
                        self.track(self.text.len() as u32, at);
                        self.text.push(' ');
                    }
                    _ => self.space(false, at),
                }
                continue;
            }
            let Some(c) = src.get(i..).and_then(|s| s.chars().next()) else {
                break;
            };
            i += c.len_utf8();
            match c {
                '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{02BC}' | '\u{2032}' | '\u{00B4}' => {
                    self.one('\'', at)
                }
                '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{00AB}' | '\u{00BB}'
                | '\u{2033}' => self.one('"', at),
                '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => {
                    if matches!(c, '\u{2013}' | '\u{2014}') {
                        self.dashes.push(self.text.len() as u32);
                    }
                    self.space(false, at)
                }
                '\u{2028}' | '\u{2029}' | '\u{0085}' => self.space(true, at),
                '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => {}
                c if c.is_whitespace() => self.space(false, at),
                c => match TWO_BYTE.get((c as usize).wrapping_sub(0x80)) {
                    Some(fold) if usize::from(fold.len) <= fold.chars.len() => {
                        for (k, &l) in fold.chars.iter().take(fold.len.into()).enumerate() {
                            self.one_known(l, fold.words >> k & 1 != 0, at);
                        }
                    }
                    _ => fold_char(c, |l| self.one(l, at)),
                },
            }
        }
    }

    /// Appends the run of plain ASCII that starts at `src[from]`, which folds
    /// byte for byte (lower-cased, in step with the original, so one
    /// checkpoint at most), and returns where the run ends. Single spaces
    /// between words fold to themselves too, so a run is usually a whole
    /// line. This is most of the folding time, so the bytes go 64 at a time:
    /// one pass sets a bit per byte in masks (plain, space, word, stop),
    /// with no test that depends on the byte before; bit arithmetic then
    /// finds the run's end and the word starts; one bulk copy and
    /// lower-casing follows.
    fn plain_run(&mut self, src: &str, from: usize, base: u32) -> usize {
        let bytes = src.as_bytes();
        let pos = self.text.len();
        // `tag` caps the original below u32::MAX, so this cannot wrap.
        self.track(pos as u32, base + from as u32);
        // Whether the byte before the chunk is a word byte, or plain. The
        // run's first byte is plain, so `prev_plain` matters only later.
        let (mut prev_word, mut prev_plain) = (u64::from(self.in_word), 0u64);
        let mut i = from;
        while let Some(chunk) = bytes.get(i..bytes.len().min(i + 64)) {
            let (mut plain, mut space, mut word, mut stop) = (0u64, 0u64, 0u64, 0u64);
            let mut carry = prev_plain;
            for (g, group) in chunk.chunks(8).enumerate() {
                // The classes of 8 bytes side by side, one per byte, then
                // each flag's 8 bits gathered by one multiplication.
                let mut classes = 0u64;
                for (k, &b) in group.iter().enumerate() {
                    classes |= u64::from(ASCII_CLASS[usize::from(b)]) << (8 * k);
                }
                let (p, s) = (gather(classes), gather(classes >> 3));
                plain |= p << (8 * g);
                word |= gather(classes >> 1) << (8 * g);
                stop |= gather(classes >> 2) << (8 * g);
                space |= s << (8 * g);
                // Stop at the group where the run ends: in text with few
                // long runs (Cyrillic, say), the rest would be wasted.
                if (p | (s & (p << 1 | carry))) != 0xFF {
                    break;
                }
                carry = p >> 7;
            }
            // A space continues the run after a plain byte; past the end
            // of the text, nothing does.
            let after_plain = plain << 1 | prev_plain;
            let mut go_on = plain | (space & after_plain);
            if chunk.len() < 64 {
                go_on &= (1u64 << chunk.len()) - 1;
            }
            let len = (!go_on).trailing_zeros() as usize;
            let keep = u64::MAX.checked_shr(64 - len as u32).unwrap_or(0);
            let at = (pos + i - from) as u32;
            let mut starts = word & !(word << 1 | prev_word) & keep;
            while starts != 0 {
                self.words.push(at + starts.trailing_zeros());
                starts &= starts - 1;
            }
            let mut stops = stop & keep;
            while stops != 0 {
                self.stops.push(at + stops.trailing_zeros());
                stops &= stops - 1;
            }
            i += len;
            if len < 64 {
                break;
            }
            (prev_word, prev_plain) = (word >> 63, plain >> 63);
        }
        // The run is not empty: its first byte is plain.
        let last = bytes.get(i.wrapping_sub(1)).copied().unwrap_or(b' ');
        self.in_word = ASCII_CLASS[usize::from(last)] & WORD != 0;
        if let Some(run) = src.get(from..i) {
            self.text.push_str(run);
            if let Some(folded) = self.text.get_mut(pos..) {
                folded.make_ascii_lowercase();
            }
        }
        i
    }

    /// Records that folded byte `pos` comes from original byte `at`.
    fn track(&mut self, pos: u32, at: u32) {
        let shift = at.wrapping_sub(pos);
        if shift != self.shift || self.checkpoints.is_empty() {
            self.checkpoints.push((pos, at));
            self.shift = shift;
        }
    }

    fn one(&mut self, c: char, at: u32) {
        self.one_known(c, is_word(c), at);
    }

    /// `one`, with `word` = `is_word(c)` already known.
    fn one_known(&mut self, c: char, word: bool, at: u32) {
        let before = self.text.len();
        if word && !self.in_word {
            self.words.push(before as u32);
        }
        self.in_word = word;
        // "…" and full-width "！" decompose to ASCII stops.
        if matches!(c, '.' | '!' | '?' | '\n') {
            self.stops.push(before as u32);
        }
        self.text.push(c);
        for pos in before..self.text.len() {
            self.track(pos as u32, at);
        }
    }

    fn space(&mut self, newline: bool, at: u32) {
        self.in_word = false;
        match self.text.as_bytes().last() {
            None | Some(b'\n') => {}
            Some(b' ') if newline => {
                self.text.pop();
                self.stops.push(self.text.len() as u32);
                self.text.push('\n');
            }
            Some(b' ') => {}
            Some(_) => self.one(if newline { '\n' } else { ' ' }, at),
        }
    }

    /// The original byte offset of folded byte `pos`.
    fn origin(&self, pos: usize) -> usize {
        let i = self
            .checkpoints
            .partition_point(|&(f, _)| f as usize <= pos);
        match i.checked_sub(1).and_then(|i| self.checkpoints.get(i)) {
            Some(&(f, o)) => o as usize + (pos - f as usize),
            None => 0,
        }
    }

    /// The original byte range of the folded range `start..end` (non-empty).
    pub fn original(&self, original: &str, start: usize, end: usize) -> (usize, usize) {
        let from = self.origin(start).min(original.len());
        let last = self.origin(end.saturating_sub(1)).min(original.len());
        let to = original
            .get(last..)
            .and_then(|s| s.chars().next())
            .map_or(original.len(), |c| last + c.len_utf8());
        (from.min(to), to)
    }
}

/// ASCII that folds to itself, lower-cased: all but white space, controls,
/// hyphens and backticks.
const PLAIN: u8 = 1;
const WORD: u8 = 2;
const STOP: u8 = 4;
const SPACE: u8 = 8;
/// Bit 0 of each byte of `x`, as 8 bits (byte `k` to bit `k`): each byte's
/// bit lands, by the multiplication, at bit `56 + k` of the product, and no
/// two sums collide.
fn gather(x: u64) -> u64 {
    (x & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080) >> 56
}
static ASCII_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        if c.is_ascii_graphic() && c != b'-' && c != b'`' {
            table[b] |= PLAIN;
        }
        if c.is_ascii_alphanumeric() {
            table[b] |= WORD;
        }
        if c == b'.' || c == b'!' || c == b'?' {
            table[b] |= STOP;
        }
        if c == b' ' {
            table[b] |= SPACE;
        }
        b += 1;
    }
    table
};

/// Calls `f` with each character that `c` folds to, save the special cases
/// of `Folded::push`: compatibility decomposition, combining marks dropped,
/// lower case.
fn fold_char(c: char, mut f: impl FnMut(char)) {
    decompose_compatible(c, |d| {
        if !is_combining_mark(d) {
            for l in d.to_lowercase() {
                if !is_combining_mark(l) {
                    f(l);
                }
            }
        }
    });
}

/// What `fold_char` makes of a character, worked out ahead of time.
#[derive(Clone, Copy, Default)]
struct Fold {
    chars: [char; 3],
    /// How many characters; more than `chars` holds: work it out each time.
    len: u8,
    /// Bit `k`: `chars[k]` is a word character.
    words: u8,
}

/// `fold_char` of U+0080 to U+07FF (accented Latin, Greek, Cyrillic,
/// Hebrew, Arabic), index `c - 0x80`: through the Unicode tables each takes
/// a few hundred instructions, and in a Russian article nearly every
/// character is one of them.
static TWO_BYTE: LazyLock<Box<[Fold]>> = LazyLock::new(|| {
    ('\u{80}'..='\u{7FF}')
        .map(|c| {
            let mut fold = Fold::default();
            fold_char(c, |l| {
                let k = usize::from(fold.len);
                if let Some(slot) = fold.chars.get_mut(k) {
                    *slot = l;
                    fold.words |= u8::from(is_word(l)) << k;
                }
                fold.len = fold.len.saturating_add(1);
            });
            fold
        })
        .collect()
});

/// Ends a stem pattern: `"переговор*"` matches "переговоры",
/// "переговорах", "переговорів". Russian and Ukrainian inflect nouns,
/// adjectives and verbs by ending; a stem names the whole family once.
pub const STEM_MARK: char = '*';

/// A pattern from the taxonomy, folded like the text and trimmed.
pub fn normalize_pattern(raw: &str) -> String {
    let mut f = Folded::default();
    f.push(raw, 0);
    f.text.trim().to_string()
}

pub fn is_word(c: char) -> bool {
    c.is_alphanumeric()
}

/// Whether a match at `start..end` of `text`, which starts a word, ends on a
/// word boundary: if its last character is a word character, the next one
/// must not be.
pub fn ends_on_boundary(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    // ASCII on both sides, the common case: no decoding needed.
    if let Some(&last) = b
        .get(end.wrapping_sub(1))
        .filter(|l| l.is_ascii() && end > start)
    {
        match b.get(end) {
            None => return true,
            Some(next) if next.is_ascii() => {
                return !(last.is_ascii_alphanumeric() && next.is_ascii_alphanumeric());
            }
            Some(_) => {}
        }
    }
    let (Some(body), Some(tail)) = (text.get(start..end), text.get(end..)) else {
        return false;
    };
    let last = body.chars().next_back().is_some_and(is_word);
    !(last && tail.chars().next().is_some_and(is_word))
}

/// Whether one of `phrases` (folded) ends, on a word boundary, one space
/// before `start`.
pub fn preceded_by(text: &str, start: usize, phrases: &[String]) -> bool {
    let head = text.get(..start).unwrap_or("");
    let head = head.strip_suffix([' ', '\n']).unwrap_or("");
    let last = head.as_bytes().last();
    // Most phrases already differ in their last byte, which is cheaper to
    // compare than the whole phrase.
    phrases.iter().any(|p| {
        p.as_bytes().last() == last
            && head
                .strip_suffix(p.as_str())
                .is_some_and(|rest| !rest.chars().next_back().is_some_and(is_word))
    })
}

/// How a word stands in its clause: the text of its sentence since the
/// last comma, semicolon, colon, bracket or dash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// Inside brackets, or after an [`ASIDE`] word in its clause.
    pub aside: bool,
    /// Within [`STANCE_WINDOW`] words after a [`STANCE`] word in its
    /// clause.
    pub framed: bool,
}

/// How many words before a cue a stance word frames it ("called on
/// partners to respond with tougher sanctions").
pub const STANCE_WINDOW: usize = 8;

/// How far back a clause is read: in a long "sentence" (a paragraph
/// without punctuation), an opener further back than this sets nothing
/// aside.
const CLAUSE_BYTES: usize = 320;

/// Folded words, phrases and stems (ending in [`STEM_MARK`]), each with a kind (a
/// bit), found by the first two bytes of the text they may start: a word
/// is compared with a handful of entries instead of every one.
#[derive(Debug)]
pub struct WordList {
    /// Bucket [`bucket`] of an entry's first two bytes (of a one-byte
    /// entry: the byte and 0) -> (entry without its `*`, whether it is a
    /// stem, its kind).
    buckets: Vec<Vec<(String, bool, u8)>>,
}

/// Buckets of a [`WordList`]; more than entries, so most hold one or none.
const BUCKETS: usize = 1024;

impl WordList {
    /// `list`: folded entries and their kinds.
    pub fn new(list: &[(String, u8)]) -> WordList {
        let mut buckets = vec![Vec::new(); BUCKETS];
        for (entry, kind) in list {
            let (word, stem) = match entry.strip_suffix(STEM_MARK) {
                Some(w) => (w, true),
                None => (entry.as_str(), false),
            };
            let b = word.as_bytes();
            if let Some(&first) = b.first() {
                let second = if b.len() > 1 { b[1] } else { 0 };
                buckets[bucket(first, second)].push((word.to_string(), stem, *kind));
            }
        }
        WordList { buckets }
    }

    /// The kinds of the entries that start `text` (a stem anywhere in a
    /// word, a word or phrase on a word boundary), or-ed.
    pub fn starts(&self, text: &str) -> u8 {
        let b = text.as_bytes();
        let Some(&first) = b.first() else {
            return 0;
        };
        let second = b.get(1).copied().unwrap_or(0);
        let short = match second {
            0 => None,
            _ => Some(self.buckets[bucket(first, 0)].iter()),
        };
        self.buckets[bucket(first, second)]
            .iter()
            .chain(short.into_iter().flatten())
            .filter(|(w, stem, _)| match text.strip_prefix(w.as_str()) {
                Some(_) if *stem => true,
                Some(after) => !after.chars().next().is_some_and(is_word),
                None => false,
            })
            .fold(0, |kinds, (_, _, kind)| kinds | kind)
    }
}

fn bucket(first: u8, second: u8) -> usize {
    (usize::from(first) * 131 + usize::from(second)) % BUCKETS
}

/// The clauses of a folded text: where they end, and which of its words
/// open an aside or take a stance. A word is looked up once, when a cue's
/// clause first holds it, so that a clause of many cues costs no more
/// than one.
pub struct Clauses<'a> {
    folded: &'a Folded,
    words: &'a WordList,
    /// Offsets of the clause boundaries (`,;:()`, folded dashes), and
    /// whether each is an opening bracket.
    bounds: Vec<(u32, bool)>,
    /// Per word of `folded`, its kinds in `words` ([`ASIDE`], [`STANCE`]);
    /// [`UNKNOWN`] until looked up.
    kinds: Vec<u8>,
}

/// [`WordList`] kind of a word that opens an aside ("after", "who").
pub const ASIDE: u8 = 1;
/// [`WordList`] kind of a stance word ("called for", "rejected").
pub const STANCE: u8 = 2;
const UNKNOWN: u8 = u8::MAX;

impl<'a> Clauses<'a> {
    /// `words`: the [`ASIDE`] and [`STANCE`] words.
    pub fn new(folded: &'a Folded, words: &'a WordList) -> Clauses<'a> {
        let mut bounds: Vec<(u32, bool)> = folded
            .text
            .bytes()
            .enumerate()
            .filter(|(_, b)| matches!(b, b',' | b';' | b':' | b'(' | b')'))
            .map(|(i, b)| (i as u32, b == b'('))
            .collect();
        bounds.extend(folded.dashes.iter().map(|&d| (d, false)));
        bounds.sort_unstable();
        Clauses {
            folded,
            words,
            bounds,
            kinds: vec![UNKNOWN; folded.words.len()],
        }
    }

    /// The [`Framing`] of the word at folded offset `at`, whose sentence
    /// starts at `sentence`.
    pub fn framing(&mut self, sentence: usize, at: usize) -> Framing {
        let mut from = sentence.max(at.saturating_sub(CLAUSE_BYTES));
        let bound = self.bounds.partition_point(|&(b, _)| (b as usize) < at);
        let mut f = Framing {
            aside: false,
            framed: false,
        };
        let last = bound.checked_sub(1).and_then(|k| self.bounds.get(k));
        if let Some(&(b, open)) = last.filter(|&&(b, _)| b as usize >= from) {
            (from, f.aside) = (b as usize + 1, open);
        }
        let starts = &self.folded.words;
        let first = starts.partition_point(|&w| (w as usize) < from);
        let end = starts.partition_point(|&w| (w as usize) < at).max(first);
        let near = end.saturating_sub(STANCE_WINDOW).max(first);
        let (text, words) = (&self.folded.text, self.words);
        let clause = self.kinds[first..end].iter_mut().zip(&starts[first..end]);
        for (k, (kind, &start)) in (first..).zip(clause) {
            if *kind == UNKNOWN {
                *kind = words.starts(text.get(start as usize..).unwrap_or_default());
            }
            f.aside |= *kind & ASIDE != 0;
            f.framed |= k >= near && *kind & STANCE != 0;
        }
        f
    }
}

/// Abbreviations whose period does not end a sentence (folded).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "gen", "lt", "col", "sen", "rep", "gov", "jr", "sr", "vs", "no",
    "jan", "feb", "aug", "sept", "sep", "oct", "nov", "dec", "inc", "corp", "co", "ltd", "prof",
    "adm", "maj", "capt", "sgt", "pres", "amb", "approx", "etc",
];

/// Fills `starts` with the start offsets of the sentences of `folded` (the
/// first is 0).
/// A sentence ends at a line break, or at `.`, `!` or `?` (plus closing
/// quotes or brackets) before a space, except after an abbreviation or a
/// single letter ("U.S.", "J.D.").
pub fn sentence_starts(folded: &Folded, starts: &mut Vec<usize>) {
    let b = folded.text.as_bytes();
    starts.clear();
    starts.push(0);
    for &stop in &folded.stops {
        let i = stop as usize;
        let Some(&c) = b.get(i) else {
            continue;
        };
        if c == b'\n' {
            starts.push(i + 1);
            continue;
        }
        let mut j = i + 1;
        while j < b.len() && matches!(b[j], b'"' | b'\'' | b')' | b']') {
            j += 1;
        }
        if j < b.len() && b[j] == b' ' && !(c == b'.' && abbreviation_before(b, i)) {
            starts.push(j + 1);
        }
    }
    starts.retain(|&s| s < b.len());
    starts.dedup();
}

fn abbreviation_before(b: &[u8], dot: usize) -> bool {
    let mut k = dot;
    while k > 0 && b[k - 1].is_ascii_alphabetic() {
        k -= 1;
    }
    let word = &b[k..dot];
    word.len() == 1 || ABBREVIATIONS.iter().any(|a| a.as_bytes() == word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(s: &str) -> String {
        let mut f = Folded::default();
        f.push(s, 0);
        f.text
    }

    #[test]
    fn a_clause_frames_a_word_after_a_stance_and_sets_it_aside_after_an_opener() {
        let list = |l: &[(&str, u8)]| {
            l.iter()
                .map(|&(w, kind)| (normalize_pattern(w), kind))
                .collect::<Vec<_>>()
        };
        let words = WordList::new(&list(&[
            ("after", ASIDE),
            ("who", ASIDE),
            ("котор*", ASIDE),
            ("called on", STANCE),
            ("обсуд*", STANCE),
        ]));
        // The framing of the word after `head`.
        let f = |head: &str| {
            let mut folded = Folded::default();
            folded.push(&format!("{head}X"), 0);
            let at = folded.text.len() - 1;
            Clauses::new(&folded, &words).framing(0, at)
        };
        let framing = |aside, framed| Framing { aside, framed };
        let (framed, aside, plain) = (
            framing(false, true),
            framing(true, false),
            framing(false, false),
        );
        assert_eq!(f("He called on partners to respond with tougher "), framed);
        assert_eq!(f("The strike came weeks after new "), aside);
        // The clause ends at a comma, a dash or a bracket.
        assert_eq!(f("Umerov, who led the delegation at the Istanbul "), aside);
        assert_eq!(f("Umerov, who led the team, said the "), plain);
        assert_eq!(
            f("He called on partners \u{2014} again \u{2014} to end the "),
            plain
        );
        assert_eq!(f("Kyiv (in the latest "), aside);
        // Stems, in any case; a word that only starts like one is not it.
        assert_eq!(f("Стороны ОБСУДИЛИ новый "), framed);
        assert_eq!(f("Это решение, которое отложит "), aside);
        assert_eq!(f("The afternoon "), plain);
        // A stance far before the word frames something else.
        assert_eq!(
            f("He called on partners to send more shells and drones and pay for the next "),
            plain
        );
        // An opener far back in a long clause sets nothing aside.
        let long = format!("After {} the ", "many more words ".repeat(30));
        assert_eq!(f(&long), plain);
    }

    #[test]
    fn folds_case_diacritics_quotes_and_dashes() {
        assert_eq!(fold("Erdoğan’s  “cease‑fire”"), "erdogan's \"cease fire\"");
        assert_eq!(fold("ＮＡＴＯ ﬁne"), "nato fine");
        assert_eq!(fold("Erdog\u{306}an"), "erdogan");
        assert_eq!(fold("Зеленський"), fold("ЗЕЛЕНСЬКИЙ"));
        assert_eq!(fold("a \n\n b"), "a\nb");
        assert_eq!(fold("wait…"), "wait...");
    }

    #[test]
    fn two_byte_characters_fold_as_through_the_unicode_tables() {
        // The table of `TWO_BYTE` must be used at the right index. (White
        // space and the apostrophe U+02BC are special cases of `push`.)
        for c in '\u{C0}'..='\u{7FF}' {
            if c.is_whitespace() || c == '\u{02BC}' {
                continue;
            }
            let mut slow = String::from("x");
            fold_char(c, |l| slow.push(l));
            let mut f = Folded::default();
            f.push(&format!("x{c}"), 0);
            assert_eq!(f.text, slow, "{c:?}");
            let mut starts = Vec::new();
            let mut before = false;
            for (i, l) in slow.char_indices() {
                if is_word(l) && !before {
                    starts.push(i as u32);
                }
                before = is_word(l);
            }
            assert_eq!(f.words, starts, "{c:?}");
        }
    }

    #[test]
    fn long_runs_find_every_word_start_and_stop() {
        // Runs of plain text longer than the 64-byte chunks of
        // `plain_run`, with words and stops across the seams.
        let src = "Peace talks resumed in Geneva. Envoys met! Why? ".repeat(5) + "End";
        let mut f = Folded::default();
        f.push(&src, 0);
        assert_eq!(f.text, src.to_lowercase());
        let t = f.text.as_bytes();
        let words: Vec<u32> = (0..t.len())
            .filter(|&i| {
                t[i].is_ascii_alphanumeric() && (i == 0 || !t[i - 1].is_ascii_alphanumeric())
            })
            .map(|i| i as u32)
            .collect();
        let stops: Vec<u32> = (0..t.len())
            .filter(|&i| matches!(t[i], b'.' | b'!' | b'?'))
            .map(|i| i as u32)
            .collect();
        assert_eq!(f.words, words);
        assert_eq!(f.stops, stops);
    }

    #[test]
    fn maps_folded_ranges_back_to_the_text_as_written() {
        let src = "Pres. Erdoğan’s talks";
        let mut f = Folded::default();
        f.push(src, 0);
        let at = f.text.find("erdogan").unwrap();
        let (s, e) = f.original(src, at, at + "erdogan".len());
        assert_eq!(&src[s..e], "Erdoğan");
    }

    #[test]
    fn splits_sentences_but_not_after_initials() {
        let mut f = Folded::default();
        f.push("U.S. envoys met. Talks ended! \"Fine.\" Next\nline", 0);
        let mut starts = Vec::new();
        sentence_starts(&f, &mut starts);
        let t = f.text;
        let parts: Vec<&str> = starts
            .iter()
            .zip(starts.iter().skip(1).chain([&t.len()]))
            .map(|(&a, &b)| t[a..b].trim())
            .collect();
        assert_eq!(
            parts,
            [
                "u.s. envoys met.",
                "talks ended!",
                "\"fine.\"",
                "next",
                "line"
            ]
        );
    }
}

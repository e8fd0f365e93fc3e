//! Text folding for matching, with a map back to the text as written, and
//! sentence boundaries.
//!
//! Folding: compatibility decomposition (NFKD, so "ﬁ" is "fi" and full-width
//! letters are ASCII), combining marks dropped (Erdoğan = Erdogan, and
//! precomposed or decomposed input fold alike), lower case, typographic
//! apostrophes and quotes made ASCII, hyphens and dashes made spaces
//! ("cease-fire" = "cease fire"), invisible characters dropped, and runs of
//! white space made one space, or one newline when they hold a line break.

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
    in_word: bool,
}

impl Folded {
    /// Appends the folding of `src`, whose first byte is at `base` in the
    /// original.
    pub fn push(&mut self, src: &str, base: u32) {
        self.text.reserve(src.len());
        self.words.reserve(src.len() / 4);
        self.stops.reserve(src.len() / 32);
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
                    self.space(false, at)
                }
                '\u{2028}' | '\u{2029}' | '\u{0085}' => self.space(true, at),
                '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => {}
                c if c.is_whitespace() => self.space(false, at),
                c => decompose_compatible(c, |d| {
                    if !is_combining_mark(d) {
                        for l in d.to_lowercase() {
                            if !is_combining_mark(l) {
                                self.one(l, at);
                            }
                        }
                    }
                }),
            }
        }
    }

    /// Appends the run of plain ASCII that starts at `src[from]`, which folds
    /// byte for byte (lower-cased, in step with the original, so one
    /// checkpoint at most), and returns where the run ends. One table lookup
    /// per byte: this loop is most of the folding time.
    fn plain_run(&mut self, src: &str, from: usize, base: u32) -> usize {
        let bytes = src.as_bytes();
        let pos = self.text.len();
        // `tag` caps the original below u32::MAX, so this cannot wrap.
        self.track(pos as u32, base + from as u32);
        let mut in_word = self.in_word;
        let mut i = from;
        while let Some(&b) = bytes.get(i) {
            let class = ASCII_CLASS[usize::from(b)];
            if class & PLAIN == 0 {
                break;
            }
            let at = (pos + i - from) as u32;
            let word = class & WORD != 0;
            if word && !in_word {
                self.words.push(at);
            }
            in_word = word;
            if class & STOP != 0 {
                self.stops.push(at);
            }
            // Byte by byte: runs are a word long, too short to pay for a
            // bulk copy and a second lower-casing pass.
            self.text.push(char::from(b.to_ascii_lowercase()));
            i += 1;
        }
        self.in_word = in_word;
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
        let before = self.text.len();
        let word = is_word(c);
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
        b += 1;
    }
    table
};

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
    let (Some(body), Some(tail)) = (text.get(start..end), text.get(end..)) else {
        return false;
    };
    let last = body.chars().next_back().is_some_and(is_word);
    !(last && tail.chars().next().is_some_and(is_word))
}

/// Abbreviations whose period does not end a sentence (folded).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "gen", "lt", "col", "sen", "rep", "gov", "jr", "sr", "vs", "no",
    "jan", "feb", "aug", "sept", "sep", "oct", "nov", "dec", "inc", "corp", "co", "ltd", "prof",
    "adm", "maj", "capt", "sgt", "pres", "amb", "approx", "etc",
];

/// Start offsets of the sentences of `folded` (the first is 0).
/// A sentence ends at a line break, or at `.`, `!` or `?` (plus closing
/// quotes or brackets) before a space, except after an abbreviation or a
/// single letter ("U.S.", "J.D.").
pub fn sentence_starts(folded: &Folded) -> Vec<usize> {
    let b = folded.text.as_bytes();
    let mut starts = vec![0];
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
    starts
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
    fn folds_case_diacritics_quotes_and_dashes() {
        assert_eq!(fold("Erdoğan’s  “cease‑fire”"), "erdogan's \"cease fire\"");
        assert_eq!(fold("ＮＡＴＯ ﬁne"), "nato fine");
        assert_eq!(fold("Erdog\u{306}an"), "erdogan");
        assert_eq!(fold("Зеленський"), fold("ЗЕЛЕНСЬКИЙ"));
        assert_eq!(fold("a \n\n b"), "a\nb");
        assert_eq!(fold("wait…"), "wait...");
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
        let starts = sentence_starts(&f);
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

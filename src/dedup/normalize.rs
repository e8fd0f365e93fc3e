//! Text to word hashes: NFKC, lower case, words as runs of alphanumeric
//! characters (each CJK character a word of its own), quotations marked,
//! boilerplate lines dropped.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::hash::hash_bytes;

/// Hashes of the body's words after normalization, and whether each word
/// is inside quotation marks. Normalization: NFKC, lowercase, words are the
/// maximal runs of alphanumeric characters (so quotes, dashes and
/// apostrophes fold away), boilerplate lines skipped.
// Inlined into `Fingerprint::of`, its one caller, as before dedup was split
// into files: out of line it ran ~0.2% more instructions and measured up to
// 2% slower in the fingerprint benchmark.
#[inline]
pub(super) fn word_hashes(text: &str) -> (Vec<u64>, Vec<bool>) {
    let mut words = Vec::new();
    let mut quoted = Vec::new();
    for (segment, in_quotes) in prose_lines(text).into_iter().flat_map(quote_segments) {
        let before = words.len();
        push_word_hashes(segment, &mut words);
        quoted.resize(quoted.len() + words.len() - before, in_quotes);
    }
    (words, quoted)
}

/// The lines that are not boilerplate.
fn prose_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let kept: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !is_boilerplate(l))
        .collect();
    // A text made only of short lines (a one-line teaser without a full
    // stop) is still a text: better shingle it whole than not at all.
    if kept.is_empty() { lines } else { kept }
}

/// Appends the hashes of the words of `segment`.
fn push_word_hashes(segment: &str, words: &mut Vec<u64>) {
    // Normalizing word by word, and only words with non-ASCII letters,
    // costs a fraction of normalizing the whole text. Combining marks
    // stay inside the run so NFKC can compose them with their letter.
    let runs = segment
        .split(|c: char| match c.is_ascii() {
            true => !c.is_ascii_alphanumeric(),
            false => !(c.is_alphanumeric() || is_combining_mark(c)),
        })
        .filter(|w| !w.is_empty());
    for run in runs {
        if run.is_ascii() {
            words.push(hash_bytes(run.bytes().map(|b| b.to_ascii_lowercase())));
        } else {
            let folded: String = run.nfkc().flat_map(char::to_lowercase).collect();
            words.extend(words_of(&folded).map(|w| hash_bytes(w.bytes())));
        }
    }
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

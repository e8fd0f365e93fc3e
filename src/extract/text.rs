//! Plain-text documents: find the real headline and the body.
//!
//! A `.txt` document is "headline, then body", but copies pasted from the web
//! often carry a site name, a section label, a photo caption or a byline above
//! the headline. The headline is the first line in the document's head that
//! reads like one: several words, no caption or site-name marks, and not a
//! paragraph of running text.

use crate::record::Extracted;

use super::ExtractError;

/// Lines this long (in words) are running text, not a headline.
const MAX_HEADLINE_WORDS: usize = 30;
/// How far down the head of the document a headline is looked for.
const HEAD_LINES: usize = 8;

/// Splits a plain-text document into headline and body paragraphs.
pub fn from_text(doc: &str) -> Result<Extracted, ExtractError> {
    let lines: Vec<&str> = doc
        .lines()
        .map(clean_line)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return Err(ExtractError::Empty);
    }
    let head = lines.len().min(HEAD_LINES);
    // Running text ends the head: a headline never comes after the first paragraph.
    let body_start = lines[..head]
        .iter()
        .position(|l| is_paragraph(l))
        .unwrap_or(head);
    let title_at = lines[..body_start]
        .iter()
        .position(|l| is_headline(l))
        .unwrap_or(0);
    let mut body: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(title_at + 1) {
        let in_head = i < body_start.max(title_at + 1) || body.is_empty();
        if is_caption(line) || body.last() == Some(line) || (in_head && is_byline(line)) {
            continue;
        }
        body.push(line);
    }
    Ok(Extracted {
        title: Some(lines[title_at].to_string()),
        text: body.join("\n\n"),
        ..Extracted::default()
    })
}

/// Trims a line and drops Markdown emphasis and heading marks.
fn clean_line(line: &str) -> &str {
    line.trim()
        .trim_start_matches('#')
        .trim()
        .trim_matches('*')
        .trim()
}

fn words(line: &str) -> usize {
    line.split_whitespace().count()
}

fn ends_sentence(line: &str) -> bool {
    line.ends_with(['.', '!', '?', '"', '”', '»', ':'])
}

fn is_paragraph(line: &str) -> bool {
    let n = words(line);
    n > MAX_HEADLINE_WORDS || (n >= 12 && ends_sentence(line) && line.contains(", "))
}

fn is_headline(line: &str) -> bool {
    let n = words(line);
    (4..=MAX_HEADLINE_WORDS).contains(&n)
        && !is_caption(line)
        && !is_byline(line)
        && !line.split_whitespace().any(is_domain)
}

/// Photo captions: a bracketed credit at the end, or position marks such as "(l)".
fn is_caption(line: &str) -> bool {
    let credit = line.ends_with(']') && line.contains('[');
    let position = ["(l)", "(r)", "(c)", "(L)", "(R)", "(C)"]
        .iter()
        .any(|m| line.contains(m));
    credit || position
}

/// A byline or a stray label: "By Jane Doe", a lone name, a short line of no sentence.
fn is_byline(line: &str) -> bool {
    let lower = line.to_lowercase();
    lower.starts_with("by ") || (words(line) <= 3 && !ends_sentence(line))
}

/// `voz.us`, `example.com`: a site name, never part of a headline. Abbreviations
/// such as "U.S." do not count.
fn is_domain(token: &str) -> bool {
    let token = token.trim_end_matches(['.', ',']);
    match token.rsplit_once('.') {
        Some((name, tld)) => {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
                && name.chars().filter(|c| c.is_alphabetic()).count() >= 2
                && tld.len() >= 2
                && tld.chars().all(|c| c.is_ascii_lowercase())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_is_the_headline_when_it_reads_like_one() {
        let e =
            from_text("Talks resume in Geneva on Monday\n\nDelegates met again, officials said.\n")
                .unwrap();
        assert_eq!(e.title.as_deref(), Some("Talks resume in Geneva on Monday"));
        assert_eq!(e.text, "Delegates met again, officials said.");
    }

    #[test]
    fn site_name_caption_section_and_byline_are_skipped() {
        let doc = "Daily Courier dailycourier.com\n\
                   Ministers at the summit table, March 3 [Press Office]\n\
                   World News\n\
                   Envoys Narrow Gaps on Ceasefire Terms After Long Night\n\
                   Jane Roe\n\
                   Envoys from both sides said on Tuesday that the gaps had narrowed, and that a deal could follow within days.\n\
                   The talks resume next week.\n";
        let e = from_text(doc).unwrap();
        assert_eq!(
            e.title.as_deref(),
            Some("Envoys Narrow Gaps on Ceasefire Terms After Long Night")
        );
        assert!(e.text.starts_with("Envoys from both sides"), "{}", e.text);
        assert!(e.text.ends_with("The talks resume next week."));
        assert!(!e.text.contains("Jane Roe"));
    }

    #[test]
    fn captions_and_repeated_lines_in_the_body_are_dropped() {
        let doc = "Leaders agree to meet in Istanbul next week\n\
                   The two leaders agreed, their offices said, to meet in person.\n\
                   Leader A (l) and Leader B (r) in a file image.\n\
                   Leader A (l) and Leader B (r) in a file image.\n\
                   No date was given.\n";
        let e = from_text(doc).unwrap();
        assert_eq!(
            e.text,
            "The two leaders agreed, their offices said, to meet in person.\n\nNo date was given."
        );
    }

    #[test]
    fn blank_document_is_an_error() {
        assert!(matches!(from_text(" \n\n\t\n"), Err(ExtractError::Empty)));
    }
}

//! HTML page -> article text and metadata.
//!
//! The page is decoded ([`decode`]), parsed once with scraper, and walked once
//! into flat tables of elements and text blocks (`dom`). The article is the
//! element whose blocks weigh most as running text (`body`); metadata comes
//! from what the page declares (`meta`). JSON-LD `articleBody` replaces the
//! extracted text when it is at least as complete.

mod body;
mod charset;
mod dom;
pub mod language;
mod meta;
mod nesting;
mod parse;
mod text;

use crate::record::Extracted;

pub use charset::{decode, decode_xml};
pub use text::from_text;

/// Where the rest of a page is dropped unparsed, to keep parsing linear (see
/// `nesting`). On 452 real pages (the two dev sets): depth at most 56,
/// attributes 26, formatting elements open 4, work 0.1 to 0.3 steps a byte
/// on pages over 1 MB and at most 40% of the budget on any. A page that
/// spends the budget costs some 35 ms per MB (benches/hostile.rs).
const GUARD: nesting::Limits = nesting::Limits {
    depth: 256,
    attributes: 512,
    formatting: 64,
    work_per_byte: 4,
    base_work: 2 << 20,
};

/// Where parsing stops, should the guard have missed something (see
/// `parse`): real pages take at most 0.6 steps a byte.
const METER: parse::Meter = parse::Meter {
    steps_per_byte: 8,
    base_steps: 4 << 20,
    depth: 2 * GUARD.depth as u32,
};

/// Whatever `Options` say, pages stay under this size: text offsets in the
/// walked page are 32-bit, and decoding can triple the size.
const HARD_MAX_HTML_BYTES: usize = 1 << 30;

/// Limits on what extraction accepts.
#[derive(Debug, Clone)]
pub struct Options {
    /// Pages larger than this many bytes are refused before decoding.
    pub max_html_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_html_bytes: 8 * 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("page is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("page is empty")]
    Empty,
    #[error("page is binary data, not HTML")]
    Binary,
    #[error("page has no article text")]
    NoText,
}

/// Decodes, parses and extracts the article of an HTML page.
/// `page_url` resolves a relative canonical URL and may hold a date.
pub fn extract(
    bytes: &[u8],
    content_type: Option<&str>,
    page_url: Option<&str>,
    opts: &Options,
) -> Result<Extracted, ExtractError> {
    let limit = opts.max_html_bytes.min(HARD_MAX_HTML_BYTES);
    if bytes.len() > limit {
        return Err(ExtractError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ExtractError::Empty);
    }
    if looks_binary(bytes) {
        return Err(ExtractError::Binary);
    }
    let mut source = decode(bytes, content_type);
    if let Some(cut) = nesting::cut(&source, &GUARD) {
        tracing::debug!(at = cut.at, reason = ?cut.reason, "page cut before parsing");
        source.truncate(cut.at);
    }
    let html = parse::document(&source, &METER);
    drop(source);
    let mut page = dom::walk(&html);
    drop(html);
    let ld = meta::JsonLd::parse(&page.meta.json_ld);
    let mut text = body::main_text(&mut page);
    if let Some(ld_body) = &ld.body
        && complete_json_body(ld_body, &text)
    {
        text = ld_paragraphs(ld_body);
    }
    if text.is_empty() {
        return Err(ExtractError::NoText);
    }
    let raw = &page.meta;
    let ex = Extracted {
        title: meta::title(raw, &ld),
        canonical_url: meta::canonical_url(raw, page_url),
        published_at: meta::published_at(raw, &ld, page_url),
        byline: meta::byline(raw, &ld),
        language: meta::language(raw, &text),
        description: meta::description(raw),
        text,
        truncated: false,
    };
    // JSON-LD's `\u0000` and raw NULs in a page survive parsing.
    Ok(ex.without_nul())
}

/// Plain text of an HTML fragment (a feed item's `content:encoded` or
/// description): every paragraph, separated by blank lines.
pub fn fragment_text(html: &str) -> String {
    let html = match nesting::cut_fragment(html, &GUARD) {
        Some(cut) => &html[..cut.at],
        None => html,
    };
    body::all_text(&dom::walk(&parse::fragment(html, &METER)))
}

/// Binary files carry NUL and other control bytes that no text page does.
fn looks_binary(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(4096)];
    let control = sample
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c))
        .count();
    // UTF-16 pages are full of NULs but start with a byte-order mark.
    encoding_rs::Encoding::for_bom(bytes).is_none() && control * 10 > sample.len()
}

/// JSON-LD bodies are sometimes teasers or cut off; use one only when it
/// holds at least as many words as the extracted text.
fn complete_json_body(ld_body: &str, text: &str) -> bool {
    let ld_words = ld_body.split_whitespace().count();
    ld_words >= 50 && ld_words >= text.split_whitespace().count()
}

/// JSON-LD text keeps its line breaks as paragraph breaks; markup and
/// character references in it are resolved.
fn ld_paragraphs(body: &str) -> String {
    if body.contains('<') {
        return fragment_text(body);
    }
    if body.contains('&') {
        // One parse for all lines (one per line cost microseconds a line):
        // line breaks become `<br>`s, which end paragraphs.
        return fragment_text(&body.lines().collect::<Vec<_>>().join("<br>"));
    }
    body.lines()
        .map(dom::collapse_ws)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_ld_lines_become_paragraphs_with_references_resolved() {
        let body = "First line &amp; more.\n\n  Second   line.\r\nThird &lt;b&gt; line.\n&nbsp;\n";
        assert_eq!(
            ld_paragraphs(body),
            "First line & more.\n\nSecond line.\n\nThird <b> line."
        );
        assert_eq!(ld_paragraphs("One.\n\nTwo  words.\n"), "One.\n\nTwo words.");
    }

    /// A paragraph of running text, different for each `n`.
    fn prose(n: usize) -> String {
        format!(
            "Paragraph {n} of the report goes on about the matter at hand, with enough \
             words in it to read as running text rather than a label or a link."
        )
    }

    fn text_of(html: &str) -> String {
        extract(html.as_bytes(), None, None, &Options::default())
            .expect("extracts")
            .text
    }

    #[test]
    fn article_hidden_until_a_script_shows_it_is_extracted() {
        let paragraphs: String = (0..5).map(|i| format!("<p>{}</p>", prose(i))).collect();
        let html = format!(
            "<html><body><nav><a href=/>Home</a> <a href=/news>News</a></nav>\
             <div hidden id=S:0><main><h1>Title</h1>{paragraphs}</main></div></body></html>"
        );
        let text = text_of(&html);
        assert!(text.starts_with(&prose(0)), "{text}");
        assert!(text.ends_with(&prose(4)), "{text}");
    }

    #[test]
    fn closed_accordion_sections_join_a_visible_lead() {
        let sections: String = (1..6)
            .map(|i| {
                format!(
                    "<h2>Step {i}</h2><div style='display: none'><p>{}</p><p>{}</p></div>",
                    prose(10 * i),
                    prose(10 * i + 1)
                )
            })
            .collect();
        let html = format!(
            "<html><body><article><p>{}</p>{sections}</article></body></html>",
            prose(0)
        );
        let text = text_of(&html);
        assert!(text.starts_with(&prose(0)), "{text}");
        assert!(text.contains(&prose(31)), "{text}");
    }

    #[test]
    fn hidden_dialog_text_stays_out_of_a_visible_article() {
        let paragraphs: String = (0..4).map(|i| format!("<p>{}</p>", prose(i))).collect();
        let html = format!(
            "<html><body><article>{paragraphs}</article>\
             <div style=display:none><p>{}</p></div></body></html>",
            prose(99)
        );
        let text = text_of(&html);
        assert!(text.contains(&prose(3)), "{text}");
        assert!(!text.contains(&prose(99)), "{text}");
    }

    #[test]
    fn entries_in_an_editors_embed_blocks_are_the_article() {
        let entries: String = (1..6)
            .map(|i| {
                format!(
                    "<div class='ck-block ck-block--embed'><h3>Place {i}</h3><p>{}</p></div>",
                    prose(i)
                )
            })
            .collect();
        let html = format!(
            "<html><body><article><p>{}</p>{entries}</article>\
             <footer><a href=/about>About</a></footer></body></html>",
            prose(0)
        );
        let text = text_of(&html);
        assert!(text.contains(&prose(1)), "{text}");
        assert!(text.contains(&prose(5)), "{text}");
    }

    #[test]
    fn sections_split_by_link_lists_are_kept_together() {
        let links: String = (0..4)
            .map(|j| format!("<li><a href=/patch/{j}>A patch merged upstream, number {j}</a></li>"))
            .collect();
        let sections: String = (1..6)
            .map(|i| {
                format!(
                    "<section><h2>Part {i}</h2><p>{}</p><ul>{links}</ul></section>",
                    prose(i)
                )
            })
            .collect();
        let html = format!(
            "<html><body><nav><a href=/>Home</a></nav><main><article>{sections}</article></main>\
             <footer><a href=/about>About</a></footer></body></html>"
        );
        let text = text_of(&html);
        for i in 1..6 {
            assert!(text.contains(&prose(i)), "part {i} missing: {text}");
        }
    }

    #[test]
    fn related_story_cards_with_full_summaries_are_left_out() {
        let article: String = (0..8).map(|i| format!("<p>{}</p>", prose(i))).collect();
        let long_link = "Another story from the same site, with a headline long enough \
                         to outweigh the summary that follows it in its card, and more";
        let teasers: String = (20..32)
            .map(|i| {
                format!(
                    "<div><h3><a href=/s/{i}>{long_link}</a></h3><p>{}</p></div>",
                    prose(i)
                )
            })
            .collect();
        let html = format!(
            "<html><body><article>{article}</article><section>{teasers}</section></body></html>"
        );
        let text = text_of(&html);
        assert!(text.ends_with(&prose(7)), "{text}");
        assert!(!text.contains(&prose(20)), "{text}");
    }

    #[test]
    fn linked_entries_beside_the_articles_own_paragraphs_are_kept() {
        let entries: String = (1..6)
            .map(|i| {
                format!(
                    "<div><h3><a href=/place/{i}>Place number {i} in town</a></h3><p>{}</p></div>",
                    prose(i)
                )
            })
            .collect();
        let html = format!(
            "<html><body><article><p>{}</p><p>{}</p>{entries}</article></body></html>",
            prose(0),
            prose(10)
        );
        let text = text_of(&html);
        assert!(text.starts_with(&prose(0)), "{text}");
        assert!(
            text.contains(&prose(1)) && text.ends_with(&prose(5)),
            "{text}"
        );
    }

    #[test]
    fn a_hidden_article_wins_over_a_visible_shell_of_menus() {
        let paragraphs: String = (0..5).map(|i| format!("<p>{}</p>", prose(i))).collect();
        let links: String = (0..8)
            .map(|i| {
                format!("<div><a href=/p/{i}>A product page of the company, number {i}</a></div>")
            })
            .collect();
        let html = format!(
            "<html><body><div><p>Product pricing and the company that makes it</p>{links}</div>\
             <div hidden id=S:0><main>{paragraphs}</main></div></body></html>"
        );
        let text = text_of(&html);
        assert!(
            text.starts_with(&prose(0)) && text.ends_with(&prose(4)),
            "{text}"
        );
    }

    #[test]
    fn builder_widgets_that_differ_only_by_place_are_judged_together() {
        let places = ["panel-first-child", "", "panel-last-child"];
        let widgets: String = places
            .iter()
            .enumerate()
            .map(|(i, place)| {
                format!(
                    "<div class='so-panel widget widget_sow-editor {place}'><p>{}</p><p>{}</p></div>",
                    prose(2 * i + 1),
                    prose(2 * i + 2)
                )
            })
            .collect();
        let html = format!(
            "<html><body><article><p>{}</p>{widgets}</article>\
             <div class='widget widget_recent'><a href=/a>Recent post</a></div></body></html>",
            prose(0)
        );
        let text = text_of(&html);
        assert!(
            text.starts_with(&prose(0)) && text.ends_with(&prose(6)),
            "{text}"
        );
    }

    #[test]
    fn product_boxes_holding_a_third_of_a_review_are_kept() {
        let boxed = |i: usize| {
            format!(
                "<div class='c-product-widget'><h3>Product {i}</h3><p>{}</p><p>{}</p></div>",
                prose(10 * i),
                prose(10 * i + 1)
            )
        };
        let plain = |r: std::ops::Range<usize>| -> String {
            r.map(|i| format!("<p>{}</p>", prose(i))).collect()
        };
        let html = format!(
            "<html><body><article>{}{}{}{}{}</article></body></html>",
            plain(0..3),
            boxed(1),
            plain(3..5),
            boxed(2),
            plain(5..7)
        );
        let text = text_of(&html);
        for i in [10, 11, 20, 21] {
            assert!(text.contains(&prose(i)), "paragraph {i} missing: {text}");
        }
    }
}

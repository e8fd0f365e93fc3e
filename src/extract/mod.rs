//! HTML -> article text and metadata. (Foundation version: paragraphs of the
//! page; issue 3 replaces it with the full extractor.)

mod text;

use std::sync::LazyLock;

use scraper::{Html, Selector};

use crate::record::Extracted;

pub use text::from_text;

#[derive(Debug, Clone)]
pub struct Options {
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
    #[error("no article text found")]
    Empty,
}

/// Decodes page bytes: BOM, then the header's charset, else UTF-8 with
/// replacement.
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> String {
    let declared = content_type
        .and_then(|ct| ct.split("charset=").nth(1))
        .and_then(|cs| encoding_rs::Encoding::for_label(cs.trim_matches('"').as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    declared.decode(bytes).0.into_owned()
}

static P: LazyLock<Selector> = LazyLock::new(|| Selector::parse("p").expect("static selector"));
static H1: LazyLock<Selector> = LazyLock::new(|| Selector::parse("h1").expect("static selector"));
static CANONICAL: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("link[rel=canonical]").expect("static selector"));

/// Extracts the article from an HTML page.
pub fn extract(
    bytes: &[u8],
    content_type: Option<&str>,
    _page_url: Option<&str>,
    opts: &Options,
) -> Result<Extracted, ExtractError> {
    if bytes.len() > opts.max_html_bytes {
        return Err(ExtractError::TooLarge {
            size: bytes.len(),
            limit: opts.max_html_bytes,
        });
    }
    let html = Html::parse_document(&decode(bytes, content_type));
    let text = paragraphs(&html);
    if text.is_empty() {
        return Err(ExtractError::Empty);
    }
    let title = html
        .select(&H1)
        .map(|t| t.text().collect::<String>().trim().to_string())
        .find(|t| !t.is_empty());
    let canonical_url = html
        .select(&CANONICAL)
        .find_map(|l| l.value().attr("href"))
        .map(str::to_string);
    Ok(Extracted {
        title,
        text,
        canonical_url,
        ..Extracted::default()
    })
}

fn paragraphs(html: &Html) -> String {
    html.select(&P)
        .map(|p| p.text().collect::<Vec<_>>().join(" "))
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Plain text of an HTML fragment such as a feed item's content.
pub fn fragment_text(html: &str) -> String {
    paragraphs(&Html::parse_fragment(html))
}

//! Feed lists in OPML, the format every feed reader imports and exports:
//! reading the feeds of a list (`feeds_opml` in the config) and writing the
//! configured feeds as OPML 2.0 (`tidings feeds export`).
//!
//! Readers shape their exports differently: Feedly and Inoreader nest feeds
//! in one level of folder outlines and give both `title` and `text`;
//! Miniflux and FreshRSS do the same with a `category` attribute here and
//! there; NetNewsWire writes `text` only for folders. Whatever the shape, an
//! outline with an `xmlUrl` is a feed and any other outline a folder; a
//! feed's tags are the names of the folders around it, then the parts of its
//! `category` attribute.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use super::feeds::Feed;

/// A feed outline of a list, as written there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outline {
    /// The `xmlUrl`, as written (the config reader judges it).
    pub url: String,
    /// `title`, else `text`, unless that is only the URL again.
    pub name: Option<String>,
    pub html_url: Option<String>,
    /// The folders around the outline, outermost first, then its categories.
    pub tags: Vec<String>,
    /// The 1-based line of the outline.
    pub line: usize,
}

/// Why a list cannot be read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OpmlError {
    pub message: String,
    pub line: Option<usize>,
}

/// The feed outlines of an OPML document, in document order.
///
/// The bytes are decoded first (byte-order mark, else the encoding the XML
/// declaration names, else UTF-8), as for a feed: lists exported on old
/// systems come in windows-1251 or UTF-16.
pub fn parse(bytes: &[u8]) -> Result<Vec<Outline>, OpmlError> {
    let text = crate::extract::decode_xml(bytes);
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut lines = Lines::new(&text);
    // The folders the reader is in: `None` for an outline that is no folder
    // (a feed outline with children), so the stack stays balanced.
    let mut folders: Vec<Option<String>> = Vec::new();
    let mut root_seen = false;
    let mut outlines = Vec::new();
    loop {
        // Where the next event starts: an outline's line is that of its `<`.
        let start = reader.buffer_position();
        let event = reader.read_event().map_err(|e| OpmlError {
            message: format!("malformed XML: {e}"),
            line: Some(lines.at(reader.error_position())),
        })?;
        let line = lines.at(start);
        let (element, opens) = match &event {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(e) => {
                if e.local_name().as_ref() == "outline" {
                    folders.pop();
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = element.local_name();
        let name = name.as_ref();
        if !root_seen {
            root_seen = true;
            if name != "opml" {
                return Err(OpmlError {
                    message: format!("not an OPML document: its root element is <{name}>"),
                    line: Some(line),
                });
            }
        }
        if name != "outline" {
            continue;
        }
        let attrs = Attrs::of(element).map_err(|message| OpmlError {
            message,
            line: Some(line),
        })?;
        let label = attrs.title.clone().or_else(|| attrs.text.clone());
        match attrs.xml_url {
            Some(url) => {
                let mut tags: Vec<String> = folders.iter().flatten().cloned().collect();
                tags.extend(categories(attrs.category.as_deref().unwrap_or_default()));
                outlines.push(Outline {
                    name: label.filter(|l| *l != url),
                    url,
                    html_url: attrs.html_url,
                    tags: unique(tags),
                    line,
                });
                if opens {
                    folders.push(None);
                }
            }
            None if opens => folders.push(label),
            None => {}
        }
    }
    if !root_seen {
        return Err(OpmlError {
            message: "not an OPML document: no element in it".to_string(),
            line: None,
        });
    }
    Ok(outlines)
}

/// The attributes of an outline that matter here, unescaped and trimmed;
/// empty ones count as absent. Names are matched without regard to case
/// (`xmlURL` is seen in the wild).
#[derive(Default)]
struct Attrs {
    xml_url: Option<String>,
    html_url: Option<String>,
    title: Option<String>,
    text: Option<String>,
    category: Option<String>,
}

impl Attrs {
    fn of(element: &BytesStart<'_>) -> Result<Attrs, String> {
        let mut attrs = Attrs::default();
        for attr in element.attributes() {
            let attr = attr.map_err(|e| format!("malformed XML: {e}"))?;
            let slot = match attr.key.local_name().as_ref().to_ascii_lowercase().as_str() {
                "xmlurl" => &mut attrs.xml_url,
                "htmlurl" => &mut attrs.html_url,
                "title" => &mut attrs.title,
                "text" => &mut attrs.text,
                "category" => &mut attrs.category,
                _ => continue,
            };
            // An entity XML does not define (`&nbsp;` from an HTML-minded
            // exporter) keeps its raw text rather than losing the feed.
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .unwrap_or_else(|_| attr.value.clone());
            let value = value.trim();
            if !value.is_empty() {
                *slot = Some(value.to_string());
            }
        }
        Ok(attrs)
    }
}

/// The parts of a `category` attribute: comma-separated, each a
/// slash-delimited path (`/News/Europe,ukraine`, as in RSS 2.0).
fn categories(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split([',', '/'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(str::to_string)
}

fn unique(tags: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    tags.into_iter()
        .filter(|t| seen.insert(t.clone()))
        .collect()
}

/// Byte offsets to line numbers, for offsets that only grow.
struct Lines<'t> {
    text: &'t str,
    offset: usize,
    line: usize,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Lines<'t> {
        Lines {
            text,
            offset: 0,
            line: 1,
        }
    }

    fn at(&mut self, offset: u64) -> usize {
        let offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        if offset < self.offset {
            return 1 + memchr::memchr_iter(b'\n', &self.text.as_bytes()[..offset]).count();
        }
        self.line += memchr::memchr_iter(b'\n', &self.text.as_bytes()[self.offset..offset]).count();
        self.offset = offset;
        self.line
    }
}

/// The feeds as an OPML 2.0 document that the readers above import: a feed
/// with tags sits in a folder named by its first tag, and its other tags are
/// its `category`, so reading the document back gives the same feeds.
/// URLs are written as configured, credentials included: the list is for
/// moving the feeds elsewhere.
pub fn export(feeds: &[Feed], title: &str, created: chrono::DateTime<chrono::Utc>) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n");
    out.push_str(&format!(
        "  <head>\n    <title>{}</title>\n    <dateCreated>{}</dateCreated>\n  </head>\n  <body>\n",
        escape(title),
        created.to_rfc2822()
    ));
    let mut folders: Vec<&str> = Vec::new();
    for feed in feeds {
        if let Some(first) = feed.tags.first()
            && !folders.contains(&first.as_str())
        {
            folders.push(first);
        }
    }
    for feed in feeds.iter().filter(|f| f.tags.is_empty()) {
        out.push_str(&outline(feed, &feed.tags, "    "));
    }
    for folder in folders {
        let folder_attr = escape(folder);
        out.push_str(&format!(
            "    <outline text=\"{folder_attr}\" title=\"{folder_attr}\">\n"
        ));
        for feed in feeds
            .iter()
            .filter(|f| f.tags.first().map(String::as_str) == Some(folder))
        {
            out.push_str(&outline(feed, &feed.tags[1..], "      "));
        }
        out.push_str("    </outline>\n");
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

/// One feed outline; `categories` are the tags its folder does not say.
fn outline(feed: &Feed, categories: &[String], indent: &str) -> String {
    let url = escape(feed.url.as_str());
    let name = feed.name.as_deref().map(escape);
    let mut line = format!(
        "{indent}<outline type=\"rss\" text=\"{}\"",
        name.as_deref().unwrap_or(&url)
    );
    if let Some(name) = &name {
        line.push_str(&format!(" title=\"{name}\""));
    }
    line.push_str(&format!(" xmlUrl=\"{url}\""));
    if let Some(html) = &feed.html_url {
        line.push_str(&format!(" htmlUrl=\"{}\"", escape(html)));
    }
    if !categories.is_empty() {
        line.push_str(&format!(" category=\"{}\"", escape(&categories.join(","))));
    }
    line.push_str("/>\n");
    line
}

/// Text for an attribute value or element: markup characters as entities,
/// and line breaks and tabs as character references so that a parser's
/// attribute normalization keeps them; characters XML 1.0 cannot carry at
/// all (C0 controls) are left out.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if c.is_control() && (c as u32) < 0x20 => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(url: &str, name: Option<&str>, tags: &[&str]) -> Feed {
        Feed {
            url: url::Url::parse(url).unwrap(),
            name: name.map(str::to_string),
            interval: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            enabled: true,
            html_url: None,
        }
    }

    #[test]
    fn folders_and_categories_become_tags_and_title_wins_over_text() {
        let opml = br#"<?xml version="1.0"?>
<opml version="1.0"><head><title>x</title></head><body>
  <outline text="News" title="News">
    <outline text="Europe">
      <outline type="rss" text="Short" title="Long name" xmlUrl="https://a.example/rss"
               category="/Wire/Europe,ukraine"/>
    </outline>
  </outline>
  <outline type="rss" text="Only text" xmlUrl="https://b.example/feed" htmlUrl="https://b.example/"/>
  <outline type="rss" text="https://c.example/atom" xmlUrl="https://c.example/atom"/>
</body></opml>"#;
        let outlines = parse(opml).unwrap();
        assert_eq!(outlines.len(), 3, "{outlines:#?}");
        assert_eq!(outlines[0].name.as_deref(), Some("Long name"));
        assert_eq!(
            outlines[0].tags,
            ["News", "Europe", "Wire", "ukraine"],
            "folders outermost first, then categories, each once"
        );
        assert_eq!(outlines[0].line, 5);
        assert_eq!(outlines[1].name.as_deref(), Some("Only text"));
        assert_eq!(outlines[1].html_url.as_deref(), Some("https://b.example/"));
        assert!(outlines[1].tags.is_empty(), "the folders were closed");
        assert_eq!(outlines[2].name, None, "a text that is the URL is no name");
    }

    #[test]
    fn malformed_xml_and_other_documents_are_errors_with_a_line() {
        let e = parse(b"<opml>\n<body>\n<outline xmlUrl=\"https://a.example/\">\n</body></opml>")
            .unwrap_err();
        assert!(e.message.starts_with("malformed XML"), "{e:?}");
        assert_eq!(e.line, Some(4));
        let e = parse(b"<rss version=\"2.0\"><channel/></rss>").unwrap_err();
        assert!(e.message.contains("root element is <rss>"), "{e:?}");
        assert!(parse(b"").is_err());
    }

    #[test]
    fn export_escapes_what_it_writes_and_reads_back_the_same() {
        let feeds = [
            feed(
                "https://a.example/rss?x=1&y=2",
                Some("Tom & \"Jerry\" <news>\ttab\nline 'q'"),
                &["wire", "europe", "ukraine"],
            ),
            feed("https://b.example/feed", None, &[]),
            feed("https://c.example/atom", Some("Кириллица"), &["wire"]),
        ];
        let text = export(&feeds, "tidings <feeds>", chrono::Utc::now());
        assert!(!text.contains("<news>"), "{text}");
        let back = parse(text.as_bytes()).unwrap();
        assert_eq!(back.len(), 3);
        for feed in &feeds {
            let o = back
                .iter()
                .find(|o| o.url == feed.url.as_str())
                .unwrap_or_else(|| panic!("{} in {text}", feed.url));
            assert_eq!(o.name, feed.name, "{text}");
            assert_eq!(o.tags, feed.tags, "{text}");
        }
    }
}

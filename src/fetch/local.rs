//! Local documents: `.txt`, HTML pages and feed files (RSS, Atom, JSON Feed),
//! given as files, folders (walked in name order) or `-` for standard input.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::extract;
use crate::record::{Article, Body, FeedHints, Source, SourceKind};

/// Why a document could not be read. Each names the path.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: cannot read: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: empty document")]
    Empty { path: String },
    #[error("{path}: binary data, not a text, HTML or feed document")]
    Binary { path: String },
    #[error("{path}: malformed feed: {reason}")]
    BadFeed { path: String, reason: String },
    #[error("{path}: larger than the {limit}-byte limit")]
    TooLarge { path: String, limit: usize },
}

impl InputError {
    /// A short, stable label for counting skips by reason.
    pub fn reason(&self) -> &'static str {
        match self {
            InputError::Unreadable { .. } => "unreadable",
            InputError::Empty { .. } => "empty",
            InputError::Binary { .. } => "binary",
            InputError::BadFeed { .. } => "malformed feed",
            InputError::TooLarge { .. } => "too large",
        }
    }
}

/// What a document's bytes are, by extension first, then by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Html,
    Feed,
}

/// Lists the document files under the inputs: files as given, folders walked
/// recursively in name order (hidden entries skipped). A path that does not
/// exist is an error: it is a typo, not a document to skip.
pub fn list_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut out = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            out.push(input.clone());
            continue;
        }
        let meta = std::fs::metadata(input).map_err(|source| InputError::Unreadable {
            path: input.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            walk(input, &mut out)?;
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let unreadable = |source| InputError::Unreadable {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads one path (or `-`) into the articles it holds: one for a text or HTML
/// document, one per item for a feed file.
pub fn read(path: &Path, max_bytes: usize) -> Result<Vec<Article>, InputError> {
    let name = path.display().to_string();
    let bytes = read_bytes(path, max_bytes)?;
    let (kind, location) = if path.as_os_str() == "-" {
        (SourceKind::Stdin, "-".to_string())
    } else {
        (SourceKind::File, name.clone())
    };
    let source = Source {
        kind,
        location,
        name: None,
        tags: Vec::new(),
    };
    parse(&name, &bytes, source, sniff(path, &bytes))
}

/// Reads one document that must be a single article (the one-document verbs).
pub fn read_one(path: &Path, max_bytes: usize) -> Result<Article, InputError> {
    let name = path.display().to_string();
    let mut articles = read(path, max_bytes)?;
    if articles.len() != 1 {
        return Err(InputError::BadFeed {
            path: name,
            reason: format!("a feed of {} items, not one document", articles.len()),
        });
    }
    Ok(articles.remove(0))
}

fn read_bytes(path: &Path, max_bytes: usize) -> Result<Vec<u8>, InputError> {
    let name = path.display().to_string();
    let unreadable = |source| InputError::Unreadable {
        path: name.clone(),
        source,
    };
    let mut bytes = Vec::new();
    // One byte over the limit tells "too large" apart from "exactly the limit".
    let cap = max_bytes as u64 + 1;
    if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(cap)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(cap).read_to_end(&mut bytes))
            .map_err(unreadable)?;
    }
    if bytes.len() > max_bytes {
        return Err(InputError::TooLarge {
            path: name,
            limit: max_bytes,
        });
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(InputError::Empty { path: name });
    }
    if looks_binary(&bytes) {
        return Err(InputError::Binary { path: name });
    }
    Ok(bytes)
}

/// NUL bytes or many control characters in the first 8 KiB mean binary data
/// (images, archives, executables); text in any charset has neither.
fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(8192)];
    if head.starts_with(b"\xEF\xBB\xBF")
        || head.starts_with(b"\xFF\xFE")
        || head.starts_with(b"\xFE\xFF")
    {
        return false;
    }
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c))
        .count();
    head.contains(&0) || control * 20 > head.len()
}

fn sniff(path: &Path, bytes: &[u8]) -> Kind {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt" | "text" | "md") => return Kind::Text,
        Some("html" | "htm" | "xhtml") => return Kind::Html,
        Some("rss" | "atom" | "xml" | "json") => return Kind::Feed,
        _ => {}
    }
    let head: String = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)])
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .take(512)
        .collect::<String>()
        .to_ascii_lowercase();
    if head.starts_with("<!doctype html") || head.starts_with("<html") || head.starts_with("<head")
    {
        Kind::Html
    } else if head.starts_with("<?xml")
        || head.starts_with("<rss")
        || head.starts_with("<feed")
        || head.starts_with("<rdf")
        || (head.starts_with('{') && head.contains("jsonfeed.org"))
    {
        Kind::Feed
    } else if head.starts_with('<') && head.contains("<body") {
        Kind::Html
    } else {
        Kind::Text
    }
}

fn parse(name: &str, bytes: &[u8], source: Source, kind: Kind) -> Result<Vec<Article>, InputError> {
    let article = |body, url, guid, hints| Article {
        source: source.clone(),
        url,
        guid,
        fetched_at: Utc::now(),
        body,
        hints,
        extracted: None,
        ack: crate::pipeline::Ack::default(),
    };
    match kind {
        Kind::Text => {
            let text = extract::decode(bytes, Some("text/plain"));
            Ok(vec![article(
                Body::Text(text),
                None,
                None,
                FeedHints::default(),
            )])
        }
        Kind::Html => Ok(vec![article(
            Body::Html {
                bytes: bytes.to_vec(),
                content_type: None,
            },
            None,
            None,
            FeedHints::default(),
        )]),
        Kind::Feed => {
            let feed = feed_rs::parser::parse(bytes).map_err(|e| InputError::BadFeed {
                path: name.to_string(),
                reason: e.to_string(),
            })?;
            let feed_name = feed.title.as_ref().map(|t| t.content.clone());
            let language = feed.language.clone();
            Ok(feed
                .entries
                .into_iter()
                .map(|entry| {
                    let item = FeedItem::from_entry(entry, language.clone());
                    let mut a = article(item.body, item.url, Some(item.guid), item.hints);
                    a.source.name = feed_name.clone();
                    a
                })
                .collect())
        }
    }
}

/// One feed entry turned into what the pipeline needs.
pub struct FeedItem {
    pub guid: String,
    pub url: Option<String>,
    pub body: Body,
    pub hints: FeedHints,
}

impl FeedItem {
    pub fn from_entry(entry: feed_rs::model::Entry, language: Option<String>) -> FeedItem {
        let url = entry.links.first().map(|l| l.href.clone());
        let summary = entry.summary.as_ref().map(|s| s.content.clone());
        let content = entry.content.as_ref().and_then(|c| c.body.clone());
        let hints = FeedHints {
            title: entry.title.as_ref().map(|t| t.content.clone()),
            summary: summary
                .as_deref()
                .map(extract::fragment_text)
                .filter(|s| !s.is_empty()),
            published_at: entry.published.or(entry.updated),
            authors: entry
                .authors
                .iter()
                .filter_map(|p| p.name.clone())
                .collect(),
            language: entry.language.clone().or(language),
        };
        let body = Body::FeedContent(content.or(summary).unwrap_or_default());
        FeedItem {
            guid: entry.id,
            url,
            body,
            hints,
        }
    }
}

//! Local documents as a source: `.txt`, HTML pages and feed files (RSS,
//! Atom, JSON Feed), given as files, folders (walked in name order) or `-`
//! for standard input.

use std::collections::HashSet;
use std::fs::{File, FileType, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use chrono::Utc;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

use crate::extract;
use crate::flow::{Ack, Body, Document, Source, SourceContext};
use crate::record::{self, FeedHints, Origin, OriginKind};
use crate::redact;

/// Called once per input read, for a progress bar.
pub type Progress = Arc<dyn Fn() + Send + Sync>;

/// Files, folders and standard input (backfill). Their documents need no
/// acknowledgement: a record's id is enough to know it next time.
pub struct FileSource {
    pub inputs: Vec<Input>,
    pub max_bytes: usize,
    pub progress: Option<Progress>,
}

impl Source for FileSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let FileSource {
                inputs,
                max_bytes,
                progress,
            } = *self;
            for input in inputs {
                if ctx.shutdown.is_cancelled() {
                    tracing::info!("shutdown requested: no further input is read");
                    break;
                }
                // A read may block for as long as a pipe's writer likes (or a
                // dead network mount): shutdown does not wait for it. The
                // blocking thread is left behind; the process exits without it.
                let reading = tokio::task::spawn_blocking(move || read_input(&input, max_bytes));
                let read = tokio::select! {
                    read = reading => read?,
                    () = ctx.shutdown.cancelled() => {
                        tracing::info!("shutdown requested: the input being read is left unread");
                        break;
                    }
                };
                if let Some(progress) = &progress {
                    progress();
                }
                let documents = match read {
                    Ok(documents) => documents,
                    Err(e) => {
                        tracing::warn!("skipped: {e}");
                        ctx.counters.document_read();
                        ctx.counters.skip("read", e.reason());
                        continue;
                    }
                };
                for document in documents {
                    ctx.counters.document_read();
                    tokio::select! {
                        sent = ctx.tx.send(document) => if sent.is_err() { return Ok(()) },
                        () = ctx.shutdown.cancelled() => return Ok(()),
                    }
                }
            }
            Ok(())
        })
    }
}

/// Why a document could not be read. Each names the path.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The OS error is part of the message: these are logged as skips, one
    /// line each, and the cause is what the reader needs.
    #[error("{path}: cannot read: {error}")]
    Unreadable { path: String, error: std::io::Error },
    #[error("{path}: empty document")]
    Empty { path: String },
    #[error("{path}: binary data, not a text, HTML or feed document")]
    Binary { path: String },
    #[error("{path}: malformed feed: {reason}")]
    BadFeed { path: String, reason: String },
    /// Records tidings wrote (a JSONL sink's file), not documents: ingesting
    /// each line as a text would make one record of JSON per line.
    #[error(
        "{path}: a file of tidings records (JSONL), not a document; to tag its records \
         again with the current taxonomy run `tidings retag --jsonl {path}`"
    )]
    Records { path: String },
    #[error("{path}: larger than the {limit}-byte limit")]
    TooLarge { path: String, limit: usize },
    /// A pipe, socket or device met while walking a folder: reading one could
    /// block for ever or never end.
    #[error("{path}: {kind}, not a regular file")]
    NotRegular { path: String, kind: &'static str },
}

impl InputError {
    /// A short, stable label for counting skips by reason.
    pub fn reason(&self) -> &'static str {
        match self {
            InputError::Unreadable { .. } => "unreadable",
            InputError::Empty { .. } => "empty",
            InputError::Binary { .. } => "binary",
            InputError::BadFeed { .. } => "malformed feed",
            InputError::Records { .. } => "tidings records",
            InputError::TooLarge { .. } => "too large",
            InputError::NotRegular { .. } => "not a regular file",
        }
    }
}

/// One document source for backfill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Named on the command line: a file, `-`, or a named pipe (`<(cmd)`),
    /// which is read until its writer closes it.
    Named(PathBuf),
    /// Found walking a folder: read only when it is a regular file.
    Found(PathBuf),
    /// A seed compiled into the binary ([`crate::seeds::EMBEDDED`]); it reads
    /// as the file `seeds/<id>.txt` of a checkout would.
    Seed {
        id: &'static str,
        text: &'static str,
    },
}

impl From<PathBuf> for Input {
    fn from(path: PathBuf) -> Input {
        Input::Named(path)
    }
}

impl Input {
    /// The embedded seed corpus.
    pub fn embedded_seeds() -> Vec<Input> {
        crate::seeds::EMBEDDED
            .iter()
            .map(|&(id, text)| Input::Seed { id, text })
            .collect()
    }
}

/// What a document's bytes are, by extension first, then by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Html,
    Feed,
    /// A file of records tidings wrote: refused.
    Records,
}

/// A file's identity: two paths to it (links, a folder reached again
/// through a symlink) are one file.
fn file_id(meta: &Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// Lists the documents under the inputs: files as given, folders walked
/// recursively in name order (hidden entries skipped). Symlinks are
/// followed, but every folder and file is listed once, whatever links lead to
/// it again, so a symlink loop ends. A path that does not exist is an error:
/// it is a typo, not a document to skip.
pub fn list_inputs(inputs: &[PathBuf]) -> Result<Vec<Input>, InputError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            out.push(Input::Named(input.clone()));
            continue;
        }
        let meta = std::fs::metadata(input).map_err(|error| InputError::Unreadable {
            path: input.display().to_string(),
            error,
        })?;
        if meta.is_dir() {
            if seen.insert(file_id(&meta)) {
                walk(input, &mut seen, &mut out)?;
            }
        } else if !meta.is_file() || seen.insert(file_id(&meta)) {
            out.push(Input::Named(input.clone()));
        }
    }
    Ok(out)
}

/// Depth first, in name order, without recursion: a deep tree cannot
/// exhaust the stack.
fn walk(
    root: &Path,
    seen: &mut HashSet<(u64, u64)>,
    out: &mut Vec<Input>,
) -> Result<(), InputError> {
    // Paths still to visit, the next one last.
    let mut pending = Vec::new();
    push_entries(root, &mut pending)?;
    while let Some(path) = pending.pop() {
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                if seen.insert(file_id(&meta)) {
                    push_entries(&path, &mut pending)?;
                } else {
                    tracing::debug!(path = %path.display(), "folder already walked");
                }
            }
            Ok(meta) if meta.is_file() && !seen.insert(file_id(&meta)) => {
                tracing::debug!(path = %path.display(), "file already listed");
            }
            // Files, special files and broken links alike: reading tells
            // what is wrong with them, as a counted skip.
            _ => out.push(Input::Found(path)),
        }
    }
    Ok(())
}

fn push_entries(dir: &Path, pending: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let unreadable = |error| InputError::Unreadable {
        path: dir.display().to_string(),
        error,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    entries.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
    pending.extend(
        entries
            .into_iter()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path()),
    );
    Ok(())
}

/// Reads one input into the documents it holds: one for a text or HTML
/// document, one per item for a feed file.
pub fn read_input(input: &Input, max_bytes: usize) -> Result<Vec<Document>, InputError> {
    let (path, named) = match input {
        Input::Named(path) => (path, true),
        Input::Found(path) => (path, false),
        Input::Seed { id, text } => {
            let path = PathBuf::from(format!("seeds/{id}.txt"));
            let bytes = check_bytes(&path, text.as_bytes().to_vec(), max_bytes)?;
            return parse(&path, &bytes, OriginKind::File, Kind::Text);
        }
    };
    let bytes = read_bytes(path, named, max_bytes)?;
    let kind = if path.as_os_str() == "-" {
        OriginKind::Stdin
    } else {
        OriginKind::File
    };
    parse(path, &bytes, kind, sniff(path, &bytes))
}

/// Reads one path named by the user (or `-`).
pub fn read(path: &Path, max_bytes: usize) -> Result<Vec<Document>, InputError> {
    read_input(&Input::Named(path.to_path_buf()), max_bytes)
}

/// Reads one document that must be a single article (the one-document verbs).
pub fn read_one(path: &Path, max_bytes: usize) -> Result<Document, InputError> {
    let name = path.display().to_string();
    let mut documents = read(path, max_bytes)?;
    if documents.len() != 1 {
        return Err(InputError::BadFeed {
            path: name,
            reason: format!("a feed of {} items, not one document", documents.len()),
        });
    }
    Ok(documents.remove(0))
}

/// What kind of special file this is, for the skip message.
fn special_kind(ft: FileType) -> &'static str {
    if ft.is_dir() {
        "a folder"
    } else if ft.is_fifo() {
        "a named pipe"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device"
    } else {
        "a special file"
    }
}

/// A regular file, or a pipe the user named; nothing else is read.
fn readable(ft: FileType, named: bool) -> bool {
    ft.is_file() || (named && ft.is_fifo())
}

fn open(path: &Path, named: bool) -> Result<File, InputError> {
    let name = || path.display().to_string();
    let unreadable = |error| InputError::Unreadable {
        path: name(),
        error,
    };
    let not_regular = |ft: FileType| InputError::NotRegular {
        path: name(),
        kind: special_kind(ft),
    };
    // Looked at before opening: opening a device can have effects of its own.
    let ft = std::fs::metadata(path).map_err(unreadable)?.file_type();
    if !readable(ft, named) {
        return Err(not_regular(ft));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    if !named {
        // The file may have been swapped for a pipe since it was looked at:
        // a non-blocking open never waits for a writer.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(unreadable)?;
    // What was opened is what counts.
    let ft = file.metadata().map_err(unreadable)?.file_type();
    if !readable(ft, named) {
        return Err(not_regular(ft));
    }
    Ok(file)
}

fn read_bytes(path: &Path, named: bool, max_bytes: usize) -> Result<Vec<u8>, InputError> {
    let unreadable = |error| InputError::Unreadable {
        path: path.display().to_string(),
        error,
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
        open(path, named)?
            .take(cap)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
    }
    check_bytes(path, bytes, max_bytes)
}

fn check_bytes(path: &Path, bytes: Vec<u8>, max_bytes: usize) -> Result<Vec<u8>, InputError> {
    let name = || path.display().to_string();
    if bytes.len() > max_bytes {
        return Err(InputError::TooLarge {
            path: name(),
            limit: max_bytes,
        });
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(InputError::Empty { path: name() });
    }
    if looks_binary(&bytes) {
        return Err(InputError::Binary { path: name() });
    }
    Ok(bytes)
}

/// Many control characters in the first 8 KiB mean binary data (images,
/// archives, executables); text in any charset has none but the odd stray
/// byte, which is no reason to refuse a page.
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
    control * 20 > head.len()
}

fn sniff(path: &Path, bytes: &[u8]) -> Kind {
    if starts_with_a_record(bytes) {
        return Kind::Records;
    }
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

/// Whether the first non-empty line of `bytes` is a record (see
/// [`record::is_record_line`]), whatever the file's name.
fn starts_with_a_record(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    bytes
        .split(|&b| b == b'\n')
        .find(|line| !line.iter().all(u8::is_ascii_whitespace))
        .and_then(|line| std::str::from_utf8(line).ok())
        .is_some_and(record::is_record_line)
}

/// Refuses, before anything runs, the files named on the command line that
/// hold tidings records rather than documents (in a folder walked, such a
/// file is a counted skip like any other unreadable input). Only the first
/// line of each file is read.
pub fn refuse_records(inputs: &[Input], max_bytes: usize) -> Result<(), InputError> {
    use std::io::BufRead;
    for input in inputs {
        let Input::Named(path) = input else { continue };
        // Standard input and pipes cannot be peeked at without consuming them.
        if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let Ok(file) = File::open(path) else { continue };
        let mut reader = std::io::BufReader::new(file.take(max_bytes as u64));
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if line.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(_) => {
                    if starts_with_a_record(&line) {
                        return Err(InputError::Records {
                            path: path.display().to_string(),
                        });
                    }
                    break;
                }
            }
        }
    }
    Ok(())
}

fn parse(
    path: &Path,
    bytes: &[u8],
    kind: OriginKind,
    doc: Kind,
) -> Result<Vec<Document>, InputError> {
    let location = match kind {
        OriginKind::Stdin => "-".to_string(),
        _ => path.display().to_string(),
    };
    let origin = Origin {
        kind,
        location,
        name: None,
        tags: Vec::new(),
    };
    let article = |body, url, guid, hints| Document {
        origin: origin.clone(),
        url,
        guid,
        fetched_at: Utc::now(),
        body,
        hints,
        ack: Ack::none(),
    };
    match doc {
        Kind::Records => Err(InputError::Records {
            path: path.display().to_string(),
        }),
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
            let feed = super::parse::feed(bytes).map_err(|e| InputError::BadFeed {
                path: path.display().to_string(),
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
                    a.origin.name = feed_name.clone();
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
            // A guid is often the item's link, secrets and all; it is shown
            // in logs and kept in the state store and the record.
            guid: redact::text(&entry.id),
            url,
            body,
            hints,
        }
    }

    /// A digest of the entry as the feed lists it: its title and body. A
    /// feed that rewrites an entry as the story develops changes it, one
    /// that only re-serves the entry does not.
    pub fn digest(&self) -> String {
        let body = match &self.body {
            Body::FeedContent(content) | Body::Text(content) => content.as_bytes(),
            Body::Html { bytes, .. } => bytes,
        };
        let mut h = Sha256::new();
        h.update(self.hints.title.as_deref().unwrap_or_default().as_bytes());
        h.update([0]);
        h.update(body);
        h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(root: &Path, rel: &str) -> Input {
        Input::Found(root.join(rel))
    }

    #[test]
    fn folders_are_walked_in_name_order_and_each_once_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("docs");
        std::fs::create_dir_all(root.join("b/inner")).unwrap();
        for file in ["a.txt", "b/inner/c.txt", "b/d.txt", "e.txt", ".hidden.txt"] {
            std::fs::write(root.join(file), file).unwrap();
        }
        // A loop back to the top, a second way into b, and a second name
        // for a.txt: nothing new to list.
        std::os::unix::fs::symlink(&root, root.join("b/inner/up")).unwrap();
        std::os::unix::fs::symlink(root.join("b"), root.join("c")).unwrap();
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("f.txt")).unwrap();
        let listed = list_inputs(std::slice::from_ref(&root)).unwrap();
        assert_eq!(
            listed,
            [
                found(&root, "a.txt"),
                found(&root, "b/d.txt"),
                found(&root, "b/inner/c.txt"),
                found(&root, "e.txt"),
            ]
        );
        // Named twice, or inside a folder also named: still once.
        let twice = [root.join("e.txt"), root.clone()];
        assert_eq!(list_inputs(&twice).unwrap().len(), 4);
    }

    #[test]
    fn a_pipe_is_read_only_when_named() {
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("pipe");
        let c_path = std::ffi::CString::new(pipe.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let found = read_input(&Input::Found(pipe.clone()), 1024).unwrap_err();
        assert_eq!(found.reason(), "not a regular file");
        assert!(found.to_string().contains("a named pipe"), "{found}");

        let writer = std::thread::spawn({
            let pipe = pipe.clone();
            move || std::fs::write(pipe, "Talks resume\n\nEnvoys met on Monday.\n").unwrap()
        });
        let articles = read_input(&Input::Named(pipe), 1024).unwrap();
        writer.join().unwrap();
        assert!(matches!(&articles[0].body, Body::Text(t) if t.starts_with("Talks resume")));
    }
}

//! The embedded default sink: one JSON record per line, appended.
//!
//! The file is its own log: its length after a write is the position the
//! state store keeps with the records it marks. After a crash between a
//! write here and the state's mark, the lines past that position are read
//! back ([`JsonlSink::scan`]), so their records are not appended again.

use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWriteExt;

use super::{Place, SinkError};
use crate::record::Record;
use crate::settings::{Dirs, Section};

/// `kind = "jsonl"`: `path`, relative to the data folder (see [`Dirs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub path: PathBuf,
}

impl Config {
    pub fn read(s: &mut Section<'_>, dirs: &Dirs) -> Option<Config> {
        let path = s.required_str("path")?;
        if path.trim().is_empty() {
            s.problem("path", "must not be empty");
        }
        Some(Config {
            path: dirs.output(path),
        })
    }

    pub fn place(&self) -> Place {
        Place::File(lexical(&self.path))
    }
}

/// `path` with `.` and `..` folded away without touching the file system (the
/// file need not exist yet), so `out/a.jsonl` and `./x/../out/a.jsonl` match.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}

pub struct JsonlSink {
    path: PathBuf,
    file: File,
    /// The file's length (where the next write starts), when it is a
    /// regular file; a pipe or a device is no log to read back.
    len: Option<u64>,
}

/// Ids read back per call of the scan's callback.
const SCAN_CHUNK: usize = 10_000;

impl JsonlSink {
    /// Opens (creating it and its folder when missing) the file to append to.
    pub async fn open(
        config: &Config,
        _patience: Option<Duration>,
    ) -> Result<JsonlSink, SinkError> {
        let path = config.path.as_path();
        let err = |source| SinkError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(err)?;
        }
        let std_path = path.to_path_buf();
        tokio::task::spawn_blocking(move || drop_torn_tail(&std_path))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(err)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .map_err(err)?;
        let meta = file.metadata().await.map_err(err)?;
        let len = meta.is_file().then_some(meta.len());
        // The key of this sink in the state store: the same file however
        // the config spells its path.
        let path = tokio::fs::canonicalize(path).await.map_err(err)?;
        Ok(JsonlSink { path, file, len })
    }

    pub fn name(&self) -> String {
        name_of(&self.path)
    }

    /// The sink's key in the state store: the file, by its canonical path.
    pub fn key(&self) -> String {
        self.name()
    }

    fn err(&self, source: std::io::Error) -> SinkError {
        SinkError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// The file's length now (someone may have cut or replaced it); `None`
    /// for a pipe or a device.
    pub async fn position(&mut self) -> Result<Option<u64>, SinkError> {
        if self.len.is_none() {
            return Ok(None);
        }
        match tokio::fs::metadata(&self.path).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(0)),
            Err(e) => Err(self.err(e)),
        }
    }

    /// The ids of the records from byte `from` to the end, in chunks, each
    /// with the position it reaches. Lines that are not records (edited by
    /// hand) are skipped with a warning. Memory stays at one chunk.
    pub async fn scan(
        &mut self,
        from: u64,
        chunk: &mut (dyn FnMut(Vec<String>, u64) -> anyhow::Result<()> + Send),
    ) -> anyhow::Result<()> {
        if self.len.is_none() {
            return Ok(());
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        let path = self.path.clone();
        let reader = tokio::task::spawn_blocking(move || {
            read_ids(&path, from, |ids, at| tx.blocking_send((ids, at)).is_ok())
        });
        while let Some((ids, at)) = rx.recv().await {
            chunk(ids, at)?;
        }
        reader
            .await?
            .map_err(|source| self.err(source))
            .map_err(anyhow::Error::from)
    }

    /// Appends the batch as one write and fsyncs it: once this returns, the
    /// records survive a crash of the process or the machine. Returns the
    /// file's length after the write (`None` for a pipe or a device).
    pub async fn write(&mut self, batch: &[&Record]) -> Result<Option<u64>, SinkError> {
        let buf = lines(batch).map_err(|source| self.err(source))?;
        if let Err(e) = self.file.write_all(&buf).await {
            return Err(self.err(e));
        }
        if let Err(e) = self.file.flush().await {
            return Err(self.err(e));
        }
        match self.file.sync_data().await {
            // Pipes and character devices cannot be synced; nothing is buffered
            // on our side once the write returned.
            Err(e) if e.raw_os_error() == Some(22) => {}
            Err(e) => return Err(self.err(e)),
            Ok(()) => {}
        }
        if let Some(len) = &mut self.len {
            *len += buf.len() as u64;
        }
        Ok(self.len)
    }
}

fn name_of(canonical: &Path) -> String {
    format!("jsonl:{}", canonical.display())
}

/// The state store's key of the JSONL sink writing to the existing file
/// `path` (see [`JsonlSink::key`]).
pub fn key_of(path: &Path) -> std::io::Result<String> {
    Ok(name_of(&std::fs::canonicalize(path)?))
}

/// What [`rewrite`] did to a file.
#[derive(Debug, Default)]
pub struct Rewritten {
    /// Records read (lines that are records).
    pub records: u64,
    /// Of those, the ones `change` changed (and that were written anew).
    pub changed: u64,
    /// Lines that are not records, kept as they were.
    pub other_lines: u64,
    /// The ids of the records, in file order.
    pub ids: Vec<String>,
    /// The file's length now.
    pub len: u64,
}

/// Passes every record of the JSONL file at `path` through `change` (which
/// says whether it changed the record) and replaces the file with the
/// result, atomically: the new content goes to a temporary file beside it,
/// with the same permissions, which is synced and renamed over the old
/// one, so a crash leaves either file whole. Records stay in their order;
/// an unchanged record, a line that is not a record and a torn last line
/// (a crash mid-write) are kept byte for byte. Refuses to replace a file
/// that grew meanwhile: something else writes to it.
pub fn rewrite(
    path: &Path,
    mut change: impl FnMut(&mut Record) -> bool,
) -> anyhow::Result<Rewritten> {
    use anyhow::Context;
    use std::io::Write;
    let shown = path.display();
    let original = std::fs::File::open(path).with_context(|| format!("opening {shown}"))?;
    let meta = original
        .metadata()
        .with_context(|| format!("reading {shown}"))?;
    anyhow::ensure!(meta.is_file(), "{shown}: not a regular file");
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{shown}: not a file name"))?;
    let temp = dir.join(format!(
        ".{}.rewrite-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .with_context(|| format!("creating {}", temp.display()))?;
        file.set_permissions(meta.permissions())
            .with_context(|| format!("setting the permissions of {}", temp.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let mut reader = std::io::BufReader::new(&original);
        let mut done = Rewritten::default();
        let (mut line, mut read) = (Vec::new(), 0u64);
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .with_context(|| format!("reading {shown}"))?;
            if n == 0 {
                break;
            }
            read += n as u64;
            let whole = line.last() == Some(&b'\n');
            let parsed = whole
                .then(|| serde_json::from_slice::<Record>(&line).ok())
                .flatten();
            let write = match parsed {
                Some(mut record) => {
                    done.records += 1;
                    let changed = change(&mut record);
                    done.ids.push(record.id.clone());
                    if changed {
                        done.changed += 1;
                        let mut json = serde_json::to_vec(&record)?;
                        json.push(b'\n');
                        out.write_all(&json)
                    } else {
                        out.write_all(&line)
                    }
                }
                None => {
                    if !line.iter().all(u8::is_ascii_whitespace) {
                        done.other_lines += 1;
                    }
                    out.write_all(&line)
                }
            };
            write.with_context(|| format!("writing {}", temp.display()))?;
        }
        let file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {}", temp.display()))?;
        file.sync_all()
            .with_context(|| format!("syncing {}", temp.display()))?;
        done.len = file.metadata()?.len();
        let now = std::fs::metadata(path).with_context(|| format!("reading {shown}"))?;
        anyhow::ensure!(
            now.len() == read,
            "{shown} changed while it was rewritten ({read} bytes read, {} now): is a tidings \
             process writing to it? Nothing was replaced",
            now.len()
        );
        std::fs::rename(&temp, path)
            .with_context(|| format!("replacing {shown} with {}", temp.display()))?;
        // The rename is durable once the folder is.
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing {}", dir.display()))?;
        Ok(done)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Reads the ids of the lines from byte `from` on, handing them out in
/// chunks with the byte position each chunk ends at; stops early when `each`
/// returns false.
fn read_ids(
    path: &Path,
    from: u64,
    mut each: impl FnMut(Vec<String>, u64) -> bool,
) -> std::io::Result<()> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    file.seek(SeekFrom::Start(from))?;
    let mut reader = std::io::BufReader::new(file);
    let (mut ids, mut at, mut line) = (Vec::new(), from, Vec::new());
    let mut unreadable = 0u64;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        // A torn last line was cut at open; one written since is not a
        // record yet.
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        at += n as u64;
        match serde_json::from_slice::<Id>(&line) {
            Ok(record) => ids.push(record.id),
            Err(_) if line.iter().all(u8::is_ascii_whitespace) => {}
            Err(_) => unreadable += 1,
        }
        if ids.len() >= SCAN_CHUNK && !each(std::mem::take(&mut ids), at) {
            return Ok(());
        }
    }
    if unreadable > 0 {
        tracing::warn!(path = %path.display(), lines = unreadable, "lines that are not records skipped");
    }
    each(ids, at);
    Ok(())
}

/// The batch as JSON lines, one record each.
pub fn lines(batch: &[&Record]) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(batch.len() * 4096);
    for record in batch {
        serde_json::to_writer(&mut buf, record)?;
        buf.push(b'\n');
    }
    Ok(buf)
}

/// A crash in the middle of a write can leave half a line at the end of the
/// file. That record was never acknowledged (it will be written again), so
/// the partial line is cut off rather than left to corrupt the next one.
fn drop_torn_tail(path: &Path) -> std::io::Result<()> {
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let buf = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            let keep = start + i as u64 + 1;
            if keep < len {
                tracing::warn!(path = %path.display(), bytes = len - keep, "cut a torn last line left by a crash");
                file.set_len(keep)?;
            }
            return Ok(());
        }
        end = start;
    }
    if len > 0 {
        tracing::warn!(path = %path.display(), bytes = len, "cut a torn last line left by a crash");
        file.set_len(0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_back_from_a_position_in_chunks_skipping_lines_that_are_not_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let head = "{\"id\":\"a\",\"title\":\"x\"}\n";
        let mut text = head.to_string();
        for i in 0..(SCAN_CHUNK + 5) {
            text.push_str(&format!("{{\"id\":\"n{i}\"}}\n"));
        }
        text.push_str("not json\n{\"id\":\"last\"}\n{\"id\":\"torn");
        std::fs::write(&path, &text).unwrap();
        let mut chunks = Vec::new();
        read_ids(&path, head.len() as u64, |ids, at| {
            chunks.push((ids, at));
            true
        })
        .unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].0.len(), SCAN_CHUNK);
        assert_eq!(chunks[0].0[0], "n0");
        assert_eq!(chunks[1].0.last().unwrap(), "last");
        assert_eq!(chunks[1].0.len(), 6);
        let end = text.len() - "{\"id\":\"torn".len();
        assert_eq!(chunks[1].1, end as u64, "up to the last whole line");
    }

    #[test]
    fn a_torn_last_line_is_cut_and_whole_lines_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "{\"id\":1}\n{\"id\":2}\n{\"id\":").unwrap();
        drop_torn_tail(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"id\":1}\n{\"id\":2}\n"
        );
        drop_torn_tail(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"id\":1}\n{\"id\":2}\n"
        );
    }
}

//! The embedded default sink: one JSON record per line, appended.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWriteExt;

use super::SinkError;
use crate::record::Record;

pub struct JsonlSink {
    path: PathBuf,
    file: File,
}

impl JsonlSink {
    pub async fn open(path: &Path) -> Result<JsonlSink, SinkError> {
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
        Ok(JsonlSink {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the batch as one write and fsyncs it: once this returns, the
    /// records survive a crash of the process or the machine.
    pub async fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        let buf = lines(batch).map_err(|source| SinkError::Io {
            path: self.path.display().to_string(),
            source,
        })?;
        let err = |source| SinkError::Io {
            path: self.path.display().to_string(),
            source,
        };
        self.file.write_all(&buf).await.map_err(err)?;
        self.file.flush().await.map_err(err)?;
        match self.file.sync_data().await {
            // Pipes and character devices cannot be synced; nothing is buffered
            // on our side once the write returned.
            Err(e) if e.raw_os_error() == Some(22) => Ok(()),
            other => other.map_err(err),
        }
    }
}

/// The batch as JSON lines, one record each.
pub fn lines(batch: &[Record]) -> std::io::Result<Vec<u8>> {
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

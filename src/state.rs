//! The embedded state store: SQLite in WAL mode under `[state] dir`.
//!
//! It remembers which records every sink has acknowledged, so a re-run or a
//! restart after a crash skips them. A record is marked here only after the
//! sinks have written it: the store never claims more than the sinks hold.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create state folder {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state store {path}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// One acknowledged record, as the state remembers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub id: String,
    pub content_hash: String,
    pub canonical_url: Option<String>,
    pub guid: Option<String>,
}

pub struct State {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    id            TEXT PRIMARY KEY,
    content_hash  TEXT NOT NULL,
    canonical_url TEXT,
    guid          TEXT,
    done_at       TEXT NOT NULL
);
";

impl State {
    /// Opens (creating when missing) the store in `dir`.
    pub fn open(dir: &Path) -> Result<State, StateError> {
        std::fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("state.sqlite");
        let wrap = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(wrap)?;
        // WAL keeps readers and the writer apart and makes each commit one
        // append; NORMAL sync is durable across process crashes, which is the
        // failure the daemon must survive.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(wrap)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(wrap)?;
        conn.execute_batch(SCHEMA).map_err(wrap)?;
        Ok(State { conn, path })
    }

    fn err(&self, source: rusqlite::Error) -> StateError {
        StateError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    pub fn is_done(&self, id: &str) -> Result<bool, StateError> {
        self.conn
            .query_row("SELECT 1 FROM records WHERE id = ?1", [id], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(|e| self.err(e))
    }

    /// Marks records as acknowledged by every sink, in one transaction.
    pub fn mark_done(&mut self, done: &[Done], at: &str) -> Result<(), StateError> {
        let path = &self.path;
        let err = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO records (id, content_hash, canonical_url, guid, done_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            for d in done {
                stmt.execute(params![d.id, d.content_hash, d.canonical_url, d.guid, at])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Every acknowledged record, to rebuild the dedup index at start.
    pub fn done_records(&self) -> Result<Vec<Done>, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, content_hash, canonical_url, guid FROM records")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Done {
                    id: r.get(0)?,
                    content_hash: r.get(1)?,
                    canonical_url: r.get(2)?,
                    guid: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    pub fn done_count(&self) -> Result<u64, StateError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM records", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_ids_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(dir.path()).unwrap();
        let d = Done {
            id: "abc".into(),
            content_hash: "h".into(),
            canonical_url: None,
            guid: Some("g".into()),
        };
        s.mark_done(&[d.clone(), d], "2026-01-01T00:00:00Z")
            .unwrap();
        drop(s);
        let s = State::open(dir.path()).unwrap();
        assert!(s.is_done("abc").unwrap());
        assert!(!s.is_done("abd").unwrap());
        assert_eq!(s.done_count().unwrap(), 1);
    }
}

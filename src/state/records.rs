//! Records as the store knows them: what dedup needs after a restart, and
//! the dead letters.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::sinks::set_position;
use super::{State, StateError};
use crate::record::Duplicate;

/// A record delivered to (some of) the sinks, as the store remembers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub content_hash: String,
    pub canonical_url: Option<String>,
    pub guid: Option<String>,
    /// The dedup fingerprint (JSON), so a restart rebuilds the index.
    pub fingerprint: Option<String>,
    /// The dedup verdict the record was written with, so that writing it
    /// again (to another sink) gives the same one.
    pub duplicate: Option<Duplicate>,
    pub done_at: DateTime<Utc>,
    /// The sinks (their ids here) that took the record in this write.
    pub sinks: Vec<i64>,
    /// The sinks that refused it for good (see [`State::dead_letter`]).
    pub refused: Vec<i64>,
}

impl State {
    /// Marks records as written to the sinks that took them, in one
    /// transaction; `positions` are how far the sinks' logs reach after the
    /// write.
    pub fn mark_delivered(
        &mut self,
        done: &[Delivery],
        positions: &[(i64, u64)],
    ) -> Result<(), StateError> {
        let path = &self.path;
        let err = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut record = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO records
                        (id, content_hash, canonical_url, guid, fingerprint, done_at, verdict)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(err)?;
            let mut held = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO sink_records (id, sink, refused) VALUES (?1, ?2, ?3)",
                )
                .map_err(err)?;
            for d in done {
                let at = crate::record::timestamp(d.done_at);
                let verdict = d
                    .duplicate
                    .as_ref()
                    .and_then(|v| serde_json::to_string(v).ok());
                record
                    .execute(params![
                        d.id,
                        d.content_hash,
                        d.canonical_url,
                        d.guid,
                        d.fingerprint,
                        at,
                        verdict
                    ])
                    .map_err(err)?;
                for sink in &d.sinks {
                    held.execute(params![d.id, sink, false]).map_err(err)?;
                }
                for sink in &d.refused {
                    held.execute(params![d.id, sink, true]).map_err(err)?;
                }
            }
            for (sink, position) in positions {
                set_position(&tx, *sink, *position).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Sets aside a record that a sink refused for good, with the reason, in
    /// `dead-letter.jsonl` beside the store, for someone to look at (and,
    /// once the cause is fixed, feed back with `tidings backfill`).
    pub fn dead_letter(
        &self,
        sink: &str,
        record: &crate::record::Record,
        reason: &str,
    ) -> Result<(), StateError> {
        use std::io::Write;
        let Some(dir) = self.path.parent() else {
            return Ok(());
        };
        let path = dir.join("dead-letter.jsonl");
        let line = serde_json::json!({
            "at": crate::record::timestamp(Utc::now()),
            "sink": sink,
            "reason": reason,
            "record": record,
        });
        let err = |source| StateError::DeadLetter {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err)?;
        writeln!(file, "{line}").map_err(err)?;
        file.sync_data().map_err(err)
    }

    /// The verdict a record was written with; `None` when it was never
    /// written anywhere.
    pub fn verdict(&self, id: &str) -> Result<Option<Option<Duplicate>>, StateError> {
        let stored = self
            .conn
            .prepare_cached("SELECT verdict FROM records WHERE id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([id], |r| r.get::<_, Option<String>>(0))
                    .optional()
            })
            .map_err(|e| self.err(e))?;
        Ok(stored.map(|v| v.and_then(|json| serde_json::from_str(&json).ok())))
    }

    /// Every record delivered anywhere, with its verdict, in the order they
    /// were first written: to rebuild the dedup index at start (a copy
    /// comes after what it copies, so chains of copies resolve to a root).
    pub fn delivered(&self) -> Result<Vec<Delivery>, StateError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, content_hash, canonical_url, guid, fingerprint, done_at, verdict
                 FROM records ORDER BY rowid",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Delivery {
                    id: r.get(0)?,
                    content_hash: r.get(1)?,
                    canonical_url: r.get(2)?,
                    guid: r.get(3)?,
                    fingerprint: r.get(4)?,
                    duplicate: r
                        .get::<_, Option<String>>(6)?
                        .and_then(|json| serde_json::from_str(&json).ok()),
                    done_at: r.get(5)?,
                    sinks: Vec::new(),
                    refused: Vec::new(),
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

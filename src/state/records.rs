//! Records as the store knows them: what dedup needs after a restart, and
//! the dead letters.

use chrono::{DateTime, Utc};

use super::db::args;
use super::sinks::set_position;
use super::{State, StateError};
use crate::record::Duplicate;

/// A record delivered to (some of) the sinks, as the store remembers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub content_hash: String,
    /// The record's version: a later one replaces what the store
    /// remembers of an earlier one.
    pub version: u32,
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
        self.db.transaction(|db| {
            for d in done {
                let verdict = d
                    .duplicate
                    .as_ref()
                    .and_then(|v| serde_json::to_string(v).ok());
                // A record written again keeps what it was first written
                // with, unless it is a later version of a changed page.
                db.execute(
                    "INSERT INTO records
                        (id, content_hash, canonical_url, guid, fingerprint, done_at, verdict,
                         version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (id) DO UPDATE SET content_hash = excluded.content_hash,
                        fingerprint = excluded.fingerprint, version = excluded.version
                     WHERE excluded.version > records.version",
                    args![
                        d.id.as_str(),
                        d.content_hash.as_str(),
                        d.canonical_url.as_deref(),
                        d.guid.as_deref(),
                        d.fingerprint.as_deref(),
                        crate::record::timestamp(d.done_at),
                        verdict,
                        d.version
                    ],
                )?;
                let held = d.sinks.iter().map(|s| (s, false));
                for (sink, refused) in held.chain(d.refused.iter().map(|s| (s, true))) {
                    db.execute(
                        "INSERT INTO sink_records (id, sink, refused) VALUES (?1, ?2, ?3)
                         ON CONFLICT DO NOTHING",
                        args![d.id.as_str(), *sink, refused],
                    )?;
                }
            }
            for (sink, position) in positions {
                set_position(db, *sink, *position)?;
            }
            Ok(())
        })
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
        let path = self.dir.join("dead-letter.jsonl");
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
            .db
            .query_opt("SELECT verdict FROM records WHERE id = ?1", args![id])?;
        stored
            .map(|r| {
                r.opt_text(0)
                    .map(|v| v.and_then(|json| serde_json::from_str(&json).ok()))
            })
            .transpose()
    }

    /// The content hash and version of the record written under `id`;
    /// `None` when it was never written anywhere.
    pub fn revision(&self, id: &str) -> Result<Option<(String, u32)>, StateError> {
        let stored = self.db.query_opt(
            "SELECT content_hash, version FROM records WHERE id = ?1",
            args![id],
        )?;
        stored
            .map(|r| Ok((r.text(0)?, r.int(1)?.clamp(1, u32::MAX.into()) as u32)))
            .transpose()
    }

    /// Every record delivered anywhere, with its verdict, in the order they
    /// were first written: to rebuild the dedup index at start (a copy
    /// comes after what it copies, so chains of copies resolve to a root).
    pub fn delivered(&self) -> Result<Vec<Delivery>, StateError> {
        let rows = self.db.query(
            self.db.pick(
                "SELECT id, content_hash, canonical_url, guid, fingerprint, done_at, verdict,
                        version
                 FROM records ORDER BY rowid",
                "SELECT id, content_hash, canonical_url, guid, fingerprint, done_at, verdict,
                        version
                 FROM records ORDER BY seq",
            ),
            &[],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.text(0)?,
                    content_hash: r.text(1)?,
                    version: r.int(7)?.clamp(1, u32::MAX.into()) as u32,
                    canonical_url: r.opt_text(2)?,
                    guid: r.opt_text(3)?,
                    fingerprint: r.opt_text(4)?,
                    duplicate: r
                        .opt_text(6)?
                        .and_then(|json| serde_json::from_str(&json).ok()),
                    done_at: r.time(5)?,
                    sinks: Vec::new(),
                    refused: Vec::new(),
                })
            })
            .collect()
    }

    pub fn done_count(&self) -> Result<u64, StateError> {
        let n = self
            .db
            .query_one("SELECT COUNT(*) FROM records", &[])?
            .int(0)?;
        Ok(n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Location;

    fn delivery(hash: &str, version: u32) -> Delivery {
        Delivery {
            id: "abc".into(),
            content_hash: hash.into(),
            version,
            canonical_url: None,
            guid: None,
            fingerprint: None,
            duplicate: None,
            done_at: Utc::now(),
            sinks: Vec::new(),
            refused: Vec::new(),
        }
    }

    #[test]
    fn a_later_version_replaces_what_is_remembered_and_an_earlier_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&Location::folder(dir.path())).unwrap();
        assert_eq!(s.revision("abc").unwrap(), None);
        s.mark_delivered(&[delivery("h1", 1)], &[]).unwrap();
        s.mark_delivered(&[delivery("h2", 2)], &[]).unwrap();
        // The first version written again (to another sink, a replay).
        s.mark_delivered(&[delivery("h1", 1)], &[]).unwrap();
        assert_eq!(s.revision("abc").unwrap(), Some(("h2".to_string(), 2)));
        assert_eq!(s.delivered().unwrap()[0].version, 2);
        assert_eq!(s.done_count().unwrap(), 1);
    }
}

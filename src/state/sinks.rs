//! Which sink holds which record, and how far into each sink's own log the
//! store has followed it.

use super::db::{Db, args};
use super::{State, StateError};

/// A sink as the store knows it, by the key the sink names itself with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkMark {
    pub id: i64,
    /// How far into the sink's own log (a JSONL file's bytes, a stream's
    /// sequence) every record is known here; 0 for sinks without a log.
    pub position: u64,
    /// Whatever the sink held before this store first saw it is known here.
    pub adopted: bool,
}

impl State {
    /// The sinks (their ids) of this run: items and pages are finished only
    /// when their records are in every one of them.
    pub fn set_sinks(&mut self, sinks: Vec<i64>) {
        self.sinks = sinks;
    }

    /// The sink with this key, registered (not yet adopted) when new.
    pub fn sink(&mut self, key: &str) -> Result<SinkMark, StateError> {
        self.db.execute(
            "INSERT INTO sinks (key) VALUES (?1) ON CONFLICT DO NOTHING",
            args![key],
        )?;
        self.known_sink(key)?.ok_or_else(|| StateError::Decode {
            place: self.db.place().to_string(),
            message: format!("sink {key} is missing just after it was registered"),
        })
    }

    /// The sink with this key, if the store knows it.
    pub fn known_sink(&self, key: &str) -> Result<Option<SinkMark>, StateError> {
        self.db
            .query_opt(
                "SELECT id, position, adopted FROM sinks WHERE key = ?1",
                args![key],
            )?
            .map(|r| {
                Ok(SinkMark {
                    id: r.int(0)?,
                    position: r.int(1)?.max(0) as u64,
                    adopted: r.int(2)? != 0,
                })
            })
            .transpose()
    }

    /// A sink's log was rewritten in place (`tidings retag`): it holds
    /// `ids`, all of them, and its log now ends at `position`. The store
    /// knows all it holds, so a later run neither writes them again nor
    /// reads the log back from a position that no longer starts a line.
    pub fn sink_rewritten(
        &mut self,
        sink: i64,
        ids: &[String],
        position: u64,
    ) -> Result<(), StateError> {
        self.add_sink_records(sink, ids, position)?;
        self.sink_adopted(sink)
    }

    /// Records found in a sink (read back from it), up to `position` of its log.
    pub fn add_sink_records(
        &mut self,
        sink: i64,
        ids: &[String],
        position: u64,
    ) -> Result<(), StateError> {
        self.db.transaction(|db| {
            for id in ids {
                db.execute(
                    "INSERT INTO sink_records (id, sink) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    args![id, sink],
                )?;
            }
            set_position(db, sink, position)
        })
    }

    /// The sink's contents are all known here now.
    pub fn sink_adopted(&mut self, sink: i64) -> Result<(), StateError> {
        self.db
            .execute("UPDATE sinks SET adopted = 1 WHERE id = ?1", args![sink])
            .map(drop)
    }

    /// Forgets what the sink was known to hold: its log is not the one the
    /// store knew (a JSONL file cut short or replaced, a stream recreated).
    pub fn forget_sink(&mut self, sink: i64) -> Result<(), StateError> {
        self.db.transaction(|db| {
            db.execute("DELETE FROM sink_records WHERE sink = ?1", args![sink])?;
            db.execute(
                "UPDATE sinks SET position = 0, adopted = 0 WHERE id = ?1",
                args![sink],
            )
            .map(drop)
        })
    }

    /// The sinks (ids) done with the record: they hold it, or refused it
    /// for good.
    pub fn holders(&self, id: &str) -> Result<Vec<i64>, StateError> {
        self.db
            .query(
                "SELECT sink FROM sink_records WHERE id = ?1 ORDER BY sink",
                args![id],
            )?
            .iter()
            .map(|r| r.int(0))
            .collect()
    }
}

pub(super) fn set_position(db: &Db, sink: i64, position: u64) -> Result<(), StateError> {
    db.execute(
        "UPDATE sinks SET position = ?2 WHERE id = ?1",
        args![sink, position as i64],
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Duplicate;
    use crate::state::Delivery;
    use crate::state::Location;
    use chrono::Utc;

    #[test]
    fn which_sink_holds_which_record_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&Location::folder(dir.path())).unwrap();
        let a = s.sink("jsonl:/out/a.jsonl").unwrap();
        let b = s.sink("postgres:db/records").unwrap();
        assert!(!a.adopted && a.position == 0 && a.id != b.id);
        let verdict = Duplicate {
            duplicate_of: "seed".into(),
            via: None,
            similarity: 0.7,
            method: crate::record::DupMethod::Near,
        };
        let d = Delivery {
            id: "abc".into(),
            content_hash: "h".into(),
            version: 1,
            canonical_url: None,
            guid: Some("g".into()),
            fingerprint: None,
            duplicate: Some(verdict.clone()),
            done_at: Utc::now(),
            sinks: vec![a.id],
            refused: vec![b.id],
        };
        s.mark_delivered(&[d.clone(), d], &[(a.id, 120)]).unwrap();
        drop(s);
        let mut s = State::open(&Location::folder(dir.path())).unwrap();
        assert_eq!(s.holders("abc").unwrap(), [a.id, b.id], "held or refused");
        assert!(s.holders("abd").unwrap().is_empty());
        assert_eq!(s.verdict("abc").unwrap(), Some(Some(verdict)));
        assert_eq!(s.verdict("abd").unwrap(), None);
        assert_eq!(s.done_count().unwrap(), 1);
        assert_eq!(s.sink("jsonl:/out/a.jsonl").unwrap().position, 120);

        s.add_sink_records(b.id, &["abc".into(), "xyz".into()], 0)
            .unwrap();
        s.sink_adopted(b.id).unwrap();
        assert!(s.sink("postgres:db/records").unwrap().adopted);
        assert_eq!(s.holders("abc").unwrap().len(), 2);
        s.forget_sink(a.id).unwrap();
        assert_eq!(s.holders("abc").unwrap(), [b.id]);
        assert_eq!(s.sink("jsonl:/out/a.jsonl").unwrap().position, 0);
    }
}

//! Which sink holds which record, and how far into each sink's own log the
//! store has followed it.

use rusqlite::{Connection, params};

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
        self.conn
            .execute("INSERT OR IGNORE INTO sinks (key) VALUES (?1)", [key])
            .map_err(|e| self.err(e))?;
        self.conn
            .query_row(
                "SELECT id, position, adopted FROM sinks WHERE key = ?1",
                [key],
                |r| {
                    Ok(SinkMark {
                        id: r.get(0)?,
                        position: r.get::<_, i64>(1)?.max(0) as u64,
                        adopted: r.get(2)?,
                    })
                },
            )
            .map_err(|e| self.err(e))
    }

    /// The sink with this key, if the store knows it.
    pub fn known_sink(&self, key: &str) -> Result<Option<SinkMark>, StateError> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row(
                "SELECT id, position, adopted FROM sinks WHERE key = ?1",
                [key],
                |r| {
                    Ok(SinkMark {
                        id: r.get(0)?,
                        position: r.get::<_, i64>(1)?.max(0) as u64,
                        adopted: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
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
        let path = &self.path;
        let err = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut held = tx
                .prepare_cached("INSERT OR IGNORE INTO sink_records (id, sink) VALUES (?1, ?2)")
                .map_err(err)?;
            for id in ids {
                held.execute(params![id, sink]).map_err(err)?;
            }
            set_position(&tx, sink, position).map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// The sink's contents are all known here now.
    pub fn sink_adopted(&mut self, sink: i64) -> Result<(), StateError> {
        self.conn
            .execute("UPDATE sinks SET adopted = 1 WHERE id = ?1", [sink])
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Forgets what the sink was known to hold: its log is not the one the
    /// store knew (a JSONL file cut short or replaced, a stream recreated).
    pub fn forget_sink(&mut self, sink: i64) -> Result<(), StateError> {
        let path = &self.path;
        let err = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute("DELETE FROM sink_records WHERE sink = ?1", [sink])
            .map_err(err)?;
        tx.execute(
            "UPDATE sinks SET position = 0, adopted = 0 WHERE id = ?1",
            [sink],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// The sinks (ids) done with the record: they hold it, or refused it
    /// for good.
    pub fn holders(&self, id: &str) -> Result<Vec<i64>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT sink FROM sink_records WHERE id = ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([id], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

pub(super) fn set_position(conn: &Connection, sink: i64, position: u64) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE sinks SET position = ?2 WHERE id = ?1")?
        .execute(params![sink, position as i64])
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Duplicate;
    use crate::state::Delivery;
    use chrono::Utc;

    #[test]
    fn which_sink_holds_which_record_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(dir.path()).unwrap();
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
        let mut s = State::open(dir.path()).unwrap();
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

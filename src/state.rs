//! The embedded state store: SQLite in WAL mode under `[state] dir`.
//!
//! It remembers which records every sink has acknowledged, so a re-run or a
//! restart after a crash skips them. A record is marked here only after the
//! sinks have written it: the store never claims more than the sinks hold.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::record::Duplicate;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create state folder {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "state folder {dir} is in use by another tidings process{}; stop it, or give this one \
         another [state] dir",
        .holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Locked { dir: PathBuf, holder: Option<u32> },
    #[error("cannot lock state folder {dir}")]
    Lock {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write dead letter to {path}")]
    DeadLetter {
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

/// One acknowledged record, as the state remembers it, with the feed item it
/// came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
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
    pub item: Option<ItemKey>,
    /// The sinks (their ids here) that took the record in this write.
    pub sinks: Vec<i64>,
    /// The sinks that refused it for good (see [`State::dead_letter`]).
    pub refused: Vec<i64>,
}

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

pub struct State {
    conn: Connection,
    path: PathBuf,
    /// Held while the store is open for writing: one writer per folder.
    /// The OS drops the lock with the process, however it ends.
    _lock: Option<std::fs::File>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    id            TEXT PRIMARY KEY,
    content_hash  TEXT NOT NULL,
    canonical_url TEXT,
    guid          TEXT,
    fingerprint   TEXT,
    done_at       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feeds (
    url           TEXT PRIMARY KEY,
    config_hash   TEXT NOT NULL,
    etag          TEXT,
    last_modified TEXT,
    last_success  TEXT,
    failing_since TEXT,
    errors        INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    next_poll     TEXT,
    dead          TEXT
);
CREATE TABLE IF NOT EXISTS items (
    feed      TEXT NOT NULL,
    guid      TEXT NOT NULL,
    status    TEXT NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 0,
    record_id TEXT,
    at        TEXT NOT NULL,
    PRIMARY KEY (feed, guid)
);
";

/// Changes to the schema of a store made by an earlier version, in order;
/// `PRAGMA user_version` counts how many were applied.
const MIGRATIONS: &[&str] = &[
    // 1: the page an item links to (normalized), so that a page listed by
    // several feeds is fetched once.
    "ALTER TABLE items ADD COLUMN page TEXT;
     CREATE INDEX IF NOT EXISTS items_page ON items (page) WHERE page IS NOT NULL;",
    // 2: which sink holds which record, so that "already present" is per
    // sink (a new output gets every record) and a sink's own log can be
    // read back after a crash or a lost store; the verdict a record was
    // written with.
    "CREATE TABLE sinks (
         id       INTEGER PRIMARY KEY,
         key      TEXT NOT NULL UNIQUE,
         position INTEGER NOT NULL DEFAULT 0,
         adopted  INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE sink_records (
         id      TEXT NOT NULL,
         sink    INTEGER NOT NULL REFERENCES sinks (id),
         -- The sink refused the record for good (it is in the dead-letter
         -- file): done with, though not held.
         refused INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY (id, sink)
     ) WITHOUT ROWID;
     ALTER TABLE records ADD COLUMN verdict TEXT;",
];

/// A feed item: the feed's URL and the item's guid, with the page it links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemKey {
    /// The feed's URL without its secrets ([`crate::redact::url`]), as the
    /// feeds table is keyed too: the store holds no credentials.
    pub feed: String,
    pub guid: String,
    /// The linked page's normalized URL without its secrets, when the item
    /// has a link.
    pub page: Option<String>,
}

/// How an item left the pipeline. Every status but `Pending` is final: the
/// item is not fetched again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    /// Written to every sink.
    Written,
    /// Dropped as a duplicate, or not an article (no text, page gone).
    Skipped,
    /// Failed and will be tried again at the next poll.
    Pending,
}

impl ItemStatus {
    fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Written => "written",
            ItemStatus::Skipped => "skipped",
            ItemStatus::Pending => "pending",
        }
    }
}

/// What the daemon remembers of a feed between polls and restarts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedState {
    /// Hash of the feed's config entry: a changed entry revives a dead feed.
    pub config_hash: String,
    pub validators: crate::fetch::http::Validators,
    pub last_success: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub errors: u32,
    pub last_error: Option<String>,
    pub next_poll: Option<DateTime<Utc>>,
    /// Why the feed is no longer polled.
    pub dead: Option<String>,
}

impl State {
    /// Opens (creating when missing) the store in `dir` for this process
    /// alone: a second process that opens the same folder gets
    /// [`StateError::Locked`] naming the first one's pid.
    pub fn open(dir: &Path) -> Result<State, StateError> {
        std::fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let lock = lock_folder(dir)?;
        let mut state = State::connect(dir)?;
        state._lock = Some(lock);
        Ok(state)
    }

    /// Opens an existing store to read it beside a running writer (SQLite's
    /// WAL lets readers in); `None` when there is no store yet.
    pub fn open_read_only(dir: &Path) -> Result<Option<State>, StateError> {
        if !dir.join("state.sqlite").exists() {
            return Ok(None);
        }
        State::connect(dir).map(Some)
    }

    /// Whether the store answers a query (for `/healthz`).
    pub fn probe(&self) -> Result<(), StateError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM sinks", [], |_| Ok(()))
            .map_err(|e| self.err(e))
    }

    fn connect(dir: &Path) -> Result<State, StateError> {
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
        migrate(&conn).map_err(wrap)?;
        Ok(State {
            conn,
            path,
            _lock: None,
        })
    }

    fn err(&self, source: rusqlite::Error) -> StateError {
        StateError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Marks records as written to the sinks that took them, and their items
    /// written, in one transaction; `positions` are how far the sinks' logs
    /// reach after the write.
    pub fn mark_done(&mut self, done: &[Done], positions: &[(i64, u64)]) -> Result<(), StateError> {
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
                if let Some(item) = &d.item {
                    upsert_item(&tx, item, ItemStatus::Written, Some(&d.id), &at).map_err(err)?;
                }
            }
            for (sink, position) in positions {
                set_position(&tx, *sink, *position).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
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

    /// The verdict a record was written with; `None` when it was never
    /// written anywhere.
    pub fn verdict(&self, id: &str) -> Result<Option<Option<Duplicate>>, StateError> {
        let stored = self
            .conn
            .query_row("SELECT verdict FROM records WHERE id = ?1", [id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(stored.map(|v| v.and_then(|json| serde_json::from_str(&json).ok())))
    }

    /// Records how an item that produced no record left the pipeline. A
    /// pending item counts one more attempt; returns the attempts so far.
    pub fn mark_item(
        &mut self,
        item: &ItemKey,
        status: ItemStatus,
        at: &str,
    ) -> Result<u32, StateError> {
        upsert_item(&self.conn, item, status, None, at).map_err(|e| self.err(e))?;
        self.conn
            .query_row(
                "SELECT attempts FROM items WHERE feed = ?1 AND guid = ?2",
                params![item.feed, item.guid],
                |r| r.get::<_, u32>(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Whether the item reached a final status for this run's `sinks`: it
    /// was skipped (a duplicate, no text, gone), or its record is in every
    /// one of them. Either way it is not fetched again.
    pub fn item_finished(&self, item: &ItemKey, sinks: &[i64]) -> Result<bool, StateError> {
        let found = self
            .conn
            .query_row(
                "SELECT status, record_id FROM items WHERE feed = ?1 AND guid = ?2",
                params![item.feed, item.guid],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match found {
            Some((status, record)) => self.finished(&status, record.as_deref(), sinks),
            None => Ok(false),
        }
    }

    /// Whether an item of any feed that links to this page (normalized URL)
    /// is finished for `sinks` (see [`State::item_finished`]): the page is
    /// not fetched again.
    pub fn page_finished(&self, page: &str, sinks: &[i64]) -> Result<bool, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT status, record_id FROM items WHERE page = ?1")
            .map_err(|e| self.err(e))?;
        let items: Vec<(String, Option<String>)> = stmt
            .query_map([page], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        for (status, record) in items {
            if self.finished(&status, record.as_deref(), sinks)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn finished(
        &self,
        status: &str,
        record: Option<&str>,
        sinks: &[i64],
    ) -> Result<bool, StateError> {
        if status == ItemStatus::Pending.as_str() {
            return Ok(false);
        }
        let Some(record) = record.filter(|_| status == ItemStatus::Written.as_str()) else {
            return Ok(true);
        };
        let holders = self.holders(record)?;
        Ok(sinks.iter().all(|s| holders.contains(s)))
    }

    pub fn feed(&self, url: &str) -> Result<Option<FeedState>, StateError> {
        self.conn
            .query_row(
                "SELECT config_hash, etag, last_modified, last_success, failing_since, errors,
                        last_error, next_poll, dead FROM feeds WHERE url = ?1",
                [url],
                |r| {
                    Ok(FeedState {
                        config_hash: r.get(0)?,
                        validators: crate::fetch::http::Validators {
                            etag: r.get(1)?,
                            last_modified: r.get(2)?,
                        },
                        last_success: r.get(3)?,
                        failing_since: r.get(4)?,
                        errors: r.get(5)?,
                        last_error: r.get(6)?,
                        next_poll: r.get(7)?,
                        dead: r.get(8)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Saves a feed's schedule and health. The validators are saved apart, by
    /// [`State::save_validators`], once a poll's items are all finished.
    pub fn save_feed(&self, url: &str, f: &FeedState) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO feeds (url, config_hash, last_success, failing_since, errors,
                                    last_error, next_poll, dead)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (url) DO UPDATE SET config_hash = ?2, last_success = ?3,
                    failing_since = ?4, errors = ?5, last_error = ?6, next_poll = ?7, dead = ?8",
                params![
                    url,
                    f.config_hash,
                    f.last_success,
                    f.failing_since,
                    f.errors,
                    f.last_error,
                    f.next_poll,
                    f.dead
                ],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// The feed's cursor: from now on a conditional GET may skip every item
    /// that response held.
    pub fn save_validators(
        &self,
        url: &str,
        v: &crate::fetch::http::Validators,
    ) -> Result<(), StateError> {
        self.conn
            .execute(
                "UPDATE feeds SET etag = ?2, last_modified = ?3 WHERE url = ?1",
                params![url, v.etag, v.last_modified],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Every acknowledged record, to rebuild the dedup index at start.
    pub fn done_records(&self) -> Result<Vec<Done>, StateError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, content_hash, canonical_url, guid, fingerprint, done_at FROM records",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Done {
                    id: r.get(0)?,
                    content_hash: r.get(1)?,
                    canonical_url: r.get(2)?,
                    guid: r.get(3)?,
                    fingerprint: r.get(4)?,
                    duplicate: None,
                    done_at: r.get(5)?,
                    item: None,
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

/// Takes the folder's lock file and writes this process's pid into it, for
/// the message another process gets.
fn lock_folder(dir: &Path) -> Result<std::fs::File, StateError> {
    use std::io::{Read, Seek, Write};
    let path = dir.join("lock");
    let err = |source| StateError::Lock {
        dir: dir.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(StateError::Locked {
                dir: dir.to_path_buf(),
                holder: pid.trim().parse().ok(),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(err(e)),
    }
    file.set_len(0).map_err(err)?;
    file.rewind().map_err(err)?;
    writeln!(file, "{}", std::process::id()).map_err(err)?;
    Ok(file)
}

/// Brings a store of any earlier version up to date. `SCHEMA` is the first
/// version's layout, so a new store takes the same path as an old one.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in (0i64..).zip(MIGRATIONS).skip(applied.max(0) as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn set_position(conn: &Connection, sink: i64, position: u64) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE sinks SET position = ?2 WHERE id = ?1")?
        .execute(params![sink, position as i64])
        .map(drop)
}

fn upsert_item(
    conn: &Connection,
    item: &ItemKey,
    status: ItemStatus,
    record_id: Option<&str>,
    at: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO items (feed, guid, status, attempts, record_id, at, page)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (feed, guid) DO UPDATE SET status = ?3,
            attempts = attempts + ?4, record_id = COALESCE(?5, record_id), at = ?6,
            page = COALESCE(?7, page)",
    )?
    .execute(params![
        item.feed,
        item.guid,
        status.as_str(),
        u32::from(status == ItemStatus::Pending),
        record_id,
        at,
        item.page
    ])
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_sink_holds_which_record_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(dir.path()).unwrap();
        let a = s.sink("jsonl:/out/a.jsonl").unwrap();
        let b = s.sink("postgres:db/records").unwrap();
        assert!(!a.adopted && a.position == 0 && a.id != b.id);
        let verdict = Duplicate {
            duplicate_of: "seed".into(),
            similarity: 0.7,
            method: crate::record::DupMethod::Near,
        };
        let d = Done {
            id: "abc".into(),
            content_hash: "h".into(),
            canonical_url: None,
            guid: Some("g".into()),
            fingerprint: None,
            duplicate: Some(verdict.clone()),
            done_at: Utc::now(),
            item: None,
            sinks: vec![a.id],
            refused: vec![b.id],
        };
        s.mark_done(&[d.clone(), d], &[(a.id, 120)]).unwrap();
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

    #[test]
    fn a_store_of_the_first_layout_is_migrated_and_keeps_its_items() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("state.sqlite")).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute(
                "INSERT INTO items (feed, guid, status, at) VALUES ('f', 'g', 'written', 'now')",
                [],
            )
            .unwrap();
        }
        let mut s = State::open(dir.path()).unwrap();
        let old = ItemKey {
            feed: "f".into(),
            guid: "g".into(),
            page: None,
        };
        assert!(s.item_finished(&old, &[]).unwrap());
        let new = ItemKey {
            guid: "h".into(),
            page: Some("https://news.example/a".into()),
            ..old
        };
        s.mark_item(&new, ItemStatus::Skipped, "now").unwrap();
        assert!(s.page_finished("https://news.example/a", &[1]).unwrap());
        drop(s);
        // Opening again applies nothing twice.
        assert!(State::open(dir.path()).is_ok());
    }
}

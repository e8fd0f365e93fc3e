//! The state store: SQLite in WAL mode under `[state] dir` (the default),
//! or PostgreSQL at `[state] url` (its tables in one schema, `[state]
//! schema`).
//!
//! It remembers, per feed, its schedule, health and cursor; per item, how it
//! left the pipeline; per sink, which records it holds; per record, what
//! dedup needs after a restart and the story it was placed in; and per
//! original, its copies. A record is marked here only after the sinks have
//! written it: the store never claims more than the sinks hold.
//!
//! [`State`] is the synchronous API over one connection, used by the
//! one-document verbs; the pipeline reaches it through a [`Store`], which
//! keeps the connection on a thread of its own so that no database call
//! blocks an async worker. `[state] dir` is needed with PostgreSQL too: the
//! dead-letter file is written there.

mod copies;
mod db;
mod feeds;
mod health;
mod items;
mod postgres;
mod recent;
mod records;
mod sinks;
mod store;
mod stories;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use db::Db;
pub use feeds::{FeedState, Validators};
pub use health::{FeedHealth, FeedStatus};
pub use items::{ItemKey, ItemStatus};
pub use postgres::{PgLocation, check_schema_name};
pub use recent::{HourCount, RecentFilter};
pub use records::Delivery;
pub use sinks::SinkMark;
pub use store::Store;
pub use stories::StoryMark;

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The local folder: the SQLite file and its lock when there is no
    /// `postgres`, and the dead-letter file either way.
    pub dir: PathBuf,
    /// `[state] url`: the store in PostgreSQL.
    pub postgres: Option<PgLocation>,
}

impl Location {
    /// The embedded store in `dir`.
    pub fn folder(dir: &Path) -> Location {
        Location {
            dir: dir.to_path_buf(),
            postgres: None,
        }
    }

    /// Where the store is, for messages (a PostgreSQL URL without its
    /// password).
    pub fn describe(&self) -> String {
        match &self.postgres {
            Some(pg) => pg.describe(),
            None => self.dir.display().to_string(),
        }
    }
}

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
    #[error(
        "state store {place} is in use by another tidings process{}; stop it, or give this one \
         another [state] schema",
        .holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    SchemaLocked {
        place: String,
        holder: Option<String>,
    },
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
    #[error("cannot start the state store's thread")]
    Thread {
        #[source]
        source: std::io::Error,
    },
    #[error("the state store's thread is gone (it stopped after an earlier error)")]
    Closed,
    #[error("state store {path}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("state store {place}")]
    Postgres {
        place: String,
        #[source]
        source: ::postgres::Error,
    },
    #[error("state store {place}: {message}")]
    Unusable { place: String, message: String },
    #[error("state store {place}: unexpected value: {message}")]
    Decode { place: String, message: String },
}

pub struct State {
    db: Db,
    /// Where the dead-letter file goes.
    dir: PathBuf,
    /// Held while the store is open for writing: one writer per folder.
    /// The OS drops the lock with the process, however it ends. (On
    /// PostgreSQL a session's advisory lock does the same.)
    _lock: Option<std::fs::File>,
    /// The sinks (their ids) of the run: an item is finished only when its
    /// record is in every one of them.
    sinks: Vec<i64>,
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
    // 3: the latest records, whatever the sinks, for the status page.
    "CREATE TABLE recent (
         id       TEXT PRIMARY KEY,
         at       TEXT NOT NULL,
         relevant INTEGER NOT NULL,
         record   TEXT NOT NULL
     );
     CREATE INDEX recent_at ON recent (at);",
    // 4: when an item was first seen (the time of the feed's response that
    // first listed it): a feed's history of new items, from which its usual
    // gap between them is learned (`stale` in `health`). `at` changes with
    // every attempt, so it cannot be that.
    "ALTER TABLE items ADD COLUMN first_seen TEXT;
     UPDATE items SET first_seen = at;
     CREATE INDEX items_seen ON items (feed, first_seen);",
    // 5: the copies of each original (dropped or written), so that
    // syndication can be counted either way.
    "CREATE TABLE copies (
         original TEXT NOT NULL,
         copy     TEXT NOT NULL,
         PRIMARY KEY (original, copy)
     ) WITHOUT ROWID;",
    // 6: the story each record was placed in, and the profile it was
    // placed with, from which a restart learns the stories again.
    "CREATE TABLE stories (
         id      TEXT PRIMARY KEY,
         story   TEXT NOT NULL,
         placed  TEXT NOT NULL,
         profile TEXT
     );
     CREATE INDEX stories_placed ON stories (placed);",
    // 7: the version of each record (a page that changed after it was
    // written is written again: `[dedup] updates`), and the date each
    // item's feed entry carried, so a later date fetches it again.
    "ALTER TABLE records ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
     ALTER TABLE items ADD COLUMN dated TEXT;",
    // 8: a digest of each item's feed entry, so a changed entry fetches
    // its page again whatever its date.
    "ALTER TABLE items ADD COLUMN digest TEXT;",
];

impl State {
    /// Opens (creating when missing) the store for this process alone: a
    /// second process that opens the same folder (or PostgreSQL schema)
    /// gets [`StateError::Locked`] naming the first one's pid (or
    /// [`StateError::SchemaLocked`] naming its connection).
    pub fn open(at: &Location) -> Result<State, StateError> {
        create_dir(&at.dir)?;
        if let Some(pg) = &at.postgres {
            let db = postgres::open(pg)?;
            return Ok(State::new(db, &at.dir));
        }
        let lock = lock_folder(&at.dir)?;
        let mut state = State::connect(&at.dir)?;
        state._lock = Some(lock);
        Ok(state)
    }

    /// Opens the PostgreSQL store as one process of a cluster: created when
    /// missing, without the writer's lock (the cluster's writer takes it
    /// with [`State::open`]).
    pub fn open_member(at: &Location) -> Result<State, StateError> {
        create_dir(&at.dir)?;
        let Some(pg) = &at.postgres else {
            return Err(StateError::Unusable {
                place: at.describe(),
                message: "a cluster keeps its state in PostgreSQL ([state] url)".to_string(),
            });
        };
        Ok(State::new(postgres::open_member(pg)?, &at.dir))
    }

    /// Opens an existing store to read it beside a running writer (SQLite's
    /// WAL lets readers in); `None` when there is no store yet.
    pub fn open_read_only(at: &Location) -> Result<Option<State>, StateError> {
        if let Some(pg) = &at.postgres {
            let db = postgres::open_existing(pg)?;
            return Ok(db.map(|db| State::new(db, &at.dir)));
        }
        if !at.dir.join("state.sqlite").exists() {
            return Ok(None);
        }
        State::connect(&at.dir).map(Some)
    }

    /// Opens an existing store without the folder's lock, to make a change
    /// that is safe beside a running daemon: one statement that the daemon
    /// reads back rather than overwrites (a revive, see
    /// [`State::revive_feed`]). The database orders the two writers. `None`
    /// when there is no store yet.
    pub fn open_shared(at: &Location) -> Result<Option<State>, StateError> {
        State::open_read_only(at)
    }

    /// Whether a store exists at `at` (without creating one).
    pub fn exists(at: &Location) -> Result<bool, StateError> {
        match &at.postgres {
            Some(pg) => postgres::exists(pg),
            None => Ok(at.dir.join("state.sqlite").exists()),
        }
    }

    /// Whether the store answers a query (for `/healthz`).
    pub fn probe(&self) -> Result<(), StateError> {
        self.db.query("SELECT COUNT(*) FROM sinks", &[]).map(drop)
    }

    fn new(db: Db, dir: &Path) -> State {
        State {
            db,
            dir: dir.to_path_buf(),
            _lock: None,
            sinks: Vec::new(),
        }
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
        conn.busy_timeout(BUSY_WAIT).map_err(wrap)?;
        use_wal(&conn).map_err(wrap)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(wrap)?;
        set_up(&conn).map_err(wrap)?;
        Ok(State::new(
            Db::sqlite(conn, &path.display().to_string()),
            dir,
        ))
    }
}

fn create_dir(dir: &Path) -> Result<(), StateError> {
    std::fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
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

/// How long a statement waits for another process's write to end.
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Switches the store to WAL. On a store another process is setting up at
/// the same moment, SQLite answers "busy" at once instead of waiting (the
/// switch needs the file to itself), so the wait is done here.
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_WAIT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            done => return done,
        }
    }
}

/// Lays out a new SQLite store or brings one of any earlier version up to date.
/// `SCHEMA` is the first version's layout, so a new store takes the same path
/// as an old one. One write transaction, taken before the version is read:
/// a `feeds` verb may open the store while the daemon is creating it, and the
/// second of the two must find the work done, not do it again.
fn set_up(conn: &Connection) -> rusqlite::Result<()> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    let applied: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in (0i64..).zip(MIGRATIONS).skip(applied.max(0) as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `feeds list` or `feeds revive` may open a store the daemon is still
    /// creating: both sides set it up, and neither may fail for it.
    #[test]
    fn processes_opening_a_new_store_together_all_succeed() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("state.sqlite"), b"").unwrap();
            let openers: Vec<_> = (0..6)
                .map(|_| {
                    let dir = dir.path().to_path_buf();
                    std::thread::spawn(move || {
                        State::open_shared(&Location::folder(&dir)).map(|s| s.is_some())
                    })
                })
                .collect();
            for opener in openers {
                let opened = opener.join().unwrap();
                assert!(matches!(opened, Ok(true)), "{opened:?}");
            }
        }
    }

    #[test]
    fn a_store_of_the_first_layout_is_migrated_and_keeps_its_items() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("state.sqlite")).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute(
                "INSERT INTO items (feed, guid, status, at)
                 VALUES ('f', 'g', 'written', '2020-01-05T12:00:00Z')",
                [],
            )
            .unwrap();
        }
        let mut s = State::open(&Location::folder(dir.path())).unwrap();
        let old = ItemKey {
            feed: "f".into(),
            guid: "g".into(),
            page: None,
            seen: chrono::Utc::now(),
            dated: None,
            digest: None,
        };
        assert!(s.item_finished(&old).unwrap());
        let new = ItemKey {
            guid: "h".into(),
            page: Some("https://news.example/a".into()),
            ..old
        };
        s.mark_item(&new, ItemStatus::Skipped, None).unwrap();
        assert!(s.page_finished("https://news.example/a").unwrap());
        let first_seen =
            s.db.query_one("SELECT first_seen FROM items WHERE guid = 'g'", &[])
                .and_then(|r| r.text(0))
                .unwrap();
        assert_eq!(
            first_seen, "2020-01-05T12:00:00Z",
            "an old item's last change stands for its first sight"
        );
        assert_eq!(s.feed_health("f", chrono::Utc::now()).unwrap().items, 2);
        drop(s);
        // Opening again applies nothing twice.
        assert!(State::open(&Location::folder(dir.path())).is_ok());
    }
}

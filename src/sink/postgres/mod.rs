//! The PostgreSQL sink: one row per record, upserted on the record id.
//!
//! The table is created on first use, with the record's scalar fields as
//! columns, `topics` and `actors` as jsonb with GIN indexes (query them with
//! `topics @> '[{"id": "ceasefire"}]'`), and the whole record as jsonb; the
//! views `<table>_topics` and `<table>_actors` unnest topics and actors, one
//! row each (example queries: `docs/record.md`). Its
//! layout version is kept in a small `tidings_schema` table and checked on
//! every connect, so this build never writes into a table laid out by a newer
//! one.
//!
//! Writes retry transient failures (connection refused or lost, server
//! shutting down, timeouts) forever with backoff, reconnecting each time;
//! the upsert makes sending a batch again harmless. Dropping the future of
//! [`PostgresSink::write`] is safe too: the batch counts as not acknowledged,
//! and whatever part of it reached the table is overwritten with the same
//! values when it comes again.
//!
//! TLS follows libpq's `sslmode` and `sslrootcert` URL parameters (see
//! [`tls`]).

pub use crate::pgtls as tls;

use std::path::Path;
use std::time::Duration;

use tokio_postgres::types::Type;
use tokio_postgres::{Client, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::Place;
use super::retry::{Retry, Unreachable, chain};
use crate::record::Record;
use crate::redact;
use crate::settings::{Dirs, Section};

/// Layout version of the table this build creates and writes. Bump it when a
/// column changes, with a step in [`migration`] from the version before; a
/// table of a newer version is refused, not guessed at.
pub const TABLE_VERSION: i32 = 4;

/// Where each table's layout version is kept.
const SCHEMA_TABLE: &str = "tidings_schema";

/// Longest table name whose index and view names (`<table>_published_at`,
/// `<table>_topics`) still fit in PostgreSQL's 63-byte identifiers.
const MAX_TABLE_LEN: usize = 50;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connect plus setup, or one upsert, that takes longer than this is taken
/// for a dead connection (a peer that vanished without closing it).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error("{0}")]
    Config(String),
    #[error(
        "connecting to {target} with TLS (sslmode={}, roots: {roots}): {reason}{}",
        .mode.name(),
        hint(*.mode, .reason)
    )]
    Tls {
        target: String,
        mode: tls::SslMode,
        roots: String,
        reason: String,
    },
    #[error("connecting to {target}")]
    Connect {
        target: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("preparing table {table}")]
    Setup {
        table: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(
        "table {table} has layout version {found}, newer than version {known} this build of \
         tidings writes; upgrade tidings or configure another table"
    )]
    NewerTable {
        table: String,
        found: i32,
        known: i32,
    },
    #[error(
        "table {table} has layout version {found}, older than version {known} this build of \
         tidings writes, and there is no migration; configure another table"
    )]
    OlderTable {
        table: String,
        found: i32,
        known: i32,
    },
    #[error(
        "table {table} exists but was not created by tidings (it has no row in \
         {SCHEMA_TABLE}); configure another table"
    )]
    ForeignTable { table: String },
    #[error("encoding records as JSON")]
    Encode(#[source] serde_json::Error),
    #[error("upserting {count} records into {table}")]
    Write {
        table: String,
        count: usize,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("no answer from {target} within {}s", .after.as_secs())]
    Timeout { target: String, after: Duration },
    #[error(transparent)]
    Unreachable(#[from] Unreachable),
}

impl PostgresError {
    /// Whether waiting and trying again, on a new connection, can succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            PostgresError::Connect { source, .. }
            | PostgresError::Setup { source, .. }
            | PostgresError::Write { source, .. } => transient_pg(source),
            PostgresError::Timeout { .. } => true,
            PostgresError::Unreachable(_)
            | PostgresError::Tls { .. }
            | PostgresError::Config(_)
            | PostgresError::NewerTable { .. }
            | PostgresError::OlderTable { .. }
            | PostgresError::ForeignTable { .. }
            | PostgresError::Encode(_) => false,
        }
    }

    /// The error is about the records written, not the sink: bad data (class
    /// 22), a constraint (23) or a limit (54) that one record breaks. Which
    /// record is found by writing fewer at a time.
    pub fn rejects_record(&self) -> bool {
        match self {
            PostgresError::Encode(_) => true,
            PostgresError::Write { source, .. } => source.code().is_some_and(|code| {
                let code = code.code();
                code.starts_with("22") || code.starts_with("23") || code.starts_with("54")
            }),
            _ => false,
        }
    }
}

/// What to do about a TLS failure, after the reason.
fn hint(mode: tls::SslMode, reason: &str) -> &'static str {
    if reason.contains("does not support TLS") {
        "; turn ssl on in the server, or connect with sslmode=prefer or disable"
    } else if reason.contains("certificate") && mode != tls::SslMode::Require {
        "; server certificate verification failed: name the CA that issued it with \
         sslrootcert=PATH, or use sslmode=require to encrypt without verifying"
    } else {
        ""
    }
}

/// Errors without an SQLSTATE are I/O, a closed connection or a timeout. Of
/// the server's own errors, only those that say "not now" are worth a retry;
/// a bad password or a missing database stays bad.
fn transient_pg(err: &tokio_postgres::Error) -> bool {
    let Some(code) = err.code() else {
        return true;
    };
    let code = code.code();
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources (disk full, too many connections)
        || code.starts_with("57P") // admin or crash shutdown, cannot connect now
        || matches!(
            code,
            "40001" // serialization failure
            | "40P01" // deadlock detected
            | "57014" // query canceled
            | "25006" // read-only transaction: a failover in progress
            | "58030" // I/O error on the server
        )
}

/// Problems with a postgres sink's settings, one message each, for
/// `tidings check`. Empty when the settings are usable.
pub fn validate_postgres(url: &str, table: &str) -> Vec<String> {
    let mut problems = tls::validate_url(url);
    if let Err(problem) = check_table_name(table) {
        problems.push(problem);
    }
    problems
}

/// Only plain lowercase names: they mean the same quoted or not, so the table
/// is the one a user finds with `\d name` in psql.
fn check_table_name(table: &str) -> Result<(), String> {
    let mut chars = table.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if table.is_empty() {
        Err("the table name is empty".to_string())
    } else if !plain {
        Err(format!(
            "table name {table:?} is not a plain SQL identifier: use lowercase letters a-z, \
             digits and _, not starting with a digit"
        ))
    } else if table.len() > MAX_TABLE_LEN {
        Err(format!(
            "table name {table:?} is longer than {MAX_TABLE_LEN} characters"
        ))
    } else if table == SCHEMA_TABLE {
        Err(format!(
            "table name {SCHEMA_TABLE:?} is reserved for tidings itself"
        ))
    } else {
        Ok(())
    }
}

/// `kind = "postgres"`: `url`, `table` (default `records`) and `password`
/// (else the URL's own, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub url: String,
    pub table: String,
    /// Kept out of the URL so that it can come from a file
    /// (`password_file`) while the URL stays in the config.
    pub password: Option<redact::Secret>,
    /// From the URL's `sslmode` and `sslrootcert`.
    pub tls: tls::Tls,
}

impl Config {
    /// Settings for `url`, a `sslrootcert` in it taken relative to the
    /// working directory. A URL that cannot be used is refused by
    /// [`PostgresSink::open`].
    pub fn new(url: &str, table: &str) -> Config {
        Config {
            url: url.to_string(),
            table: table.to_string(),
            password: None,
            tls: tls::split(url)
                .map(|split| tls::Tls::resolve(&split, Path::new("")))
                .unwrap_or_default(),
        }
    }

    pub fn read(s: &mut Section<'_>, dirs: &Dirs) -> Option<Config> {
        let url = s.required_str("url");
        let table = s.str("table").unwrap_or("records");
        let password = s.str("password");
        let url = url?;
        let problems = validate_postgres(url, table);
        for p in &problems {
            s.problem("", p.clone());
        }
        let url_password = tls::split(url)
            .ok()
            .and_then(|split| split.url.parse::<tokio_postgres::Config>().ok())
            .is_some_and(|c| c.get_password().is_some());
        if password.is_some() && url_password {
            s.problem(
                "password",
                "the URL has a password too: give it in one place",
            );
            return None;
        }
        if !problems.is_empty() {
            return None;
        }
        let tls = tls::split(url)
            .map(|split| tls::Tls::resolve(&split, &dirs.config))
            .unwrap_or_default();
        // A CA file that cannot be read is found by `check`, not at the
        // first connect.
        if let tls::Roots::File(path) = &tls.roots
            && let Err(problem) = tls::read_certificates(path)
        {
            s.problem("url", problem);
            return None;
        }
        Some(Config {
            password: password.map(redact::Secret::new),
            tls,
            ..Config::new(url, table)
        })
    }

    /// The servers, database and table: two sinks on one of each get every
    /// record twice from one run.
    pub fn place(&self) -> Place {
        // Validated already; an unparsable URL names no server to share.
        let parsed: Option<tokio_postgres::Config> = tls::split(&self.url)
            .ok()
            .and_then(|split| split.url.parse().ok());
        let (servers, database) = parsed.map_or_else(Default::default, |c| {
            let ports = c.get_ports();
            let servers = c
                .get_hosts()
                .iter()
                .enumerate()
                .map(|(i, host)| {
                    let host = match host {
                        tokio_postgres::config::Host::Tcp(h) => h.to_ascii_lowercase(),
                        #[cfg(unix)]
                        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                    };
                    // One port applies to every host; none means 5432.
                    let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                    (host, port)
                })
                .collect();
            // PostgreSQL's own default: the database named like the user.
            let database = c.get_dbname().or(c.get_user()).unwrap_or_default();
            (servers, database.to_string())
        });
        Place::Table {
            servers,
            database,
            table: self.table.clone(),
        }
    }
}

/// What [`PostgresSink::retag`] did.
#[derive(Debug, Default)]
pub struct Retagged {
    /// Rows read whose `record` is a record.
    pub records: u64,
    /// Of those, the ones whose tags changed (and were written).
    pub changed: u64,
    /// Rows whose `record` could not be read as one.
    pub unreadable: u64,
}

pub struct PostgresSink {
    config: tokio_postgres::Config,
    /// Made once: it holds the roots read at open.
    connector: MakeRustlsConnect,
    tls: tls::Tls,
    table: String,
    target: String,
    conn: Option<Conn>,
    /// How long to wait for a server that does not answer; `None`: for ever.
    patience: Option<Duration>,
}

/// A live connection with the table checked and the upsert prepared.
struct Conn {
    client: Client,
    upsert: Statement,
}

impl PostgresSink {
    /// Connects and creates or checks the table. A server that does not
    /// answer yet is waited for (with WARN logs), like in [`Self::write`];
    /// settings that cannot work (bad URL, authentication, a table of another
    /// layout) fail at once.
    pub async fn open(
        settings: &Config,
        patience: Option<Duration>,
    ) -> Result<PostgresSink, PostgresError> {
        let (url, table) = (settings.url.as_str(), settings.table.as_str());
        let problems = validate_postgres(url, table);
        if !problems.is_empty() {
            return Err(PostgresError::Config(problems.join("; ")));
        }
        let split = tls::split(url).map_err(PostgresError::Config)?;
        let mut config: tokio_postgres::Config = split
            .url
            .parse()
            .map_err(|e| PostgresError::Config(chain(&e)))?;
        config.ssl_mode(settings.tls.mode.negotiation());
        let connector = settings.tls.connector().map_err(PostgresError::Config)?;
        config.connect_timeout(CONNECT_TIMEOUT);
        if let Some(password) = &settings.password {
            config.password(password.expose());
        }
        if config.get_application_name().is_none() {
            config.application_name("tidings");
        }
        let mut sink = PostgresSink {
            config,
            connector,
            tls: settings.tls.clone(),
            table: table.to_string(),
            target: redact::url(url),
            conn: None,
            patience,
        };
        sink.with_retries(None).await?;
        Ok(sink)
    }

    pub fn name(&self) -> String {
        format!("postgres:{} table {}", self.target, self.table)
    }

    /// The key of this sink in the state store: the database and table.
    pub fn key(&self) -> String {
        format!("postgres:{}/{}", self.target, self.table)
    }

    /// Every record id in the table, in chunks (the table has no log to
    /// read from a position: `_from` is ignored and the chunks reach 0).
    pub async fn scan(
        &mut self,
        _from: u64,
        chunk: &mut (dyn FnMut(Vec<String>, u64) -> anyhow::Result<()> + Send),
    ) -> anyhow::Result<()> {
        use futures::TryStreamExt;
        self.with_retries(None).await?;
        let Some(conn) = &self.conn else {
            return Ok(());
        };
        let rows = conn
            .client
            .query_raw(
                &format!("SELECT id FROM {}", quoted(&self.table)),
                std::iter::empty::<&str>(),
            )
            .await
            .map_err(|source| PostgresError::Setup {
                table: self.table.clone(),
                source,
            })?;
        futures::pin_mut!(rows);
        let mut ids = Vec::new();
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|source| PostgresError::Setup {
                table: self.table.clone(),
                source,
            })?
        {
            ids.push(row.get::<_, String>(0));
            if ids.len() >= 10_000 {
                chunk(std::mem::take(&mut ids), 0)?;
            }
        }
        chunk(ids, 0)
    }

    /// Passes every stored record through `change` (which says whether it
    /// changed the record's tags), `batch` rows at a time in id order, and
    /// writes the tag columns of the changed ones back, one statement per
    /// batch. Rows whose `record` is not a record this build reads are
    /// counted and left alone.
    pub async fn retag(
        &mut self,
        batch: usize,
        mut change: impl FnMut(&mut Record) -> bool,
    ) -> Result<Retagged, PostgresError> {
        self.with_retries(None).await?;
        let Some(conn) = &self.conn else {
            return Ok(Retagged::default());
        };
        let table = &self.table;
        let setup = |source| PostgresError::Setup {
            table: table.clone(),
            source,
        };
        let select = conn
            .client
            .prepare_typed(
                &format!(
                    "SELECT id, record::text FROM {} WHERE id > $1 ORDER BY id LIMIT $2",
                    quoted(table)
                ),
                &[Type::TEXT, Type::INT8],
            )
            .await
            .map_err(setup)?;
        let update = conn
            .client
            .prepare_typed(&retag_sql(table), &[Type::TEXT])
            .await
            .map_err(setup)?;
        let mut done = Retagged::default();
        let mut after = String::new();
        loop {
            let rows = conn
                .client
                .query(&select, &[&after, &(batch as i64)])
                .await
                .map_err(setup)?;
            let Some(last) = rows.last() else { break };
            after = last.get(0);
            let mut changed = Vec::new();
            for row in &rows {
                match serde_json::from_str::<Record>(row.get::<_, &str>(1)) {
                    Ok(mut record) => {
                        done.records += 1;
                        if change(&mut record) {
                            changed.push(record);
                        }
                    }
                    Err(e) => {
                        done.unreadable += 1;
                        tracing::warn!(table = %table, id = row.get::<_, &str>(0), "not a record this build reads, left as it is: {e}");
                    }
                }
            }
            if !changed.is_empty() {
                let refs: Vec<&Record> = changed.iter().collect();
                let json = batch_json(&refs).map_err(PostgresError::Encode)?;
                conn.client
                    .execute(&update, &[&json])
                    .await
                    .map_err(|source| PostgresError::Write {
                        table: table.clone(),
                        count: changed.len(),
                        source,
                    })?;
                done.changed += changed.len() as u64;
            }
            if rows.len() < batch {
                break;
            }
        }
        Ok(done)
    }

    /// Upserts the batch in one statement (so in one transaction) and
    /// returns once it is committed. Records already stored with the same
    /// content are left untouched, so a replay changes nothing.
    pub async fn write(&mut self, batch: &[&Record]) -> Result<Option<u64>, PostgresError> {
        if batch.is_empty() {
            return Ok(None);
        }
        let json = batch_json(batch).map_err(PostgresError::Encode)?;
        self.with_retries(Some((&json, batch.len()))).await?;
        Ok(None)
    }

    /// A table has no log to follow: always `None`.
    pub async fn position(&mut self) -> Result<Option<u64>, PostgresError> {
        Ok(None)
    }

    /// Runs [`Self::attempt`] until it succeeds or fails for good.
    async fn with_retries(&mut self, batch: Option<(&str, usize)>) -> Result<(), PostgresError> {
        let mut retry = Retry::new(self.name(), self.patience);
        loop {
            match self.attempt(batch).await {
                Ok(()) => {
                    retry.succeeded();
                    return Ok(());
                }
                Err(e) if e.is_transient() => retry.failed(&e).await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Connects when there is no connection, then upserts the batch if there
    /// is one. The connection is kept only when everything succeeded: after
    /// any error the next attempt starts on a fresh one.
    async fn attempt(&mut self, batch: Option<(&str, usize)>) -> Result<(), PostgresError> {
        let existing = self.conn.take();
        let work = async {
            let conn = match existing {
                Some(conn) => conn,
                None => Conn::open(self).await?,
            };
            if let Some((json, count)) = batch {
                conn.client
                    .execute(&conn.upsert, &[&json])
                    .await
                    .map_err(|source| PostgresError::Write {
                        table: self.table.clone(),
                        count,
                        source,
                    })?;
            }
            Ok(conn)
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, work).await {
            Ok(Ok(conn)) => {
                self.conn = Some(conn);
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(PostgresError::Timeout {
                target: self.target.clone(),
                after: ATTEMPT_TIMEOUT,
            }),
        }
    }
}

/// Has the connection compress long values (the text, the record) with lz4
/// where the server has it. Compressing them with PostgreSQL's default, pglz,
/// took about a third of a batch's time: with lz4 the sinks bench writes
/// about 1.4 times the records per second. It applies only to columns whose
/// compression was not set on purpose (`ALTER TABLE .. SET COMPRESSION`), any
/// server built with lz4 reads it, and on one without it (or older than
/// PostgreSQL 14) this changes nothing.
const PREFER_LZ4: &str = "SELECT set_config('default_toast_compression', 'lz4', false)
    FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)";

impl Conn {
    async fn open(sink: &PostgresSink) -> Result<Conn, PostgresError> {
        let (table, target) = (sink.table.as_str(), sink.target.as_str());
        let (mut client, connection) = sink.config.connect(sink.connector.clone()).await.map_err(
            |source| match tls::refusal(&source) {
                Some(reason) => PostgresError::Tls {
                    target: target.to_string(),
                    mode: sink.tls.mode,
                    roots: sink.tls.roots_name(),
                    reason,
                },
                None => PostgresError::Connect {
                    target: target.to_string(),
                    source,
                },
            },
        )?;
        let target_for_task = target.to_string();
        tokio::spawn(async move {
            // The client sees the same failure on its next request and
            // reconnects; this is only the first sign of it.
            if let Err(e) = connection.await {
                tracing::debug!(target = %target_for_task, error = %chain(&e), "postgres connection ended");
            }
        });
        ensure_table(&mut client, table).await?;
        client
            .batch_execute(PREFER_LZ4)
            .await
            .map_err(|source| PostgresError::Setup {
                table: table.to_string(),
                source,
            })?;
        let upsert = client
            .prepare_typed(&upsert_sql(table), &[Type::TEXT])
            .await
            .map_err(|source| PostgresError::Setup {
                table: table.to_string(),
                source,
            })?;
        Ok(Conn { client, upsert })
    }
}

/// Creates the table when missing, else checks it is ours and of our layout.
/// Several daemons may start at once: an advisory lock orders them, so one
/// creates and the others find the table.
async fn ensure_table(client: &mut Client, table: &str) -> Result<(), PostgresError> {
    let setup = |source| PostgresError::Setup {
        table: table.to_string(),
        source,
    };
    let tx = client.transaction().await.map_err(setup)?;
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock(hashtext('{SCHEMA_TABLE}'));
         CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (
             table_name text PRIMARY KEY,
             version integer NOT NULL,
             created_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(setup)?;
    let version: Option<i32> = tx
        .query_opt(
            &format!("SELECT version FROM {SCHEMA_TABLE} WHERE table_name = $1"),
            &[&table],
        )
        .await
        .map_err(setup)?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(setup)?;
    let exists: bool = tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&quoted(table)])
        .await
        .map_err(setup)?
        .try_get(0)
        .map_err(setup)?;
    let table = table.to_string();
    match (version, exists) {
        (Some(TABLE_VERSION), true) => {}
        (Some(found), true) if found > TABLE_VERSION => {
            return Err(PostgresError::NewerTable {
                table,
                found,
                known: TABLE_VERSION,
            });
        }
        (Some(found), true) => {
            for from in found..TABLE_VERSION {
                let Some(step) = migration(&table, from) else {
                    return Err(PostgresError::OlderTable {
                        table,
                        found,
                        known: TABLE_VERSION,
                    });
                };
                tx.batch_execute(&step).await.map_err(setup)?;
            }
            tx.execute(
                &format!("UPDATE {SCHEMA_TABLE} SET version = $2 WHERE table_name = $1"),
                &[&table, &TABLE_VERSION],
            )
            .await
            .map_err(setup)?;
            tracing::info!(table = %table, from = found, to = TABLE_VERSION, "migrated postgres table");
        }
        (None, true) => return Err(PostgresError::ForeignTable { table }),
        // A row without its table: someone dropped the table; start afresh.
        (_, false) => {
            tx.batch_execute(&create_sql(&table)).await.map_err(setup)?;
            tx.execute(
                &format!(
                    "INSERT INTO {SCHEMA_TABLE} (table_name, version) VALUES ($1, $2)
                     ON CONFLICT (table_name) DO UPDATE
                     SET version = EXCLUDED.version, created_at = now()"
                ),
                &[&table, &TABLE_VERSION],
            )
            .await
            .map_err(setup)?;
            tracing::info!(table = %table, version = TABLE_VERSION, "created postgres table");
        }
    }
    // Views are derived: (re)made on every open, so a table of an older
    // build gets them too.
    tx.batch_execute(&views_sql(&table)).await.map_err(setup)?;
    tx.commit().await.map_err(setup)
}

/// The record columns an analyst wants beside each topic or actor.
const VIEW_CONTEXT: &str = "r.relevant, r.relevance, r.published_at, r.fetched_at, \
    r.source_name, r.source_location, r.language, r.title, r.url, r.duplicate_of";

/// `<table>_topics` and `<table>_actors`: one row per topic (actor) of a
/// record, unnested from the jsonb columns, with the record's context, so
/// counting and joining needs no jsonb. New columns go at the end: `CREATE
/// OR REPLACE VIEW` may add columns, not move or drop them.
fn views_sql(table: &str) -> String {
    let t = quoted(table);
    format!(
        "CREATE OR REPLACE VIEW \"{table}_topics\" AS
         SELECT r.id, t->>'id' AS topic, t->>'label' AS label,
                (t->>'score')::double precision AS score, {VIEW_CONTEXT}
         FROM {t} AS r CROSS JOIN LATERAL jsonb_array_elements(r.topics) AS t;
         CREATE OR REPLACE VIEW \"{table}_actors\" AS
         SELECT r.id, a->>'id' AS actor, a->>'name' AS name, a->>'kind' AS kind,
                (a->>'mentions')::integer AS mentions, {VIEW_CONTEXT}
         FROM {t} AS r CROSS JOIN LATERAL jsonb_array_elements(r.actors) AS a;"
    )
}

/// The SQL that brings a table of layout version `from` to `from + 1`;
/// `None` when there is no such step.
fn migration(table: &str, from: i32) -> Option<String> {
    let t = quoted(table);
    match from {
        // 2: records carry the version of the taxonomy that tagged them
        // (rows written before have none until `tidings retag`), and the
        // copy a copy was found through (`duplicate_of` names the root).
        1 => Some(format!(
            "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS taxonomy_version text,
                             ADD COLUMN IF NOT EXISTS duplicate_via text"
        )),
        // 3: the story a record reports (rows written before have none).
        2 => Some(format!(
            "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS story_id text;
             CREATE INDEX IF NOT EXISTS \"{table}_story_id\" ON {t} (story_id)"
        )),
        // 4: the version of a page that changed after it was written (rows
        // written before are the first).
        3 => Some(format!(
            "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS version integer NOT NULL DEFAULT 1,
                             ADD COLUMN IF NOT EXISTS updated_at timestamptz"
        )),
        _ => None,
    }
}

/// Names are checked to be plain identifiers; quoting still keeps a reserved
/// word such as `user` usable as a table name.
fn quoted(table: &str) -> String {
    format!("\"{table}\"")
}

/// The table's layout, from [`COLUMNS`], and its indexes: `topics` and
/// `actors` answer containment queries (`topics @> '[{"id": "ceasefire"}]'`).
fn create_sql(table: &str) -> String {
    let t = quoted(table);
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|c| format!("{} {}", c.name, c.sql_type))
        .chain(["written_at timestamptz NOT NULL DEFAULT now()".to_string()])
        .collect();
    format!(
        "CREATE TABLE {t} ({});
         CREATE INDEX \"{table}_topics_gin\" ON {t} USING gin (topics jsonb_path_ops);
         CREATE INDEX \"{table}_actors_gin\" ON {t} USING gin (actors jsonb_path_ops);
         CREATE INDEX \"{table}_published_at\" ON {t} (published_at);
         CREATE INDEX \"{table}_story_id\" ON {t} (story_id);",
        columns.join(", ")
    )
}

/// One column filled from each record.
struct Column {
    name: &'static str,
    sql_type: &'static str,
    /// The SQL that takes the value from the record's JSON `r`.
    from_record: &'static str,
}

const fn column(name: &'static str, sql_type: &'static str, from_record: &'static str) -> Column {
    Column {
        name,
        sql_type,
        from_record,
    }
}

/// The columns of a record's row, in table order. A change here is a change
/// of layout: bump [`TABLE_VERSION`].
const COLUMNS: &[Column] = &[
    column("id", "text PRIMARY KEY", "r->>'id'"),
    column(
        "schema_version",
        "integer NOT NULL",
        "(r->>'schema_version')::integer",
    ),
    column("url", "text", "r->>'url'"),
    column("canonical_url", "text", "r->>'canonical_url'"),
    column("guid", "text", "r->>'guid'"),
    column("title", "text NOT NULL", "r->>'title'"),
    column("text", "text NOT NULL", "r->>'text'"),
    column("summary", "text", "r->>'summary'"),
    column("authors", "jsonb NOT NULL", "r->'authors'"),
    column(
        "published_at",
        "timestamptz",
        "(r->>'published_at')::timestamptz",
    ),
    column(
        "fetched_at",
        "timestamptz NOT NULL",
        "(r->>'fetched_at')::timestamptz",
    ),
    column("source_kind", "text NOT NULL", "r->'source'->>'kind'"),
    column(
        "source_location",
        "text NOT NULL",
        "r->'source'->>'location'",
    ),
    column("source_name", "text", "r->'source'->>'name'"),
    column("source_tags", "jsonb", "r->'source'->'tags'"),
    column("language", "text", "r->>'language'"),
    column(
        "word_count",
        "bigint NOT NULL",
        "(r->>'word_count')::bigint",
    ),
    column("content_hash", "text NOT NULL", "r->>'content_hash'"),
    column(
        "version",
        "integer NOT NULL DEFAULT 1",
        "COALESCE((r->>'version')::integer, 1)",
    ),
    column(
        "updated_at",
        "timestamptz",
        "(r->>'updated_at')::timestamptz",
    ),
    column("duplicate_of", "text", "r->>'duplicate_of'"),
    column("duplicate_via", "text", "r->>'duplicate_via'"),
    column(
        "similarity",
        "double precision",
        "(r->>'similarity')::double precision",
    ),
    column("duplicate_method", "text", "r->>'duplicate_method'"),
    column("story_id", "text", "r->>'story_id'"),
    column("relevant", "boolean NOT NULL", "(r->>'relevant')::boolean"),
    column(
        "relevance",
        "double precision",
        "(r->>'relevance')::double precision",
    ),
    column("topics", "jsonb NOT NULL", "r->'topics'"),
    column("actors", "jsonb NOT NULL", "r->'actors'"),
    column("taxonomy_version", "text", "r->>'taxonomy_version'"),
    column("record", "jsonb NOT NULL", "r"),
];

/// The columns a re-tagging rewrites: the tags, and the record that holds
/// them. Every name is one of [`COLUMNS`].
const TAG_COLUMNS: &[&str] = &[
    "relevant",
    "relevance",
    "topics",
    "actors",
    "taxonomy_version",
    "record",
];

/// Rewrites the tag columns of the rows of the records of a batch (a JSON
/// array parameter, like the upsert's), matched on id.
fn retag_sql(table: &str) -> String {
    let sets: Vec<String> = COLUMNS
        .iter()
        .filter(|c| TAG_COLUMNS.contains(&c.name))
        .map(|c| format!("{} = {}", c.name, c.from_record))
        .collect();
    format!(
        "UPDATE {t} AS cur SET {sets}, written_at = now()
         FROM jsonb_array_elements($1::text::jsonb) AS batch(r)
         WHERE cur.id = r->>'id'",
        t = quoted(table),
        sets = sets.join(", "),
    )
}

/// The whole batch travels as one JSON array parameter and is unpacked by
/// the server: one round trip per batch whatever its size. If an id occurs
/// twice in a batch the later record wins, as it would in two batches
/// (`ON CONFLICT` refuses to touch a row twice in one statement). Rows whose
/// stored record is identical are not rewritten. Sending each column as an
/// array of text values instead, unnested and cast by the server (the work a
/// COPY into a staging table would do, without the staging), was measured
/// no faster: taking the fields out of the JSON costs little beside the
/// record's own work (parsing the `record` jsonb, compressing, the indexes,
/// the commit), and it sends the text twice.
fn upsert_sql(table: &str) -> String {
    let t = quoted(table);
    let names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
    let values: Vec<&str> = COLUMNS.iter().map(|c| c.from_record).collect();
    let updates: Vec<String> = COLUMNS
        .iter()
        .filter(|c| c.name != "id")
        .map(|c| format!("{0} = EXCLUDED.{0}", c.name))
        .collect();
    format!(
        "INSERT INTO {t} AS cur ({names})
         SELECT DISTINCT ON (r->>'id') {values}
         FROM jsonb_array_elements($1::text::jsonb) WITH ORDINALITY AS batch(r, n)
         ORDER BY r->>'id', n DESC
         ON CONFLICT (id) DO UPDATE SET {updates}, written_at = now()
         WHERE cur.record IS DISTINCT FROM EXCLUDED.record",
        names = names.join(", "),
        values = values.join(", "),
        updates = updates.join(", "),
    )
}

/// The batch as a JSON array. PostgreSQL text and jsonb cannot hold U+0000,
/// which a hostile page may smuggle into a record; in this sink it becomes
/// U+FFFD rather than failing the batch forever.
fn batch_json(batch: &[&Record]) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(batch)?;
    // serde_json writes U+0000 only as this escape; a literal backslash
    // followed by "u0000" in a text also matches, and is left intact below.
    if !json.contains("\\u0000") {
        return Ok(json);
    }
    let mut value = serde_json::to_value(batch)?;
    replace_nul(&mut value);
    serde_json::to_string(&value)
}

fn replace_nul(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Array(items) => items.iter_mut().for_each(replace_nul),
        Value::Object(map) => map.values_mut().for_each(replace_nul),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_and_the_upsert_are_made_from_one_column_list() {
        let ddl = create_sql("news");
        let listed = &ddl[ddl.find('(').unwrap() + 1..ddl.find(");").unwrap()];
        let listed: Vec<&str> = listed.split(", ").collect();
        assert_eq!(listed.len(), COLUMNS.len() + 1, "{ddl}");
        for (c, col) in COLUMNS.iter().zip(&listed) {
            assert_eq!(*col, format!("{} {}", c.name, c.sql_type));
        }
        let upsert = upsert_sql("news");
        for c in COLUMNS {
            assert!(upsert.contains(c.from_record), "{}", c.name);
        }
        let retag = retag_sql("news");
        for name in TAG_COLUMNS {
            assert!(retag.contains(&format!("{name} = ")), "{name}: {retag}");
        }
    }

    #[test]
    fn table_names_must_be_plain_lowercase_identifiers() {
        for good in ["records", "_news", "news_2026", "user"] {
            assert_eq!(check_table_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Records",
            "2026news",
            "news-items",
            "news items",
            "public.news",
            "x\"; DROP TABLE y; --",
            "tidings_schema",
            &"n".repeat(MAX_TABLE_LEN + 1),
        ] {
            assert!(check_table_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn invalid_urls_are_not_echoed_whole() {
        let problems = validate_postgres("postgres://news:s3cret@db local:5433/newsroom", "t");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(!problems[0].contains("s3cret"), "{problems:?}");
        assert!(problems[0].contains("news:***@db local"), "{problems:?}");
    }

    #[test]
    fn nul_characters_are_replaced_and_escaped_backslashes_kept() {
        let mut value =
            serde_json::json!([{"title": "a\u{0}b", "text": "c\\u0000d", "n": [1, "\u{0}"]}]);
        replace_nul(&mut value);
        assert_eq!(
            value,
            serde_json::json!([{"title": "a\u{FFFD}b", "text": "c\\u0000d", "n": [1, "\u{FFFD}"]}])
        );
    }
}

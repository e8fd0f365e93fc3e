//! The two databases the state store can live in, behind one small
//! interface: SQLite in `[state] dir` (the default) or PostgreSQL at
//! `[state] url`.
//!
//! Statements are written once, with SQLite's `?N` placeholders (turned into
//! `$N` for PostgreSQL), wherever the SQL means the same in both; where the
//! dialects differ the caller picks with [`Db::pick`]. Values cross as a few
//! plain kinds ([`Value`]): both layouts keep text, integers and timestamps
//! as text (RFC 3339), so the SQL that slices a timestamp is portable too.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::StateError;

/// A parameter or a column value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Null,
    Int(i64),
    Text(String),
    Time(DateTime<Utc>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(v.into())
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(v.into())
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}

impl From<DateTime<Utc>> for Value {
    fn from(v: DateTime<Utc>) -> Value {
        Value::Time(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// `args![a, b]`: the parameters of a statement.
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        &[$($crate::state::db::Value::from($v)),*][..]
    };
}
pub(super) use args;

/// One row of a result.
pub(super) struct Row {
    values: Vec<Value>,
    place: Arc<str>,
}

impl Row {
    fn decode(&self, i: usize, expected: &str) -> StateError {
        StateError::Decode {
            place: self.place.to_string(),
            message: format!("column {i} is {:?}, not {expected}", self.values.get(i)),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StateError> {
        match self.values.get(i) {
            Some(Value::Null) => Ok(None),
            Some(Value::Text(s)) => Ok(Some(s.clone())),
            _ => Err(self.decode(i, "text")),
        }
    }

    pub fn text(&self, i: usize) -> Result<String, StateError> {
        self.opt_text(i)?.ok_or_else(|| self.decode(i, "text"))
    }

    pub fn int(&self, i: usize) -> Result<i64, StateError> {
        match self.values.get(i) {
            Some(Value::Int(n)) => Ok(*n),
            _ => Err(self.decode(i, "an integer")),
        }
    }

    pub fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>, StateError> {
        match self.opt_text(i)? {
            None => Ok(None),
            Some(t) => parse_time(&t)
                .map(Some)
                .ok_or_else(|| self.decode(i, "a time")),
        }
    }

    pub fn time(&self, i: usize) -> Result<DateTime<Utc>, StateError> {
        self.opt_time(i)?.ok_or_else(|| self.decode(i, "a time"))
    }
}

/// A time as either store writes it: RFC 3339, or rusqlite's
/// `2026-01-05 12:00:00.123+00:00` (a space for the `T`; no offset is UTC).
pub(super) fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    let t = match t.as_bytes().get(10) {
        Some(b' ') => format!("{}T{}", &t[..10], &t[11..]),
        _ => t.to_string(),
    };
    DateTime::parse_from_rfc3339(&t)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

pub(super) struct Db {
    kind: Kind,
    /// Where the store is (a file, or a server, database and schema without
    /// secrets), for messages.
    place: Arc<str>,
}

enum Kind {
    Sqlite(Connection),
    /// The blocking client keeps a runtime of its own, and the prepared
    /// statements by their SQLite text; `RefCell` because reading queries
    /// take `&State` and the client wants `&mut`. A `State` is used by one
    /// thread at a time.
    Postgres(Box<RefCell<Pg>>),
}

struct Pg {
    /// `None` only while being dropped.
    client: Option<postgres::Client>,
    statements: HashMap<String, postgres::Statement>,
}

impl Drop for Pg {
    fn drop(&mut self) {
        if let Some(mut client) = self.client.take() {
            outside_runtime(move || {
                // The server frees a session's advisory locks (the schema's
                // writer lock) when its backend has exited, some time after
                // the client hung up; freed here, they are free before the
                // next open, even on a loaded server. Failing, it is left to
                // the hang-up.
                let _ = client.batch_execute("SELECT pg_advisory_unlock_all()");
                drop(client)
            });
        }
    }
}

/// Runs `f`, which may block on the postgres client's own runtime, where
/// that is allowed: the client panics when used on a thread that is running
/// async tasks (a verb's `State` on the main runtime), so such a thread
/// hands its tasks to others for the while (the CLI runs on a multi-thread
/// runtime). The store's own thread runs no runtime: `f` runs as it is.
pub(super) fn outside_runtime<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::block_in_place(f),
        Err(_) => f(),
    }
}

impl Db {
    pub fn sqlite(conn: Connection, place: &str) -> Db {
        Db {
            kind: Kind::Sqlite(conn),
            place: place.into(),
        }
    }

    pub fn postgres(client: postgres::Client, place: &str) -> Db {
        Db {
            kind: Kind::Postgres(Box::new(RefCell::new(Pg {
                client: Some(client),
                statements: HashMap::new(),
            }))),
            place: place.into(),
        }
    }

    pub fn place(&self) -> &str {
        &self.place
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.kind, Kind::Postgres(_))
    }

    /// The statement for this store's dialect.
    pub fn pick<'a>(&self, sqlite: &'a str, postgres: &'a str) -> &'a str {
        match self.kind {
            Kind::Sqlite(_) => sqlite,
            Kind::Postgres(_) => postgres,
        }
    }

    pub fn sqlite_err(&self, source: rusqlite::Error) -> StateError {
        StateError::Sqlite {
            path: std::path::PathBuf::from(&*self.place),
            source,
        }
    }

    fn pg_err(&self, source: postgres::Error) -> StateError {
        StateError::Postgres {
            place: self.place.to_string(),
            source,
        }
    }

    /// Runs statements without parameters (a transaction's edges, layouts).
    pub fn batch(&self, sql: &str) -> Result<(), StateError> {
        match &self.kind {
            Kind::Sqlite(conn) => conn.execute_batch(sql).map_err(|e| self.sqlite_err(e)),
            Kind::Postgres(pg) => {
                let mut pg = pg.borrow_mut();
                let client = pg.client.as_mut().ok_or(StateError::Closed)?;
                outside_runtime(|| client.batch_execute(sql)).map_err(|e| self.pg_err(e))
            }
        }
    }

    /// Runs one statement; how many rows it changed.
    pub fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, StateError> {
        match &self.kind {
            Kind::Sqlite(conn) => conn
                .prepare_cached(sql)
                .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(args)))
                .map(|n| n as u64)
                .map_err(|e| self.sqlite_err(e)),
            Kind::Postgres(pg) => {
                self.with_pg(pg, sql, |client, stmt| client.execute(stmt, &pg_args(args)))
            }
        }
    }

    /// The rows of one query.
    pub fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StateError> {
        let values: Vec<Vec<Value>> = match &self.kind {
            Kind::Sqlite(conn) => sqlite_query(conn, sql, args).map_err(|e| self.sqlite_err(e))?,
            Kind::Postgres(pg) => {
                let rows =
                    self.with_pg(pg, sql, |client, stmt| client.query(stmt, &pg_args(args)))?;
                rows.iter()
                    .map(pg_row)
                    .collect::<Result<_, String>>()
                    .map_err(|message| StateError::Decode {
                        place: self.place.to_string(),
                        message,
                    })?
            }
        };
        Ok(values
            .into_iter()
            .map(|values| Row {
                values,
                place: self.place.clone(),
            })
            .collect())
    }

    /// The first row of a query, if any.
    pub fn query_opt(&self, sql: &str, args: &[Value]) -> Result<Option<Row>, StateError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The one row of a query.
    pub fn query_one(&self, sql: &str, args: &[Value]) -> Result<Row, StateError> {
        self.query_opt(sql, args)?
            .ok_or_else(|| StateError::Decode {
                place: self.place.to_string(),
                message: "a query that returns one row returned none".to_string(),
            })
    }

    /// Runs `f` in one transaction: all of its changes, or none.
    pub fn transaction<R>(
        &self,
        f: impl FnOnce(&Db) -> Result<R, StateError>,
    ) -> Result<R, StateError> {
        self.batch("BEGIN")?;
        match f(self) {
            Ok(r) => {
                self.batch("COMMIT")?;
                Ok(r)
            }
            Err(e) => {
                // The error that matters is the first; a failed rollback
                // leaves the connection unusable, which the next call shows.
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Runs `f` with the statement for `sql`, prepared once per connection.
    fn with_pg<R>(
        &self,
        pg: &RefCell<Pg>,
        sql: &str,
        f: impl FnOnce(&mut postgres::Client, &postgres::Statement) -> Result<R, postgres::Error>,
    ) -> Result<R, StateError> {
        let mut pg = pg.borrow_mut();
        let Pg { client, statements } = &mut *pg;
        let client = client.as_mut().ok_or(StateError::Closed)?;
        let stmt = match statements.get(sql) {
            Some(stmt) => stmt.clone(),
            None => {
                let stmt = outside_runtime(|| client.prepare(&dollar_placeholders(sql)))
                    .map_err(|e| self.pg_err(e))?;
                statements.insert(sql.to_string(), stmt.clone());
                stmt
            }
        };
        outside_runtime(|| f(client, &stmt)).map_err(|e| self.pg_err(e))
    }
}

/// `?1` -> `$1`: the one placeholder difference between the dialects (the
/// statements hold no `?` of their own).
pub(super) fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn sqlite_query(conn: &Connection, sql: &str, args: &[Value]) -> rusqlite::Result<Vec<Vec<Value>>> {
    use rusqlite::types::ValueRef;
    let mut stmt = conn.prepare_cached(sql)?;
    let columns = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => Value::Int(n),
                ValueRef::Real(f) => Value::Int(f as i64),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    Value::Text(String::from_utf8_lossy(t).into_owned())
                }
            });
        }
        out.push(values);
    }
    Ok(out)
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as V};
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(V::Null),
            Value::Int(n) => ToSqlOutput::Owned(V::Integer(*n)),
            Value::Text(s) => ToSqlOutput::Borrowed(s.as_str().into()),
            // rusqlite's own text form, as the stores written so far hold.
            Value::Time(t) => return t.to_sql(),
        })
    }
}

fn pg_args(args: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    args.iter()
        .map(|a| a as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

/// Values go in as the column's type needs: an integer parameter may be
/// any width (or a flag), a time is RFC 3339 text.
impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => match *ty {
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => n.to_string().to_sql(ty, out),
                _ => n.to_sql(ty, out),
            },
            Value::Text(s) => s.to_sql(ty, out),
            Value::Time(t) => crate::record::timestamp(*t).to_sql(ty, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn pg_row(row: &postgres::Row) -> Result<Vec<Value>, String> {
    use postgres::types::Type;
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let err = |e: postgres::Error| format!("column {}: {e}", column.name());
        let value = match *column.type_() {
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)
                .map_err(err)?
                .map(i64::from),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)
                .map_err(err)?
                .map(i64::from),
            Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(err)?,
            Type::BOOL => row
                .try_get::<_, Option<bool>>(i)
                .map_err(err)?
                .map(i64::from),
            _ => {
                values.push(
                    row.try_get::<_, Option<String>>(i)
                        .map_err(err)?
                        .map_or(Value::Null, Value::Text),
                );
                continue;
            }
        };
        values.push(value.map_or(Value::Null, Value::Int));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_times_cross_between_the_dialects() {
        assert_eq!(
            dollar_placeholders("UPDATE t SET a = ?2 WHERE b = ?1 AND c = ?12"),
            "UPDATE t SET a = $2 WHERE b = $1 AND c = $12"
        );
        let t = parse_time("2026-01-05T12:00:00Z").unwrap();
        assert_eq!(parse_time("2026-01-05 12:00:00+00:00"), Some(t));
        assert_eq!(parse_time("2026-01-05 12:00:00.000+00:00"), Some(t));
        assert_eq!(parse_time("2026-01-05 12:00:00"), Some(t));
        assert_eq!(parse_time("yesterday"), None);
    }
}

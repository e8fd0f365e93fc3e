//! Where records go. Each sink writes a batch and returns only once the batch is
//! durable there: that return is the acknowledgement the pipeline waits for
//! before it marks the records delivered in the state store.
//!
//! Every kind is one module with its settings (`Config`: read from its
//! `[[sinks]]` entry, checked, and where it writes, to catch two sinks on
//! one place) and its sink (`open`, `write`, and the `position` / `scan` of
//! its own log, by which a state store that missed a write, or was lost,
//! learns what the sink holds). [`kinds!`] lists them: adding a kind is its
//! module plus one line there.
//!
//! The network sinks (postgres, nats) wait out an unreachable server inside
//! `write`, retrying with backoff (see [`retry`]), so a sink that is down
//! holds the pipeline back rather than losing records. Dropping a `write`
//! future is safe: the batch stays unacknowledged and is sent again on the
//! next start, which the sinks store idempotently, keyed on the record id.

mod jsonl;
mod nats;
mod outputs;
mod postgres;
mod retry;
mod stdout;

use std::path::PathBuf;
use std::time::Duration;

use crate::record::Record;
use crate::settings::{Dirs, Section};

pub use jsonl::{
    Config as JsonlConfig, JsonlSink, Rewritten, key_of as jsonl_key, rewrite as rewrite_jsonl,
};
pub use nats::{Config as NatsConfig, NatsError, NatsSink, connect as connect_nats, validate_nats};
pub use outputs::{Delivered, Outputs, Targets, targets};
pub use postgres::{
    Config as PostgresConfig, PostgresError, PostgresSink, Retagged, TABLE_VERSION,
    validate_postgres,
};
pub use retry::Unreachable;
pub use stdout::{Config as StdoutConfig, StdoutSink};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("jsonl sink {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Postgres(#[from] PostgresError),
    #[error(transparent)]
    Nats(#[from] NatsError),
}

impl SinkError {
    /// The error is about one record the sink will never take (too large, a
    /// constraint it breaks), not about the sink: the record is set aside and
    /// the rest goes on.
    pub fn rejects_record(&self) -> bool {
        match self {
            SinkError::Io { .. } => false,
            SinkError::Postgres(e) => e.rejects_record(),
            SinkError::Nats(e) => e.rejects_record(),
        }
    }
}

/// Where a sink writes, to find two sinks writing to one place: the same
/// file interleaves torn lines, the same table or subject gets every record
/// twice from one run.
#[derive(Debug, PartialEq)]
pub enum Place {
    File(PathBuf),
    Stdout,
    /// Servers as (host, port), lowercase, default port filled in.
    Table {
        servers: Vec<(String, u16)>,
        database: String,
        table: String,
    },
    Subject {
        servers: Vec<(String, u16)>,
        subject: String,
    },
}

impl Place {
    pub fn clashes(&self, other: &Place) -> bool {
        let share = |a: &[(String, u16)], b: &[(String, u16)]| a.iter().any(|s| b.contains(s));
        match (self, other) {
            (
                Place::Table {
                    servers: a,
                    database: da,
                    table: ta,
                },
                Place::Table {
                    servers: b,
                    database: db,
                    table: tb,
                },
            ) => da == db && ta == tb && share(a, b),
            (
                Place::Subject {
                    servers: a,
                    subject: sa,
                },
                Place::Subject {
                    servers: b,
                    subject: sb,
                },
            ) => sa == sb && share(a, b),
            _ => self == other,
        }
    }

    /// The key a clash is reported at, and the words for it.
    pub fn describe(&self) -> (&'static str, &'static str) {
        match self {
            Place::File(_) => ("path", "same file as"),
            Place::Stdout => ("kind", "standard output is already written by"),
            Place::Table { .. } => ("url", "same database and table as"),
            Place::Subject { .. } => ("subject", "same server and subject as"),
        }
    }
}

/// Where a sink writes, for the log line that says where records go; no
/// credentials, as a place has none.
impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers = |servers: &[(String, u16)]| {
            let all: Vec<String> = servers.iter().map(|(h, p)| format!("{h}:{p}")).collect();
            all.join(",")
        };
        match self {
            Place::File(path) => write!(f, "{}", path.display()),
            Place::Stdout => f.write_str("standard output"),
            Place::Table {
                servers: s,
                database,
                table,
            } => write!(f, "postgres {}/{database} table {table}", servers(s)),
            Place::Subject {
                servers: s,
                subject,
            } => write!(f, "nats {} subject {subject}", servers(s)),
        }
    }
}

/// What a write did.
#[derive(Debug, Default)]
pub struct Written {
    /// Records the sink refused for good, by their place in the batch, with
    /// the reason; every other record is durable in the sink.
    pub rejected: Vec<(usize, String)>,
    /// How far the sink's own log reaches now (see [`Sink::position`]).
    pub position: Option<u64>,
}

/// Declares the sink kinds: the settings enum, the sink enum, and the
/// dispatch of each method to the kind's own module. Each kind's module has
/// `Config::{read, place}` and a sink type with `open`, `name`, `key`,
/// `write`, `position` and `scan`; the compiler holds every kind to that.
macro_rules! kinds {
    ($($kind:literal => $variant:ident($module:ident::$sink:ident),)*) => {
        /// One `[[sinks]]` entry, by kind.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Config {
            $($variant($module::Config),)*
        }

        /// One open sink.
        pub enum Sink {
            $($variant($module::$sink),)*
        }

        impl Config {
            /// The entry's settings; `None` (problems reported) when they
            /// cannot be used.
            pub fn read(s: &mut Section<'_>, dirs: &Dirs) -> Option<Config> {
                let Some(kind) = s.required_str("kind") else {
                    // Which keys belong here depends on the kind: none can be judged.
                    s.skip_unread();
                    return None;
                };
                match kind {
                    $($kind => $module::Config::read(s, dirs).map(Config::$variant),)*
                    other => {
                        let kinds = [$(format!("{:?}", $kind)),*];
                        s.problem(
                            "kind",
                            format!("unknown sink kind {other:?}, expected one of {}", kinds.join(", ")),
                        );
                        s.skip_unread();
                        None
                    }
                }
            }

            pub fn place(&self) -> Place {
                match self {
                    $(Config::$variant(c) => c.place(),)*
                }
            }
        }

        impl Sink {
            /// Opens the sink an entry describes. A network sink whose server
            /// does not answer is waited for, up to `patience` (`None`: for ever).
            pub async fn open(config: &Config, patience: Option<Duration>) -> Result<Sink, SinkError> {
                Ok(match config {
                    $(Config::$variant(c) => Sink::$variant($module::$sink::open(c, patience).await?),)*
                })
            }

            /// The sink as logs and messages show it.
            pub fn name(&self) -> String {
                match self {
                    $(Sink::$variant(s) => s.name(),)*
                }
            }

            /// The sink's identity in the state store: the same file, table or
            /// subject is the same sink whatever the config calls it.
            pub fn key(&self) -> String {
                match self {
                    $(Sink::$variant(s) => s.key(),)*
                }
            }

            async fn write_all(&mut self, batch: &[&Record]) -> Result<Option<u64>, SinkError> {
                match self {
                    $(Sink::$variant(s) => Ok(s.write(batch).await?),)*
                }
            }

            /// How far the sink's own log reaches: a JSONL file's length, a
            /// stream's last sequence; `None` for sinks without one. A log
            /// shorter than the state store remembers was replaced: what it
            /// holds is read again.
            pub async fn position(&mut self) -> Result<Option<u64>, SinkError> {
                match self {
                    $(Sink::$variant(s) => Ok(s.position().await?),)*
                }
            }

            /// The ids of the records the sink holds past `from` in its log
            /// (all of them for a sink without a log), handed to `chunk` with
            /// the position each chunk reaches.
            pub async fn scan(
                &mut self,
                from: u64,
                chunk: &mut (dyn FnMut(Vec<String>, u64) -> anyhow::Result<()> + Send),
            ) -> anyhow::Result<()> {
                match self {
                    $(Sink::$variant(s) => s.scan(from, chunk).await,)*
                }
            }
        }
    };
}

kinds! {
    "jsonl" => Jsonl(jsonl::JsonlSink),
    "stdout" => Stdout(stdout::StdoutSink),
    "postgres" => Postgres(postgres::PostgresSink),
    "nats" => Nats(nats::NatsSink),
}

impl Sink {
    /// Writes a batch. `Ok` means every record in it is durable in this sink
    /// but those listed as rejected; a record the sink refuses for good is
    /// found by writing halves of the batch, so one bad record costs a few
    /// more writes, never the batch.
    pub async fn write(&mut self, batch: &[&Record]) -> Result<Written, SinkError> {
        let mut written = Written::default();
        self.write_apart(batch, 0, &mut written).await?;
        Ok(written)
    }

    fn write_apart<'a>(
        &'a mut self,
        batch: &'a [&'a Record],
        offset: usize,
        written: &'a mut Written,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>> {
        Box::pin(async move {
            if batch.is_empty() {
                return Ok(());
            }
            match self.write_all(batch).await {
                Ok(position) => {
                    written.position = position.max(written.position);
                    Ok(())
                }
                Err(e) if e.rejects_record() && batch.len() == 1 => {
                    written.rejected.push((offset, retry::chain(&e)));
                    Ok(())
                }
                Err(e) if e.rejects_record() => {
                    let (a, b) = batch.split_at(batch.len() / 2);
                    self.write_apart(a, offset, written).await?;
                    self.write_apart(b, offset + a.len(), written).await
                }
                Err(e) => Err(e),
            }
        })
    }
}

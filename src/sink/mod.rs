//! Where records go. Each sink writes a batch and returns only once the batch is
//! durable there: that return is the acknowledgement the pipeline waits for
//! before it marks the records done in the state store.
//!
//! The network sinks (postgres, nats) wait out an unreachable server inside
//! `write`, retrying with backoff, so a sink that is down holds the pipeline
//! back rather than losing records. To stop without waiting for it, drop the
//! `write` future (e.g. lose a `tokio::select!` against a shutdown token):
//! the batch then stays unacknowledged and is sent again on the next start,
//! which the sinks store idempotently, keyed on the record id.

mod jsonl;
mod nats;
mod postgres;
mod retry;

use tokio::io::AsyncWriteExt;

use crate::config;
use crate::record::Record;

pub use jsonl::JsonlSink;
pub use nats::{NatsError, NatsSink, validate_nats};
pub use postgres::{PostgresError, PostgresSink, TABLE_VERSION, validate_postgres};

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

/// One configured sink.
pub enum Sink {
    Jsonl(JsonlSink),
    /// JSON lines on standard output, for piping into jq and friends.
    Stdout(tokio::io::Stdout),
    Postgres(PostgresSink),
    Nats(NatsSink),
}

impl Sink {
    /// Opens the sink a config entry describes.
    pub async fn open(cfg: &config::Sink) -> Result<Sink, SinkError> {
        match cfg {
            config::Sink::Jsonl { path } => Ok(Sink::Jsonl(JsonlSink::open(path).await?)),
            config::Sink::Postgres { url, table } => {
                Ok(Sink::Postgres(PostgresSink::open(url, table).await?))
            }
            config::Sink::Nats {
                url,
                subject,
                stream,
            } => Ok(Sink::Nats(
                NatsSink::open(url, subject, stream.as_deref()).await?,
            )),
            config::Sink::Stdout => Ok(Sink::Stdout(tokio::io::stdout())),
        }
    }

    /// Writes a batch; `Ok` means every record in it is durable in this sink.
    pub async fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        match self {
            Sink::Jsonl(s) => s.write(batch).await,
            Sink::Postgres(s) => Ok(s.write(batch).await?),
            Sink::Nats(s) => Ok(s.write(batch).await?),
            Sink::Stdout(out) => {
                let err = |source| SinkError::Io {
                    path: "<stdout>".to_string(),
                    source,
                };
                out.write_all(&jsonl::lines(batch).map_err(err)?)
                    .await
                    .map_err(err)?;
                out.flush().await.map_err(err)
            }
        }
    }

    pub fn name(&self) -> String {
        match self {
            Sink::Jsonl(s) => format!("jsonl:{}", s.path().display()),
            Sink::Postgres(s) => s.name(),
            Sink::Nats(s) => s.name(),
            Sink::Stdout(_) => "stdout".to_string(),
        }
    }
}

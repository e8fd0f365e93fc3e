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

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::config;
use crate::record::Record;

pub use jsonl::JsonlSink;
pub use nats::{NatsError, NatsSink, validate_nats};
pub use postgres::{PostgresError, PostgresSink, TABLE_VERSION, validate_postgres};
pub use retry::Unreachable;

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

/// What a write did.
#[derive(Debug, Default)]
pub struct Written {
    /// Records the sink refused for good, by their place in the batch, with
    /// the reason; every other record is durable in the sink.
    pub rejected: Vec<(usize, String)>,
    /// How far the sink's own log reaches now (see [`Sink::position`]).
    pub position: Option<u64>,
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
    /// Opens the sink a config entry describes. A network sink whose server
    /// does not answer is waited for, up to `patience` (`None`: for ever).
    pub async fn open(cfg: &config::Sink, patience: Option<Duration>) -> Result<Sink, SinkError> {
        match cfg {
            config::Sink::Jsonl { path } => Ok(Sink::Jsonl(JsonlSink::open(path).await?)),
            config::Sink::Postgres { url, table } => Ok(Sink::Postgres(
                PostgresSink::open(url, table, patience).await?,
            )),
            config::Sink::Nats {
                url,
                subject,
                stream,
            } => Ok(Sink::Nats(
                NatsSink::open(url, subject, stream.as_deref(), patience).await?,
            )),
            config::Sink::Stdout => Ok(Sink::Stdout(tokio::io::stdout())),
        }
    }

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

    async fn write_all(&mut self, batch: &[&Record]) -> Result<Option<u64>, SinkError> {
        match self {
            Sink::Jsonl(s) => s.write(batch).await,
            Sink::Postgres(s) => Ok(s.write(batch).await.map(|()| None)?),
            Sink::Nats(s) => Ok(s.write(batch).await.map(Some)?),
            Sink::Stdout(out) => {
                let err = |source| SinkError::Io {
                    path: "<stdout>".to_string(),
                    source,
                };
                out.write_all(&jsonl::lines(batch).map_err(err)?)
                    .await
                    .map_err(err)?;
                out.flush().await.map_err(err)?;
                Ok(None)
            }
        }
    }

    /// How far the sink's own log reaches: a JSONL file's length, a stream's
    /// last sequence; `None` for sinks without one. A log shorter than the
    /// state store remembers was replaced: what it held is read again.
    pub async fn position(&mut self) -> Result<Option<u64>, SinkError> {
        match self {
            Sink::Jsonl(s) => s.position().await,
            Sink::Nats(s) => Ok(s.position().await.map(Some)?),
            Sink::Postgres(_) | Sink::Stdout(_) => Ok(None),
        }
    }

    /// The ids of the records the sink holds past `from` in its log (all of
    /// them for a sink without a log), handed to `chunk` with the position
    /// each chunk reaches. What the sink holds is its own truth: this is how
    /// a state store that missed a write, or was lost, learns it.
    pub async fn scan(
        &mut self,
        from: u64,
        chunk: &mut (dyn FnMut(Vec<String>, u64) -> anyhow::Result<()> + Send),
    ) -> anyhow::Result<()> {
        match self {
            Sink::Jsonl(s) => s.scan(from, chunk).await,
            Sink::Postgres(s) => s.scan(from, chunk).await,
            Sink::Nats(s) => s.scan(from, chunk).await,
            // What went to standard output cannot be read back.
            Sink::Stdout(_) => Ok(()),
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

    /// The sink's identity in the state store: the same file, table or
    /// subject is the same sink whatever the config calls it.
    pub fn key(&self) -> String {
        match self {
            Sink::Postgres(s) => s.key(),
            Sink::Nats(s) => s.key(),
            Sink::Jsonl(_) | Sink::Stdout(_) => self.name(),
        }
    }
}

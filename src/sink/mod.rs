//! Where records go. Each sink writes a batch and returns only once the batch is
//! durable there: that return is the acknowledgement the pipeline waits for
//! before it marks the records done in the state store.

mod jsonl;

use tokio::io::AsyncWriteExt;

use crate::config;
use crate::record::Record;

pub use jsonl::JsonlSink;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("jsonl sink {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// One configured sink.
pub enum Sink {
    Jsonl(JsonlSink),
    /// JSON lines on standard output, for piping into jq and friends.
    Stdout(tokio::io::Stdout),
}

impl Sink {
    /// Opens the sink a config entry describes.
    pub async fn open(cfg: &config::Sink) -> Result<Sink, SinkError> {
        match cfg {
            config::Sink::Jsonl { path } => Ok(Sink::Jsonl(JsonlSink::open(path).await?)),
            config::Sink::Stdout => Ok(Sink::Stdout(tokio::io::stdout())),
        }
    }

    /// Writes a batch; `Ok` means every record in it is durable in this sink.
    pub async fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        match self {
            Sink::Jsonl(s) => s.write(batch).await,
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
            Sink::Stdout(_) => "stdout".to_string(),
        }
    }
}

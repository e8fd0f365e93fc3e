//! Where records go. Each sink writes a batch and returns only once the batch is
//! durable there: that return is the acknowledgement the pipeline waits for
//! before it marks the records done in the state store.

mod jsonl;

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
}

impl Sink {
    /// Opens the sink a config entry describes.
    pub async fn open(cfg: &config::Sink) -> Result<Sink, SinkError> {
        match cfg {
            config::Sink::Jsonl { path } => Ok(Sink::Jsonl(JsonlSink::open(path).await?)),
        }
    }

    /// Writes a batch; `Ok` means every record in it is durable in this sink.
    pub async fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        match self {
            Sink::Jsonl(s) => s.write(batch).await,
        }
    }

    pub fn name(&self) -> String {
        match self {
            Sink::Jsonl(s) => format!("jsonl:{}", s.path().display()),
        }
    }
}

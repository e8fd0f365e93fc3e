//! `kind = "stdout"`: JSON lines on standard output, for piping into jq.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::{Place, SinkError};
use crate::record::Record;
use crate::settings::{Dirs, Section};

/// Standard output takes no settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config;

impl Config {
    pub fn read(_s: &mut Section<'_>, _dirs: &Dirs) -> Option<Config> {
        Some(Config)
    }

    pub fn place(&self) -> Place {
        Place::Stdout
    }
}

pub struct StdoutSink(tokio::io::Stdout);

impl StdoutSink {
    pub async fn open(
        _config: &Config,
        _patience: Option<Duration>,
    ) -> Result<StdoutSink, SinkError> {
        Ok(StdoutSink(tokio::io::stdout()))
    }

    pub fn name(&self) -> String {
        "stdout".to_string()
    }

    pub fn key(&self) -> String {
        self.name()
    }

    /// Writes the batch as JSON lines and flushes it.
    pub async fn write(&mut self, batch: &[&Record]) -> Result<Option<u64>, SinkError> {
        let err = |source| SinkError::Io {
            path: "<stdout>".to_string(),
            source,
        };
        let lines = super::jsonl::lines(batch).map_err(err)?;
        self.0.write_all(&lines).await.map_err(err)?;
        self.0.flush().await.map_err(err)?;
        Ok(None)
    }

    /// What went to standard output cannot be read back: no log.
    pub async fn position(&mut self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }

    pub async fn scan(
        &mut self,
        _from: u64,
        _chunk: &mut (dyn FnMut(Vec<String>, u64) -> anyhow::Result<()> + Send),
    ) -> anyhow::Result<()> {
        Ok(())
    }
}

//! Re-tagging stored records (`tidings retag`): after a change to the
//! taxonomy, every record of a JSONL file or of the configured PostgreSQL
//! tables gets the tags the current taxonomy gives its stored title and
//! text, and is written again under the same id, in the same place.
//!
//! Only the tag fields change (`relevant`, `relevance`, `topics`, `actors`,
//! `taxonomy_version`); text, ids, order and count stay. A JSONL file is
//! replaced atomically, and the state store that follows it as a sink learns
//! its new length and every id in it, so the next run writes nothing twice
//! and loses nothing. The state store is held (its lock) while a JSONL file
//! is rewritten: a daemon appending to the file meanwhile would write into
//! the file being replaced.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::config::Config;
use crate::pipeline::load_tagger;
use crate::record::Record;
use crate::sink;
use crate::state::{State, StateError};
use crate::tag::Tagger;

/// Rows read and updated per statement in a table.
const TABLE_BATCH: usize = 500;

/// What a re-tagging did; printed as JSON by the verb.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records read.
    pub read: u64,
    /// Records whose tags changed, written again.
    pub changed: u64,
    /// Records whose tags are the same, left as they were.
    pub unchanged: u64,
    /// Lines (rows) that are not records, left as they were.
    pub not_records: u64,
    /// The version of the taxonomy the records carry now.
    pub taxonomy_version: String,
}

/// New tags for a record: whether they differ from its old ones.
fn retag(tagger: &Tagger, record: &mut Record) -> bool {
    let tags = tagger.tag(&record.title, &record.text);
    record.retag(tags)
}

/// Re-tags the records of the JSONL file at `path`.
pub async fn jsonl(cfg: &Config, path: &Path) -> anyhow::Result<Summary> {
    let tagger = load_tagger(cfg)?;
    let version = tagger.version().to_string();
    let path = path.to_path_buf();
    let at = cfg.state.clone();
    tokio::task::spawn_blocking(move || {
        // A store that does not exist yet follows no file: none is created.
        let mut state = match State::exists(&at)? {
            true => Some(
                State::open(&at)
                    .context("opening the state store (held while the file is rewritten)")?,
            ),
            false => None,
        };
        let window: HashSet<String> = match &state {
            Some(s) => s.recent_ids()?.into_iter().collect(),
            None => HashSet::new(),
        };
        let mut shown = Vec::new();
        let done = sink::rewrite_jsonl(&path, |record| {
            let changed = retag(&tagger, record);
            if changed && window.contains(&record.id) {
                shown.push(record.clone());
            }
            changed
        })?;
        if let Some(state) = &mut state {
            follow_rewrite(state, &path, &done)?;
            state.rewrite_recent(&shown)?;
        }
        Ok(Summary {
            read: done.records,
            changed: done.changed,
            unchanged: done.records - done.changed,
            not_records: done.other_lines,
            taxonomy_version: version,
        })
    })
    .await?
}

/// Tells the state store, if it follows the file as a sink, what the file
/// holds now and where it ends.
fn follow_rewrite(state: &mut State, path: &Path, done: &sink::Rewritten) -> anyhow::Result<()> {
    let key = sink::jsonl_key(path).with_context(|| format!("reading {}", path.display()))?;
    if let Some(mark) = state.known_sink(&key)? {
        state
            .sink_rewritten(mark.id, &done.ids, done.len)
            .context("recording the rewritten file in the state store")?;
    }
    Ok(())
}

/// Re-tags the records of every configured PostgreSQL table.
pub async fn postgres(cfg: &Config) -> anyhow::Result<Summary> {
    let tables: Vec<&sink::PostgresConfig> = cfg
        .sinks
        .iter()
        .filter_map(|s| match s {
            sink::Config::Postgres(c) => Some(c),
            _ => None,
        })
        .collect();
    anyhow::ensure!(
        !tables.is_empty(),
        "{}: no postgres sink configured: no table to re-tag",
        cfg.origin
    );
    let tagger = load_tagger(cfg)?;
    let mut total = Summary {
        taxonomy_version: tagger.version().to_string(),
        ..Summary::default()
    };
    let mut shown = Vec::new();
    let window = recent_window(cfg)?;
    for table in tables {
        let mut sink = sink::PostgresSink::open(table, Some(cfg.pipeline.sink_wait)).await?;
        let done = sink
            .retag(TABLE_BATCH, |record| {
                let changed = retag(&tagger, record);
                if changed && window.contains(&record.id) {
                    shown.push(record.clone());
                }
                changed
            })
            .await
            .with_context(|| format!("re-tagging {}", sink.name()))?;
        total.read += done.records;
        total.changed += done.changed;
        total.unchanged += done.records - done.changed;
        total.not_records += done.unreadable;
    }
    if !shown.is_empty()
        && let Some(mut state) = open_unless_busy(cfg)?
    {
        state.rewrite_recent(&shown)?;
    }
    Ok(total)
}

/// The ids of the status page's latest records, from the state store if
/// there is one.
fn recent_window(cfg: &Config) -> anyhow::Result<HashSet<String>> {
    Ok(match State::open_read_only(&cfg.state)? {
        Some(state) => state.recent_ids()?.into_iter().collect(),
        None => HashSet::new(),
    })
}

/// The state store, unless a daemon holds it: a table can be re-tagged
/// while the daemon writes to it (rows are updated one statement at a
/// time), but then the daemon's status page keeps the tags its latest
/// records were written with.
fn open_unless_busy(cfg: &Config) -> anyhow::Result<Option<State>> {
    match State::open(&cfg.state) {
        Ok(state) => Ok(Some(state)),
        Err(StateError::Locked { .. } | StateError::SchemaLocked { .. }) => {
            tracing::warn!(
                "the state store is in use by a running tidings: its status page shows the \
                 old tags of the latest records until they are written again"
            );
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

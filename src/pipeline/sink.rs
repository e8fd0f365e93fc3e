//! The sink stage's loop: batches, each record assembled, placed in its
//! story and written to the sinks that lack it, then marked in the state
//! store, then acknowledged to its source, in that order. Stories are placed
//! here because this is the one place that sees every record, one at a
//! time: however many processes feed it, the order is one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_channel::Receiver;
use chrono::Utc;

use super::tag::Tagged;
use crate::flow::Outcome;
use crate::observe::Counters;
use crate::record::Record;
use crate::sink::Outputs;
use crate::state::{Delivery, Store, StoryMark};
use crate::story::{Params, Profile, Stories};

/// A batch is written when it has `size` records or is `timeout` old.
pub struct Batching {
    pub size: usize,
    pub timeout: Duration,
}

/// The window of recent records the status page shows: how long, how many.
pub struct Window {
    pub keep: Duration,
    pub most: usize,
}

/// How far back the placements kept in the store are learnt again at start:
/// the stories that can still take records, and the words of a month of news.
const STORY_MEMORY: chrono::Duration = chrono::Duration::days(30);

/// The stories of a run: the placements of the last [`STORY_MEMORY`]
/// learnt again, in the order they were made.
pub async fn load_stories(store: &Store) -> anyhow::Result<Stories> {
    let since = Utc::now() - STORY_MEMORY;
    let marks = store
        .call(move |s| s.story_marks(since))
        .await
        .context("loading the stories")?;
    let mut stories = Stories::new(Params::default());
    for mark in &marks {
        let profile = mark
            .profile
            .as_deref()
            .and_then(|json| serde_json::from_str::<Profile>(json).ok());
        stories.restore(&mark.id, &mark.story, profile.as_ref());
    }
    Ok(stories)
}

#[allow(clippy::too_many_arguments)]
pub async fn stage(
    rx: Receiver<Tagged>,
    mut outputs: Outputs,
    store: Store,
    mut stories: Stories,
    batching: Batching,
    window: Option<Window>,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    loop {
        let Ok(first) = rx.recv().await else { break };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + batching.timeout;
        while batch.len() < batching.size {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Ok(item)) => batch.push(item),
                Ok(Err(_)) | Err(_) => break,
            }
        }
        let started = Instant::now();
        let mut acks = Vec::with_capacity(batch.len());
        let mut fingerprints = Vec::with_capacity(batch.len());
        let mut records: Vec<(Record, u64)> = batch
            .into_iter()
            .map(|Tagged { checked, tags }| {
                acks.push(checked.ack);
                fingerprints.push(serde_json::to_string(&checked.fingerprint).ok());
                let mut record = Record::new(checked.article, checked.verdict, tags);
                if let Some(revision) = checked.revision {
                    record.version = revision.version;
                    record.updated_at = Some(revision.updated_at);
                }
                (record, checked.targets)
            })
            .collect();
        let placements = place(&mut stories, &mut records, &store).await?;
        let (delivered, positions) = outputs.write(&records).await?;
        metrics::histogram!("tidings_stage_seconds", "stage" => "sink")
            .record(started.elapsed().as_secs_f64());
        let now = Utc::now();
        let deliveries: Vec<Delivery> = records
            .iter()
            .zip(delivered)
            .zip(fingerprints)
            .map(|(((record, _), delivered), fingerprint)| Delivery {
                id: record.id.clone(),
                content_hash: record.content_hash.clone(),
                version: record.version,
                canonical_url: record.canonical_url.clone(),
                guid: record.guid.clone(),
                fingerprint,
                duplicate: record.duplicate(),
                done_at: now,
                sinks: delivered.taken,
                refused: delivered.refused,
            })
            .collect();
        let written = deliveries.iter().filter(|d| !d.sinks.is_empty()).count() as u64;
        let dead = deliveries.iter().map(|d| d.refused.len()).sum::<usize>();
        store
            .call(move |s| {
                s.mark_delivered(&deliveries, &positions)?;
                s.mark_stories(&placements, now)
            })
            .await?;
        if let Some(window) = &window {
            let written: Vec<Record> = records.iter().map(|(r, _)| r.clone()).collect();
            let keep_since = now - chrono::Duration::from_std(window.keep).unwrap_or_default();
            let most = window.most;
            store.send(move |s| {
                if let Err(e) = s.remember(&written, now, keep_since, most) {
                    tracing::warn!("keeping records for the status page: {e:#}");
                }
            });
        }
        for ((record, _), ack) in records.into_iter().zip(acks) {
            ack.done(Outcome::Written { record: record.id });
        }
        counters.written(written);
        (0..dead).for_each(|_| counters.dead_lettered());
    }
    Ok(())
}

/// Places each record of a batch in its story (what the store knows first:
/// a record written before keeps its story, a copy takes its original's),
/// and returns what the store is to keep of the placements.
async fn place(
    stories: &mut Stories,
    records: &mut [(Record, u64)],
    store: &Store,
) -> anyhow::Result<Vec<StoryMark>> {
    let asked: Vec<String> = records
        .iter()
        .flat_map(|(r, _)| [Some(r.id.clone()), r.duplicate_of.clone()])
        .flatten()
        .collect();
    let known = store.call(move |s| s.stories_of(&asked)).await?;
    Ok(records
        .iter_mut()
        .map(|(record, _)| {
            let placed = stories.place(record, &known);
            record.story_id = Some(placed.story.clone());
            StoryMark {
                id: record.id.clone(),
                story: placed.story,
                profile: placed.profile.and_then(|p| serde_json::to_string(&p).ok()),
            }
        })
        .collect())
}

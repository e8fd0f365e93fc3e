//! The sink stage's loop: batches, each record assembled and written to the
//! sinks that lack it, then marked in the state store, then acknowledged to
//! its source, in that order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::Receiver;
use chrono::Utc;

use super::tag::Tagged;
use crate::flow::Outcome;
use crate::observe::Counters;
use crate::record::Record;
use crate::sink::Outputs;
use crate::state::{Delivery, Store};

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

pub async fn stage(
    rx: Receiver<Tagged>,
    mut outputs: Outputs,
    store: Store,
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
        let records: Vec<(Record, u64)> = batch
            .into_iter()
            .map(|Tagged { checked, tags }| {
                acks.push(checked.ack);
                fingerprints.push(serde_json::to_string(&checked.fingerprint).ok());
                let record = Record::new(checked.article, checked.verdict, tags);
                (record, checked.targets)
            })
            .collect();
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
            .call(move |s| s.mark_delivered(&deliveries, &positions))
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

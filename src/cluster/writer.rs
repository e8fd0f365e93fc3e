//! The writer: the one process that runs the back half (dedup and the
//! sinks), fed from the hand-off stream. Which process it is, PostgreSQL
//! decides: the state store's writer lock (a session advisory lock) goes to
//! one process; the others ask again every few seconds, and take over when
//! the writer's connection ends, however it ended.
//!
//! One writer means dedup sees every article of the cluster in one order:
//! two copies of a wire story extracted by two processes at the same moment
//! still meet in one index. The new writer starts as a restarted daemon
//! does: the dedup index from the store, each sink caught up with it, and
//! the messages its predecessor took but did not acknowledge delivered
//! again once their ack wait is over.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_channel::Sender;
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::bus::{Acks, Bus, Handed};
use crate::config::Config;
use crate::flow::Ack;
use crate::observe::Counters;
use crate::pipeline::{self, Intake, Mode, Parsed};
use crate::state::{StateError, Store};

/// Messages fetched from the server per pull.
const PULL_BATCH: usize = 64;

/// Waits to be the writer, then writes until `shutdown`; waits again when
/// the role is lost along the way (the state store or a sink failing).
pub async fn run(
    cfg: Config,
    bus: Bus,
    every: Duration,
    shutdown: CancellationToken,
    counters: Arc<Counters>,
) {
    let mut said = false;
    while !shutdown.is_cancelled() {
        let store = match Store::open(&cfg.state).await {
            Ok(store) => store,
            Err(StateError::SchemaLocked { holder, .. }) => {
                if !said {
                    let holder = holder.unwrap_or_else(|| "another process".to_string());
                    tracing::info!("the cluster's writer is {holder}; waiting to take over");
                    said = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = shutdown.cancelled() => {}
                }
                continue;
            }
            Err(e) => {
                tracing::warn!("opening the state store as the writer: {e:#}; trying again");
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = shutdown.cancelled() => {}
                }
                continue;
            }
        };
        tracing::info!("this process is the cluster's writer");
        metrics::gauge!("tidings_cluster_writer").set(1.0);
        let (acks, acked) = Acks::new();
        let intake = Box::new(HandoffIntake {
            bus: bus.clone(),
            acks,
        });
        let result = pipeline::run_back(
            &cfg,
            &store,
            intake,
            Mode::Daemon,
            shutdown.clone(),
            counters.clone(),
        )
        .await;
        store.close().await;
        Acks::drained(acked).await;
        bus.flush().await;
        metrics::gauge!("tidings_cluster_writer").set(0.0);
        if let Err(e) = result {
            // The lock went with the store: another process (or this one,
            // once the trouble is over) takes the role; what was not
            // acknowledged comes again.
            tracing::error!("the writer stopped: {e:#}; trying again");
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = shutdown.cancelled() => {}
            }
        }
        said = false;
    }
}

/// The hand-off stream as the back half's input: each message acknowledged
/// once its article left the pipeline (in every sink, or dropped).
struct HandoffIntake {
    bus: Bus,
    acks: Acks,
}

impl Intake for HandoffIntake {
    fn run(
        self: Box<Self>,
        tx: Sender<Parsed>,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let acks = self.acks;
            let consumer = self.bus.handoff().await?;
            let messages = consumer
                .stream()
                .max_messages_per_batch(PULL_BATCH)
                .messages()
                .await?;
            let messages = messages.take_until(shutdown.cancelled());
            tokio::pin!(messages);
            // A message still in the pipeline when its ack wait ends comes
            // again: it is not taken twice.
            let in_flight: Arc<Mutex<HashSet<u64>>> = Arc::default();
            while let Some(message) = messages.next().await {
                let message = match message {
                    Ok(message) => message,
                    Err(e) => {
                        // The client reconnects by itself meanwhile.
                        tracing::warn!("reading the hand-off stream: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                let seq = message.info().map(|i| i.stream_sequence).unwrap_or(0);
                if !lock(&in_flight).insert(seq) {
                    continue;
                }
                let (message, acker) = message.split();
                let handed: Handed = match serde_json::from_slice(&message.payload) {
                    Ok(handed) => handed,
                    Err(e) => {
                        tracing::error!(
                            "an article on the hand-off stream does not parse, dropped: {e}"
                        );
                        let _ = acker.ack_with(async_nats::jetstream::AckKind::Term).await;
                        lock(&in_flight).remove(&seq);
                        continue;
                    }
                };
                let (acks, in_flight) = (acks.clone(), in_flight.clone());
                let ack = Ack::new(move |_| {
                    lock(&in_flight).remove(&seq);
                    acks.ack(acker, "a handed article");
                });
                let parsed = Parsed {
                    article: handed.article,
                    fingerprint: handed.fingerprint,
                    own_seed: handed.own_seed,
                    tags: handed.tags,
                    ack,
                };
                if tx.send(parsed).await.is_err() {
                    break;
                }
            }
            Ok(())
        })
    }
}

fn lock(set: &Mutex<HashSet<u64>>) -> std::sync::MutexGuard<'_, HashSet<u64>> {
    set.lock().unwrap_or_else(|e| e.into_inner())
}

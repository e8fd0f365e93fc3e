//! Pages handed over by other processes, as a source: for each partition
//! this process leases, its consumer on the pages stream, each job fetched
//! under the lease's hold and sent into the front half like any page.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::message::{AckKind, Acker};
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::bus::{Acks, Bus};
use super::leases::Leases;
use crate::fetch::http;
use crate::fetch::share::{PageJob, record_item};
use crate::flow::{Ack, Body, Document, Outcome, Source, SourceContext};
use crate::state::{ItemKey, Store, Validators};

/// A page that failed this many times is given up on (as a feed's own
/// page fetches are).
const MAX_ATTEMPTS: i64 = 5;
/// Jobs of one partition fetched at once (the HTTP client's per-host limits
/// hold under it).
const PER_PARTITION: usize = 4;
/// A job whose host cannot be fetched now waits this long in the stream.
const NOT_NOW: Duration = Duration::from_secs(1);
/// Messages fetched from the server per pull: few, so that a partition
/// given up leaves few messages waiting for their redelivery.
const PULL_BATCH: usize = 8;

pub struct PageSource {
    pub bus: Bus,
    pub acks: Acks,
    pub leases: Leases,
    pub http: Arc<http::Client>,
}

impl Source for PageSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            let ctx = Arc::new(ctx);
            let mut watch = self.leases.watch();
            let mut running: BTreeMap<u32, (CancellationToken, JoinHandle<()>)> = BTreeMap::new();
            loop {
                let held = self.leases.held();
                let gone: Vec<u32> = running
                    .keys()
                    .filter(|p| !held.contains(p))
                    .copied()
                    .collect();
                for part in gone {
                    if let Some((stop, task)) = running.remove(&part) {
                        stop.cancel();
                        let _ = task.await;
                    }
                }
                for part in held {
                    running.entry(part).or_insert_with(|| {
                        let stop = ctx.shutdown.child_token();
                        let consumer = Partition {
                            part,
                            bus: self.bus.clone(),
                            acks: self.acks.clone(),
                            leases: self.leases.clone(),
                            http: self.http.clone(),
                            ctx: ctx.clone(),
                        };
                        (stop.clone(), tokio::spawn(consumer.run(stop)))
                    });
                }
                tokio::select! {
                    changed = watch.changed() => if changed.is_err() { break },
                    () = ctx.shutdown.cancelled() => break,
                }
            }
            for (stop, task) in running.into_values() {
                stop.cancel();
                let _ = task.await;
            }
            Ok(())
        })
    }
}

struct Partition {
    part: u32,
    bus: Bus,
    acks: Acks,
    leases: Leases,
    http: Arc<http::Client>,
    ctx: Arc<SourceContext>,
}

impl Partition {
    async fn run(self, stop: CancellationToken) {
        let mut warned = false;
        while !stop.is_cancelled() {
            if let Err(e) = self.consume(&stop).await {
                if !warned {
                    tracing::warn!(partition = self.part, "reading handed-over pages: {e:#}");
                    warned = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = stop.cancelled() => {}
                }
            }
        }
    }

    async fn consume(&self, stop: &CancellationToken) -> anyhow::Result<()> {
        let consumer = self.bus.pages(self.part).await?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(PULL_BATCH)
            .messages()
            .await?;
        let jobs = messages
            .take_until(stop.cancelled())
            .map(|message| self.job(message))
            .buffer_unordered(PER_PARTITION);
        tokio::pin!(jobs);
        while let Some(done) = jobs.next().await {
            done?;
        }
        Ok(())
    }

    async fn job(
        &self,
        message: Result<
            async_nats::jetstream::Message,
            async_nats::jetstream::consumer::pull::MessagesError,
        >,
    ) -> anyhow::Result<()> {
        let message = message?;
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
        let (message, acker) = message.split();
        let job: PageJob = match serde_json::from_slice(&message.payload) {
            Ok(job) => job,
            Err(e) => {
                tracing::error!("a page job that does not parse, dropped: {e}");
                self.ctx.counters.skip("fetch", "unreadable page job");
                let _ = acker.ack_with(AckKind::Term).await;
                return Ok(());
            }
        };
        let Ok(link) = url::Url::parse(&job.url) else {
            self.ctx.counters.skip("fetch", "unreadable page job");
            let _ = acker.ack_with(AckKind::Term).await;
            return Ok(());
        };
        let Some(hold) = link.host_str().and_then(|host| self.leases.hold(host)) else {
            // The lease is going (or has too little left to start a
            // request): back to the stream, for its next holder or for this
            // one once the lease is renewed.
            let _ = acker.ack_with(AckKind::Nak(Some(NOT_NOW))).await;
            return Ok(());
        };
        let fetched = self
            .http
            .get(&link, &Validators::default(), &job.feed_origin())
            .await;
        drop(hold);
        self.ctx.counters.document_read();
        let key = job.key();
        let store = self.ctx.store.clone();
        match fetched {
            Ok(resp) => {
                metrics::counter!("tidings_pages_total", "outcome" => "ok").increment(1);
                let document = Document {
                    origin: job.origin,
                    url: Some(resp.url.to_string()),
                    guid: Some(job.guid),
                    fetched_at: resp.received_at,
                    body: Body::Html {
                        bytes: resp.body,
                        content_type: resp.content_type,
                    },
                    hints: job.hints,
                    ack: job_ack(store, key, acker, self.acks.clone()),
                };
                // Sent on even when stopping: the stages drain it, so the
                // page is not fetched again by the next holder.
                if self.ctx.tx.send(document).await.is_err() {
                    anyhow::bail!("the pipeline stopped taking documents");
                }
            }
            Err(e) => {
                metrics::counter!("tidings_pages_total", "outcome" => "error").increment(1);
                metrics::counter!("tidings_fetch_errors_total", "kind" => e.kind()).increment(1);
                if e.is_retryable() && delivered < MAX_ATTEMPTS {
                    tracing::warn!(
                        attempts = delivered,
                        "page fetch failed, tried again later: {e}"
                    );
                    self.ctx.counters.skip("fetch", "retry later");
                    let wait = Duration::from_secs(30 * delivered.max(1) as u64);
                    let _ = acker.ack_with(AckKind::Nak(Some(wait))).await;
                    return Ok(());
                }
                tracing::warn!(attempts = delivered, "page skipped: {e}");
                self.ctx.counters.skip("fetch", e.kind());
                job_ack(store, key, acker, self.acks.clone()).done(Outcome::Skipped);
            }
        }
        Ok(())
    }
}

/// Records how the item left the pipeline, then acknowledges its job: a
/// crash between the two fetches the page again, and its record is dropped
/// as a repeat on its way to the writer.
fn job_ack(store: Store, key: ItemKey, acker: Acker, acks: Acks) -> Ack {
    Ack::new(move |outcome| {
        record_item(&store, key, outcome, move || acks.ack(acker, "a page job"));
    })
}

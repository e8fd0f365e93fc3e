//! The staged pipeline, wiring only: a source, then extract, dedup, tag and
//! sink, tokio tasks joined by bounded async-channels. Each stage's loop (one
//! file each here) receives, calls its stage's core, and sends on; what a
//! stage decides lives in the stage's own module.
//!
//! ```text
//! Source --Document--> extract (N) --Parsed--> dedup --Checked--> tag (N) --Tagged--> sink
//! ```
//!
//! A cluster splits it in two halves joined by a durable stream: every
//! process runs the front ([`run_front`]: source, extract and tag, then
//! [`Handoff`]), one process at a time the back ([`run_back`]: an [`Intake`]
//! from that stream, then dedup and sink), so that dedup sees every record
//! in one order.
//!
//! Only the source watches the shutdown token. When it stops, it drops its
//! sender; each later stage runs until its receiver is closed and empty, then
//! drops its own sender, so everything in flight drains into the sinks. The
//! channels are small and bounded: a slow sink fills them and the source
//! waits. A bad document is a counted skip, never an `Err`: a stage returns
//! `Err` only when it cannot go on (a sink or the state store failing).

mod dedup;
mod extract;
mod handoff;
mod sink;
mod tag;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_channel::Sender;
use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use dedup::build_index;
pub use extract::Parsed;
pub use handoff::{Handoff, Sent};
pub use tag::load_tagger;

use crate::config::Config;
use crate::flow::{Document, Source, SourceContext};
use crate::observe::{Counters, Summary};
use crate::sink::Outputs;
use crate::state::Store;
use crate::tag::Tagger;

/// How a run waits for its sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A one-shot run (backfill, `run --once`, replay): gives up on a sink
    /// that stays unreachable for `[pipeline] sink_wait_secs`.
    OneShot,
    /// The daemon: waits for a sink for ever (and says so on `/healthz`).
    Daemon,
}

/// Runs the pipeline until the source is exhausted or `shutdown` is
/// cancelled, then drains and returns what happened.
pub async fn run(
    cfg: &Config,
    source: Box<dyn Source>,
    mode: Mode,
    shutdown: CancellationToken,
) -> anyhow::Result<Summary> {
    let store = Store::open(&cfg.state)
        .await
        .context("opening the state store")?;
    let result = run_on(cfg, &store, source, mode, shutdown, Arc::default()).await;
    // The folder's lock goes with the store, before the caller goes on (a
    // replay runs the pipeline again at once).
    store.close().await;
    result
}

/// Runs the pipeline on a store the caller opened (and shares, with the
/// status page), counting into `counters` (which the page reads).
pub async fn run_on(
    cfg: &Config,
    store: &Store,
    source: Box<dyn Source>,
    mode: Mode,
    shutdown: CancellationToken,
    counters: Arc<Counters>,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut tasks = Tasks::new(&shutdown);
    let (to_dedup, mut queues) = spawn_back(&mut tasks, cfg, store, mode, &counters).await?;
    queues.extend(spawn_front(
        &mut tasks, cfg, store, source, to_dedup, None, &counters,
    ));
    tasks.finish(queues, &counters, started).await
}

/// The front half of a cluster's pipeline, on every process: the source,
/// extraction and tagging, then `handoff` (the stream the writer reads).
/// A document is acknowledged to its source once `handoff` holds it.
pub async fn run_front(
    cfg: &Config,
    store: &Store,
    source: Box<dyn Source>,
    handoff: Arc<dyn Handoff>,
    shutdown: CancellationToken,
    counters: Arc<Counters>,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut tasks = Tasks::new(&shutdown);
    let (to_handoff, handoff_rx) = async_channel::bounded(cfg.pipeline.channel_capacity);
    let mut queues = vec![("handoff", depth(&to_handoff))];
    tasks.spawn(handoff::stage(handoff_rx, handoff, counters.clone()));
    let tagger = Arc::new(load_tagger(cfg)?);
    queues.extend(spawn_front(
        &mut tasks,
        cfg,
        store,
        source,
        to_handoff,
        Some(tagger),
        &counters,
    ));
    tasks.finish(queues, &counters, started).await
}

/// What feeds the back half of a pipeline with documents extracted (and
/// tagged) elsewhere: the cluster's hand-off stream, on its writer.
pub trait Intake: Send {
    /// Sends until there is no more or `shutdown` is cancelled; `Err` only
    /// when it cannot go on.
    fn run(
        self: Box<Self>,
        tx: Sender<Parsed>,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, anyhow::Result<()>>;
}

/// The back half of a cluster's pipeline, on its writer: dedup and the
/// sinks, fed by `intake`.
pub async fn run_back(
    cfg: &Config,
    store: &Store,
    intake: Box<dyn Intake>,
    mode: Mode,
    shutdown: CancellationToken,
    counters: Arc<Counters>,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut tasks = Tasks::new(&shutdown);
    let (to_dedup, queues) = spawn_back(&mut tasks, cfg, store, mode, &counters).await?;
    let stop = tasks.stop.clone();
    tasks.spawn(intake.run(to_dedup, stop));
    tasks.finish(queues, &counters, started).await
}

/// The source and the extract workers, sending into `to_next`; with a
/// `tagger`, each worker tags what it extracted too.
fn spawn_front(
    tasks: &mut Tasks,
    cfg: &Config,
    store: &Store,
    source: Box<dyn Source>,
    to_next: Sender<Parsed>,
    tagger: Option<Arc<Tagger>>,
    counters: &Arc<Counters>,
) -> Vec<(&'static str, DepthProbe)> {
    let (to_extract, extract_rx) =
        async_channel::bounded::<Document>(cfg.pipeline.channel_capacity);
    let queues = vec![("extract", depth(&to_extract))];
    tasks.spawn(source.run(SourceContext {
        tx: to_extract,
        store: store.clone(),
        counters: counters.clone(),
        shutdown: tasks.stop.clone(),
    }));
    for _ in 0..cfg.pipeline.extract_workers {
        tasks.spawn(extract::worker(
            extract_rx.clone(),
            to_next.clone(),
            extract::Limits::of(cfg),
            tagger.clone(),
            counters.clone(),
        ));
    }
    queues
}

/// Dedup, tagging (of what is not tagged yet) and the sinks; returns where
/// their input goes. The dedup index is built and the sinks opened (and
/// caught up with the store) before anything is sent.
async fn spawn_back(
    tasks: &mut Tasks,
    cfg: &Config,
    store: &Store,
    mode: Mode,
    counters: &Arc<Counters>,
) -> anyhow::Result<(Sender<Parsed>, Vec<(&'static str, DepthProbe)>)> {
    let delivered = store
        .call(|s| s.delivered())
        .await
        .context("loading the dedup index")?;
    let index = build_index(cfg, &delivered)?;
    drop(delivered);
    let tagger = Arc::new(load_tagger(cfg)?);
    let stories = sink::load_stories(store).await?;
    let patience = (mode == Mode::OneShot).then_some(cfg.pipeline.sink_wait);
    let outputs = Outputs::open(&cfg.sinks, store, patience).await?;
    let cap = cfg.pipeline.channel_capacity;
    let (to_dedup, dedup_rx) = async_channel::bounded::<Parsed>(cap);
    let (to_tag, tag_rx) = async_channel::bounded(cap);
    let (to_sink, sink_rx) = async_channel::bounded(cap);
    let queues = vec![
        ("dedup", depth(&to_dedup)),
        ("tag", depth(&to_tag)),
        ("sink", depth(&to_sink)),
    ];
    tasks.spawn(dedup::stage(
        dedup_rx,
        to_tag,
        dedup::Stage {
            index,
            store: store.clone(),
            sinks: outputs.ids().to_vec(),
            near: cfg.dedup.near,
            copies: cfg.dedup.copies,
            window: cfg.dedup.window,
            updates: cfg.dedup.updates,
        },
        counters.clone(),
    ));
    for _ in 0..cfg.pipeline.tag_workers {
        tasks.spawn(tag::worker(tag_rx.clone(), to_sink.clone(), tagger.clone()));
    }
    drop((tag_rx, to_sink));
    tasks.spawn(sink::stage(
        sink_rx,
        outputs,
        store.clone(),
        stories,
        sink::Batching {
            size: cfg.pipeline.batch_size,
            timeout: cfg.pipeline.batch_timeout,
        },
        cfg.web.as_ref().map(|w| sink::Window {
            keep: w.keep,
            most: w.keep_records,
        }),
        counters.clone(),
    ));
    Ok((to_dedup, queues))
}

/// The stages of a run. A stage that fails stops the source too, so the
/// rest drains and the run ends instead of polling into a pipeline that no
/// longer moves.
struct Tasks {
    /// Watched by the source (or intake) alone.
    stop: CancellationToken,
    handles: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Tasks {
    fn new(shutdown: &CancellationToken) -> Tasks {
        Tasks {
            stop: shutdown.child_token(),
            handles: Vec::new(),
        }
    }

    fn spawn(&mut self, stage: impl Future<Output = anyhow::Result<()>> + Send + 'static) {
        let stop = self.stop.clone();
        self.handles.push(tokio::spawn(async move {
            let result = stage.await;
            if result.is_err() {
                stop.cancel();
            }
            result
        }));
    }

    /// Reports the queues' depths while the stages run, waits for them all,
    /// and sums the run up.
    async fn finish(
        self,
        queues: Vec<(&'static str, DepthProbe)>,
        counters: &Arc<Counters>,
        started: Instant,
    ) -> anyhow::Result<Summary> {
        tokio::spawn(report_queue_depths(counters.clone(), queues));
        self.join().await?;
        Ok(counters.summary(started.elapsed()))
    }

    /// Waits for every stage; the first error, when any failed.
    async fn join(self) -> anyhow::Result<()> {
        let mut first_error = None;
        for task in self.handles {
            let result = task.await.context("pipeline task panicked").and_then(|r| r);
            if let Err(e) = result {
                tracing::error!("pipeline stage stopped: {e:#}");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// How full a queue is, while it exists. A weak handle: the probe never keeps
/// a channel open.
type DepthProbe = Box<dyn Fn() -> Option<usize> + Send>;

fn depth<T: Send + 'static>(tx: &Sender<T>) -> DepthProbe {
    let weak = tx.downgrade();
    Box::new(move || weak.upgrade().map(|tx| tx.len()))
}

/// Notes the queues' depths every second while any queue exists.
async fn report_queue_depths(counters: Arc<Counters>, queues: Vec<(&'static str, DepthProbe)>) {
    loop {
        let mut alive = false;
        for (name, probe) in &queues {
            if let Some(len) = probe() {
                alive = true;
                counters.queue_depth(name, len);
            }
        }
        if !alive {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

//! The staged pipeline: source -> extract -> dedup -> tag -> sink, tokio tasks
//! joined by bounded async-channels.
//!
//! Only the source watches the shutdown token. When it stops, it drops its
//! sender; each later stage runs until its receiver is closed and empty, then
//! drops its own sender, so everything in flight drains into the sinks. The
//! channels are small and bounded: a slow sink fills them and the source waits.
//!
//! A bad document is a counted skip, never an `Err`: a stage returns `Err`
//! only when it cannot go on (a sink or the state store failing).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_channel::{Receiver, Sender};
use chrono::Utc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, NearPolicy};
use crate::dedup::{self, Fingerprint, Keys};
use crate::extract;
use crate::fetch::feeds::{self, PageClaim, PollTicket, Poller};
use crate::fetch::http::Http;
use crate::fetch::local;
use crate::record::{Article, Body, DupMethod, Extracted, Record, timestamp};
use crate::sink::Sink;
use crate::state::{Done, ItemKey, ItemStatus, State};
use crate::tag::{Tagger, Taxonomy};

/// Where the documents come from.
pub enum Source {
    /// Local files and the seed corpus (backfill), as
    /// [`local::list_inputs`] lists them.
    Files(Vec<local::Input>),
    /// The configured feeds, through this HTTP client (live, recording or
    /// replaying); `once` polls each feed once instead of forever;
    /// `sequential` polls one feed at a time (replay).
    Feeds {
        http: Arc<Http>,
        once: bool,
        sequential: bool,
    },
}

/// What the state store is told when an article leaves the pipeline, for the
/// articles that came from a feed item. Files need no acknowledgement: their
/// records' ids are enough to skip them next time.
#[derive(Clone, Default)]
pub struct Ack {
    item: Option<ItemKey>,
    poll: Option<Arc<PollTicket>>,
    page: Option<Arc<PageClaim>>,
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ack")
            .field("item", &self.item)
            .finish_non_exhaustive()
    }
}

impl Ack {
    pub fn new(item: ItemKey, poll: Arc<PollTicket>) -> Ack {
        Ack {
            item: Some(item),
            poll: Some(poll),
            page: None,
        }
    }

    /// Keeps the item's page claimed until the item leaves the pipeline.
    pub fn hold_page(&mut self, claim: PageClaim) {
        self.page = Some(Arc::new(claim));
    }

    pub fn item(&self) -> Option<&ItemKey> {
        self.item.as_ref()
    }

    /// The item left the pipeline without a record (duplicate, no text, ...).
    pub fn finish(&self, state: &Mutex<State>, status: ItemStatus) {
        if let Some(item) = &self.item {
            let at = timestamp(Utc::now());
            let marked = state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .mark_item(item, status, &at);
            if let Err(e) = marked {
                tracing::error!(
                    feed = item.feed,
                    guid = item.guid,
                    "recording the item: {e:#}"
                );
            }
        }
        self.written();
    }

    /// The item's record is in every sink (and the state says so).
    fn written(&self) {
        if let Some(poll) = &self.poll {
            poll.finish_one();
        }
    }
}

/// What a run did, for the summary and for tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub read: u64,
    pub written: u64,
    /// Records the sinks already held from an earlier run.
    pub already_present: u64,
    /// Records a sink refused for good, set aside in the dead-letter file.
    pub dead_lettered: u64,
    /// Skips by `stage: reason`.
    pub skipped: BTreeMap<String, u64>,
    pub elapsed: Duration,
}

impl Summary {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// Counters shared by the stages.
#[derive(Default)]
pub struct Counters {
    read: AtomicU64,
    written: AtomicU64,
    already_present: AtomicU64,
    dead_lettered: AtomicU64,
    skipped: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    /// One more document (file or feed item) entered the pipeline.
    pub fn document_read(&self) {
        self.read.fetch_add(1, Ordering::Relaxed);
    }

    pub fn skip(&self, stage: &str, reason: &str) {
        metrics::counter!("tidings_skipped_total", "stage" => stage.to_string()).increment(1);
        let mut map = self.skipped.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(format!("{stage}: {reason}")).or_default() += 1;
    }

    fn summary(&self, elapsed: Duration) -> Summary {
        Summary {
            read: self.read.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            already_present: self.already_present.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            skipped: self
                .skipped
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            elapsed,
        }
    }
}

/// How full a queue is, while it exists. A weak handle: the probe never keeps
/// a channel open.
type DepthProbe = Box<dyn Fn() -> Option<usize> + Send>;

fn depth<T: Send + 'static>(tx: &Sender<T>) -> DepthProbe {
    let weak = tx.downgrade();
    Box::new(move || weak.upgrade().map(|tx| tx.len()))
}

/// Sets `tidings_queue_depth{queue}` every second while any queue exists.
async fn report_queue_depths(queues: Vec<(&'static str, DepthProbe)>) {
    loop {
        let mut alive = false;
        for (name, probe) in &queues {
            if let Some(len) = probe() {
                alive = true;
                metrics::gauge!("tidings_queue_depth", "queue" => *name).set(len as f64);
            }
        }
        if !alive {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

type BoxStage = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// Called once per input file read, for a progress bar.
pub type Progress = Arc<dyn Fn() + Send + Sync>;

/// Runs the pipeline until the source is exhausted or `shutdown` is cancelled,
/// then drains and returns what happened.
pub async fn run(
    cfg: &Config,
    source: Source,
    shutdown: CancellationToken,
    progress: Option<Progress>,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let state = Arc::new(Mutex::new(
        State::open(&cfg.state_dir).context("opening the state store")?,
    ));
    let index = build_index(cfg, Some(&state.lock().unwrap_or_else(|e| e.into_inner())))?;
    let tagger = Arc::new(load_tagger(cfg)?);
    let one_shot = match &source {
        Source::Files(_) => true,
        Source::Feeds { once, .. } => *once,
    };
    let patience = one_shot.then_some(cfg.pipeline.sink_wait);
    let mut sinks = Vec::new();
    for s in &cfg.sinks {
        sinks.push(Sink::open(s, patience).await.context("opening sink")?);
    }
    let outputs = reconcile(&state, sinks).await?;
    let counters = Arc::new(Counters::default());
    let cfg = Arc::new(cfg.clone());
    let cap = cfg.pipeline.channel_capacity;
    let (to_extract, extract_rx) = async_channel::bounded::<Article>(cap);
    let (to_dedup, dedup_rx) = async_channel::bounded::<(Article, Fingerprint)>(cap);
    let (to_tag, tag_rx) = async_channel::bounded::<Outgoing>(cap);
    let (to_sink, sink_rx) = async_channel::bounded::<Outgoing>(cap);

    tokio::spawn(report_queue_depths(vec![
        ("extract", depth(&to_extract)),
        ("dedup", depth(&to_dedup)),
        ("tag", depth(&to_tag)),
        ("sink", depth(&to_sink)),
    ]));

    // A stage that fails stops the source too, so the rest drains and the run
    // ends instead of polling into a pipeline that no longer moves.
    let stop = shutdown.child_token();
    let mut tasks: Vec<JoinHandle<anyhow::Result<()>>> = Vec::new();
    let mut spawn = |stage: BoxStage| {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let result = stage.await;
            if result.is_err() {
                stop.cancel();
            }
            result
        }));
    };
    let shutdown = stop.clone();
    spawn(match source {
        Source::Files(inputs) => Box::pin(read_files(
            inputs,
            cfg.extract.max_html_bytes,
            to_extract,
            counters.clone(),
            shutdown,
            progress,
        )),
        Source::Feeds {
            http,
            once,
            sequential,
        } => Box::pin(feeds::poll_all(Arc::new(Poller {
            cfg: cfg.clone(),
            http,
            state: state.clone(),
            tx: to_extract,
            pages: Arc::default(),
            sinks: outputs.ids.clone(),
            counters: counters.clone(),
            shutdown,
            once,
            sequential,
        }))),
    });
    let opts = extract::Options {
        max_html_bytes: cfg.extract.max_html_bytes,
    };
    for _ in 0..cfg.pipeline.extract_workers {
        spawn(Box::pin(extract_worker(
            extract_rx.clone(),
            to_dedup.clone(),
            opts.clone(),
            cfg.extract.max_text_bytes,
            state.clone(),
            counters.clone(),
        )));
    }
    drop((extract_rx, to_dedup));
    spawn(Box::pin(dedup_stage(
        dedup_rx,
        to_tag,
        index,
        outputs.ids.clone(),
        state.clone(),
        cfg.clone(),
        counters.clone(),
    )));
    for _ in 0..cfg.pipeline.tag_workers {
        spawn(Box::pin(tag_worker(
            tag_rx.clone(),
            to_sink.clone(),
            tagger.clone(),
        )));
    }
    drop((tag_rx, to_sink));
    spawn(Box::pin(sink_stage(
        sink_rx,
        outputs,
        state,
        cfg.pipeline.batch_size,
        cfg.pipeline.batch_timeout,
        counters.clone(),
    )));

    let mut first_error = None;
    for task in tasks {
        let result = task.await.context("pipeline task panicked").and_then(|r| r);
        if let Err(e) = result {
            tracing::error!("pipeline stage stopped: {e:#}");
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(counters.summary(started.elapsed())),
    }
}

/// The sinks of a run, with their ids in the state store.
struct Outputs {
    sinks: Vec<Sink>,
    ids: Vec<i64>,
}

/// Which of a run's sinks (by place) a record still has to reach.
type Targets = u64;

/// Brings the state store up to date with what each sink holds: everything,
/// for a sink it has not seen before (a new output, or a store that was lost
/// beside a full sink); the end of the sink's log past the position it last
/// marked, for the others (records written there just before a crash). So a
/// record already in a sink is never written to it again.
async fn reconcile(state: &Mutex<State>, sinks: Vec<Sink>) -> anyhow::Result<Outputs> {
    anyhow::ensure!(
        sinks.len() <= Targets::BITS as usize,
        "at most {} sinks",
        Targets::BITS
    );
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    let mut outputs = Outputs {
        sinks,
        ids: Vec::new(),
    };
    for sink in &mut outputs.sinks {
        let name = sink.name();
        let mut mark = lock().sink(&sink.key())?;
        let position = sink
            .position()
            .await
            .with_context(|| format!("reading the position of {name}"))?;
        if position.is_some_and(|p| p < mark.position) {
            tracing::warn!(
                sink = name,
                "shorter than when this state store last wrote to it (cut, replaced or \
                 recreated): reading back what it holds now"
            );
            lock().forget_sink(mark.id)?;
            mark = lock().sink(&sink.key())?;
        }
        let behind = position.is_some_and(|p| p > mark.position);
        if mark.adopted && !behind {
            outputs.ids.push(mark.id);
            continue;
        }
        let mut found = 0u64;
        sink.scan(mark.position, &mut |ids, reached| {
            found += ids.len() as u64;
            lock().add_sink_records(mark.id, &ids, reached)?;
            Ok(())
        })
        .await
        .with_context(|| format!("reading back what {name} holds"))?;
        lock().sink_adopted(mark.id)?;
        match (mark.adopted, found) {
            (_, 0) => {}
            (true, n) => tracing::info!(
                sink = name,
                records = n,
                "records written just before the last stop are there: not written again"
            ),
            (false, n) => tracing::warn!(
                sink = name,
                records = n,
                "the state store did not know this sink's records (a new store beside an \
                 old output?): they are not written again"
            ),
        }
        outputs.ids.push(mark.id);
    }
    Ok(outputs)
}

/// The seed corpus, then the records the sinks already hold, within the window.
pub fn build_index(cfg: &Config, state: Option<&State>) -> anyhow::Result<dedup::Index> {
    let mut index = dedup::Index::new(dedup::Params::default());
    for (id, text) in crate::seeds::load(cfg.dedup.seeds.as_deref())? {
        let body = extract::from_text(&text).map(|e| e.text).unwrap_or(text);
        index.add_seed(&id, &body);
    }
    let Some(state) = state else {
        return Ok(index);
    };
    let horizon = window_start(cfg);
    let mut stale = 0;
    for done in state.done_records().context("loading the dedup index")? {
        let fp = done
            .fingerprint
            .as_deref()
            .and_then(|json| serde_json::from_str::<Fingerprint>(json).ok())
            .filter(|fp| fp.version == dedup::FINGERPRINT_VERSION);
        let Some(fp) = fp else {
            stale += 1;
            continue;
        };
        if done.done_at < horizon {
            continue;
        }
        let keys = Keys {
            canonical_url: done.canonical_url.as_deref(),
            guid: done.guid.as_deref(),
        };
        index.insert(&done.id, &keys, fp, done.done_at);
    }
    if stale > 0 {
        // Their ids still stop exact repeats (the state store checks them);
        // only near-duplicate matching against them is lost.
        tracing::warn!(
            stale,
            "records without a current fingerprint left out of the dedup index"
        );
    }
    Ok(index)
}

/// The configured taxonomy (or the embedded one), compiled once.
pub fn load_tagger(cfg: &Config) -> anyhow::Result<Tagger> {
    let taxonomy = match &cfg.tag.taxonomy {
        Some(path) => Taxonomy::load(path)?,
        None => Taxonomy::embedded(),
    };
    Ok(Tagger::new(&taxonomy)?)
}

/// The oldest record the near-duplicate index keeps.
fn window_start(cfg: &Config) -> chrono::DateTime<Utc> {
    Utc::now() - chrono::Duration::from_std(cfg.dedup.window).unwrap_or(chrono::Duration::MAX)
}

async fn read_files(
    inputs: Vec<local::Input>,
    max_bytes: usize,
    tx: Sender<Article>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
    progress: Option<Progress>,
) -> anyhow::Result<()> {
    for input in inputs {
        if shutdown.is_cancelled() {
            tracing::info!("shutdown requested: no further input is read");
            break;
        }
        // A read may block for as long as a pipe's writer likes (or a dead
        // network mount): shutdown does not wait for it. The blocking thread
        // is left behind; the process exits without it.
        let reading = tokio::task::spawn_blocking(move || local::read_input(&input, max_bytes));
        let read = tokio::select! {
            read = reading => read?,
            () = shutdown.cancelled() => {
                tracing::info!("shutdown requested: the input being read is left unread");
                break;
            }
        };
        if let Some(progress) = &progress {
            progress();
        }
        let articles = match read {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("skipped: {e}");
                counters.document_read();
                counters.skip("read", e.reason());
                continue;
            }
        };
        for article in articles {
            counters.document_read();
            tokio::select! {
                sent = tx.send(article) => if sent.is_err() { return Ok(()) },
                () = shutdown.cancelled() => return Ok(()),
            }
        }
    }
    Ok(())
}

/// Extraction for one article, whatever its body.
pub fn extract_article(
    article: &Article,
    opts: &extract::Options,
) -> Result<Extracted, extract::ExtractError> {
    match &article.body {
        Body::Html {
            bytes,
            content_type,
        } => extract::extract(bytes, content_type.as_deref(), article.url.as_deref(), opts),
        Body::Text(text) => extract::from_text(text),
        Body::FeedContent(html) => {
            let text = extract::fragment_text(html);
            if text.trim().is_empty() {
                return Err(extract::ExtractError::NoText);
            }
            Ok(Extracted {
                text,
                ..Extracted::default()
            })
        }
    }
}

fn describe(article: &Article) -> String {
    match &article.url {
        Some(url) => crate::redact::url(url),
        None => article.source.location.clone(),
    }
}

/// Extraction and the dedup fingerprint, both CPU work, on the blocking pool
/// so that several workers run in parallel.
async fn extract_worker(
    rx: Receiver<Article>,
    tx: Sender<(Article, Fingerprint)>,
    opts: extract::Options,
    max_text_bytes: usize,
    state: Arc<Mutex<State>>,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    while let Ok(mut article) = rx.recv().await {
        let opts = opts.clone();
        let started = Instant::now();
        let (result, back) = tokio::task::spawn_blocking(move || {
            let r = extract_article(&article, &opts).map(|mut ex| {
                ex.truncated = crate::record::cap_text(&mut ex.text, max_text_bytes);
                let fp = Fingerprint::of(&ex.text);
                (ex, fp)
            });
            (r, article)
        })
        .await?;
        metrics::histogram!("tidings_stage_seconds", "stage" => "extract")
            .record(started.elapsed().as_secs_f64());
        article = back;
        match result {
            Ok((ex, fingerprint)) => {
                article.extracted = Some(ex);
                if tx.send((article, fingerprint)).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(source = %describe(&article), "skipped: {e}");
                counters.skip("extract", &e.to_string());
                article.ack.finish(&state, ItemStatus::Skipped);
            }
        }
    }
    Ok(())
}

/// The seed id a document *is*, when it was read from the seed corpus itself:
/// a seed is not a duplicate of itself.
fn own_seed_id(article: &Article) -> Option<&str> {
    Path::new(&article.source.location).file_stem()?.to_str()
}

/// A record on its way to the sinks, with what the state store will keep.
struct Outgoing {
    record: Record,
    fingerprint: Fingerprint,
    ack: Ack,
    /// The sinks that do not hold the record yet.
    targets: Targets,
}

/// Evicting walks the index; once per this many inserts keeps it cheap.
const EVICT_EVERY: u32 = 1024;

async fn dedup_stage(
    rx: Receiver<(Article, Fingerprint)>,
    tx: Sender<Outgoing>,
    mut index: dedup::Index,
    sinks: Vec<i64>,
    state: Arc<Mutex<State>>,
    cfg: Arc<Config>,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    let mut inserted = 0u32;
    while let Ok((mut article, fingerprint)) = rx.recv().await {
        let own_seed = own_seed_id(&article).map(str::to_string);
        let fetched_at = article.fetched_at;
        let ack = std::mem::take(&mut article.ack);
        let Some(mut record) = Record::from_article(article) else {
            continue;
        };
        let holders = lock().holders(&record.id)?;
        let targets = sinks
            .iter()
            .enumerate()
            .filter(|(_, id)| !holders.contains(id))
            .fold(0, |set: Targets, (i, _)| set | 1 << i);
        if targets == 0 {
            counters.already_present.fetch_add(1, Ordering::Relaxed);
            ack.finish(&state, ItemStatus::Skipped);
            continue;
        }
        // A record written before (to other sinks) keeps the verdict it was
        // written with: the index now holds it, and records that came later.
        let verdict = match lock().verdict(&record.id)? {
            Some(verdict) => verdict,
            None => {
                let keys = Keys {
                    canonical_url: record.canonical_url.as_deref(),
                    guid: record.guid.as_deref(),
                };
                let verdict = index
                    .check(&keys, &fingerprint)
                    .filter(|d| Some(&d.duplicate_of) != own_seed.as_ref());
                index.insert(&record.id, &keys, fingerprint.clone(), fetched_at);
                inserted += 1;
                if inserted.is_multiple_of(EVICT_EVERY) {
                    index.evict_before(window_start(&cfg));
                }
                verdict
            }
        };
        if let Some(dup) = &verdict {
            metrics::counter!("tidings_dedup_total", "method" => format!("{:?}", dup.method).to_lowercase())
                .increment(1);
        }
        if let Some(dup) = &verdict
            && (dup.method != DupMethod::Near || cfg.dedup.near == NearPolicy::Drop)
        {
            tracing::debug!(
                record = record.id,
                of = dup.duplicate_of,
                "duplicate dropped"
            );
            counters.skip("dedup", "duplicate");
            ack.finish(&state, ItemStatus::Skipped);
            continue;
        }
        record.set_duplicate(verdict);
        let out = Outgoing {
            record,
            fingerprint,
            ack,
            targets,
        };
        if tx.send(out).await.is_err() {
            break;
        }
    }
    Ok(())
}

async fn tag_worker(
    rx: Receiver<Outgoing>,
    tx: Sender<Outgoing>,
    tagger: Arc<Tagger>,
) -> anyhow::Result<()> {
    while let Ok(mut out) = rx.recv().await {
        let tagger = tagger.clone();
        let started = Instant::now();
        out = tokio::task::spawn_blocking(move || {
            let tags = tagger.tag(&out.record.title, &out.record.text);
            out.record.set_tags(tags);
            out
        })
        .await?;
        metrics::histogram!("tidings_stage_seconds", "stage" => "tag")
            .record(started.elapsed().as_secs_f64());
        if out.record.relevant {
            metrics::counter!("tidings_relevant_total").increment(1);
        }
        for topic in &out.record.topics {
            metrics::counter!("tidings_topics_total", "topic" => topic.id.clone()).increment(1);
        }
        if tx.send(out).await.is_err() {
            break;
        }
    }
    Ok(())
}

async fn sink_stage(
    rx: Receiver<Outgoing>,
    mut outputs: Outputs,
    state: Arc<Mutex<State>>,
    batch_size: usize,
    batch_timeout: Duration,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let Ok(first) = rx.recv().await else { break };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + batch_timeout;
        while batch.len() < batch_size {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Ok(item)) => batch.push(item),
                Ok(Err(_)) | Err(_) => break,
            }
        }
        let started = Instant::now();
        let mut taken: Vec<Vec<i64>> = vec![Vec::new(); batch.len()];
        let mut refused: Vec<Vec<i64>> = vec![Vec::new(); batch.len()];
        let mut positions = Vec::new();
        for (i, (sink, &sink_id)) in outputs.sinks.iter_mut().zip(&outputs.ids).enumerate() {
            let places: Vec<usize> = (0..batch.len())
                .filter(|&k| batch[k].targets & (1 << i) != 0)
                .collect();
            if places.is_empty() {
                continue;
            }
            let records: Vec<&Record> = places.iter().map(|&k| &batch[k].record).collect();
            let written = sink
                .write(&records)
                .await
                .with_context(|| format!("writing to {}", sink.name()))?;
            let mut rejected = vec![false; places.len()];
            for (place, reason) in &written.rejected {
                rejected[*place] = true;
                let record = records[*place];
                lock().dead_letter(&sink.name(), record, reason)?;
                counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("tidings_dead_letters_total").increment(1);
                tracing::error!(
                    sink = sink.name(),
                    record = record.id,
                    url = record.url.as_deref().unwrap_or(""),
                    "the sink refused the record for good; set aside in the dead-letter \
                     file: {reason}"
                );
            }
            for (&k, rejected) in places.iter().zip(rejected) {
                match rejected {
                    false => taken[k].push(sink_id),
                    true => refused[k].push(sink_id),
                }
            }
            if let Some(position) = written.position {
                positions.push((sink_id, position));
            }
        }
        metrics::histogram!("tidings_stage_seconds", "stage" => "sink")
            .record(started.elapsed().as_secs_f64());
        let now = Utc::now();
        let done: Vec<Done> = batch
            .iter()
            .zip(taken.into_iter().zip(refused))
            .map(|(o, (sinks, refused))| Done {
                id: o.record.id.clone(),
                content_hash: o.record.content_hash.clone(),
                canonical_url: o.record.canonical_url.clone(),
                guid: o.record.guid.clone(),
                fingerprint: serde_json::to_string(&o.fingerprint).ok(),
                duplicate: o.record.duplicate(),
                done_at: now,
                item: o.ack.item.clone(),
                sinks,
                refused,
            })
            .collect();
        lock().mark_done(&done, &positions)?;
        batch.iter().for_each(|o| o.ack.written());
        let written = done.iter().filter(|d| !d.sinks.is_empty()).count() as u64;
        counters.written.fetch_add(written, Ordering::Relaxed);
        metrics::counter!("tidings_records_written_total").increment(written);
    }
    Ok(())
}

//! The verbs of the command-line contract (`spec/cli.md`), one function each.
//! Each verb parses its input, calls a stage's core and prints one JSON object
//! on standard output; diagnostics go to standard error.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Level;

use crate::config::Config;
use crate::dedup::{Fingerprint, Keys};
use crate::fetch::feeds::FeedSource;
use crate::fetch::http;
use crate::fetch::local::{self, FileSource, Progress};
use crate::flow::Body;
use crate::observe::{self, Counters, LogFormat, Summary};
use crate::pipeline::{self, Mode};
use crate::record::Article;
use crate::settings::Problem;
use crate::sink;
use crate::state::{State, Store};
use crate::tag::Taxonomy;
use crate::web;

#[derive(Debug, Parser)]
#[command(
    name = "tidings",
    version,
    about = "Ingests live news: feeds -> extract -> dedup -> tag -> sinks."
)]
pub struct Cli {
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Extract the article (text and metadata) from one HTML page and print it as JSON.
    Extract {
        /// The page's URL, to resolve relative links and read dates in the URL.
        #[arg(long)]
        url: Option<String>,
        /// HTML file, or `-` for standard input.
        path: PathBuf,
    },
    /// Compare one document with the seed corpus and the records already ingested.
    Dedup {
        /// Config file (default: the embedded config).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Text or HTML document, or `-` for standard input.
        path: PathBuf,
    },
    /// Tag one document: relevance to the Russia-Ukraine peace process, topics
    /// with the sentences that show them, and the actors named.
    Tag {
        /// Config file (its [tag] taxonomy; default: the embedded taxonomy).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Text or HTML document, or `-` for standard input.
        path: PathBuf,
    },
    /// Run documents through the whole pipeline into the configured sinks, once.
    ///
    /// Inputs are files or folders of text documents (.txt: headline then body),
    /// HTML pages and feed files (RSS, Atom, JSON Feed). With no input, the seed
    /// corpus (seeds/) is ingested. Records already written are not written again.
    Backfill {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Write records to this JSONL file instead of the configured sinks.
        #[arg(long)]
        out: Option<PathBuf>,
        inputs: Vec<PathBuf>,
    },
    /// The daemon: poll the configured feeds, fetch new items' pages, run the
    /// stages and write to the sinks until SIGINT/SIGTERM.
    ///
    /// A first signal stops polling and drains what is in flight (within
    /// [pipeline] shutdown_grace_secs); a second one exits at once. Either way
    /// the state stays consistent: items not yet in every sink come back on the
    /// next start.
    Run {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Poll each feed once, drain and exit.
        #[arg(long)]
        once: bool,
    },
    /// Like `run`, and store every HTTP response in a fixture folder for `replay`.
    Record {
        #[arg(long)]
        config: Option<PathBuf>,
        /// The fixture folder (created; responses are appended).
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        once: bool,
    },
    /// Run the whole pipeline offline against a recorded fixture folder, with
    /// the recorded clock: each recorded poll of a feed is replayed in turn.
    Replay {
        /// Fixture folder made by `record` (or by hand).
        dir: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Write records to this JSONL file instead of the configured sinks.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Tag stored records again with the current taxonomy (after a change
    /// to it), writing each again under the same id.
    ///
    /// Only the tags change (relevant, relevance, topics, actors,
    /// taxonomy_version), found from each record's stored title and text;
    /// ids, order and count stay. A JSONL file is replaced atomically (stop
    /// the daemon that writes to it first: the state store is held while the
    /// file is rewritten); in PostgreSQL the tag columns of the configured
    /// tables are updated in batches. Prints {"read", "changed",
    /// "unchanged", "not_records", "taxonomy_version"}.
    #[command(group(clap::ArgGroup::new("store").required(true).args(["jsonl", "postgres"])))]
    Retag {
        /// Config file (its taxonomy, state store and postgres sinks;
        /// default: the embedded config).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The JSONL file of records to re-tag.
        #[arg(long, value_name = "FILE")]
        jsonl: Option<PathBuf>,
        /// Re-tag the tables of the configured postgres sinks.
        #[arg(long)]
        postgres: bool,
    },
    /// Validate the config without running anything; list every problem.
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

impl Command {
    /// The daemon verbs log their progress; the one-shot ones only problems.
    pub fn default_log_level(&self) -> &'static str {
        match self {
            Command::Run { .. } | Command::Record { .. } | Command::Replay { .. } => "info",
            _ => "warn",
        }
    }
}

/// Runs a verb; the process exit code on success.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Extract { url, path } => extract(url, &path),
        Command::Dedup { config, path } => dedup(config.as_deref(), &path),
        Command::Tag { config, path } => tag(config.as_deref(), &path),
        Command::Backfill {
            config,
            out,
            inputs,
        } => backfill(config.as_deref(), out, inputs).await,
        Command::Run { config, once } => {
            let cfg = load_config(config.as_deref())?;
            let http = http::Client::live(&cfg.http, None)?;
            daemon(cfg, http, once).await
        }
        Command::Record { config, out, once } => {
            let cfg = load_config(config.as_deref())?;
            let http = http::Client::live(&cfg.http, Some(&out))?;
            write_fixture_feeds(&cfg, &out)?;
            daemon(cfg, http, once).await
        }
        Command::Replay { dir, config, out } => replay(&dir, config.as_deref(), out).await,
        Command::Retag {
            config,
            jsonl,
            postgres: _,
        } => retag(config.as_deref(), jsonl.as_deref()).await,
        Command::Check { config } => Ok(check(config.as_deref())),
    }
}

/// Cancels `shutdown` on the first SIGINT/SIGTERM; exits at once on the
/// second. The handlers are in place when this returns, so a signal that
/// comes early is not the default one that kills the process mid-write.
fn on_signals(shutdown: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("watching SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("watching SIGINT")?;
    async fn next(term: &mut Signal, int: &mut Signal) {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    tokio::spawn(async move {
        next(&mut term, &mut int).await;
        observe::notice(
            Level::INFO,
            "stopping; finishing what is in flight (signal again to exit now)",
        );
        shutdown.cancel();
        next(&mut term, &mut int).await;
        observe::notice(
            Level::WARN,
            "exiting now; unfinished items come back on the next start",
        );
        std::process::exit(130);
    });
    Ok(())
}

/// Runs the pipeline to its end and reports the summary; once shutdown is
/// requested it gets `grace` to drain, then the run is abandoned (exit code
/// 1: what did not reach every sink comes back next time).
async fn run_to_end(
    run: impl Future<Output = anyhow::Result<Summary>>,
    shutdown: &CancellationToken,
    grace: std::time::Duration,
) -> anyhow::Result<i32> {
    tokio::pin!(run);
    tokio::select! {
        summary = &mut run => {
            report(&summary?);
            Ok(0)
        }
        () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::error!("items still in flight after the {}s grace period; they come back on the next start", grace.as_secs());
            Ok(1)
        }
    }
}

async fn daemon(cfg: Config, http: http::Client, once: bool) -> anyhow::Result<i32> {
    let shutdown = CancellationToken::new();
    on_signals(shutdown.clone())?;
    if cfg.feeds.is_empty() {
        bail!("{}: no [[feeds]] configured: nothing to poll", cfg.origin);
    }
    let metrics = match cfg.metrics_listen.is_some() || cfg.web.is_some() {
        true => Some(observe::install_metrics()?),
        false => None,
    };
    let probe = state_probe(&cfg.state_dir);
    if let (Some(addr), Some(handle)) = (cfg.metrics_listen, &metrics) {
        let listener = bind(addr, "metrics and /healthz listening").await?;
        let (handle, probe, stop) = (handle.clone(), probe.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = observe::serve(listener, handle, probe, stop).await {
                tracing::error!("metrics listener: {e:#}");
            }
        });
    }
    let store = Store::open(&cfg.state_dir)
        .await
        .context("opening the state store")?;
    let counters = Arc::new(Counters::default());
    if let Some(page) = &cfg.web {
        let listener = bind(page.listen, "status page listening").await?;
        let app = web::App {
            store: store.clone(),
            counters: counters.clone(),
            metrics,
            token: page.token.as_deref().map(Arc::from),
            probe,
        };
        let stop = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = web::serve(listener, app, stop).await {
                tracing::error!("status page: {e:#}");
            }
        });
    }
    let source = Box::new(FeedSource {
        feeds: cfg.feeds.clone(),
        poll: cfg.poll.clone(),
        http: Arc::new(http),
        once,
        sequential: false,
    });
    let mode = if once { Mode::OneShot } else { Mode::Daemon };
    let run = pipeline::run_on(&cfg, &store, source, mode, shutdown.clone(), counters);
    let code = run_to_end(run, &shutdown, cfg.pipeline.shutdown_grace).await;
    store.close().await;
    code
}

/// A listener bound before anything runs (a port in use is an error at
/// start); the log line says where, which matters with port 0.
async fn bind(addr: std::net::SocketAddr, what: &str) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "{what}");
    Ok(listener)
}

/// `/healthz`'s look at the state store: a connection of its own, so a
/// store that no longer answers shows.
fn state_probe(dir: &Path) -> observe::Probe {
    let dir = dir.to_path_buf();
    Arc::new(move || match State::open_read_only(&dir) {
        Ok(Some(state)) => state
            .probe()
            .err()
            .map(|e| format!("{e:#}"))
            .into_iter()
            .collect(),
        Ok(None) => vec![format!("state store: none in {}", dir.display())],
        Err(e) => vec![format!("{e:#}")],
    })
}

/// The feeds a fixture was recorded with, so `replay` needs no config;
/// without their secrets, like the recorded URLs replay looks them up by.
fn write_fixture_feeds(cfg: &Config, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut toml = String::from("# Feeds this fixture was recorded with.\n");
    for feed in &cfg.feeds {
        let url = crate::redact::url(feed.url.as_str());
        toml.push_str(&format!("\n[[feeds]]\nurl = {url:?}\n"));
        if let Some(name) = &feed.name {
            toml.push_str(&format!("name = {name:?}\n"));
        }
    }
    let path = dir.join("feeds.toml");
    std::fs::write(&path, toml).with_context(|| format!("writing {}", path.display()))
}

async fn replay(dir: &Path, config: Option<&Path>, out: Option<PathBuf>) -> anyhow::Result<i32> {
    let mut cfg = load_config(config)?;
    let feeds_file = dir.join("feeds.toml");
    if feeds_file.exists() {
        cfg.feeds = Config::load(Some(&feeds_file))?.feeds;
    }
    if let Some(out) = out {
        cfg.sinks = vec![jsonl_at(out)];
    }
    // One extract worker and one feed at a time: the same order, so the same
    // dedup decisions, on every replay.
    cfg.pipeline.extract_workers = 1;
    let http = Arc::new(http::Client::replay(dir, &cfg.http)?);
    let shutdown = CancellationToken::new();
    on_signals(shutdown.clone())?;
    let mut total = Summary::default();
    for _ in 0..http.rounds() {
        let source = Box::new(FeedSource {
            feeds: cfg.feeds.clone(),
            poll: cfg.poll.clone(),
            http: http.clone(),
            once: true,
            sequential: true,
        });
        total.add(pipeline::run(&cfg, source, Mode::OneShot, shutdown.clone()).await?);
    }
    report(&total);
    Ok(0)
}

fn print(value: serde_json::Value) {
    println!("{value}");
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(Config::load(path)?)
}

/// The one sink of `--out`: a JSONL file.
fn jsonl_at(path: PathBuf) -> sink::Config {
    sink::Config::Jsonl(sink::JsonlConfig { path })
}

fn extract(url: Option<String>, path: &Path) -> anyhow::Result<i32> {
    let opts = crate::extract::Options::default();
    let doc = local::read_one(path, opts.max_html_bytes)?;
    if !matches!(doc.body, Body::Html { .. }) {
        bail!("{}: not an HTML page", path.display());
    }
    let ex = doc
        .body
        .extract(url.as_deref(), None, &opts)
        .with_context(|| format!("{}", path.display()))?;
    let shown = |u: &Option<String>| u.as_deref().map(crate::redact::url);
    print(json!({
        "title": ex.title,
        "text": ex.text,
        "url": shown(&url),
        "canonical_url": shown(&ex.canonical_url),
        "published_at": ex.published_at.map(crate::record::timestamp),
        "byline": ex.byline,
        "language": ex.language,
        "description": ex.description,
    }));
    Ok(0)
}

/// Reads and extracts one document, for the one-document verbs.
fn one_article(path: &Path, cfg: &Config) -> anyhow::Result<Article> {
    let opts = crate::extract::Options {
        max_html_bytes: cfg.extract.max_html_bytes,
    };
    let doc = local::read_one(path, opts.max_html_bytes)?;
    let extracted = doc
        .body
        .extract(doc.url.as_deref(), doc.hints.language.as_deref(), &opts)
        .with_context(|| format!("{}", path.display()))?;
    Ok(Article::new(
        doc.origin,
        doc.url,
        doc.guid,
        doc.fetched_at,
        doc.hints,
        extracted,
    ))
}

fn dedup(config: Option<&Path>, path: &Path) -> anyhow::Result<i32> {
    let cfg = load_config(config)?;
    let article = one_article(path, &cfg)?;
    // An existing store is consulted, never created by a query.
    let delivered = match State::open_read_only(&cfg.state_dir)? {
        Some(state) => state.delivered()?,
        None => Vec::new(),
    };
    let index = pipeline::build_index(&cfg, &delivered)?;
    let keys = Keys {
        canonical_url: article.canonical_url.as_deref(),
        guid: article.guid.as_deref(),
    };
    let verdict = index.assess(&keys, &Fingerprint::of(&article.text));
    let dup = verdict.duplicate.as_ref();
    print(json!({
        "duplicate_of": dup.map(|d| &d.duplicate_of),
        "duplicate_via": dup.and_then(|d| d.via.as_ref()),
        "similarity": (verdict.similarity * 1000.0).round() / 1000.0,
        "method": dup.map(|d| d.method),
    }));
    Ok(0)
}

fn tag(config: Option<&Path>, path: &Path) -> anyhow::Result<i32> {
    let cfg = load_config(config)?;
    let tagger = pipeline::load_tagger(&cfg)?;
    let article = one_article(path, &cfg)?;
    let tags = tagger.tag(&article.title, &article.text);
    print(serde_json::to_value(&tags)?);
    Ok(0)
}

/// Re-tags a JSONL file, or (`jsonl` = `None`) the configured tables.
async fn retag(config: Option<&Path>, jsonl: Option<&Path>) -> anyhow::Result<i32> {
    let cfg = load_config(config)?;
    let summary = match jsonl {
        Some(path) => crate::retag::jsonl(&cfg, path)
            .await
            .with_context(|| format!("re-tagging {}", path.display()))?,
        None => crate::retag::postgres(&cfg).await?,
    };
    // The struct's own field order, which a `Value` would sort.
    println!("{}", serde_json::to_string(&summary)?);
    Ok(0)
}

async fn backfill(
    config: Option<&Path>,
    out: Option<PathBuf>,
    inputs: Vec<PathBuf>,
) -> anyhow::Result<i32> {
    let mut cfg = load_config(config)?;
    if let Some(out) = out {
        cfg.sinks = vec![jsonl_at(out)];
    }
    let inputs = match (inputs.is_empty(), &cfg.dedup.seeds) {
        (false, _) => {
            let inputs = local::list_inputs(&inputs)?;
            local::refuse_records(&inputs, cfg.extract.max_html_bytes)?;
            inputs
        }
        (true, Some(dir)) => local::list_inputs(std::slice::from_ref(dir))?,
        // The corpus the dedup index uses, compiled in: no checkout needed.
        (true, None) => local::Input::embedded_seeds(),
    };
    let bar = progress_bar(inputs.len() as u64);
    let progress: Option<Progress> = bar.clone().map(|b| {
        let tick: Progress = Arc::new(move || b.inc(1));
        tick
    });
    let shutdown = CancellationToken::new();
    on_signals(shutdown.clone())?;
    let source = Box::new(FileSource {
        inputs,
        max_bytes: cfg.extract.max_html_bytes,
        progress,
    });
    let run = pipeline::run(&cfg, source, Mode::OneShot, shutdown.clone());
    let code = run_to_end(run, &shutdown, cfg.pipeline.shutdown_grace).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    code
}

/// A progress bar on an interactive terminal, unless the logs are JSON.
fn progress_bar(len: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || observe::json_logs() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// The run summary for standard error.
pub fn describe(s: &Summary) -> String {
    let mut line = format!(
        "tidings: {} documents read, {} records written, {} already present, {} skipped in {:.2}s",
        s.read,
        s.written,
        s.already_present,
        s.skipped_total(),
        s.elapsed.as_secs_f64()
    );
    for (reason, n) in &s.skipped {
        line.push_str(&format!("\n  skipped {n}: {reason}"));
    }
    line
}

/// Prints the run summary: [`describe`] in text mode, its counts as fields
/// in JSON mode.
fn report(s: &Summary) {
    let mut fields = serde_json::Map::new();
    fields.insert("read".into(), s.read.into());
    fields.insert("written".into(), s.written.into());
    fields.insert("already_present".into(), s.already_present.into());
    fields.insert("skipped".into(), s.skipped_total().into());
    fields.insert("skipped_by_reason".into(), json!(s.skipped));
    fields.insert(
        "elapsed_secs".into(),
        json!((s.elapsed.as_secs_f64() * 1000.0).round() / 1000.0),
    );
    observe::console(Level::INFO, &describe(s), "run summary", fields);
}

/// Validates the config and the taxonomy it names; every problem on stdout.
fn check(config: Option<&Path>) -> i32 {
    let cfg = match Config::load(config) {
        Ok(cfg) => cfg,
        Err(e) => {
            for problem in &e.0 {
                println!("{problem}");
            }
            return 1;
        }
    };
    let (file, taxonomy) = match &cfg.tag.taxonomy {
        Some(path) => (path.display().to_string(), Taxonomy::load(path)),
        None => ("<embedded taxonomy>".to_string(), Ok(Taxonomy::embedded())),
    };
    let problems = match taxonomy {
        Ok(t) => t.problems(&file),
        Err(e) => vec![Problem {
            file,
            key: String::new(),
            message: format!("{:#}", anyhow::Error::from(e)),
            line: None,
        }],
    };
    for problem in &problems {
        println!("{problem}");
    }
    if problems.is_empty() {
        observe::notice(Level::INFO, &format!("{}: ok", cfg.origin));
        0
    } else {
        1
    }
}

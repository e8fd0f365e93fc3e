//! The verbs of the command-line contract (`spec/cli.md`), one function each.
//! Each verb parses its input, calls a stage's core and prints one JSON object
//! on standard output; diagnostics go to standard error.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser, Subcommand};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Level;

use crate::config::{Config, Locations};
use crate::dedup::{Fingerprint, Keys};
use crate::fetch::feeds::FeedSource;
use crate::fetch::health::{self as feed_health, Revived};
use crate::fetch::local::{self, FileSource, Progress};
use crate::fetch::{http, opml};
use crate::flow::Body;
use crate::observe::{self, Counters, LogFormat, Summary};
use crate::pipeline::{self, Mode};
use crate::record::Article;
use crate::settings::Problem;
use crate::sink;
use crate::state::{self, FeedStatus, State, Store};
use crate::tag::Taxonomy;
use crate::web;

/// `tidings --version`: the package version and the commit built from
/// (`-dirty` when the sources differed from it; `unknown` outside a git
/// checkout), written by build.rs.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("TIDINGS_COMMIT"), ")");

/// The help of every verb's `--config`.
const CONFIG_HELP: &str = "Config file; relative paths in it resolve against its folder, \
     those of the state and output against $STATE_DIRECTORY when set (default: \
     $CONFIGURATION_DIRECTORY/tidings.toml if it exists, else the embedded config)";

/// Where things are and what the logs show (`Locations`,
/// `Command::default_log_level`, `observe::init_logging`), for `--help` and
/// the man page.
const AFTER_HELP: &str = "Without --config, tidings reads $CONFIGURATION_DIRECTORY/tidings.toml \
     if it exists, else its embedded config. Relative paths in a config resolve against its \
     folder (the working directory for the embedded one), except the state folder and JSONL \
     files, which go under $STATE_DIRECTORY when it is set. systemd sets both variables for a \
     unit with StateDirectory= and ConfigurationDirectory=; the container image sets them to \
     /var/lib/tidings and /etc/tidings.

Logs go to standard error. RUST_LOG filters them; without it tidings shows its own warnings \
     and errors (and its info events for run, record and replay) and other crates' errors only.";

#[derive(Debug, Parser)]
#[command(
    name = "tidings",
    version = VERSION,
    about = "Ingests live news: feeds -> extract -> dedup -> tag -> sinks.",
    after_help = AFTER_HELP
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
        #[arg(long, help = CONFIG_HELP)]
        config: Option<PathBuf>,
        /// Text or HTML document, or `-` for standard input.
        path: PathBuf,
    },
    /// Tag one document: relevance to the Russia-Ukraine peace process, topics
    /// with the sentences that show them, and the actors named.
    Tag {
        /// Config file, for its [tag] taxonomy (default: $CONFIGURATION_DIRECTORY/tidings.toml
        /// if it exists, else the embedded config and taxonomy).
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
        #[arg(long, help = CONFIG_HELP)]
        config: Option<PathBuf>,
        /// Write records to this JSONL file instead of the configured sinks.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Files or folders to ingest: text documents, HTML pages, feed files
        /// (default: the seed corpus).
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
        #[arg(long, help = CONFIG_HELP)]
        config: Option<PathBuf>,
        /// Poll each feed once, drain and exit.
        #[arg(long)]
        once: bool,
    },
    /// Like `run`, and store every HTTP response in a fixture folder for `replay`.
    Record {
        #[arg(long, help = CONFIG_HELP)]
        config: Option<PathBuf>,
        /// The fixture folder (created; responses are appended).
        #[arg(long)]
        out: PathBuf,
        /// Poll each feed once, drain and exit.
        #[arg(long)]
        once: bool,
    },
    /// Run the whole pipeline offline against a recorded fixture folder, with
    /// the recorded clock: each recorded poll of a feed is replayed in turn.
    Replay {
        /// Fixture folder made by `record` (or by hand).
        dir: PathBuf,
        #[arg(long, help = CONFIG_HELP)]
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
        #[arg(long, help = CONFIG_HELP)]
        config: Option<PathBuf>,
    },
    /// Print the completion script for a shell, made from this binary's
    /// verbs and flags (for packagers: `tidings completions bash >
    /// /usr/share/bash-completion/completions/tidings`).
    #[command(hide = true)]
    Completions {
        /// The shell the script is for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page tidings(1), or write it and one page per verb
    /// (tidings-run(1), ...) into a folder.
    #[command(hide = true)]
    Manpage {
        /// Write tidings.1 and tidings-VERB.1 here instead of printing tidings.1.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// The configured feeds: their health, their list as OPML, reviving dead ones.
    Feeds {
        #[command(subcommand)]
        command: FeedsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum FeedsCommand {
    /// Every configured feed with its health from the state store: new, ok,
    /// failing, stale (it answers, but nothing new for much longer than its
    /// usual gap) or dead. Works while the daemon runs.
    List {
        #[arg(long, help = CONFIG_HELP)]
        config: Option<PathBuf>,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the configured feeds ([[feeds]] and the feeds_opml lists, disabled
    /// ones too) as OPML 2.0, with their URLs as configured.
    ///
    /// A feed with tags sits in a folder named by its first tag; its other
    /// tags are its category.
    Export {
        #[arg(long, help = CONFIG_HELP)]
        config: Option<PathBuf>,
    },
    /// Poll dead feeds again. A running daemon picks the change up at its
    /// next look at the feed (every [poll] min_interval_secs).
    Revive {
        #[arg(long, help = CONFIG_HELP)]
        config: Option<PathBuf>,
        /// Every dead feed.
        #[arg(long, conflicts_with = "urls")]
        all_dead: bool,
        /// Feed URLs, as configured or as `feeds list` shows them.
        #[arg(required_unless_present = "all_dead")]
        urls: Vec<String>,
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
        Command::Feeds { command } => match command {
            FeedsCommand::List { config, json } => list_feeds(config.as_deref(), json),
            FeedsCommand::Export { config } => export_feeds(config.as_deref()),
            FeedsCommand::Revive {
                config,
                all_dead,
                urls,
            } => revive_feeds(config.as_deref(), all_dead, &urls),
        },
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "tidings", &mut std::io::stdout().lock());
            Ok(0)
        }
        Command::Manpage { out_dir } => manpage(out_dir.as_deref()),
    }
}

/// The man pages, made from the same definition as `--help`.
fn manpage(out_dir: Option<&Path>) -> anyhow::Result<i32> {
    match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(Cli::command(), dir)
                .with_context(|| format!("writing man pages to {}", dir.display()))?;
        }
        None => clap_mangen::Man::new(Cli::command().disable_help_subcommand(true))
            .render(&mut std::io::stdout().lock())
            .context("writing the man page")?,
    }
    Ok(0)
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
    if !cfg.feeds.iter().any(|f| f.enabled) {
        bail!("{}: every feed is disabled: nothing to poll", cfg.origin);
    }
    let metrics = match cfg.metrics_listen.is_some() || cfg.web.is_some() {
        true => Some(observe::install_metrics()?),
        false => None,
    };
    let probe = state_probe(&cfg.state);
    if let (Some(addr), Some(handle)) = (cfg.metrics_listen, &metrics) {
        let listener = bind(addr, "metrics and /healthz listening").await?;
        let (handle, probe, stop) = (handle.clone(), probe.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = observe::serve(listener, handle, probe, stop).await {
                tracing::error!("metrics listener: {e:#}");
            }
        });
    }
    if cfg.cluster.is_some() && once {
        bail!(
            "{}: `run --once` polls every feed from one process; with [cluster] run the daemon",
            cfg.origin
        );
    }
    let store = match &cfg.cluster {
        // The writer's lock is one process's at a time, taken in the cluster.
        Some(_) => Store::open_member(&cfg.state).await,
        None => Store::open(&cfg.state).await,
    }
    .context("opening the state store")?;
    let counters = Arc::new(Counters::default());
    if let Some(page) = &cfg.web {
        let listener = bind(page.listen, "status page listening").await?;
        let app = web::App {
            store: store.clone(),
            feeds: Arc::new(cfg.feeds.clone()),
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
    let grace = cfg.pipeline.shutdown_grace;
    let code = match &cfg.cluster {
        Some(cluster) => {
            let run = crate::cluster::run(&cfg, cluster, &store, http, shutdown.clone(), counters);
            run_to_end(run, &shutdown, grace).await
        }
        None => {
            let source = Box::new(FeedSource {
                feeds: cfg.feeds.clone(),
                poll: cfg.poll.clone(),
                http: Arc::new(http),
                once,
                sequential: false,
                share: None,
            });
            let mode = if once { Mode::OneShot } else { Mode::Daemon };
            let run = pipeline::run_on(&cfg, &store, source, mode, shutdown.clone(), counters);
            run_to_end(run, &shutdown, grace).await
        }
    };
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
fn state_probe(at: &state::Location) -> observe::Probe {
    let at = at.clone();
    Arc::new(move || match State::open_read_only(&at) {
        Ok(Some(state)) => state
            .probe()
            .err()
            .map(|e| format!("{e:#}"))
            .into_iter()
            .collect(),
        Ok(None) => vec![format!("state store: none in {}", at.describe())],
        Err(e) => vec![format!("{e:#}")],
    })
}

/// The feeds a fixture was recorded with, so `replay` needs no config;
/// without their secrets, like the recorded URLs replay looks them up by.
fn write_fixture_feeds(cfg: &Config, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut toml = String::from("# Feeds this fixture was recorded with.\n");
    for feed in cfg.feeds.iter().filter(|f| f.enabled) {
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
            share: None,
        });
        total.add(pipeline::run(&cfg, source, Mode::OneShot, shutdown.clone()).await?);
    }
    report(&total);
    Ok(0)
}

fn print(value: serde_json::Value) {
    println!("{value}");
}

/// The run's config: `--config`, else the service manager's (see
/// [`Locations`]). Says where it came from, where the state is and where
/// records go, with absolute paths: a relative one means little in the log
/// of a service.
fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let cfg = Config::load_at(&Locations::from_env(path))?;
    let absolute = |p: &Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let records: Vec<String> = cfg
        .sinks
        .iter()
        .map(|s| match s {
            sink::Config::Jsonl(j) => absolute(&j.path),
            other => other.place().to_string(),
        })
        .collect();
    tracing::info!(
        config = %cfg.origin,
        state = %match &cfg.state.postgres {
            Some(pg) => pg.describe(),
            None => absolute(&cfg.state.dir),
        },
        records = %records.join(", "),
        "locations"
    );
    Ok(cfg)
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
    let delivered = match State::open_read_only(&cfg.state)? {
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

/// Every configured feed with its health, as a table or JSON.
fn list_feeds(config: Option<&Path>, json: bool) -> anyhow::Result<i32> {
    let cfg = load_config(config)?;
    // Without the folder's lock: a running daemon holds it, and WAL lets a
    // reader in beside it.
    let state = State::open_read_only(&cfg.state)?;
    let now = chrono::Utc::now();
    let rows = feed_health::rows(&cfg.feeds, state.as_ref(), now)?;
    if json {
        print(serde_json::to_value(&rows)?);
    } else {
        print!("{}", feed_table(&rows, now));
    }
    Ok(0)
}

/// The feeds as aligned columns, times relative to `now`.
fn feed_table(rows: &[feed_health::FeedRow], now: chrono::DateTime<chrono::Utc>) -> String {
    let since = |t: &Option<String>, future: bool| -> String {
        let Some(t) = t
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        else {
            return "-".to_string();
        };
        let secs = (t.with_timezone(&chrono::Utc) - now).num_seconds();
        let span = match secs.unsigned_abs() {
            s if s < 120 => format!("{s}s"),
            s if s < 7200 => format!("{}m", s / 60),
            s if s < 172_800 => format!("{}h", s / 3600),
            s => format!("{}d", s / 86_400),
        };
        match (future, secs >= 0) {
            (true, true) => format!("in {span}"),
            (true, false) => "now".to_string(),
            (false, _) => format!("{span} ago"),
        }
    };
    let mut lines: Vec<Vec<String>> = vec![
        [
            "STATUS",
            "NAME",
            "URL",
            "LAST SUCCESS",
            "ERRORS",
            "ITEMS",
            "RECORDS",
            "NEXT POLL",
            "LAST ERROR",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in rows {
        let status = match r.enabled {
            true => r.status.to_string(),
            false => format!("{} (disabled)", r.status),
        };
        lines.push(vec![
            status,
            r.name.clone().unwrap_or_else(|| "-".to_string()),
            r.url.clone(),
            since(&r.last_success, false),
            r.errors.to_string(),
            r.items.to_string(),
            r.records.to_string(),
            since(&r.next_poll, true),
            r.dead
                .clone()
                .or_else(|| r.last_error.clone())
                .unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Revives the given (or every dead) feed; exit 1 when a URL is not a
/// configured feed.
fn revive_feeds(config: Option<&Path>, all_dead: bool, urls: &[String]) -> anyhow::Result<i32> {
    let cfg = load_config(config)?;
    // Beside a running daemon, which holds the folder's lock and reads the
    // change back at its next look at the feed.
    let state = State::open_shared(&cfg.state)?;
    let urls: Vec<String> = match all_dead {
        true => feed_health::rows(&cfg.feeds, state.as_ref(), chrono::Utc::now())?
            .into_iter()
            .filter(|r| r.status == FeedStatus::Dead)
            .map(|r| r.url)
            .collect(),
        false => urls.to_vec(),
    };
    if all_dead && urls.is_empty() {
        observe::notice(Level::WARN, "no feed is dead");
    }
    let mut code = 0;
    for url in &urls {
        match feed_health::revive(&cfg.feeds, state.as_ref(), url)? {
            Revived::Revived(shown) => println!("revived {shown}"),
            Revived::NotDead(shown, status) => observe::notice(
                Level::WARN,
                &format!("{shown} is not dead ({status}): nothing to revive"),
            ),
            Revived::NotConfigured => {
                observe::notice(
                    Level::ERROR,
                    &format!("{url} is not a configured feed ({})", cfg.origin),
                );
                code = 1;
            }
        }
    }
    Ok(code)
}

/// The configured feeds as OPML on stdout.
fn export_feeds(config: Option<&Path>) -> anyhow::Result<i32> {
    let cfg = load_config(config)?;
    let title = format!("tidings feeds of {}", cfg.origin);
    print!("{}", opml::export(&cfg.feeds, &title, chrono::Utc::now()));
    Ok(0)
}

/// Validates the config and the taxonomy it names; every problem on stdout.
fn check(config: Option<&Path>) -> i32 {
    let cfg = match Config::load_at(&Locations::from_env(config)) {
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

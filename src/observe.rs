//! Observability: tracing logs (human or JSON) and Prometheus metrics with a
//! `/healthz` probe on a small HTTP listener.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Level;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per event, with its spans.
    Json,
}

/// The format chosen at start-up, for what [`console`] prints.
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Logs go to standard error, coloured only when it is a terminal.
/// `RUST_LOG` filters; by default tidings' own events show from
/// `default_level` and other crates' only at ERROR: a parser's notes on a
/// page it coped with (html5ever's "foster parenting not implemented") are
/// no news to whoever runs tidings.
pub fn init_logging(format: LogFormat, default_level: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = FORMAT.set(format);
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("error,tidings={default_level}")));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter).with(ProblemLog);
    let _ = match format {
        LogFormat::Text => registry
            .with(fmt.with_ansi(std::io::stderr().is_terminal()))
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt.with_ansi(false)
                    .json()
                    .with_current_span(true)
                    .with_span_list(true),
            )
            .try_init(),
    };
}

/// A warning or error logged lately, for the status page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Logged {
    pub at: String,
    pub level: String,
    pub message: String,
}

/// How many recent warnings and errors are kept.
const PROBLEMS_KEPT: usize = 200;

fn problem_log() -> &'static std::sync::Mutex<std::collections::VecDeque<Logged>> {
    static LOG: OnceLock<std::sync::Mutex<std::collections::VecDeque<Logged>>> = OnceLock::new();
    LOG.get_or_init(Default::default)
}

/// The latest warnings and errors, newest first.
pub fn recent_problems() -> Vec<Logged> {
    let log = problem_log().lock().unwrap_or_else(|e| e.into_inner());
    log.iter().rev().cloned().collect()
}

/// Keeps the last [`PROBLEMS_KEPT`] warnings and errors that pass the log
/// filter, message and fields on one line (secrets hidden, as in the logs).
struct ProblemLog;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ProblemLog {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut line = OneLine(String::new());
        event.record(&mut line);
        let logged = Logged {
            at: crate::record::timestamp(chrono::Utc::now()),
            level: level.to_string(),
            message: crate::redact::text(&line.0),
        };
        let mut log = problem_log().lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == PROBLEMS_KEPT {
            log.pop_front();
        }
        log.push_back(logged);
    }
}

/// An event's message, then its fields as `name=value`.
struct OneLine(String);

impl tracing::field::Visit for OneLine {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}");
            if !rest.is_empty() {
                self.0.push(' ');
                self.0.push_str(&rest);
            }
        } else {
            let sep = if self.0.is_empty() { "" } else { " " };
            let _ = write!(self.0, "{sep}{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }
}

/// Whether the logs are JSON (nothing but JSON may go to standard error).
pub fn json_logs() -> bool {
    FORMAT.get() == Some(&LogFormat::Json)
}

/// Tells the person running tidings something whatever the log filter says:
/// the run summary, shutdown notices, the error that ended the run. `text`
/// as it is in text mode; in JSON mode one object shaped like the log events,
/// with `message` and `fields` under `"fields"`, so that every line on
/// standard error is JSON.
pub fn console(level: Level, text: &str, message: &str, fields: Map<String, Value>) {
    // The error that ended a run may come from any library, URL and all.
    let (text, message) = (crate::redact::text(text), crate::redact::text(message));
    let line = match FORMAT.get() {
        Some(LogFormat::Json) => {
            let mut all = Map::new();
            all.insert("message".into(), message.into());
            all.extend(fields);
            serde_json::json!({
                "timestamp": chrono::Utc::now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "level": level.as_str(),
                "fields": all,
                "target": "tidings",
            })
            .to_string()
        }
        _ => text,
    };
    // Nowhere left to report a failing standard error.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A one-line notice: `tidings: message` in text mode.
pub fn notice(level: Level, message: &str) {
    console(level, &format!("tidings: {message}"), message, Map::new());
}

/// An error and its causes on one line, outermost first. A cause whose
/// message its wrapper already shows (some libraries print their source in
/// their own message) is not repeated.
pub fn error_chain(error: &anyhow::Error) -> String {
    let mut line = String::new();
    let mut shown = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if shown.ends_with(&message) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&message);
        shown = message;
    }
    line
}

/// What is wrong right now, by component (a sink's name), for `/healthz`.
/// Process-wide, like the metrics recorder: a component reports where it
/// notices, whoever serves the probe.
#[derive(Default)]
pub struct Health {
    /// Each component known, with `(since, reason)` while it fails.
    components: std::sync::Mutex<std::collections::BTreeMap<String, Option<(String, String)>>>,
}

/// The process's health board.
pub fn health() -> &'static Health {
    static HEALTH: OnceLock<Health> = OnceLock::new();
    HEALTH.get_or_init(Health::default)
}

impl Health {
    /// `component` fails: `reason`, since its first failure in a row.
    pub fn failing(&self, component: &str, reason: &str) {
        let now = crate::record::timestamp(chrono::Utc::now());
        let mut components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        let entry = components
            .entry(component.to_string())
            .or_default()
            .get_or_insert_with(|| (now, String::new()));
        entry.1 = reason.to_string();
    }

    /// `component` works (again); a component not seen before is now known.
    pub fn ok(&self, component: &str) {
        let mut components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        components.insert(component.to_string(), None);
    }

    /// One line per failing component; empty when all is well.
    pub fn problems(&self) -> Vec<String> {
        let components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        components
            .iter()
            .filter_map(|(component, failing)| {
                let (since, reason) = failing.as_ref()?;
                Some(format!("{component}: failing since {since}: {reason}"))
            })
            .collect()
    }

    /// Every component known, with `(since, reason)` while it fails.
    pub fn components(&self) -> Vec<(String, Option<(String, String)>)> {
        let components = self.components.lock().unwrap_or_else(|e| e.into_inner());
        components
            .iter()
            .map(|(c, f)| (c.clone(), f.clone()))
            .collect()
    }
}

/// Further checks `/healthz` makes when asked (the state store).
pub type Probe = std::sync::Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// Installs the Prometheus recorder for the `metrics` macros.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")
}

/// Serves `GET /metrics` (Prometheus text) and `GET /healthz` until shutdown.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    probe: Probe,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        let (mut conn, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = shutdown.cancelled() => return Ok(()),
        };
        let handle = handle.clone();
        let probe = probe.clone();
        tokio::spawn(async move {
            // A request line and headers fit in 8 KiB; more is not a scrape.
            let mut buf = vec![0u8; 8192];
            let read =
                tokio::time::timeout(std::time::Duration::from_secs(5), conn.read(&mut buf)).await;
            let Ok(Ok(n)) = read else { return };
            let head = String::from_utf8_lossy(&buf[..n]);
            let path = head.split_whitespace().nth(1).unwrap_or("");
            let (status, body) = match path {
                "/metrics" => ("200 OK", handle.render()),
                "/healthz" => {
                    let mut problems = health().problems();
                    // The probe may touch the disk (the state store).
                    problems.extend(
                        tokio::task::spawn_blocking(move || probe())
                            .await
                            .unwrap_or_default(),
                    );
                    if problems.is_empty() {
                        ("200 OK", "ok\n".to_string())
                    } else {
                        ("503 Service Unavailable", problems.join("\n") + "\n")
                    }
                }
                _ => ("404 Not Found", "not found\n".to_string()),
            };
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Like some library errors: shows its source in its own message and
    /// returns it as its source too.
    #[derive(Debug)]
    struct Chatty(std::io::Error);

    impl std::fmt::Display for Chatty {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "database is locked: {}", self.0)
        }
    }

    impl std::error::Error for Chatty {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_is_shown_once_even_when_a_library_repeats_it() {
        let io = std::io::Error::other("disk on fire");
        let e = anyhow::Error::new(Chatty(io)).context("state store data/");
        assert_eq!(
            error_chain(&e),
            "state store data/: database is locked: disk on fire"
        );
        let plain = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(error_chain(&plain), "outer: middle: inner");
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
    pub skipped: std::collections::BTreeMap<String, u64>,
    pub elapsed: std::time::Duration,
}

impl Summary {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Adds another run's figures (replay runs one round per recorded poll).
    pub fn add(&mut self, other: Summary) {
        self.read += other.read;
        self.written += other.written;
        self.already_present += other.already_present;
        self.dead_lettered += other.dead_lettered;
        for (reason, n) in other.skipped {
            *self.skipped.entry(reason).or_default() += n;
        }
        self.elapsed += other.elapsed;
    }
}

/// The run's tallies, shared by the stages; each also feeds a metric.
#[derive(Default)]
pub struct Counters {
    read: AtomicU64,
    written: AtomicU64,
    already_present: AtomicU64,
    dead_lettered: AtomicU64,
    skipped: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    depths: std::sync::Mutex<std::collections::BTreeMap<&'static str, usize>>,
}

impl Counters {
    /// One more document (file or feed item) entered the pipeline.
    pub fn document_read(&self) {
        self.read.fetch_add(1, Ordering::Relaxed);
    }

    /// A document left the pipeline without a record: `stage: reason`.
    pub fn skip(&self, stage: &str, reason: &str) {
        metrics::counter!("tidings_skipped_total", "stage" => stage.to_string()).increment(1);
        let mut map = self.skipped.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(format!("{stage}: {reason}")).or_default() += 1;
    }

    /// Records written to at least one sink.
    pub fn written(&self, n: u64) {
        self.written.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("tidings_records_written_total").increment(n);
    }

    /// A record every sink already held.
    pub fn already_present(&self) {
        self.already_present.fetch_add(1, Ordering::Relaxed);
    }

    /// A record a sink refused for good.
    pub fn dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("tidings_dead_letters_total").increment(1);
    }

    /// How full a queue between stages is now.
    pub fn queue_depth(&self, queue: &'static str, len: usize) {
        metrics::gauge!("tidings_queue_depth", "queue" => queue).set(len as f64);
        let mut depths = self.depths.lock().unwrap_or_else(|e| e.into_inner());
        depths.insert(queue, len);
    }

    /// The queues' depths last seen.
    pub fn queue_depths(&self) -> Vec<(&'static str, usize)> {
        let depths = self.depths.lock().unwrap_or_else(|e| e.into_inner());
        depths.iter().map(|(q, n)| (*q, *n)).collect()
    }

    pub fn summary(&self, elapsed: std::time::Duration) -> Summary {
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

//! Configuration: parsed and validated once at start-up.
//!
//! The TOML is parsed into a table that keeps the position of every key, then
//! each section is read with a [`Section`], which checks types, ranges and
//! unknown keys (naming their path, `sinks[0].pth`, and line) and carries on
//! after a problem; then the entries are checked against each other (two
//! sinks writing to one place, a feed listed twice). The result is a
//! [`Config`] with no `Option`s left to interpret, or every problem at once,
//! so `tidings check` can list them in one go.

mod section;

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

pub use section::{Report, Section};

use crate::redact;

/// The config compiled into the binary, used when no `--config` is given.
pub const EMBEDDED: &str = include_str!("../../config/tidings.toml");

/// One problem found in a config, with the file and the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub key: String,
    pub message: String,
    /// The 1-based line of the key (or of its table, for a missing key).
    pub line: Option<usize>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        write!(f, "{}", self.message)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// Every problem of a config that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ConfigError(pub Vec<Problem>);

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the config came from (a path, or `<embedded>`), for messages.
    pub origin: String,
    pub state_dir: PathBuf,
    pub pipeline: Pipeline,
    pub extract: Extract,
    pub dedup: Dedup,
    pub tag: Tag,
    pub http: Http,
    pub poll: Poll,
    /// Address of the `/metrics` and `/healthz` listener; `None`: no listener.
    pub metrics_listen: Option<std::net::SocketAddr>,
    pub feeds: Vec<Feed>,
    pub sinks: Vec<Sink>,
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub channel_capacity: usize,
    pub extract_workers: usize,
    pub tag_workers: usize,
    pub batch_size: usize,
    pub batch_timeout: Duration,
    pub shutdown_grace: Duration,
    /// How long a one-shot run (backfill, `run --once`, replay) waits for a
    /// sink that does not answer before it gives up; the daemon waits for
    /// ever (and says so on `/healthz`).
    pub sink_wait: Duration,
}

#[derive(Debug, Clone)]
pub struct Extract {
    pub max_html_bytes: usize,
    /// A longer article text is cut to this size and its record marked
    /// `truncated`: a record must fit every sink (NATS takes 1 MiB).
    pub max_text_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NearPolicy {
    Flag,
    Drop,
}

#[derive(Debug, Clone)]
pub struct Dedup {
    /// `None`: the corpus embedded in the binary.
    pub seeds: Option<PathBuf>,
    pub near: NearPolicy,
    pub window: Duration,
}

#[derive(Debug, Clone)]
pub struct Tag {
    /// `None`: the taxonomy embedded in the binary.
    pub taxonomy: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Http {
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Whole request, headers and body.
    pub timeout: Duration,
    /// Cap on a body after decompression.
    pub max_body_bytes: usize,
    pub max_redirects: usize,
    pub concurrency: usize,
    pub per_host_concurrency: usize,
    pub per_host_delay: Duration,
    pub private_networks: PrivateNetworks,
}

/// Whether page links and redirects may reach non-public addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateNetworks {
    /// Loopback, private, link-local, shared, unspecified and multicast
    /// addresses are fetched only on the origin of the feed that listed the link.
    Deny,
    Allow,
}

#[derive(Debug, Clone)]
pub struct Poll {
    /// Default interval of a feed that sets none.
    pub interval: Duration,
    /// Bounds on any interval, the feed's own hints (`<ttl>`, max-age) included.
    pub min_interval: Duration,
    pub max_interval: Duration,
    /// Each wait is stretched or shrunk by up to this fraction, at random.
    pub jitter: f64,
    pub max_backoff: Duration,
    /// A feed failing this long without a success is marked dead.
    pub dead_after: Duration,
    /// Feed content with at least this many words is the full article and the
    /// linked page is not fetched.
    pub full_text_min_words: usize,
}

#[derive(Debug, Clone)]
pub struct Feed {
    pub url: url::Url,
    pub name: Option<String>,
    pub interval: Option<Duration>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Sink {
    Jsonl {
        path: PathBuf,
    },
    Stdout,
    Postgres {
        url: String,
        table: String,
    },
    Nats {
        url: String,
        subject: String,
        /// `None`: the stream that takes the subject, created when missing.
        stream: Option<String>,
    },
}

impl Config {
    /// Loads the config at `path`, or the embedded default when `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            Some(path) => {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(vec![Problem {
                        file: origin.clone(),
                        key: String::new(),
                        message: format!("cannot read config: {e}"),
                        line: None,
                    }])
                })?;
                let base = path.parent().unwrap_or(Path::new("."));
                Config::parse(&text, &origin, base)
            }
            None => Config::parse(EMBEDDED, "<embedded config>", Path::new("")),
        }
    }

    /// Parses TOML text; relative paths resolve against `base`.
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Config, ConfigError> {
        let report = Report::new(origin, text);
        let (doc, syntax) = toml::de::DeTable::parse_recoverable(text);
        if !syntax.is_empty() {
            // What the parser recovered may be missing whole tables: checking
            // it would add problems that are not there.
            for e in &syntax {
                let line = e.span().map(|s| report.line(s.start));
                report.push("", line, one_line(e.message()));
            }
            return Err(ConfigError(report.into_problems()));
        }
        let mut root = report.root(doc.get_ref());
        let config = read(&mut root, origin, base);
        root.finish();
        let problems = report.into_problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(problems))
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A path relative to the config's folder; reported when empty.
fn path(s: &mut Section<'_>, name: &'static str, base: &Path) -> Option<PathBuf> {
    let value = s.str(name)?;
    if value.trim().is_empty() {
        s.problem(name, "must not be empty");
    }
    Some(base.join(value))
}

fn read(root: &mut Section<'_>, origin: &str, base: &Path) -> Config {
    let mut s = root.table("state");
    let state_dir = path(&mut s, "dir", base).unwrap_or_else(|| base.join("data"));
    s.finish();

    let mut s = root.table("pipeline");
    let pipeline = pipeline(&mut s);
    s.finish();

    let mut s = root.table("extract");
    let extract = Extract {
        max_html_bytes: mib(s.float("max_html_mib", 8.0, 0.001..=1024.0)),
        max_text_bytes: s.int("max_text_kib", 512, 1..=1024 * 1024) as usize * 1024,
    };
    s.finish();

    let mut s = root.table("dedup");
    let dedup = Dedup {
        seeds: path(&mut s, "seeds", base),
        near: match s.choice("near", &["flag", "drop"]) {
            "drop" => NearPolicy::Drop,
            _ => NearPolicy::Flag,
        },
        window: Duration::from_secs(86_400 * s.int("window_days", 30, 1..=36_500)),
    };
    s.finish();

    let mut s = root.table("tag");
    let tag = Tag {
        taxonomy: path(&mut s, "taxonomy", base),
    };
    s.finish();

    let mut s = root.table("http");
    let http = http(&mut s);
    s.finish();

    let mut s = root.table("poll");
    let poll = poll(&mut s);
    s.finish();

    let mut s = root.table("metrics");
    let metrics_listen = s.str("listen").and_then(|l| match l.parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            s.problem(
                "listen",
                format!("{l:?} is not an address such as 127.0.0.1:9464"),
            );
            None
        }
    });
    s.finish();

    let feeds = feeds(root.tables("feeds"));
    let sinks = sinks(root.tables("sinks"), base);
    let sinks = if sinks.is_empty() {
        // A config without sinks still writes somewhere a user will look.
        vec![Sink::Jsonl {
            path: base.join("out/records.jsonl"),
        }]
    } else {
        sinks
    };
    Config {
        origin: origin.to_string(),
        state_dir,
        pipeline,
        extract,
        dedup,
        tag,
        http,
        poll,
        metrics_listen,
        feeds,
        sinks,
    }
}

fn mib(n: f64) -> usize {
    (n * 1024.0 * 1024.0) as usize
}

/// A worker count; 0 means one per core.
fn workers(s: &mut Section<'_>, name: &'static str) -> usize {
    match s.int(name, 0, 0..=256) {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n as usize,
    }
}

fn pipeline(s: &mut Section<'_>) -> Pipeline {
    Pipeline {
        channel_capacity: s.int("channel_capacity", 64, 1..=100_000) as usize,
        extract_workers: workers(s, "extract_workers"),
        tag_workers: workers(s, "tag_workers"),
        batch_size: s.int("batch_size", 64, 1..=100_000) as usize,
        batch_timeout: Duration::from_millis(s.int("batch_timeout_ms", 500, 1..=600_000)),
        shutdown_grace: Duration::from_secs(s.int("shutdown_grace_secs", 30, 0..=3600)),
        sink_wait: Duration::from_secs(s.int("sink_wait_secs", 60, 0..=86_400)),
    }
}

fn http(s: &mut Section<'_>) -> Http {
    let mut user_agent = s.str("user_agent").map_or_else(
        || format!("tidings/{}", env!("CARGO_PKG_VERSION")),
        str::to_string,
    );
    if let Some(contact) = s.str("contact") {
        user_agent = format!("{user_agent} (+{contact})");
    }
    if user_agent.chars().any(|c| c.is_control()) {
        s.problem("user_agent", "must not contain control characters");
    }
    Http {
        user_agent,
        connect_timeout: Duration::from_secs(s.int("connect_timeout_secs", 10, 1..=300)),
        timeout: Duration::from_secs(s.int("timeout_secs", 30, 1..=3600)),
        max_body_bytes: mib(s.float("max_body_mib", 16.0, 0.001..=1024.0)),
        max_redirects: s.int("max_redirects", 10, 0..=10) as usize,
        concurrency: s.int("concurrency", 32, 1..=10_000) as usize,
        per_host_concurrency: s.int("per_host_concurrency", 2, 1..=1000) as usize,
        per_host_delay: Duration::from_millis(s.int("per_host_delay_ms", 250, 0..=600_000)),
        private_networks: match s.choice("private_networks", &["deny", "allow"]) {
            "allow" => PrivateNetworks::Allow,
            _ => PrivateNetworks::Deny,
        },
    }
}

fn poll(s: &mut Section<'_>) -> Poll {
    let mut secs = |name, default| Duration::from_secs(s.int(name, default, 1..=30 * 86_400));
    let interval = secs("interval_secs", 600);
    let min_interval = secs("min_interval_secs", 60);
    let max_interval = secs("max_interval_secs", 6 * 3600);
    let max_backoff = secs("max_backoff_secs", 6 * 3600);
    if min_interval > max_interval {
        s.problem("min_interval_secs", "is above poll.max_interval_secs");
    }
    Poll {
        interval,
        min_interval,
        max_interval,
        jitter: s.float("jitter", 0.1, 0.0..=0.5),
        max_backoff,
        dead_after: Duration::from_secs(86_400 * s.int("dead_after_days", 3, 1..=365)),
        full_text_min_words: s.int("full_text_min_words", 150, 0..=100_000) as usize,
    }
}

fn feeds(mut entries: Vec<Section<'_>>) -> Vec<Feed> {
    let read: Vec<Option<Feed>> = entries.iter_mut().map(feed).collect();
    for (j, b) in read.iter().enumerate() {
        let Some(b) = b else { continue };
        let first = read[..j]
            .iter()
            .position(|a| a.as_ref().is_some_and(|a| same_feed(&a.url, &b.url)));
        if let Some(i) = first {
            let other = entry_at(&entries[i], "url");
            let message = match &read[i] {
                Some(a)
                    if a.url[..url::Position::AfterQuery] != b.url[..url::Position::AfterQuery] =>
                {
                    format!(
                        "same feed as {other} apart from its credentials (tidings keeps one \
                         state per feed URL with credentials hidden)"
                    )
                }
                _ => format!("same feed as {other}"),
            };
            entries[j].problem("url", message);
        }
    }
    for s in entries {
        s.finish();
    }
    read.into_iter().flatten().collect()
}

/// Whether two feed URLs fetch the same thing, or differ only in their
/// secrets (which the state store, keyed by the URL without them, does not
/// tell apart). `Url` has already folded the scheme and host case, dropped a
/// default port and given an empty path its `/`; a fragment is never sent
/// to the server.
fn same_feed(a: &url::Url, b: &url::Url) -> bool {
    redact::url(&a[..url::Position::AfterQuery]) == redact::url(&b[..url::Position::AfterQuery])
}

/// Another entry, for a message: `sinks[0] on line 5`.
fn entry_at(s: &Section<'_>, name: &str) -> String {
    match s.line_of(name) {
        Some(n) => format!("{} on line {n}", s.key("")),
        None => s.key(""),
    }
}

fn feed(s: &mut Section<'_>) -> Option<Feed> {
    let url = s
        .required_str("url")
        .and_then(|raw| match url::Url::parse(raw) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            Ok(u) => {
                s.problem(
                    "url",
                    format!("scheme {:?} is not http or https", u.scheme()),
                );
                None
            }
            Err(e) => {
                s.problem("url", format!("{:?} is not a URL: {e}", redact::url(raw)));
                None
            }
        });
    let name = s.str("name").map(str::to_string);
    let interval = s
        .opt_int("interval_secs", 10..=604_800)
        .map(Duration::from_secs);
    let tags = s.strings("tags").into_iter().map(str::to_string).collect();
    Some(Feed {
        url: url?,
        name,
        interval,
        tags,
    })
}

fn sinks(mut entries: Vec<Section<'_>>, base: &Path) -> Vec<Sink> {
    let read: Vec<Option<Sink>> = entries.iter_mut().map(|s| sink(s, base)).collect();
    let targets: Vec<Option<Target>> = read.iter().map(|s| s.as_ref().map(target)).collect();
    for (j, b) in targets.iter().enumerate() {
        let Some(b) = b else { continue };
        let first = targets[..j]
            .iter()
            .position(|a| a.as_ref().is_some_and(|a| a.clashes(b)));
        if let Some(i) = first {
            let (name, what) = b.describe();
            let other = entry_at(&entries[i], name);
            entries[j].problem(name, format!("{what} {other}"));
        }
    }
    for s in entries {
        s.finish();
    }
    read.into_iter().flatten().collect()
}

fn sink(s: &mut Section<'_>, base: &Path) -> Option<Sink> {
    let Some(kind) = s.required_str("kind") else {
        // Which keys belong here depends on the kind: none can be judged.
        s.skip_unread();
        return None;
    };
    match kind {
        "stdout" => Some(Sink::Stdout),
        "jsonl" => {
            s.required_str("path")?;
            Some(Sink::Jsonl {
                path: path(s, "path", base)?,
            })
        }
        "postgres" => {
            let url = s.required_str("url");
            let table = s.str("table").unwrap_or("records");
            let url = url?;
            let problems = crate::sink::validate_postgres(url, table);
            for p in &problems {
                s.problem("", p.clone());
            }
            problems.is_empty().then(|| Sink::Postgres {
                url: url.to_string(),
                table: table.to_string(),
            })
        }
        "nats" => {
            let url = s.required_str("url");
            let subject = s.required_str("subject");
            let stream = s.str("stream");
            let (url, subject) = (url?, subject?);
            let problems = crate::sink::validate_nats(url, subject, stream);
            for p in &problems {
                s.problem("", p.clone());
            }
            problems.is_empty().then(|| Sink::Nats {
                url: url.to_string(),
                subject: subject.to_string(),
                stream: stream.map(str::to_string),
            })
        }
        other => {
            s.problem(
                "kind",
                format!(
                    "unknown sink kind {other:?}, expected \"jsonl\", \"stdout\", \"postgres\" or \"nats\""
                ),
            );
            s.skip_unread();
            None
        }
    }
}

/// Where a sink writes, to find two sinks writing to one place: the same
/// file interleaves torn lines, the same table or subject gets every record
/// twice from one run.
#[derive(Debug, PartialEq)]
enum Target {
    File(PathBuf),
    Stdout,
    /// Servers as (host, port), lowercase, default port filled in.
    Table {
        servers: Vec<(String, u16)>,
        database: String,
        table: String,
    },
    Subject {
        servers: Vec<(String, u16)>,
        subject: String,
    },
}

impl Target {
    fn clashes(&self, other: &Target) -> bool {
        let share = |a: &[(String, u16)], b: &[(String, u16)]| a.iter().any(|s| b.contains(s));
        match (self, other) {
            (
                Target::Table {
                    servers: a,
                    database: da,
                    table: ta,
                },
                Target::Table {
                    servers: b,
                    database: db,
                    table: tb,
                },
            ) => da == db && ta == tb && share(a, b),
            (
                Target::Subject {
                    servers: a,
                    subject: sa,
                },
                Target::Subject {
                    servers: b,
                    subject: sb,
                },
            ) => sa == sb && share(a, b),
            _ => self == other,
        }
    }

    /// The key a clash is reported at, and the words for it.
    fn describe(&self) -> (&'static str, &'static str) {
        match self {
            Target::File(_) => ("path", "same file as"),
            Target::Stdout => ("kind", "standard output is already written by"),
            Target::Table { .. } => ("url", "same database and table as"),
            Target::Subject { .. } => ("subject", "same server and subject as"),
        }
    }
}

fn target(sink: &Sink) -> Target {
    match sink {
        Sink::Jsonl { path } => Target::File(lexical(path)),
        Sink::Stdout => Target::Stdout,
        Sink::Postgres { url, table } => {
            // Validated already; an unparsable URL names no server to share.
            let config: Option<tokio_postgres::Config> = url.parse().ok();
            let (servers, database) = config.map_or_else(Default::default, |c| {
                let ports = c.get_ports();
                let servers = c
                    .get_hosts()
                    .iter()
                    .enumerate()
                    .map(|(i, host)| {
                        let host = match host {
                            tokio_postgres::config::Host::Tcp(h) => h.to_ascii_lowercase(),
                            #[cfg(unix)]
                            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                        };
                        // One port applies to every host; none means 5432.
                        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                        (host, port)
                    })
                    .collect();
                // PostgreSQL's own default: the database named like the user.
                let database = c.get_dbname().or(c.get_user()).unwrap_or_default();
                (servers, database.to_string())
            });
            Target::Table {
                servers,
                database,
                table: table.clone(),
            }
        }
        Sink::Nats { url, subject, .. } => Target::Subject {
            servers: url
                .split(',')
                .filter_map(|s| url::Url::parse(s.trim()).ok())
                .filter_map(|u| {
                    // nats:// is not a special scheme: Url keeps the host's case.
                    let host = u.host_str()?.to_ascii_lowercase();
                    Some((host, u.port().unwrap_or(4222)))
                })
                .collect(),
            subject: subject.clone(),
        },
    }
}

/// `path` with `.` and `..` folded away without touching the file system (the
/// file need not exist yet), so `out/a.jsonl` and `./x/../out/a.jsonl` match.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match Config::parse(text, "t.toml", Path::new("/etc/tidings")) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn embedded_default_is_valid() {
        let c = Config::load(None).unwrap();
        assert!(
            matches!(&c.sinks[..], [Sink::Jsonl { path }] if path == Path::new("out/records.jsonl"))
        );
        assert_eq!(c.state_dir, Path::new("data"));
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder() {
        let c = Config::parse(
            "[state]\ndir = \"st\"\n[[sinks]]\nkind = \"jsonl\"\npath = \"o/r.jsonl\"\n",
            "t.toml",
            Path::new("/etc/tidings"),
        )
        .unwrap();
        assert_eq!(c.state_dir, Path::new("/etc/tidings/st"));
        assert!(
            matches!(&c.sinks[..], [Sink::Jsonl { path }] if path == Path::new("/etc/tidings/o/r.jsonl"))
        );
    }

    #[test]
    fn unknown_key_is_reported_with_its_path() {
        let p = problems("[[sinks]]\nkind = \"jsonl\"\npth = \"x\"\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("t.toml: sinks[0].pth: unknown field `pth`"),
            "{p:?}"
        );
    }

    #[test]
    fn every_bad_value_is_reported_not_just_the_first() {
        let p = problems(
            "[pipeline]\nchannel_capacity = 0\nbatch_size = -3\n[dedup]\nnear = \"maybe\"\n\
             [[feeds]]\nurl = \"ftp://x\"\n[[sinks]]\nkind = \"jsonl\"\n",
        );
        let keys = [
            "pipeline.channel_capacity",
            "pipeline.batch_size",
            "dedup.near",
            "feeds[0].url",
            "sinks[0].path",
        ];
        assert_eq!(p.len(), keys.len(), "{p:?}");
        for key in keys {
            assert!(
                p.iter().any(|m| m.contains(&format!(": {key}: "))),
                "{key} missing in {p:?}"
            );
        }
    }

    #[test]
    fn a_key_at_the_start_of_a_line_is_reported_on_that_line() {
        let p = problems("[state]\ndir = \"x\"\n[pipeline]\nchanel_capacity = 4\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].ends_with(" (line 4)"), "{p:?}");
    }

    #[test]
    fn a_syntax_error_at_the_start_of_a_line_is_reported_on_that_line() {
        let p = problems("[state]\ndir = \"x\"\n= 2\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].ends_with(" (line 3)"), "{p:?}");
    }

    #[test]
    fn private_networks_are_denied_unless_allowed() {
        let http = |extra: &str| {
            Config::parse(&format!("[http]\n{extra}\n"), "t.toml", Path::new("."))
                .map(|c| c.http.private_networks)
        };
        assert_eq!(http("").unwrap(), PrivateNetworks::Deny);
        assert_eq!(
            http("private_networks = \"allow\"").unwrap(),
            PrivateNetworks::Allow
        );
        let p = problems("[http]\nprivate_networks = \"sometimes\"\n");
        assert_eq!(
            p,
            [
                "t.toml: http.private_networks: unknown value \"sometimes\", expected \"deny\" or \"allow\" (line 2)"
            ]
        );
    }

    #[test]
    fn feeds_differing_only_by_their_secrets_are_one_feed_and_no_secret_is_echoed() {
        let p = problems(
            "[[feeds]]\nurl = \"https://u:A1@wire.example/f?api_key=K1&q=x\"\n\
             [[feeds]]\nurl = \"https://u:B2@wire.example/f?api_key=K2&q=x\"\n\
             [[feeds]]\nurl = \"https://u:C3@wire.example/f?api_key=K3&q=y\"\n\
             [[feeds]]\nurl = \"https://u:D4@bad host/f\"\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].contains(
                "feeds[1].url: same feed as feeds[0] on line 2 apart from its credentials"
            ),
            "{p:?}"
        );
        assert!(
            p[1].contains("\"https://u:***@bad host/f\" is not a URL"),
            "{p:?}"
        );
        for secret in ["A1", "B2", "C3", "D4", "K1", "K2", "K3"] {
            assert!(!p.concat().contains(secret), "{secret} in {p:?}");
        }
    }

    #[test]
    fn syntax_error_names_the_file() {
        let p = problems("[state\ndir = 1");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("t.toml: "), "{p:?}");
    }
}

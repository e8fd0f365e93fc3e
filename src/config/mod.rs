//! Configuration: parsed and validated once at start-up.
//!
//! The TOML is parsed into a table that keeps the position of every key, then
//! each section is read with a [`Section`], which checks types, ranges and
//! unknown keys (naming their path, `sinks[0].pth`, and line) and carries on
//! after a problem; then the entries are checked against each other (two
//! sinks writing to one place, a feed listed twice). The result is a
//! [`Config`] with no `Option`s left to interpret, or every problem at once,
//! so `tidings check` can list them in one go.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fetch::feeds::{Feed, Poll};
use crate::fetch::{http, opml};
use crate::redact;
pub use crate::settings::Problem;
use crate::settings::{self, Dirs, Report, Section};
use crate::sink::{self, Place};
use crate::state;
use crate::web;

/// The config compiled into the binary, used when no `--config` is given.
pub const EMBEDDED: &str = include_str!("../../config/tidings.toml");

/// The config's file name in `$CONFIGURATION_DIRECTORY`.
pub const CONFIG_FILE: &str = "tidings.toml";

/// Where a run's config comes from and where what it writes goes.
///
/// From a checkout that is `--config` (else the embedded config) and paths
/// relative to the config's folder (the working directory for the embedded
/// one). A service started by systemd runs in `/`, where `data/` and `out/`
/// are no place to write; `StateDirectory=tidings` and
/// `ConfigurationDirectory=tidings` give it `$STATE_DIRECTORY` (e.g.
/// `/var/lib/tidings`) and `$CONFIGURATION_DIRECTORY` (`/etc/tidings`), and
/// the container image sets the same two.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locations {
    /// The config file; `None`: the embedded config.
    pub config: Option<PathBuf>,
    /// The state directory, under which the config's relative state and
    /// output paths resolve; `None`: beside the config, like its other paths.
    pub state: Option<PathBuf>,
}

impl Locations {
    /// `--config` if given, else `$CONFIGURATION_DIRECTORY/tidings.toml` if
    /// that file exists; the state directory from `$STATE_DIRECTORY`.
    pub fn from_env(config: Option<&Path>) -> Locations {
        Locations::new(
            config,
            std::env::var_os("STATE_DIRECTORY").as_deref(),
            std::env::var_os("CONFIGURATION_DIRECTORY").as_deref(),
        )
    }

    /// [`Locations::from_env`] with the two variables given.
    pub fn new(
        config: Option<&Path>,
        state_directory: Option<&OsStr>,
        configuration_directory: Option<&OsStr>,
    ) -> Locations {
        let config = config.map(Path::to_path_buf).or_else(|| {
            folders(configuration_directory)
                .map(|dir| dir.join(CONFIG_FILE))
                .find(|file| file.is_file())
        });
        Locations {
            config,
            state: folders(state_directory).next(),
        }
    }
}

/// The folders of a variable such as `$STATE_DIRECTORY`: systemd joins
/// those of several `StateDirectory=` entries with `:` (tidings' own first).
fn folders(value: Option<&OsStr>) -> impl Iterator<Item = PathBuf> + '_ {
    value
        .into_iter()
        .flat_map(std::env::split_paths)
        .filter(|p| !p.as_os_str().is_empty())
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
    /// `[state]`: the folder, and PostgreSQL when `url` is given.
    pub state: state::Location,
    pub pipeline: Pipeline,
    pub extract: Extract,
    pub dedup: Dedup,
    pub tag: Tag,
    pub http: http::Config,
    pub poll: Poll,
    /// Address of the `/metrics` and `/healthz` listener; `None`: no listener.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The status page; `None`: off.
    pub web: Option<web::Config>,
    pub feeds: Vec<Feed>,
    pub sinks: Vec<sink::Config>,
    /// `[cluster]`: this process is one of several sharing the pipeline.
    pub cluster: Option<Cluster>,
}

/// `[cluster]`: processes started with the same config share one pipeline
/// through NATS JetStream (the work) and the PostgreSQL state store (the
/// state, the leases, the writer's lock).
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The NATS server(s), as for the nats sink.
    pub nats: String,
    /// Prefix of the cluster's streams and subjects, and of its lease table:
    /// two clusters can share one NATS and one database.
    pub name: String,
    /// This process's name in leases and logs; unique in the cluster.
    pub node: String,
    /// Hosts are hashed into this many partitions; a partition's feeds and
    /// pages are polled and fetched by the process that leases it.
    pub partitions: u32,
    /// A lease not renewed for this long passes to another process.
    pub lease: Duration,
    /// A message taken but not acknowledged for this long is delivered again
    /// (the process that took it died).
    pub ack_wait: Duration,
    /// Copies JetStream keeps of the cluster's streams (3 on a three-node
    /// JetStream cluster: one node can be lost).
    pub replicas: usize,
}

impl Cluster {
    fn read(
        s: &mut Section<'_>,
        state: &state::Location,
        http: &http::Config,
        sinks: &[sink::Config],
    ) -> Option<Cluster> {
        let nats = s.str("nats")?;
        for problem in sink::validate_nats(nats, "tidings.check", None) {
            s.problem("nats", problem);
        }
        let name = s.str("name").unwrap_or("tidings").to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            s.problem(
                "name",
                "letters, digits, '_' and '-' only (it names streams and tables)",
            );
        }
        let node = match s.str("node") {
            Some(node) => node.to_string(),
            None => default_node(),
        };
        let partitions = s.int("partitions", 64, 1..=4096) as u32;
        let lease = Duration::from_secs(s.int("lease_secs", 60, 2..=3600));
        let ack_wait = Duration::from_secs(s.int("ack_wait_secs", 60, 1..=86_400));
        let replicas = s.int("replicas", 1, 1..=5) as usize;
        // A fetch starts only while the lease has longer to run than the
        // request may take (see cluster::leases): below twice the timeout
        // a held lease would never have that long left.
        if lease < 2 * http.timeout {
            s.problem(
                "lease_secs",
                format!(
                    "must be at least twice [http] timeout_secs ({}s)",
                    http.timeout.as_secs()
                ),
            );
        }
        if state.postgres.is_none() {
            s.problem(
                "nats",
                "a cluster keeps its state in PostgreSQL: set [state] url",
            );
        }
        for sink in sinks {
            if matches!(sink, sink::Config::Jsonl(_) | sink::Config::Stdout(_)) {
                s.problem(
                    "nats",
                    format!(
                        "sink {} writes on whichever node is the writer at the time: in a \
                         cluster use postgres or nats sinks",
                        sink.place()
                    ),
                );
            }
        }
        Some(Cluster {
            nats: nats.to_string(),
            name,
            node,
            partitions,
            lease,
            ack_wait,
            replicas,
        })
    }
}

/// `host-pid`: unique on one machine and readable in logs.
fn default_node() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "node".to_string());
    format!("{host}-{}", std::process::id())
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

/// What becomes of a duplicate: written with `duplicate_of` set, or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DupPolicy {
    Flag,
    Drop,
}

#[derive(Debug, Clone)]
pub struct Dedup {
    /// `None`: the corpus embedded in the binary.
    pub seeds: Option<PathBuf>,
    /// Near duplicates (rewrites, teasers, updates).
    pub near: DupPolicy,
    /// Exact copies (the same text, URL or guid): syndication.
    pub copies: DupPolicy,
    pub window: Duration,
    /// A page that changed after it was written is written again, as its
    /// next version.
    pub updates: bool,
    /// How long after an item was last fetched its changed entry waits
    /// before the page is fetched again.
    pub recheck: Duration,
}

#[derive(Debug, Clone)]
pub struct Tag {
    /// `None`: the taxonomy embedded in the binary.
    pub taxonomy: Option<PathBuf>,
}

impl Config {
    /// Loads the config at `path`, or the embedded default when `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_at(&Locations {
            config: path.map(Path::to_path_buf),
            state: None,
        })
    }

    /// Loads the config of `at`, its state and output under `at.state`.
    pub fn load_at(at: &Locations) -> Result<Config, ConfigError> {
        let dirs = |base: &Path| Dirs {
            config: base.to_path_buf(),
            data: at.state.clone().unwrap_or_else(|| base.to_path_buf()),
        };
        match &at.config {
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
                Config::parse_in(&text, &origin, &dirs(base))
            }
            None => Config::parse_in(EMBEDDED, "<embedded config>", &dirs(Path::new(""))),
        }
    }

    /// Parses TOML text; relative paths resolve against `base`. `${VAR}`
    /// references and `X_file` keys are filled in from the process
    /// environment and the files first (see [`settings::environment`]).
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Config, ConfigError> {
        Config::parse_in(text, origin, &Dirs::beside(base))
    }

    /// Parses TOML text; relative paths resolve against `dirs`.
    pub fn parse_in(text: &str, origin: &str, dirs: &Dirs) -> Result<Config, ConfigError> {
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
        let mut doc = doc;
        settings::environment::expand(doc.get_mut(), &report, &dirs.config, &|name| {
            std::env::var_os(name)
        });
        let mut root = report.root(doc.get_ref());
        let config = read(&mut root, origin, dirs);
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

/// A path relative to `base`; reported when empty.
fn path(s: &mut Section<'_>, name: &'static str, base: &Path) -> Option<PathBuf> {
    let value = s.str(name)?;
    if value.trim().is_empty() {
        s.problem(name, "must not be empty");
    }
    Some(base.join(value))
}

/// `[state] url` and `schema`: the store in PostgreSQL.
fn state_postgres(s: &mut Section<'_>, base: &Path) -> Option<state::PgLocation> {
    let url = s.str("url");
    let schema = s.str("schema");
    let Some(url) = url else {
        if schema.is_some() {
            s.problem(
                "schema",
                "a schema needs a PostgreSQL url (`url = \"postgres://...\"`)",
            );
        }
        return None;
    };
    let schema = schema.unwrap_or("tidings");
    let mut ok = true;
    for problem in crate::pgtls::validate_url(url) {
        s.problem("url", problem);
        ok = false;
    }
    if let Err(problem) = state::check_schema_name(schema) {
        s.problem("schema", problem);
        ok = false;
    }
    if !ok {
        return None;
    }
    let tls = crate::pgtls::split(url)
        .map(|split| crate::pgtls::Tls::resolve(&split, base))
        .unwrap_or_default();
    // A CA file that cannot be read is found by `check`, not at start.
    if let crate::pgtls::Roots::File(path) = &tls.roots
        && let Err(problem) = crate::pgtls::read_certificates(path)
    {
        s.problem("url", problem);
        return None;
    }
    Some(state::PgLocation {
        tls,
        ..state::PgLocation::new(url, schema)
    })
}

fn read(root: &mut Section<'_>, origin: &str, dirs: &Dirs) -> Config {
    let base = &dirs.config;
    let mut s = root.table("state");
    let state_dir = path(&mut s, "dir", &dirs.data).unwrap_or_else(|| dirs.output("data"));
    let state = state::Location {
        postgres: state_postgres(&mut s, &dirs.config),
        dir: state_dir,
    };
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
            "drop" => DupPolicy::Drop,
            _ => DupPolicy::Flag,
        },
        copies: match s.choice("copies", &["drop", "flag"]) {
            "flag" => DupPolicy::Flag,
            _ => DupPolicy::Drop,
        },
        window: Duration::from_secs(86_400 * s.int("window_days", 30, 1..=36_500)),
        updates: s.bool("updates", true),
        recheck: Duration::from_secs(60 * s.int("recheck_minutes", 15, 0..=7 * 1440)),
    };
    s.finish();

    let mut s = root.table("tag");
    let tag = Tag {
        taxonomy: path(&mut s, "taxonomy", base),
    };
    s.finish();

    let mut s = root.table("http");
    let http = http::Config::read(&mut s);
    s.finish();

    let mut s = root.table("poll");
    let mut poll = Poll::read(&mut s);
    poll.recheck = dedup.updates.then_some(dedup.recheck);
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

    let mut s = root.table("web");
    let web = web::Config::read(&mut s);
    s.finish();

    let lists = root.strings("feeds_opml");
    let listed = feed_lists(root, &lists, dirs);
    let feeds = feeds(root.tables("feeds"), listed);
    let sinks = sinks(root.tables("sinks"), dirs);
    let sinks = if sinks.is_empty() {
        // A config without sinks still writes somewhere a user will look.
        vec![sink::Config::Jsonl(sink::JsonlConfig {
            path: dirs.output("out/records.jsonl"),
        })]
    } else {
        sinks
    };
    let mut s = root.table("cluster");
    let cluster = Cluster::read(&mut s, &state, &http, &sinks);
    s.finish();
    Config {
        origin: origin.to_string(),
        cluster,
        state,
        pipeline,
        extract,
        dedup,
        tag,
        http,
        poll,
        metrics_listen,
        web,
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

/// A feed of a `feeds_opml` list, with where it is listed.
struct Listed {
    feed: Feed,
    file: String,
    line: usize,
}

/// The feeds of the `feeds_opml` lists; a list that cannot be read or an
/// outline whose `xmlUrl` is unusable is a problem of that file.
fn feed_lists(root: &Section<'_>, paths: &[&str], dirs: &Dirs) -> Vec<Listed> {
    let mut listed = Vec::new();
    for path in paths {
        let path = dirs.input(path);
        let file = path.display().to_string();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                root.problem("feeds_opml", format!("cannot read {file}: {e}"));
                continue;
            }
        };
        let outlines = match opml::parse(&bytes) {
            Ok(outlines) => outlines,
            Err(e) => {
                root.report().push_in(&file, e.line, e.message);
                continue;
            }
        };
        for outline in outlines {
            let line = outline.line;
            match Feed::listed(outline) {
                Ok(feed) => listed.push(Listed {
                    feed,
                    file: file.clone(),
                    line,
                }),
                Err(message) => {
                    root.report()
                        .push_in(&file, Some(line), format!("xmlUrl: {message}"))
                }
            }
        }
    }
    listed
}

/// The `[[feeds]]` entries, then the listed feeds. A feed given twice in
/// `[[feeds]]`, or there and in a list, is a problem; a feed that lists
/// give more than once (a reader exports a feed under each of its folders)
/// is one feed with the tags of every listing.
fn feeds(mut entries: Vec<Section<'_>>, listed: Vec<Listed>) -> Vec<Feed> {
    let read: Vec<Option<Feed>> = entries.iter_mut().map(Feed::read).collect();
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
    let mut from_lists: Vec<Feed> = Vec::new();
    for l in listed {
        let in_config = read
            .iter()
            .position(|a| a.as_ref().is_some_and(|a| same_feed(&a.url, &l.feed.url)));
        if let Some(i) = in_config {
            let message = format!("same feed as the outline on line {} of {}", l.line, l.file);
            entries[i].problem("url", message);
            continue;
        }
        match from_lists
            .iter_mut()
            .find(|f| same_feed(&f.url, &l.feed.url))
        {
            Some(first) => {
                for tag in l.feed.tags {
                    if !first.tags.contains(&tag) {
                        first.tags.push(tag);
                    }
                }
            }
            None => from_lists.push(l.feed),
        }
    }
    for s in entries {
        s.finish();
    }
    read.into_iter().flatten().chain(from_lists).collect()
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

fn sinks(mut entries: Vec<Section<'_>>, dirs: &Dirs) -> Vec<sink::Config> {
    let read: Vec<Option<sink::Config>> = entries
        .iter_mut()
        .map(|s| sink::Config::read(s, dirs))
        .collect();
    let places: Vec<Option<Place>> = read
        .iter()
        .map(|s| s.as_ref().map(sink::Config::place))
        .collect();
    for (j, b) in places.iter().enumerate() {
        let Some(b) = b else { continue };
        let first = places[..j]
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
            matches!(&c.sinks[..], [sink::Config::Jsonl(j)] if j.path == Path::new("out/records.jsonl"))
        );
        assert_eq!(c.state.dir, Path::new("data"));
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder() {
        let c = Config::parse(
            "[state]\ndir = \"st\"\n[[sinks]]\nkind = \"jsonl\"\npath = \"o/r.jsonl\"\n",
            "t.toml",
            Path::new("/etc/tidings"),
        )
        .unwrap();
        assert_eq!(c.state.dir, Path::new("/etc/tidings/st"));
        assert!(
            matches!(&c.sinks[..], [sink::Config::Jsonl(j)] if j.path == Path::new("/etc/tidings/o/r.jsonl"))
        );
    }

    #[test]
    fn the_state_directory_is_the_first_of_systemds_list_and_an_empty_one_is_none() {
        let at = |state: &str| Locations::new(None, Some(OsStr::new(state)), None).state;
        assert_eq!(
            at("/var/lib/tidings"),
            Some(PathBuf::from("/var/lib/tidings"))
        );
        assert_eq!(
            at("/var/lib/tidings:/var/lib/other"),
            Some(PathBuf::from("/var/lib/tidings"))
        );
        assert_eq!(at(""), None);
        assert_eq!(Locations::new(None, None, None), Locations::default());
    }

    #[test]
    fn the_config_is_the_first_tidings_toml_of_the_configuration_directories() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(b.join(CONFIG_FILE), "").unwrap();
        let dirs = std::env::join_paths([&a, &b]).unwrap();
        let at = Locations::new(None, None, Some(&dirs));
        assert_eq!(at.config, Some(b.join(CONFIG_FILE)));
        let given = Path::new("mine.toml");
        let at = Locations::new(Some(given), None, Some(&dirs));
        assert_eq!(at.config.as_deref(), Some(given));
    }

    #[test]
    fn under_a_state_directory_state_and_records_resolve_there_and_reads_beside_the_config() {
        let at = Locations {
            config: None,
            state: Some(PathBuf::from("/var/lib/tidings")),
        };
        let c = Config::load_at(&at).unwrap();
        assert_eq!(c.state.dir, Path::new("/var/lib/tidings/data"));
        assert!(
            matches!(&c.sinks[..], [sink::Config::Jsonl(j)] if j.path == Path::new("/var/lib/tidings/out/records.jsonl"))
        );
        let dirs = Dirs {
            config: PathBuf::from("/etc/tidings"),
            data: PathBuf::from("/var/lib/tidings"),
        };
        let c = Config::parse_in(
            "[state]\ndir = \"st\"\n[tag]\ntaxonomy = \"t.toml\"\n[dedup]\nseeds = \"s\"\n\
             [[sinks]]\nkind = \"jsonl\"\npath = \"/srv/r.jsonl\"\n",
            "t.toml",
            &dirs,
        )
        .unwrap();
        assert_eq!(c.state.dir, Path::new("/var/lib/tidings/st"));
        assert_eq!(
            c.tag.taxonomy.as_deref(),
            Some(Path::new("/etc/tidings/t.toml"))
        );
        assert_eq!(c.dedup.seeds.as_deref(), Some(Path::new("/etc/tidings/s")));
        assert!(
            matches!(&c.sinks[..], [sink::Config::Jsonl(j)] if j.path == Path::new("/srv/r.jsonl"))
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
             copies = \"keep\"\n[[feeds]]\nurl = \"ftp://x\"\n[[sinks]]\nkind = \"jsonl\"\n",
        );
        let keys = [
            "pipeline.channel_capacity",
            "pipeline.batch_size",
            "dedup.near",
            "dedup.copies",
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
        let policy = |extra: &str| {
            Config::parse(&format!("[http]\n{extra}\n"), "t.toml", Path::new("."))
                .map(|c| c.http.private_networks)
        };
        assert_eq!(policy("").unwrap(), http::PrivateNetworks::Deny);
        assert_eq!(
            policy("private_networks = \"allow\"").unwrap(),
            http::PrivateNetworks::Allow
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

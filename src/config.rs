//! Configuration: parsed and validated once at start-up.
//!
//! The TOML is read into `Raw*` structs (serde, unknown keys rejected with their
//! path), then every value is checked and turned into a [`Config`] with no
//! `Option`s left to interpret. All problems are collected, not just the first,
//! so `tidings check` can list them in one go.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The config compiled into the binary, used when no `--config` is given.
pub const EMBEDDED: &str = include_str!("../config/tidings.toml");

/// One problem found in a config, with the file and the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.message)
        }
    }
}

/// Every problem of a config that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ConfigError(pub Vec<Problem>);

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    pipeline: RawPipeline,
    #[serde(default)]
    extract: RawExtract,
    #[serde(default)]
    dedup: RawDedup,
    #[serde(default)]
    tag: RawTag,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    poll: RawPoll,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    feeds: Vec<RawFeed>,
    #[serde(default)]
    sinks: Vec<RawSink>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawState {
    dir: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    channel_capacity: Option<i64>,
    extract_workers: Option<i64>,
    tag_workers: Option<i64>,
    batch_size: Option<i64>,
    batch_timeout_ms: Option<i64>,
    shutdown_grace_secs: Option<i64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExtract {
    max_html_mib: Option<f64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDedup {
    seeds: Option<String>,
    near: Option<String>,
    window_days: Option<i64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTag {
    taxonomy: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    user_agent: Option<String>,
    contact: Option<String>,
    connect_timeout_secs: Option<i64>,
    timeout_secs: Option<i64>,
    max_body_mib: Option<f64>,
    max_redirects: Option<i64>,
    concurrency: Option<i64>,
    per_host_concurrency: Option<i64>,
    per_host_delay_ms: Option<i64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPoll {
    interval_secs: Option<i64>,
    min_interval_secs: Option<i64>,
    max_interval_secs: Option<i64>,
    jitter: Option<f64>,
    max_backoff_secs: Option<i64>,
    dead_after_days: Option<i64>,
    full_text_min_words: Option<i64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    url: String,
    name: Option<String>,
    interval_secs: Option<i64>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    kind: String,
    path: Option<String>,
    url: Option<String>,
    table: Option<String>,
    subject: Option<String>,
    stream: Option<String>,
}

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
}

#[derive(Debug, Clone)]
pub struct Extract {
    pub max_html_bytes: usize,
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
        let problem = |key: String, message: String| Problem {
            file: origin.to_string(),
            key,
            message,
        };
        let located = |e: &toml::de::Error| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            match line {
                Some(n) => format!("{} (line {n})", one_line(e.message())),
                None => one_line(e.message()),
            }
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| ConfigError(vec![problem(String::new(), located(&e))]))?;
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            ConfigError(vec![problem(key, located(e.inner()))])
        })?;
        let mut v = Validator {
            problems: Vec::new(),
            origin,
            base,
        };
        let config = v.config(raw);
        if v.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(v.problems))
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct Validator<'a> {
    problems: Vec<Problem>,
    origin: &'a str,
    base: &'a Path,
}

impl Validator<'_> {
    fn report(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.origin.to_string(),
            key: key.to_string(),
            message: message.into(),
        });
    }

    fn path(&mut self, key: &str, value: &str) -> PathBuf {
        if value.trim().is_empty() {
            self.report(key, "must not be empty");
        }
        self.base.join(value)
    }

    /// An integer within `min..=max`, or `default` when absent.
    fn int(&mut self, key: &str, value: Option<i64>, default: i64, min: i64, max: i64) -> u64 {
        let v = value.unwrap_or(default);
        if v < min || v > max {
            self.report(key, format!("{v} is out of range {min}..={max}"));
            return default as u64;
        }
        v as u64
    }

    fn workers(&mut self, key: &str, value: Option<i64>) -> usize {
        match self.int(key, value, 0, 0, 256) {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n as usize,
        }
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let state_dir = self.path("state.dir", raw.state.dir.as_deref().unwrap_or("data"));
        let p = raw.pipeline;
        let pipeline = Pipeline {
            channel_capacity: self.int(
                "pipeline.channel_capacity",
                p.channel_capacity,
                64,
                1,
                100_000,
            ) as usize,
            extract_workers: self.workers("pipeline.extract_workers", p.extract_workers),
            tag_workers: self.workers("pipeline.tag_workers", p.tag_workers),
            batch_size: self.int("pipeline.batch_size", p.batch_size, 64, 1, 100_000) as usize,
            batch_timeout: Duration::from_millis(self.int(
                "pipeline.batch_timeout_ms",
                p.batch_timeout_ms,
                500,
                1,
                600_000,
            )),
            shutdown_grace: Duration::from_secs(self.int(
                "pipeline.shutdown_grace_secs",
                p.shutdown_grace_secs,
                30,
                0,
                3600,
            )),
        };
        let mib = raw.extract.max_html_mib.unwrap_or(8.0);
        if !(mib > 0.0 && mib <= 1024.0) {
            self.report(
                "extract.max_html_mib",
                format!("{mib} is out of range (0, 1024]"),
            );
        }
        let extract = Extract {
            max_html_bytes: (mib.clamp(0.001, 1024.0) * 1024.0 * 1024.0) as usize,
        };
        let near = match raw.dedup.near.as_deref().unwrap_or("flag") {
            "flag" => NearPolicy::Flag,
            "drop" => NearPolicy::Drop,
            other => {
                self.report(
                    "dedup.near",
                    format!("unknown policy {other:?}, expected \"flag\" or \"drop\""),
                );
                NearPolicy::Flag
            }
        };
        let dedup = Dedup {
            seeds: raw.dedup.seeds.map(|s| self.path("dedup.seeds", &s)),
            near,
            window: Duration::from_secs(
                86_400 * self.int("dedup.window_days", raw.dedup.window_days, 30, 1, 36_500),
            ),
        };
        let tag = Tag {
            taxonomy: raw.tag.taxonomy.map(|s| self.path("tag.taxonomy", &s)),
        };
        let http = self.http(raw.http);
        let poll = self.poll(raw.poll);
        let metrics_listen = raw.metrics.listen.and_then(|l| match l.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.report(
                    "metrics.listen",
                    format!("{l:?} is not an address such as 127.0.0.1:9464"),
                );
                None
            }
        });
        let feeds = raw
            .feeds
            .into_iter()
            .enumerate()
            .filter_map(|(i, f)| self.feed(i, f))
            .collect();
        let sinks: Vec<Sink> = raw
            .sinks
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| self.sink(i, s))
            .collect();
        let sinks = if sinks.is_empty() {
            // A config without sinks still writes somewhere a user will look.
            vec![Sink::Jsonl {
                path: self.base.join("out/records.jsonl"),
            }]
        } else {
            sinks
        };
        Config {
            origin: self.origin.to_string(),
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

    fn http(&mut self, raw: RawHttp) -> Http {
        let mut user_agent = raw
            .user_agent
            .unwrap_or_else(|| format!("tidings/{}", env!("CARGO_PKG_VERSION")));
        if let Some(contact) = raw.contact {
            user_agent = format!("{user_agent} (+{contact})");
        }
        if user_agent.chars().any(|c| c.is_control()) {
            self.report("http.user_agent", "must not contain control characters");
        }
        let mib = raw.max_body_mib.unwrap_or(16.0);
        if !(mib > 0.0 && mib <= 1024.0) {
            self.report(
                "http.max_body_mib",
                format!("{mib} is out of range (0, 1024]"),
            );
        }
        Http {
            user_agent,
            connect_timeout: Duration::from_secs(self.int(
                "http.connect_timeout_secs",
                raw.connect_timeout_secs,
                10,
                1,
                300,
            )),
            timeout: Duration::from_secs(self.int(
                "http.timeout_secs",
                raw.timeout_secs,
                30,
                1,
                3600,
            )),
            max_body_bytes: (mib.clamp(0.001, 1024.0) * 1024.0 * 1024.0) as usize,
            max_redirects: self.int("http.max_redirects", raw.max_redirects, 10, 0, 10) as usize,
            concurrency: self.int("http.concurrency", raw.concurrency, 32, 1, 10_000) as usize,
            per_host_concurrency: self.int(
                "http.per_host_concurrency",
                raw.per_host_concurrency,
                2,
                1,
                1000,
            ) as usize,
            per_host_delay: Duration::from_millis(self.int(
                "http.per_host_delay_ms",
                raw.per_host_delay_ms,
                250,
                0,
                600_000,
            )),
        }
    }

    fn poll(&mut self, raw: RawPoll) -> Poll {
        let secs = |v: &mut Self, key: &str, value, default| {
            Duration::from_secs(v.int(key, value, default, 1, 30 * 86_400))
        };
        let poll = Poll {
            interval: secs(self, "poll.interval_secs", raw.interval_secs, 600),
            min_interval: secs(self, "poll.min_interval_secs", raw.min_interval_secs, 60),
            max_interval: secs(
                self,
                "poll.max_interval_secs",
                raw.max_interval_secs,
                6 * 3600,
            ),
            jitter: raw.jitter.unwrap_or(0.1),
            max_backoff: secs(
                self,
                "poll.max_backoff_secs",
                raw.max_backoff_secs,
                6 * 3600,
            ),
            dead_after: Duration::from_secs(
                86_400 * self.int("poll.dead_after_days", raw.dead_after_days, 3, 1, 365),
            ),
            full_text_min_words: self.int(
                "poll.full_text_min_words",
                raw.full_text_min_words,
                150,
                0,
                100_000,
            ) as usize,
        };
        if !(0.0..=0.5).contains(&poll.jitter) {
            self.report(
                "poll.jitter",
                format!("{} is out of range 0..=0.5", poll.jitter),
            );
        }
        if poll.min_interval > poll.max_interval {
            self.report("poll.min_interval_secs", "is above poll.max_interval_secs");
        }
        poll
    }

    fn feed(&mut self, i: usize, raw: RawFeed) -> Option<Feed> {
        let key = format!("feeds[{i}]");
        let url = match url::Url::parse(&raw.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            Ok(u) => {
                self.report(
                    &format!("{key}.url"),
                    format!("scheme {:?} is not http or https", u.scheme()),
                );
                None
            }
            Err(e) => {
                self.report(
                    &format!("{key}.url"),
                    format!("{:?} is not a URL: {e}", raw.url),
                );
                None
            }
        };
        let interval = raw.interval_secs.map(|s| {
            Duration::from_secs(self.int(
                &format!("{key}.interval_secs"),
                Some(s),
                600,
                10,
                604_800,
            ))
        });
        Some(Feed {
            url: url?,
            name: raw.name,
            interval,
            tags: raw.tags,
        })
    }

    fn sink(&mut self, i: usize, raw: RawSink) -> Option<Sink> {
        let key = format!("sinks[{i}]");
        let allowed: &[&str] = match raw.kind.as_str() {
            "jsonl" => &["path"],
            "stdout" => &[],
            "postgres" => &["url", "table"],
            "nats" => &["url", "subject", "stream"],
            other => {
                self.report(
                    &format!("{key}.kind"),
                    format!(
                        "unknown sink kind {other:?}, expected \"jsonl\", \"stdout\", \"postgres\" or \"nats\""
                    ),
                );
                return None;
            }
        };
        let given = [
            ("path", raw.path.is_some()),
            ("url", raw.url.is_some()),
            ("table", raw.table.is_some()),
            ("subject", raw.subject.is_some()),
            ("stream", raw.stream.is_some()),
        ];
        for (name, present) in given {
            if present && !allowed.contains(&name) {
                self.report(
                    &format!("{key}.{name}"),
                    format!("not a key of a {:?} sink", raw.kind),
                );
            }
        }
        let required = |v: &mut Self, name: &str, value: Option<String>| {
            if value.is_none() {
                v.report(
                    &format!("{key}.{name}"),
                    format!("required for a {} sink", raw.kind),
                );
            }
            value
        };
        match raw.kind.as_str() {
            "stdout" => Some(Sink::Stdout),
            "jsonl" => {
                let path = required(self, "path", raw.path)?;
                Some(Sink::Jsonl {
                    path: self.path(&format!("{key}.path"), &path),
                })
            }
            "postgres" => {
                let url = required(self, "url", raw.url)?;
                let table = raw.table.unwrap_or_else(|| "records".to_string());
                let problems = crate::sink::validate_postgres(&url, &table);
                for p in &problems {
                    self.report(&key, p.clone());
                }
                problems.is_empty().then_some(Sink::Postgres { url, table })
            }
            _ => {
                let url = required(self, "url", raw.url);
                let subject = required(self, "subject", raw.subject);
                let (url, subject) = (url?, subject?);
                let problems = crate::sink::validate_nats(&url, &subject, raw.stream.as_deref());
                for p in &problems {
                    self.report(&key, p.clone());
                }
                problems.is_empty().then_some(Sink::Nats {
                    url,
                    subject,
                    stream: raw.stream,
                })
            }
        }
    }
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
    fn syntax_error_names_the_file() {
        let p = problems("[state\ndir = 1");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("t.toml: "), "{p:?}");
    }
}

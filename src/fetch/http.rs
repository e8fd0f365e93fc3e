//! HTTP: the one choke point every remote byte passes.
//!
//! One reqwest client with connect and total timeouts, at most
//! `max_redirects` redirects, transparent gzip/brotli/deflate, and a cap on the
//! decompressed body enforced while streaming (a gzip bomb stops at the cap).
//! Requests are limited globally and per host, with a minimum delay between two
//! requests to the same host. The same type records every response to a
//! fixture folder (`tidings record`) or answers from one (`tidings replay`).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{self, HeaderMap};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

use crate::config;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: timed out")]
    Timeout { url: String },
    #[error("{url}: cannot connect: {reason}")]
    Connect { url: String, reason: String },
    #[error("{url}: more than {max} redirects")]
    Redirects { url: String, max: usize },
    #[error("{url}: body over the {limit}-byte limit")]
    TooLarge { url: String, limit: usize },
    #[error("{url}: HTTP {status}")]
    Status {
        url: String,
        status: u16,
        /// From `Retry-After` on 429 and 503.
        retry_after: Option<Duration>,
    },
    #[error("{url}: {reason}")]
    Other { url: String, reason: String },
    #[error("{url}: no recorded response left to replay")]
    NotRecorded { url: String },
}

impl FetchError {
    /// Worth trying again later: the server or the network may recover.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Timeout { .. } | FetchError::Connect { .. } | FetchError::Other { .. } => {
                true
            }
            FetchError::Status { status, .. } => *status == 429 || *status == 408 || *status >= 500,
            FetchError::Redirects { .. }
            | FetchError::TooLarge { .. }
            | FetchError::NotRecorded { .. } => false,
        }
    }

    /// The server said the resource is gone for good.
    pub fn is_gone(&self) -> bool {
        matches!(self, FetchError::Status { status: 410, .. })
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short label for metrics and skip counts.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Timeout { .. } => "timeout",
            FetchError::Connect { .. } => "connect",
            FetchError::Redirects { .. } => "redirects",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Status { status: 429, .. } => "http_429",
            FetchError::Status { status, .. } if *status >= 500 => "http_5xx",
            FetchError::Status { .. } => "http_4xx",
            FetchError::Other { .. } => "other",
            FetchError::NotRecorded { .. } => "not_recorded",
        }
    }
}

/// Validators of an earlier response, for a conditional GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A response whose body was read within the caps. 304 is a response, not an error.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub url: Url,
    pub content_type: Option<String>,
    pub validators: Validators,
    /// `Cache-Control: max-age`.
    pub max_age: Option<Duration>,
    pub body: Vec<u8>,
    /// When it arrived (the recorded time, in replay).
    pub received_at: DateTime<Utc>,
}

struct HostSlot {
    permits: Semaphore,
    next_start: tokio::sync::Mutex<Instant>,
}

enum Mode {
    Live {
        client: reqwest::Client,
        recorder: Option<Recorder>,
    },
    Replay(Mutex<HashMap<String, VecDeque<Recorded>>>, PathBuf),
}

pub struct Http {
    mode: Mode,
    global: Semaphore,
    hosts: Mutex<HashMap<String, Arc<HostSlot>>>,
    cfg: config::Http,
}

impl Http {
    /// A live client; with `record`, every response is also stored in that folder.
    pub fn live(cfg: &config::Http, record: Option<&Path>) -> anyhow::Result<Http> {
        let client = reqwest::Client::builder()
            .user_agent(&cfg.user_agent)
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::limited(cfg.max_redirects))
            .build()?;
        let recorder = record.map(Recorder::create).transpose()?;
        Ok(Http::with_mode(Mode::Live { client, recorder }, cfg))
    }

    /// Answers from a fixture folder made by `tidings record` (or by hand).
    pub fn replay(dir: &Path, cfg: &config::Http) -> anyhow::Result<Http> {
        let mut by_url: HashMap<String, VecDeque<Recorded>> = HashMap::new();
        for r in Recorded::load_all(dir)? {
            by_url.entry(r.url.clone()).or_default().push_back(r);
        }
        Ok(Http::with_mode(
            Mode::Replay(Mutex::new(by_url), dir.to_path_buf()),
            cfg,
        ))
    }

    /// How many polls a replay holds: the most responses recorded for one URL.
    pub fn rounds(&self) -> usize {
        match &self.mode {
            Mode::Replay(entries, _) => entries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .map(VecDeque::len)
                .max()
                .unwrap_or(0),
            Mode::Live { .. } => 1,
        }
    }

    fn with_mode(mode: Mode, cfg: &config::Http) -> Http {
        Http {
            mode,
            global: Semaphore::new(cfg.concurrency),
            hosts: Mutex::new(HashMap::new()),
            cfg: cfg.clone(),
        }
    }

    fn slot(&self, url: &Url) -> Arc<HostSlot> {
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts
            .entry(host)
            .or_insert_with(|| {
                Arc::new(HostSlot {
                    permits: Semaphore::new(self.cfg.per_host_concurrency),
                    next_start: tokio::sync::Mutex::new(Instant::now()),
                })
            })
            .clone()
    }

    /// GET with the caps, limits and (when given) a conditional request.
    pub async fn get(&self, url: &Url, validators: &Validators) -> Result<Response, FetchError> {
        let (client, recorder) = match &self.mode {
            Mode::Replay(entries, _) => return self.replayed(entries, url),
            Mode::Live { client, recorder } => (client, recorder),
        };
        let _global = self.global.acquire().await.expect("semaphore never closed");
        let slot = self.slot(url);
        let _host = slot
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        {
            let mut next = slot.next_start.lock().await;
            // A timer has millisecond granularity: sleeping when no wait is due
            // would cost every request to a host up to a millisecond, in turn.
            if *next > Instant::now() {
                tokio::time::sleep_until(*next).await;
            }
            *next = Instant::now() + self.cfg.per_host_delay;
        }
        let response = self.fetch(client, url, validators).await;
        if let (Some(rec), Ok(resp)) = (recorder, &response) {
            rec.store(url, resp);
        }
        if let (
            Some(rec),
            Err(FetchError::Status {
                status,
                retry_after,
                ..
            }),
        ) = (recorder, &response)
        {
            rec.store_status(url, *status, *retry_after);
        }
        response
    }

    async fn fetch(
        &self,
        client: &reqwest::Client,
        url: &Url,
        validators: &Validators,
    ) -> Result<Response, FetchError> {
        let mut req = client.get(url.clone());
        if let Some(etag) = &validators.etag {
            req = req.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            req = req.header(header::IF_MODIFIED_SINCE, lm);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| classify(url, e, self.cfg.max_redirects))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        if status == 429 || status == 503 || status >= 400 {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
                retry_after: retry_after(&headers),
            });
        }
        let limit = self.cfg.max_body_bytes;
        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            limit,
        };
        // Content-Length is the compressed size, so this only rejects early;
        // the decompressed cap below is what protects memory.
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let final_url = resp.url().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| classify(url, e, self.cfg.max_redirects))?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            url: final_url,
            content_type: header_str(&headers, header::CONTENT_TYPE),
            validators: Validators {
                etag: header_str(&headers, header::ETAG),
                last_modified: header_str(&headers, header::LAST_MODIFIED),
            },
            max_age: max_age(&headers),
            body,
            received_at: Utc::now(),
        })
    }

    fn replayed(
        &self,
        entries: &Mutex<HashMap<String, VecDeque<Recorded>>>,
        url: &Url,
    ) -> Result<Response, FetchError> {
        let Mode::Replay(_, dir) = &self.mode else {
            unreachable!("replayed is only called in replay mode")
        };
        let mut entries = entries.lock().unwrap_or_else(|e| e.into_inner());
        let next = entries.get_mut(url.as_str()).and_then(|q| {
            if q.len() > 1 {
                q.pop_front()
            } else {
                q.front().cloned()
            }
        });
        let rec = next.ok_or_else(|| FetchError::NotRecorded {
            url: url.to_string(),
        })?;
        rec.to_response(dir, url, self.cfg.max_body_bytes)
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

fn max_age(headers: &HeaderMap) -> Option<Duration> {
    parse_max_age(headers.get(header::CACHE_CONTROL)?.to_str().ok()?)
}

fn parse_max_age(cache_control: &str) -> Option<Duration> {
    cache_control
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn classify(url: &Url, e: reqwest::Error, max: usize) -> FetchError {
    let url = url.to_string();
    if e.is_timeout() {
        FetchError::Timeout { url }
    } else if e.is_redirect() {
        FetchError::Redirects { url, max }
    } else if e.is_connect() {
        FetchError::Connect {
            url,
            reason: root_cause(&e),
        }
    } else {
        FetchError::Other {
            url,
            reason: root_cause(&e),
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// One response in a fixture folder: a line of `responses.jsonl`, its body in
/// `bodies/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recorded {
    pub url: String,
    pub status: u16,
    pub time: DateTime<Utc>,
    #[serde(default)]
    pub headers: HashMap<String, String>,
    /// File name under `bodies/`; none for an empty body.
    #[serde(default)]
    pub body: Option<String>,
}

impl Recorded {
    fn load_all(dir: &Path) -> anyhow::Result<Vec<Recorded>> {
        use anyhow::Context;
        let path = dir.join("responses.jsonl");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading fixture index {}", path.display()))?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .with_context(|| format!("{}: line {}", path.display(), i + 1))
            })
            .collect()
    }

    fn to_response(&self, dir: &Path, url: &Url, limit: usize) -> Result<Response, FetchError> {
        let header = |name: &str| {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if self.status >= 400 {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: self.status,
                retry_after: header("retry-after")
                    .and_then(|v| v.parse().ok())
                    .map(Duration::from_secs),
            });
        }
        let body = match &self.body {
            Some(name) => {
                std::fs::read(dir.join("bodies").join(name)).map_err(|e| FetchError::Other {
                    url: url.to_string(),
                    reason: format!("fixture body {name}: {e}"),
                })?
            }
            None => Vec::new(),
        };
        if body.len() > limit {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
                limit,
            });
        }
        Ok(Response {
            status: self.status,
            url: url.clone(),
            content_type: header("content-type"),
            validators: Validators {
                etag: header("etag"),
                last_modified: header("last-modified"),
            },
            max_age: header("cache-control").as_deref().and_then(parse_max_age),
            body,
            received_at: self.time,
        })
    }
}

/// Appends every response to a fixture folder as it arrives.
struct Recorder {
    dir: PathBuf,
    next: Mutex<u64>,
}

impl Recorder {
    fn create(dir: &Path) -> anyhow::Result<Recorder> {
        std::fs::create_dir_all(dir.join("bodies"))?;
        let existing = std::fs::read_dir(dir.join("bodies"))?.count() as u64;
        Ok(Recorder {
            dir: dir.to_path_buf(),
            next: Mutex::new(existing),
        })
    }

    fn append(&self, mut rec: Recorded, body: &[u8]) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        if !body.is_empty() {
            let name = format!("{:06}", *next);
            *next += 1;
            if let Err(e) = std::fs::write(self.dir.join("bodies").join(&name), body) {
                tracing::warn!("recording {}: {e}", rec.url);
                return;
            }
            rec.body = Some(name);
        }
        let line = match serde_json::to_string(&rec) {
            Ok(l) => l + "\n",
            Err(e) => {
                tracing::warn!("recording {}: {e}", rec.url);
                return;
            }
        };
        use std::io::Write;
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("responses.jsonl"))
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            tracing::warn!("recording {}: {e}", rec.url);
        }
    }

    fn store(&self, url: &Url, resp: &Response) {
        let mut headers = HashMap::new();
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                headers.insert(k.to_string(), v.clone());
            }
        };
        put("content-type", &resp.content_type);
        put("etag", &resp.validators.etag);
        put("last-modified", &resp.validators.last_modified);
        put(
            "cache-control",
            &resp.max_age.map(|a| format!("max-age={}", a.as_secs())),
        );
        let rec = Recorded {
            url: url.to_string(),
            status: resp.status,
            time: resp.received_at,
            headers,
            body: None,
        };
        self.append(rec, &resp.body);
    }

    fn store_status(&self, url: &Url, status: u16, retry_after: Option<Duration>) {
        let mut headers = HashMap::new();
        if let Some(r) = retry_after {
            headers.insert("retry-after".to_string(), r.as_secs().to_string());
        }
        let rec = Recorded {
            url: url.to_string(),
            status,
            time: Utc::now(),
            headers,
            body: None,
        };
        self.append(rec, &[]);
    }
}

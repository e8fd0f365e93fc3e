//! HTTP: the one choke point every remote byte passes.
//!
//! reqwest clients with connect and total timeouts, transparent
//! gzip/brotli/deflate, and a cap on the decompressed body enforced while
//! streaming (a gzip bomb stops at the cap). Redirects are followed here, at
//! most `max_redirects`, so that each hop is judged like a link. Requests are
//! limited globally and per host, with a minimum delay between two requests to
//! the same host. The same type records every response to a fixture folder
//! (`tidings record`) or answers from one (`tidings replay`).
//!
//! Network policy (`[http] private_networks`): feeds list links that anyone
//! can write, so under `deny` a link or redirect must not reach a loopback,
//! private, link-local, shared, unspecified or multicast address, unless it
//! stays on the origin of the feed that listed it (the feeds are the
//! operator's choice). An IP literal is judged before the request; a name is
//! judged by the addresses the resolver of the guarded client hands to the
//! connector, so a name that resolves to a public address when looked at and
//! to 127.0.0.1 when connected to (DNS rebinding) is refused all the same.
//! Only `http` and `https` are fetched, under either policy.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{self, HeaderMap};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

mod fixtures;
mod policy;

use fixtures::{Exchange, Recorder};
use policy::{NonPublic, PublicOnly, proxy_hosts, route};

use crate::redact;
use crate::settings::Section;
use crate::state::Validators;

/// `[http]`: how tidings fetches.
#[derive(Debug, Clone)]
pub struct Config {
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

impl Config {
    pub fn read(s: &mut Section<'_>) -> Config {
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
        let mib = |n: f64| (n * 1024.0 * 1024.0) as usize;
        Config {
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
}

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
    /// Refused by the network policy: not http(s), or a non-public address.
    #[error("{url}: not fetched: {reason}")]
    Denied { url: String, reason: String },
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
            | FetchError::NotRecorded { .. }
            | FetchError::Denied { .. } => false,
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
            FetchError::Denied { .. } => "denied",
        }
    }
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

/// The clients of live mode.
struct Clients {
    /// Connects anywhere: the feeds' own origins, and everything under "allow".
    open: reqwest::Client,
    /// Connects to public addresses only; `None` under "allow".
    guarded: Option<reqwest::Client>,
    /// Hosts of the proxies taken from the environment.
    proxies: Vec<String>,
}

/// What replay mode answers from, and what it was asked.
struct Replay {
    answers: Mutex<HashMap<String, VecDeque<Exchange>>>,
    dir: PathBuf,
    asked: Mutex<Vec<(String, Validators)>>,
}

enum Mode {
    Live {
        clients: Clients,
        recorder: Option<Recorder>,
    },
    Replay(Replay),
}

/// The HTTP client of a run: live, recording, or replaying a fixture folder.
pub struct Client {
    mode: Mode,
    global: Semaphore,
    hosts: Mutex<HashMap<String, Arc<HostSlot>>>,
    cfg: Config,
}

impl Client {
    /// A live client; with `record`, every response is also stored in that folder.
    pub fn live(cfg: &Config, record: Option<&Path>) -> anyhow::Result<Client> {
        let builder = || {
            reqwest::Client::builder()
                .user_agent(&cfg.user_agent)
                .connect_timeout(cfg.connect_timeout)
                .timeout(cfg.timeout)
                // Followed by `follow`, which judges every hop.
                .redirect(reqwest::redirect::Policy::none())
        };
        let proxies = proxy_hosts(|name| std::env::var(name).ok());
        let guarded = match cfg.private_networks {
            PrivateNetworks::Allow => None,
            PrivateNetworks::Deny => Some(
                builder()
                    .dns_resolver(PublicOnly {
                        proxies: proxies.clone(),
                    })
                    .build()?,
            ),
        };
        let clients = Clients {
            open: builder().build()?,
            guarded,
            proxies,
        };
        let recorder = record.map(Recorder::create).transpose()?;
        Ok(Client::with_mode(Mode::Live { clients, recorder }, cfg))
    }

    /// Answers from a fixture folder made by `tidings record` (or by hand).
    pub fn replay(dir: &Path, cfg: &Config) -> anyhow::Result<Client> {
        let mut by_url: HashMap<String, VecDeque<Exchange>> = HashMap::new();
        // Fixtures hold URLs without their secrets (and older or hand-made
        // ones may hold them whole): both sides are looked up redacted.
        for r in Exchange::load_all(dir)? {
            by_url.entry(redact::url(&r.url)).or_default().push_back(r);
        }
        Ok(Client::with_mode(
            Mode::Replay(Replay {
                answers: Mutex::new(by_url),
                dir: dir.to_path_buf(),
                asked: Mutex::new(Vec::new()),
            }),
            cfg,
        ))
    }

    /// What a replay was asked so far, in order: each URL (without its
    /// secrets) with the validators the request carried. Empty when live.
    pub fn asked(&self) -> Vec<(String, Validators)> {
        match &self.mode {
            Mode::Replay(replay) => replay
                .asked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            Mode::Live { .. } => Vec::new(),
        }
    }

    /// How many polls a replay holds: the most responses recorded for one URL.
    pub fn rounds(&self) -> usize {
        match &self.mode {
            Mode::Replay(replay) => replay
                .answers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .map(VecDeque::len)
                .max()
                .unwrap_or(0),
            Mode::Live { .. } => 1,
        }
    }

    fn with_mode(mode: Mode, cfg: &Config) -> Client {
        Client {
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

    /// GET with the caps, limits and (when given) a conditional request, for
    /// the configured feed whose origin is `feed`: only there may a request
    /// reach a non-public address under `private_networks = "deny"`.
    pub async fn get(
        &self,
        url: &Url,
        validators: &Validators,
        feed: &url::Origin,
    ) -> Result<Response, FetchError> {
        http_only(url).map_err(|why| denied(url, url, why))?;
        let (clients, recorder) = match &self.mode {
            Mode::Replay(replay) => return self.replayed(replay, url, validators),
            Mode::Live { clients, recorder } => (clients, recorder),
        };
        let _global = self.global.acquire().await.expect("semaphore never closed");
        let response = self.follow(clients, url, validators, feed).await;
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

    /// Requests `url`, following redirects hop by hop: each hop is routed by
    /// the network policy and waits its turn at its own host. Errors name
    /// `url`, the address asked for.
    async fn follow(
        &self,
        clients: &Clients,
        url: &Url,
        validators: &Validators,
        feed: &url::Origin,
    ) -> Result<Response, FetchError> {
        let mut hop = url.clone();
        let mut redirects = 0;
        // `timeout_secs` bounds the whole request, redirects included, from the
        // first byte sent (not from the wait for a host slot).
        let mut deadline = None;
        loop {
            let client = route(clients, &hop, feed)
                .await
                .map_err(|why| denied(url, &hop, why))?;
            let slot = self.slot(&hop);
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
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + self.cfg.timeout);
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(FetchError::Timeout { url: shown(url) });
            }
            let mut req = client.get(hop.clone()).timeout(left);
            if let Some(etag) = &validators.etag {
                req = req.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &validators.last_modified {
                req = req.header(header::IF_MODIFIED_SINCE, lm);
            }
            let resp = req.send().await.map_err(|e| classify(url, e))?;
            let Some(next) = redirect_target(&hop, &resp) else {
                return self.read(url, resp).await;
            };
            if redirects == self.cfg.max_redirects {
                return Err(FetchError::Redirects {
                    url: shown(url),
                    max: self.cfg.max_redirects,
                });
            }
            redirects += 1;
            http_only(&next).map_err(|why| denied(url, &next, why))?;
            hop = next;
        }
    }

    /// The status, headers and capped body of the final response of `url`.
    async fn read(&self, url: &Url, mut resp: reqwest::Response) -> Result<Response, FetchError> {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        if status == 429 || status == 503 || status >= 400 {
            return Err(FetchError::Status {
                url: shown(url),
                status,
                retry_after: retry_after(&headers),
            });
        }
        let limit = self.cfg.max_body_bytes;
        let too_large = || FetchError::TooLarge {
            url: shown(url),
            limit,
        };
        // Content-Length is the compressed size, so this only rejects early;
        // the decompressed cap below is what protects memory.
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let final_url = resp.url().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| classify(url, e))? {
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

    /// The next recorded answer for `url` (the last one again once the
    /// others are used up), answered as the server would a conditional
    /// request: 304 when the validators sent are those of the answer.
    fn replayed(
        &self,
        replay: &Replay,
        url: &Url,
        sent: &Validators,
    ) -> Result<Response, FetchError> {
        replay
            .asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((shown(url), sent.clone()));
        let mut entries = replay.answers.lock().unwrap_or_else(|e| e.into_inner());
        let next = entries.get_mut(&shown(url)).and_then(|q| {
            if q.len() > 1 {
                q.pop_front()
            } else {
                q.front().cloned()
            }
        });
        let rec = next.ok_or_else(|| FetchError::NotRecorded { url: shown(url) })?;
        let mut response = rec.to_response(&replay.dir, url, self.cfg.max_body_bytes)?;
        let same = |a: &Option<String>, b: &Option<String>| a.is_some() && a == b;
        let unchanged = same(&sent.etag, &response.validators.etag)
            || same(&sent.last_modified, &response.validators.last_modified);
        if response.status == 200 && unchanged {
            response.status = 304;
            response.body.clear();
        }
        Ok(response)
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

fn classify(url: &Url, e: reqwest::Error) -> FetchError {
    let url = shown(url);
    if let Some(refused) = find_cause::<NonPublic>(&e) {
        FetchError::Denied {
            url,
            reason: refused.to_string(),
        }
    } else if e.is_timeout() {
        FetchError::Timeout { url }
    } else if e.is_connect() {
        FetchError::Connect {
            url,
            reason: redact::text(&root_cause(&e)),
        }
    } else {
        FetchError::Other {
            url,
            reason: redact::text(&root_cause(&e)),
        }
    }
}

/// The first error of type `T` in the chain of `e`.
fn find_cause<'e, T: std::error::Error + 'static>(
    e: &'e (dyn std::error::Error + 'static),
) -> Option<&'e T> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        cur = err.source();
    }
    None
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The next hop of a redirect response, resolved against the hop that
/// answered; `None` for any other response (or a redirect without a usable
/// `Location`, which is then the response, as reqwest would have it).
fn redirect_target(from: &Url, resp: &reqwest::Response) -> Option<Url> {
    if !matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = resp.headers().get(header::LOCATION)?.to_str().ok()?;
    from.join(location).ok()
}

/// A URL as errors, logs and fixtures show it: without its secrets.
fn shown(url: &Url) -> String {
    redact::url(url.as_str())
}

fn denied(url: &Url, hop: &Url, why: String) -> FetchError {
    FetchError::Denied {
        url: shown(url),
        reason: if hop == url {
            why
        } else {
            format!("redirect to {}: {why}", shown(hop))
        },
    }
}

/// Only `http` and `https` are fetched: a `file:`, `ftp:` or `gopher:` link is
/// a permanent refusal, not an error to retry.
fn http_only(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "http" | "https" => Ok(()),
        other => Err(format!(
            "scheme {other:?} is not fetched (only http and https)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny() -> Config {
        let cfg = crate::config::Config::load(None).unwrap().http;
        assert_eq!(cfg.private_networks, PrivateNetworks::Deny);
        Config {
            per_host_delay: Duration::ZERO,
            ..cfg
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_when_connecting() {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_string("internal"))
            // Only the request on the feed's own origin, at the end.
            .expect(1)
            .mount(&server)
            .await;
        let http = Client::live(&deny(), None).unwrap();
        // `localhost` is no IP literal: only the guarded resolver can refuse it.
        let url = Url::parse(&format!(
            "http://localhost:{}/admin",
            server.address().port()
        ))
        .unwrap();
        let feed = Url::parse("https://feeds.example/rss").unwrap().origin();
        let err = http
            .get(&url, &Validators::default(), &feed)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::Denied { reason, .. } if reason.starts_with("localhost resolves to")),
            "{err}"
        );
        assert!(!err.is_retryable());
        assert_eq!(err.kind(), "denied");

        // The same server is fetched when it is the feed's own origin.
        let own = http.get(&url, &Validators::default(), &url.origin()).await;
        assert!(matches!(own, Ok(ref r) if r.body == b"internal"), "{own:?}");
    }

    #[tokio::test]
    async fn other_schemes_are_refused_without_a_request() {
        let http = Client::live(&deny(), None).unwrap();
        for link in [
            "file:///etc/passwd",
            "ftp://example.org/x",
            "data:text/html,hi",
        ] {
            let url = Url::parse(link).unwrap();
            let err = http
                .get(&url, &Validators::default(), &url.origin())
                .await
                .unwrap_err();
            assert_eq!(err.kind(), "denied", "{link}: {err}");
            assert!(err.to_string().starts_with(link), "{err}");
        }
    }
}

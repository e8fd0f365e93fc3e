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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
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
use crate::redact;

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

/// The clients of live mode.
struct Clients {
    /// Connects anywhere: the feeds' own origins, and everything under "allow".
    open: reqwest::Client,
    /// Connects to public addresses only; `None` under "allow".
    guarded: Option<reqwest::Client>,
    /// Hosts of the proxies taken from the environment.
    proxies: Vec<String>,
}

enum Mode {
    Live {
        clients: Clients,
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
            config::PrivateNetworks::Allow => None,
            config::PrivateNetworks::Deny => Some(
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
        Ok(Http::with_mode(Mode::Live { clients, recorder }, cfg))
    }

    /// Answers from a fixture folder made by `tidings record` (or by hand).
    pub fn replay(dir: &Path, cfg: &config::Http) -> anyhow::Result<Http> {
        let mut by_url: HashMap<String, VecDeque<Recorded>> = HashMap::new();
        // Fixtures hold URLs without their secrets (and older or hand-made
        // ones may hold them whole): both sides are looked up redacted.
        for r in Recorded::load_all(dir)? {
            by_url.entry(redact::url(&r.url)).or_default().push_back(r);
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
            Mode::Replay(entries, _) => return self.replayed(entries, url),
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

    fn replayed(
        &self,
        entries: &Mutex<HashMap<String, VecDeque<Recorded>>>,
        url: &Url,
    ) -> Result<Response, FetchError> {
        let Mode::Replay(_, dir) = &self.mode else {
            unreachable!("replayed is only called in replay mode")
        };
        let mut entries = entries.lock().unwrap_or_else(|e| e.into_inner());
        let next = entries.get_mut(&shown(url)).and_then(|q| {
            if q.len() > 1 {
                q.pop_front()
            } else {
                q.front().cloned()
            }
        });
        let rec = next.ok_or_else(|| FetchError::NotRecorded { url: shown(url) })?;
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

/// The client that may fetch `hop` for the feed of origin `feed`, or why none
/// may.
async fn route<'c>(
    clients: &'c Clients,
    hop: &Url,
    feed: &url::Origin,
) -> Result<&'c reqwest::Client, String> {
    let Some(guarded) = &clients.guarded else {
        return Ok(&clients.open);
    };
    if hop.origin() == *feed {
        return Ok(&clients.open);
    }
    let refuse = |ip: IpAddr| match non_public(ip) {
        Some(what) => Err(format!("{ip} is {what}")),
        None => Ok(()),
    };
    match hop.host() {
        // An address in the URL (the url crate has read decimal, octal and hex
        // IPv4 forms already) never reaches a resolver: judged here.
        Some(url::Host::Ipv4(ip)) => refuse(ip.into())?,
        Some(url::Host::Ipv6(ip)) => refuse(ip.into())?,
        // Behind a proxy the proxy resolves the name, out of reach of the
        // guarded resolver: judge the name ahead, as well as can be. A name
        // that does not resolve here is left to the proxy.
        Some(url::Host::Domain(name)) if !clients.proxies.is_empty() => {
            if let Ok(addrs) = tokio::net::lookup_host((name, 0)).await {
                for addr in addrs {
                    if let Some(what) = non_public(addr.ip()) {
                        return Err(format!("{name} resolves to {}, {what}", addr.ip()));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(guarded)
}

/// What makes `ip` no public address, or `None` for a public one.
fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => non_public_v4(ip),
        IpAddr::V6(ip) => non_public_v6(ip),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified (0.0.0.0/8)",
        (127, _, _) => "a loopback address",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "a private address",
        (100, 64..=127, _) => "a shared (CGNAT) address",
        (169, 254, _) => "a link-local address",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved or broadcast address",
        (192, 0, 0) | (198, 18..=19, _) => "a reserved address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        _ => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // ::ffff:a.b.c.d reaches a.b.c.d.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    Some(match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified (::)",
        [0, 0, 0, 0, 0, 0, 0, 1] => "a loopback address",
        // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0x2002, hi, lo, ..] => {
            return non_public_v4(embedded(hi, lo));
        }
        // IPv4-compatible (::a.b.c.d, deprecated) and other reserved blocks.
        [0, 0, 0, 0, 0, 0, _, _] | [0x100, 0, 0, 0, ..] => "a reserved address",
        [0x64, 0xff9b, 1, ..] => "a private address",
        [0x2001, 0xdb8, ..] => "a documentation address",
        [first, ..] if first & 0xfe00 == 0xfc00 => "a private (unique local) address",
        [first, ..] if first & 0xffc0 == 0xfe80 => "a link-local address",
        [first, ..] if first & 0xffc0 == 0xfec0 => "a site-local address",
        [first, ..] if first & 0xff00 == 0xff00 => "a multicast address",
        _ => return None,
    })
}

/// A name whose addresses are all non-public, refused by [`PublicOnly`].
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, {what}")]
struct NonPublic {
    host: String,
    ip: IpAddr,
    what: &'static str,
}

/// The resolver of the guarded client: the system's, minus every non-public
/// address. The connector only ever sees what this returns, so the check holds
/// at connect time whatever the name resolved to a moment before.
struct PublicOnly {
    /// Proxy hosts resolve as they are: a proxy on the LAN is the operator's
    /// choice, and what it fetches is judged before the request (see `route`).
    proxies: Vec<String>,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let is_proxy = self.proxies.iter().any(|p| p.eq_ignore_ascii_case(&host));
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if is_proxy {
                return Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs);
            }
            let (public, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = addrs
                .into_iter()
                .partition(|a| non_public(a.ip()).is_none());
            match (public.is_empty(), refused.first()) {
                (true, Some(first)) => Err(Box::new(NonPublic {
                    host,
                    ip: first.ip(),
                    what: non_public(first.ip()).unwrap_or("not public"),
                })
                    as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

/// The hosts of the proxies reqwest takes from the environment (as curl:
/// `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY` but not under CGI, either case).
fn proxy_hosts(var: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut names = vec!["ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"];
    if var("REQUEST_METHOD").is_none() {
        names.extend(["HTTP_PROXY", "http_proxy"]);
    }
    let mut hosts: Vec<String> = names
        .into_iter()
        .filter_map(&var)
        .filter(|v| !v.trim().is_empty())
        .filter_map(|v| {
            let v = v.trim();
            // A proxy given as host:port means http://host:port.
            let url = if v.contains("://") {
                Url::parse(v)
            } else {
                Url::parse(&format!("http://{v}"))
            };
            Some(url.ok()?.host_str()?.to_ascii_lowercase())
        })
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
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
                url: shown(url),
                status: self.status,
                retry_after: header("retry-after")
                    .and_then(|v| v.parse().ok())
                    .map(Duration::from_secs),
            });
        }
        let body = match &self.body {
            Some(name) => {
                std::fs::read(dir.join("bodies").join(name)).map_err(|e| FetchError::Other {
                    url: shown(url),
                    reason: format!("fixture body {name}: {e}"),
                })?
            }
            None => Vec::new(),
        };
        if body.len() > limit {
            return Err(FetchError::TooLarge {
                url: shown(url),
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
        // A fixture is shared: the links in a feed or page lose their
        // secrets like the recorded URLs do, and replay asks for them so.
        let body = redact::bytes(body);
        if !body.is_empty() {
            let name = format!("{:06}", *next);
            *next += 1;
            if let Err(e) = std::fs::write(self.dir.join("bodies").join(&name), &body) {
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
            url: shown(url),
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
            url: shown(url),
            status,
            time: Utc::now(),
            headers,
            body: None,
        };
        self.append(rec, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_told_from_public_ones() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:a00:1::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(non_public(ip).is_some(), "{ip} is not public");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "172.15.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "169.253.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(non_public(ip), None, "{ip} is public");
        }
    }

    fn deny() -> config::Http {
        let cfg = config::Config::load(None).unwrap().http;
        assert_eq!(cfg.private_networks, config::PrivateNetworks::Deny);
        config::Http {
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
        let http = Http::live(&deny(), None).unwrap();
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
        let http = Http::live(&deny(), None).unwrap();
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

    #[test]
    fn proxy_hosts_come_from_the_environment_like_curl() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            proxy_hosts(env(&[
                ("HTTPS_PROXY", "http://Proxy.LAN:3128"),
                ("http_proxy", "10.0.0.5:8080"),
                ("NO_PROXY", "example.org"),
            ])),
            ["10.0.0.5", "proxy.lan"]
        );
        // Under CGI, HTTP_PROXY may come from a request header: reqwest ignores it.
        assert_eq!(
            proxy_hosts(env(&[
                ("REQUEST_METHOD", "GET"),
                ("HTTP_PROXY", "evil.example:80"),
            ])),
            Vec::<String>::new()
        );
    }
}

//! The configured feeds as a source: each feed on its own schedule,
//! conditional GETs, backoff, dead feeds, and the linked pages of new items.
//!
//! A feed's cursor (its ETag / Last-Modified) advances only once every new item
//! of the response that carried it has finished the pipeline: after a crash
//! the feed is fetched in full again and the unfinished items come back. A
//! page (by its normalized URL) is fetched once, whichever feeds list it.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::future::BoxFuture;
use tracing::Instrument;

use super::http::{self, FetchError};
use super::local::FeedItem;
use super::share::{Hold, PageJob, Share};
use crate::flow::{Ack, Body, Document, Outcome, Source, SourceContext};
use crate::record::{Origin, OriginKind, timestamp};
use crate::redact;
use crate::settings::Section;
use crate::state::{FeedState, ItemKey, ItemStatus, Store, Validators};

/// A page that failed this many times is given up on.
const MAX_ITEM_ATTEMPTS: u32 = 5;
/// Pages fetched at once for one feed (the HTTP layer limits hosts further).
const PAGES_PER_FEED: usize = 4;

/// `[poll]`: the schedule of every feed.
#[derive(Debug, Clone)]
pub struct Poll {
    /// Default interval of a feed that sets none.
    pub interval: Duration,
    /// The floor under every configured interval.
    pub min_interval: Duration,
    /// How far a feed's own hints (`<ttl>`, max-age) may stretch its interval.
    pub max_interval: Duration,
    /// Each wait is stretched or shrunk by up to this fraction, at random.
    pub jitter: f64,
    pub max_backoff: Duration,
    /// A feed failing this long without a success is marked dead.
    pub dead_after: Duration,
    /// Feed content with at least this many words is the full article and the
    /// linked page is not fetched.
    pub full_text_min_words: usize,
    /// Fetch a finished item again when its entry is dated later than it
    /// was, or changed (`[dedup] updates`), at most once per this long
    /// (`[dedup] recheck_minutes`): the page may have changed. `None`:
    /// never.
    pub recheck: Option<Duration>,
}

impl Poll {
    pub fn read(s: &mut Section<'_>) -> Poll {
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
            // Set from `[dedup]`, which it serves.
            recheck: None,
        }
    }
}

/// One `[[feeds]]` entry, or a feed outline of a `feeds_opml` list.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub url: url::Url,
    pub name: Option<String>,
    pub interval: Option<Duration>,
    pub tags: Vec<String>,
    /// A disabled feed is not polled, but still listed and exported.
    pub enabled: bool,
    /// The site of the feed, when a list says it (OPML `htmlUrl`).
    pub html_url: Option<String>,
}

impl Feed {
    /// The entry; `None` (problems reported) when its URL is unusable.
    pub fn read(s: &mut Section<'_>) -> Option<Feed> {
        let url = s
            .required_str("url")
            .and_then(|raw| feed_url(raw).map_err(|e| s.problem("url", e)).ok());
        let name = s.str("name").map(str::to_string);
        let interval = s
            .opt_int("interval_secs", 10..=604_800)
            .map(Duration::from_secs);
        let tags = s.strings("tags").into_iter().map(str::to_string).collect();
        let enabled = s.bool("enabled", true);
        Some(Feed {
            url: url?,
            name,
            interval,
            tags,
            enabled,
            html_url: None,
        })
    }

    /// The feed of an OPML outline; why not when its `xmlUrl` is unusable.
    pub fn listed(outline: super::opml::Outline) -> Result<Feed, String> {
        Ok(Feed {
            url: feed_url(&outline.url)?,
            name: outline.name,
            interval: None,
            tags: outline.tags,
            enabled: true,
            html_url: outline.html_url,
        })
    }

    /// The feed as logs and the state store know it: without its secrets
    /// (`check` refuses two feeds that differ only in those).
    pub fn shown(&self) -> String {
        redact::url(self.url.as_str())
    }

    /// Hash of the entry: a changed entry starts afresh, a dead feed included.
    fn config_hash(&self) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.url.as_str(), &self.name, self.interval, &self.tags).hash(&mut h);
        format!("{:016x}", h.finish())
    }
}

/// A feed's URL, if it is one tidings fetches (http or https); the message
/// never shows the URL's secrets.
fn feed_url(raw: &str) -> Result<url::Url, String> {
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
        Ok(u) => Err(format!("scheme {:?} is not http or https", u.scheme())),
        Err(e) => Err(format!("{:?} is not a URL: {e}", redact::url(raw))),
    }
}

/// The configured feeds, polled through `http`.
pub struct FeedSource {
    pub feeds: Vec<Feed>,
    pub poll: Poll,
    pub http: Arc<http::Client>,
    /// Poll each feed once (run --once, replay) instead of forever.
    pub once: bool,
    /// Poll the feeds one after another (replay), so that every run sees the
    /// items in the same order and makes the same dedup decisions.
    pub sequential: bool,
    /// In a cluster: the hosts this process polls and fetches; `None`: all.
    pub share: Option<Arc<dyn Share>>,
}

impl Source for FeedSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, anyhow::Result<()>> {
        let feeds: Vec<Feed> = self.feeds.iter().filter(|f| f.enabled).cloned().collect();
        let sequential = self.sequential;
        if !self.once {
            tokio::spawn(super::health::keep_gauge(
                Arc::new(self.feeds.clone()),
                ctx.store.clone(),
                self.poll.min_interval,
                ctx.shutdown.clone(),
            ));
        }
        let poller = Arc::new(Poller {
            source: *self,
            ctx,
            pages: Arc::default(),
        });
        Box::pin(async move {
            if sequential {
                for feed in feeds {
                    poller.clone().run_feed(feed).await?;
                }
                return Ok(());
            }
            let tasks: Vec<_> = feeds
                .into_iter()
                .map(|feed| tokio::spawn(poller.clone().run_feed(feed)))
                .collect();
            for task in tasks {
                task.await??;
            }
            Ok(())
        })
    }
}

/// Counts a poll's unfinished new items; the last one to finish saves the
/// feed's validators.
struct PollTicket {
    feed: String,
    validators: Validators,
    remaining: AtomicUsize,
    store: Store,
}

impl PollTicket {
    /// One more item of this poll has reached a final status.
    fn finish_one(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let (feed, validators) = (self.feed.clone(), self.validators.clone());
            self.store.send(move |s| {
                if let Err(e) = s.save_validators(&feed, &validators) {
                    tracing::warn!(feed, "saving the feed cursor: {e:#}");
                }
            });
        }
    }
}

/// Pages being fetched or on their way through the pipeline, by normalized
/// URL, across every feed and poll of this process: a page that two feeds
/// list is fetched once. (Pages that finished are known to the state store.)
#[derive(Default)]
struct InFlightPages(Mutex<HashSet<String>>);

impl InFlightPages {
    /// The page for this item to fetch, unless another item already has it.
    fn claim(self: &Arc<Self>, page: &str) -> Option<PageClaim> {
        let mut pages = self.0.lock().unwrap_or_else(|e| e.into_inner());
        pages.insert(page.to_string()).then(|| PageClaim {
            pages: self.clone(),
            page: page.to_string(),
        })
    }
}

/// An item's hold on its page, released when the item leaves the pipeline
/// by whatever way (written, skipped, failed, or dropped at shutdown).
struct PageClaim {
    pages: Arc<InFlightPages>,
    page: String,
}

impl Drop for PageClaim {
    fn drop(&mut self) {
        let mut pages = self.pages.0.lock().unwrap_or_else(|e| e.into_inner());
        pages.remove(&self.page);
    }
}

/// The item's acknowledgement: its status in the store, then the poll's
/// ticket. The page's claim is let go on the store's thread, once the status
/// is there, so no other item finds the page neither claimed nor finished.
fn item_ack(store: Store, key: ItemKey, ticket: Arc<PollTicket>, claim: Option<PageClaim>) -> Ack {
    Ack::new(move |outcome| {
        super::share::record_item(&store, key, outcome, move || drop(claim));
        ticket.finish_one();
    })
}

/// Whether this process sends a request to a host now.
enum Held {
    /// Yes, under this hold (`None` outside a cluster).
    Here(Option<Hold>),
    /// Another process of the cluster does.
    Elsewhere,
}

struct Poller {
    source: FeedSource,
    ctx: SourceContext,
    pages: Arc<InFlightPages>,
}

impl Poller {
    async fn run_feed(self: Arc<Self>, feed: Feed) -> anyhow::Result<()> {
        let url = feed.shown();
        let hash = feed.config_hash();
        let store = &self.ctx.store;
        let u = url.clone();
        let mut fs = store.call(move |s| s.feed(&u)).await?.unwrap_or_default();
        if fs.config_hash != hash {
            // A new or edited entry starts afresh, a dead feed included.
            fs = FeedState {
                config_hash: hash,
                validators: fs.validators,
                ..FeedState::default()
            };
            self.save(&url, &fs).await?;
        }
        loop {
            if let Some(reason) = &fs.dead {
                tracing::warn!(
                    feed = url,
                    "not polled: marked dead ({reason}); `tidings feeds revive` or an edit of \
                     its config entry polls it again"
                );
                if self.source.once {
                    return Ok(());
                }
                match self.revived(&url).await? {
                    Some(revived) => {
                        tracing::info!(feed = url, "revived: polled again");
                        fs = revived;
                    }
                    None => return Ok(()),
                }
            }
            if !self.source.once {
                let wait = fs
                    .next_poll
                    .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
                    .unwrap_or_default();
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = self.ctx.shutdown.cancelled() => return Ok(()),
                }
            }
            if self.ctx.shutdown.is_cancelled() {
                return Ok(());
            }
            let hold = match self.hold(&feed.url) {
                Held::Here(hold) => hold,
                Held::Elsewhere => {
                    // Polled by the process holding its host; the schedule
                    // it keeps is read again when this one holds the host.
                    self.wait_for_share().await;
                    let u = url.clone();
                    fs = store.call(move |s| s.feed(&u)).await?.unwrap_or_default();
                    continue;
                }
            };
            // The cursor advances in the store once a poll's items are all
            // finished (see `PollTicket`), so the store, not this task's copy,
            // holds the validators the next request must carry.
            let u = url.clone();
            fs.validators = store
                .call(move |s| s.feed(&u))
                .await?
                .unwrap_or_default()
                .validators;
            let span = tracing::info_span!("poll", feed = %url, feed_name = feed.name.as_deref());
            fs = self.poll(&feed, fs, hold).instrument(span).await?;
            self.save(&url, &fs).await?;
            if self.source.once {
                return Ok(());
            }
        }
    }

    /// Waits for a dead feed to be revived (by `tidings feeds revive` in
    /// another process, or the status page), looking at its state in the
    /// store every `min_interval`, the shortest wait between two polls;
    /// its state once revived, `None` at shutdown.
    /// Whether this process polls or fetches `url`'s host now.
    fn hold(&self, url: &url::Url) -> Held {
        match &self.source.share {
            None => Held::Here(None),
            Some(share) => share
                .hold(url)
                .map_or(Held::Elsewhere, |h| Held::Here(Some(h))),
        }
    }

    /// Until the hosts this process holds change, or the run stops.
    async fn wait_for_share(&self) {
        let Some(share) = &self.source.share else {
            return;
        };
        tokio::select! {
            () = share.changed() => {}
            () = self.ctx.shutdown.cancelled() => {}
        }
    }

    async fn revived(&self, url: &str) -> anyhow::Result<Option<FeedState>> {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.source.poll.min_interval) => {}
                () = self.ctx.shutdown.cancelled() => return Ok(None),
            }
            let u = url.to_string();
            let fs = self.ctx.store.call(move |s| s.feed(&u)).await?;
            if let Some(fs) = fs.filter(|fs| fs.dead.is_none()) {
                return Ok(Some(fs));
            }
        }
    }

    async fn save(&self, url: &str, fs: &FeedState) -> anyhow::Result<()> {
        let (url, fs) = (url.to_string(), fs.clone());
        Ok(self.ctx.store.call(move |s| s.save_feed(&url, &fs)).await?)
    }

    /// One poll: fetch, parse, send the new items; returns the feed's new state.
    /// Polls the feed under `hold` (given up once the feed's response is
    /// in: its items' pages take holds of their own).
    async fn poll(
        &self,
        feed: &Feed,
        mut fs: FeedState,
        hold: Option<Hold>,
    ) -> anyhow::Result<FeedState> {
        let url = feed.shown();
        let cfg = &self.source.poll;
        let now = Utc::now();
        let interval = feed.interval.unwrap_or(cfg.interval);
        let result = self
            .source
            .http
            .get(&feed.url, &fs.validators, &feed.url.origin())
            .await;
        drop(hold);
        let parsed = result.and_then(|resp| {
            if resp.status == 304 {
                return Ok((resp, None));
            }
            match super::parse::feed(&resp.body) {
                Ok(parsed) => Ok((resp, Some(parsed))),
                Err(e) => Err(FetchError::Other {
                    url: url.clone(),
                    reason: format!("malformed feed: {e}"),
                }),
            }
        });
        match parsed {
            Ok((resp, parsed)) => {
                fs.errors = 0;
                fs.failing_since = None;
                fs.last_error = None;
                fs.last_success = Some(now);
                let ttl = parsed
                    .as_ref()
                    .and_then(|p| p.ttl)
                    .map(|m| Duration::from_secs(u64::from(m) * 60));
                let hint = ttl.max(resp.max_age);
                fs.next_poll = Some(now + self.delay(next_interval(interval, hint, cfg)));
                match parsed {
                    None => {
                        metrics::counter!("tidings_polls_total", "outcome" => "not_modified")
                            .increment(1);
                        tracing::debug!("not modified");
                    }
                    Some(parsed) => {
                        metrics::counter!("tidings_polls_total", "outcome" => "ok").increment(1);
                        self.send_items(feed, parsed, resp.validators, resp.received_at)
                            .await?;
                    }
                }
            }
            Err(e) => {
                metrics::counter!("tidings_polls_total", "outcome" => "error").increment(1);
                metrics::counter!("tidings_fetch_errors_total", "kind" => e.kind()).increment(1);
                fs.errors += 1;
                let since = *fs.failing_since.get_or_insert(now);
                fs.last_error = Some(e.to_string());
                if e.is_gone() {
                    fs.dead = Some(format!("{e}"));
                } else if (now - since).to_std().unwrap_or_default() >= cfg.dead_after {
                    fs.dead = Some(format!("failing since {}: {e}", timestamp(since)));
                }
                let wait = e
                    .retry_after()
                    .unwrap_or_else(|| backoff(interval, fs.errors, cfg.max_backoff));
                fs.next_poll = Some(now + self.delay(wait));
                match &fs.dead {
                    Some(reason) => tracing::error!(feed = url, "feed marked dead: {reason}"),
                    None => tracing::warn!(feed = url, errors = fs.errors, "poll failed: {e}"),
                }
            }
        }
        Ok(fs)
    }

    /// Stretches or shrinks a wait at random so feeds do not poll in lockstep.
    fn delay(&self, base: Duration) -> chrono::Duration {
        let j = self.source.poll.jitter;
        let factor = if j > 0.0 {
            rand::random_range(1.0 - j..=1.0 + j)
        } else {
            1.0
        };
        chrono::Duration::from_std(base.mul_f64(factor)).unwrap_or(chrono::Duration::MAX)
    }

    async fn send_items(
        &self,
        feed: &Feed,
        parsed: feed_rs::model::Feed,
        validators: Validators,
        received_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let url = feed.shown();
        let origin = Origin {
            kind: OriginKind::Feed,
            location: url.clone(),
            name: feed
                .name
                .clone()
                .or_else(|| parsed.title.as_ref().map(|t| t.content.clone())),
            tags: feed.tags.clone(),
        };
        let language = parsed.language.clone();
        let mut items = Vec::new();
        for entry in parsed.entries {
            let dated = entry.updated.max(entry.published);
            let item = FeedItem::from_entry(entry, language.clone());
            let digest = Some(item.digest());
            let key = ItemKey {
                feed: url.clone(),
                guid: item.guid.clone(),
                page: item
                    .url
                    .as_deref()
                    .and_then(|u| crate::url::canonicalize(&redact::url(u))),
                seen: received_at,
                dated,
                digest,
            };
            items.push((key, item));
        }
        let keys: Vec<ItemKey> = items.iter().map(|(k, _)| k.clone()).collect();
        let due =
            self.source.poll.recheck.map(|d| {
                received_at - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
            });
        // Per item: whether it is to be sent, and whether it is finished
        // but dated later since (its page is fetched again, to be compared).
        let wanted = self
            .ctx
            .store
            .call(move |s| {
                keys.iter()
                    .map(|k| {
                        if !s.item_finished(k)? {
                            return Ok((true, false));
                        }
                        let changed = match due {
                            Some(due) => s.item_changed(k, due)?,
                            None => false,
                        };
                        Ok((changed, changed))
                    })
                    .collect::<Result<Vec<(bool, bool)>, _>>()
            })
            .await?;
        let fresh: Vec<(ItemKey, FeedItem, bool)> = items
            .into_iter()
            .zip(wanted)
            .filter(|(_, (send, _))| *send)
            .map(|((key, item), (_, again))| (key, item, again))
            .collect();
        metrics::counter!("tidings_items_total", "kind" => "new").increment(fresh.len() as u64);
        tracing::info!(new = fresh.len(), "polled");
        let ticket = Arc::new(PollTicket {
            feed: url.clone(),
            validators,
            remaining: AtomicUsize::new(fresh.len()),
            store: self.ctx.store.clone(),
        });
        if fresh.is_empty() {
            let (u, v) = (url.clone(), ticket.validators.clone());
            self.ctx
                .store
                .call(move |s| s.save_validators(&u, &v))
                .await?;
            return Ok(());
        }
        // Only the feed's own origin may be private (see http's network policy).
        let feed_origin = feed.url.origin();
        let mut sends = futures::stream::iter(fresh)
            .map(|(key, item, again)| {
                // The feed again: a log consumer that reads the innermost
                // span only still learns which feed the item is from.
                let span = tracing::debug_span!(
                    "item",
                    feed = %url,
                    guid = %redact::text(&key.guid)
                );
                let document = Found {
                    origin: origin.clone(),
                    received_at,
                    ticket: ticket.clone(),
                    again,
                };
                self.item_document(key, item, document, &feed_origin)
                    .instrument(span)
            })
            // In feed order: concurrent fetches, deterministic hand-off.
            .buffered(PAGES_PER_FEED);
        // On shutdown no new page is fetched (see `item_document`), but the
        // pages in hand are sent on: the stages drain them, and a restart
        // does not fetch them again.
        while let Some(document) = sends.next().await {
            self.ctx.counters.document_read();
            let Some(document) = document? else { continue };
            if self.ctx.tx.send(document).await.is_err() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The document of a feed item: the feed's own content when it holds the
    /// whole article, else the linked page. `None` when the item is skipped.
    async fn item_document(
        &self,
        key: ItemKey,
        item: FeedItem,
        found: Found,
        feed: &url::Origin,
    ) -> anyhow::Result<Option<Document>> {
        if self.ctx.shutdown.is_cancelled() {
            // Left unfinished: offered again at the next start.
            return Ok(None);
        }
        let store = &self.ctx.store;
        let link = item.url.as_deref().and_then(|u| url::Url::parse(u).ok());
        let mut document = Document {
            origin: found.origin,
            url: item.url.clone(),
            guid: Some(item.guid.clone()),
            fetched_at: found.received_at,
            body: item.body,
            hints: item.hints,
            ack: Ack::none(),
        };
        let (Some(link), false) = (link, self.is_full_text(&document.body)) else {
            // What the feed says is all there is, or all that is needed.
            document.ack = item_ack(store.clone(), key, found.ticket, None);
            return Ok(Some(document));
        };
        let claim = match key.page.clone() {
            None => None,
            Some(page) => {
                // An item fetched again for its later date wants its
                // page again, though it finished.
                let finished = !found.again && store.call(move |s| s.page_finished(&page)).await?;
                let claim = key.page.as_deref().and_then(|p| self.pages.claim(p));
                if finished || claim.is_none() {
                    tracing::debug!(page = key.page, "page already fetched for another item");
                    self.ctx
                        .counters
                        .skip("fetch", "page listed by another item");
                    item_ack(store.clone(), key, found.ticket, claim).done(Outcome::Skipped);
                    return Ok(None);
                }
                claim
            }
        };
        let hold = match self.hold(&link) {
            Held::Here(hold) => hold,
            Held::Elsewhere => {
                let share = self
                    .source
                    .share
                    .clone()
                    .expect("held elsewhere only in a cluster");
                let job = PageJob {
                    url: link.to_string(),
                    feed_origin: feed.ascii_serialization(),
                    feed: key.feed.clone(),
                    guid: key.guid.clone(),
                    page: key.page.clone(),
                    seen: key.seen,
                    dated: key.dated,
                    digest: key.digest.clone(),
                    origin: document.origin,
                    hints: document.hints,
                };
                share.hand_off(job).await?;
                tracing::debug!("page handed to the process fetching its host");
                let handed = Outcome::Handed { record: None };
                item_ack(store.clone(), key, found.ticket, claim).done(handed);
                return Ok(None);
            }
        };
        let fetched = self
            .source
            .http
            .get(&link, &Validators::default(), feed)
            .await;
        drop(hold);
        match fetched {
            Ok(resp) => {
                metrics::counter!("tidings_pages_total", "outcome" => "ok").increment(1);
                document.url = Some(resp.url.to_string());
                document.fetched_at = resp.received_at;
                document.body = Body::Html {
                    bytes: resp.body,
                    content_type: resp.content_type,
                };
                document.ack = item_ack(store.clone(), key, found.ticket, claim);
                Ok(Some(document))
            }
            Err(e) => {
                metrics::counter!("tidings_pages_total", "outcome" => "error").increment(1);
                metrics::counter!("tidings_fetch_errors_total", "kind" => e.kind()).increment(1);
                let attempts = if e.is_retryable() {
                    let k = key.clone();
                    store
                        .call(move |s| s.mark_item(&k, ItemStatus::Pending, None))
                        .await?
                } else {
                    MAX_ITEM_ATTEMPTS
                };
                if attempts < MAX_ITEM_ATTEMPTS {
                    // Not acknowledged: the poll's cursor stays, so the next
                    // poll fetches the feed in full and offers the item again.
                    tracing::warn!(attempts, "page fetch failed, retried at the next poll: {e}");
                    self.ctx.counters.skip("fetch", "retry later");
                    return Ok(None);
                }
                if e.is_retryable() {
                    tracing::warn!(attempts, "page fetch failed for good: {e}");
                } else {
                    tracing::warn!("page skipped: {e}");
                }
                self.ctx.counters.skip("fetch", e.kind());
                item_ack(store.clone(), key, found.ticket, claim).done(Outcome::Skipped);
                Ok(None)
            }
        }
    }

    /// Feed content is the whole article when it is long enough and does not
    /// end in a "read more" teaser.
    fn is_full_text(&self, body: &Body) -> bool {
        let Body::FeedContent(html) = body else {
            return false;
        };
        let text = crate::extract::fragment_text(html);
        let tail = text.trim_end().to_lowercase();
        let teaser = tail.ends_with('…')
            || tail.ends_with("...")
            || tail.ends_with("[…]")
            || tail.ends_with("read more")
            || tail.ends_with("continue reading");
        !teaser && text.split_whitespace().count() >= self.source.poll.full_text_min_words
    }
}

/// What every item of one poll shares.
struct Found {
    origin: Origin,
    received_at: DateTime<Utc>,
    ticket: Arc<PollTicket>,
    /// The item finished before, and is fetched again for its later date.
    again: bool,
}

/// The configured interval, lengthened (never shortened) by the feed's own
/// hint (`<ttl>`, max-age) up to `max_interval`: the operator decides how
/// often a feed may be asked, the feed only how rarely it needs to be.
/// `min_interval` is the floor under every configured interval.
pub fn next_interval(interval: Duration, hint: Option<Duration>, poll: &Poll) -> Duration {
    let interval = interval.max(poll.min_interval);
    let hinted = hint.unwrap_or_default().min(poll.max_interval);
    interval.max(hinted)
}

/// Exponential backoff after `errors` failures in a row.
pub fn backoff(interval: Duration, errors: u32, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(errors.saturating_sub(1).min(20));
    interval.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll() -> Poll {
        crate::config::Config::load(None).unwrap().poll
    }

    #[test]
    fn feed_hints_lengthen_the_interval_but_never_shorten_it() {
        let p = poll();
        let ten_min = Duration::from_secs(600);
        assert_eq!(next_interval(ten_min, None, &p), ten_min);
        assert_eq!(
            next_interval(ten_min, Some(Duration::from_secs(1800)), &p),
            Duration::from_secs(1800)
        );
        assert_eq!(
            next_interval(ten_min, Some(Duration::from_secs(15)), &p),
            ten_min,
            "max-age=15 does not make a 600 s feed poll every 15 s"
        );
        assert_eq!(
            next_interval(ten_min, Some(Duration::from_secs(86_400 * 7)), &p),
            p.max_interval
        );
        assert_eq!(
            next_interval(Duration::from_secs(1), None, &p),
            p.min_interval,
            "no feed is asked more often than min_interval"
        );
    }

    #[test]
    fn backoff_doubles_per_failure_up_to_the_cap() {
        let i = Duration::from_secs(60);
        let max = Duration::from_secs(3600);
        let waits: Vec<u64> = (1..=8).map(|e| backoff(i, e, max).as_secs()).collect();
        assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(i, u32::MAX, max), max);
    }
}

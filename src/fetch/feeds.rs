//! Feed polling: each feed on its own schedule, conditional GETs, backoff,
//! dead feeds, and the linked pages of new items.
//!
//! A feed's cursor (its ETag / Last-Modified) advances only once every new item
//! of the response that carried it has finished the pipeline: after a crash
//! the feed is fetched in full again and the unfinished items come back.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_channel::Sender;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::{self, Config};
use crate::fetch::http::{FetchError, Http, Validators};
use crate::fetch::local::FeedItem;
use crate::pipeline::{Ack, Counters};
use crate::record::{Article, Body, Source, SourceKind, timestamp};
use crate::redact;
use crate::state::{FeedState, ItemKey, ItemStatus, State};
use crate::url::canonicalize;

/// A page that failed this many times is given up on.
const MAX_ITEM_ATTEMPTS: u32 = 5;
/// Pages fetched at once for one feed (the HTTP layer limits hosts further).
const PAGES_PER_FEED: usize = 4;

/// Counts a poll's unfinished new items; the last one to finish saves the
/// feed's validators.
pub struct PollTicket {
    feed: String,
    validators: Validators,
    remaining: AtomicUsize,
    state: Arc<Mutex<State>>,
}

impl PollTicket {
    /// One more item of this poll has reached a final status.
    pub fn finish_one(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = state.save_validators(&self.feed, &self.validators) {
                tracing::warn!(feed = self.feed, "saving the feed cursor: {e:#}");
            }
        }
    }
}

/// Pages being fetched or on their way through the pipeline, by normalized
/// URL, across every feed and poll of this process: a page that two feeds
/// list is fetched once. (Pages that finished are known to the state store.)
#[derive(Default)]
pub struct InFlightPages(Mutex<HashSet<String>>);

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
pub struct PageClaim {
    pages: Arc<InFlightPages>,
    page: String,
}

impl Drop for PageClaim {
    fn drop(&mut self) {
        let mut pages = self.pages.0.lock().unwrap_or_else(|e| e.into_inner());
        pages.remove(&self.page);
    }
}

/// Everything a feed task needs.
pub struct Poller {
    pub cfg: Arc<Config>,
    pub http: Arc<Http>,
    pub state: Arc<Mutex<State>>,
    pub tx: Sender<Article>,
    pub pages: Arc<InFlightPages>,
    /// The run's sinks (their ids in the state store): an item whose record
    /// one of them lacks is not finished.
    pub sinks: Vec<i64>,
    pub counters: Arc<Counters>,
    pub shutdown: CancellationToken,
    /// Poll each feed once (run --once, replay) instead of forever.
    pub once: bool,
    /// Poll the feeds one after another (replay), so that every run sees the
    /// items in the same order and makes the same dedup decisions.
    pub sequential: bool,
}

/// Polls every configured feed until shutdown (or once each).
pub async fn poll_all(poller: Arc<Poller>) -> anyhow::Result<()> {
    if poller.sequential {
        for feed in poller.cfg.feeds.clone() {
            poller.clone().run_feed(feed).await?;
        }
        return Ok(());
    }
    let tasks: Vec<_> = poller
        .cfg
        .feeds
        .iter()
        .cloned()
        .map(|feed| tokio::spawn(poller.clone().run_feed(feed)))
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

fn config_hash(feed: &config::Feed) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (feed.url.as_str(), &feed.name, feed.interval, &feed.tags).hash(&mut h);
    format!("{:016x}", h.finish())
}

impl Poller {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run_feed(self: Arc<Self>, feed: config::Feed) -> anyhow::Result<()> {
        // The feed as logs and the state store know it: without its secrets
        // (`check` refuses two feeds that differ only in those).
        let url = redact::url(feed.url.as_str());
        let hash = config_hash(&feed);
        let mut fs = self.lock().feed(&url)?.unwrap_or_default();
        if fs.config_hash != hash {
            // A new or edited entry starts afresh, a dead feed included.
            fs = FeedState {
                config_hash: hash,
                validators: fs.validators,
                ..FeedState::default()
            };
            self.lock().save_feed(&url, &fs)?;
        }
        loop {
            if let Some(reason) = &fs.dead {
                tracing::warn!(
                    feed = url,
                    "not polled: marked dead ({reason}); edit its config entry to retry"
                );
                return Ok(());
            }
            if !self.once {
                let wait = fs
                    .next_poll
                    .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
                    .unwrap_or_default();
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = self.shutdown.cancelled() => return Ok(()),
                }
            }
            if self.shutdown.is_cancelled() {
                return Ok(());
            }
            // The cursor advances in the store once a poll's items are all
            // finished (see `PollTicket`), so the store, not this task's copy,
            // holds the validators the next request must carry.
            fs.validators = self.lock().feed(&url)?.unwrap_or_default().validators;
            let span = tracing::info_span!("poll", feed = %url);
            fs = self.poll(&feed, fs).instrument(span).await?;
            self.lock().save_feed(&url, &fs)?;
            if self.once {
                return Ok(());
            }
        }
    }

    /// One poll: fetch, parse, send the new items; returns the feed's new state.
    async fn poll(&self, feed: &config::Feed, mut fs: FeedState) -> anyhow::Result<FeedState> {
        let url = redact::url(feed.url.as_str());
        let now = Utc::now();
        let interval = feed.interval.unwrap_or(self.cfg.poll.interval);
        let result = self
            .http
            .get(&feed.url, &fs.validators, &feed.url.origin())
            .await;
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
                fs.next_poll =
                    Some(now + self.delay(next_interval(interval, hint, &self.cfg.poll)));
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
                } else if (now - since).to_std().unwrap_or_default() >= self.cfg.poll.dead_after {
                    fs.dead = Some(format!("failing since {}: {e}", timestamp(since)));
                }
                let wait = e
                    .retry_after()
                    .unwrap_or_else(|| backoff(interval, fs.errors, self.cfg.poll.max_backoff));
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
        let j = self.cfg.poll.jitter;
        let factor = if j > 0.0 {
            rand::random_range(1.0 - j..=1.0 + j)
        } else {
            1.0
        };
        chrono::Duration::from_std(base.mul_f64(factor)).unwrap_or(chrono::Duration::MAX)
    }

    async fn send_items(
        &self,
        feed: &config::Feed,
        parsed: feed_rs::model::Feed,
        validators: Validators,
        received_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let url = redact::url(feed.url.as_str());
        let source = Source {
            kind: SourceKind::Feed,
            location: url.clone(),
            name: feed
                .name
                .clone()
                .or_else(|| parsed.title.as_ref().map(|t| t.content.clone())),
            tags: feed.tags.clone(),
        };
        let language = parsed.language.clone();
        // Only the feed's own origin may be private (see http's network policy).
        let origin = feed.url.origin();
        let mut fresh = Vec::new();
        for entry in parsed.entries {
            let item = FeedItem::from_entry(entry, language.clone());
            let key = ItemKey {
                feed: url.clone(),
                guid: item.guid.clone(),
                page: item
                    .url
                    .as_deref()
                    .and_then(|u| canonicalize(&redact::url(u))),
            };
            if !self.lock().item_finished(&key, &self.sinks)? {
                fresh.push((key, item));
            }
        }
        metrics::counter!("tidings_items_total", "kind" => "new").increment(fresh.len() as u64);
        tracing::info!(new = fresh.len(), "polled");
        let ticket = Arc::new(PollTicket {
            feed: url.clone(),
            validators,
            remaining: AtomicUsize::new(fresh.len()),
            state: self.state.clone(),
        });
        if fresh.is_empty() {
            self.lock().save_validators(&url, &ticket.validators)?;
            return Ok(());
        }
        let mut sends = futures::stream::iter(fresh)
            .map(|(key, item)| {
                let ack = Ack::new(key.clone(), ticket.clone());
                let span = tracing::debug_span!("item", guid = %key.guid);
                self.item_article(item, source.clone(), &origin, ack, received_at)
                    .instrument(span)
            })
            // In feed order: concurrent fetches, deterministic hand-off.
            .buffered(PAGES_PER_FEED);
        while let Some(article) = sends.next().await {
            self.counters.document_read();
            let Some(article) = article? else { continue };
            tokio::select! {
                sent = self.tx.send(article) => if sent.is_err() { return Ok(()) },
                () = self.shutdown.cancelled() => return Ok(()),
            }
        }
        Ok(())
    }

    /// The article of a feed item: the feed's own content when it holds the
    /// whole article, else the linked page. `None` when the item is skipped.
    async fn item_article(
        &self,
        item: FeedItem,
        source: Source,
        feed: &url::Origin,
        ack: Ack,
        received_at: DateTime<Utc>,
    ) -> anyhow::Result<Option<Article>> {
        let mut article = Article {
            source,
            url: item.url.clone(),
            guid: Some(item.guid.clone()),
            fetched_at: received_at,
            body: item.body,
            hints: item.hints,
            extracted: None,
            ack,
        };
        if self.is_full_text(&article.body) {
            return Ok(Some(article));
        }
        let link = item.url.as_deref().and_then(|u| url::Url::parse(u).ok());
        let Some(link) = link else {
            // No page to fetch: what the feed says is all there is.
            return Ok(Some(article));
        };
        if let Some(page) = article.ack.item().and_then(|k| k.page.clone()) {
            let finished = self.lock().page_finished(&page, &self.sinks)?;
            match (!finished).then(|| self.pages.claim(&page)).flatten() {
                Some(claim) => article.ack.hold_page(claim),
                None => {
                    tracing::debug!(page, "page already fetched for another item");
                    self.counters.skip("fetch", "page listed by another item");
                    article.ack.finish(&self.state, ItemStatus::Skipped);
                    return Ok(None);
                }
            }
        }
        match self.http.get(&link, &Validators::default(), feed).await {
            Ok(resp) => {
                metrics::counter!("tidings_pages_total", "outcome" => "ok").increment(1);
                article.url = Some(resp.url.to_string());
                article.fetched_at = resp.received_at;
                article.body = Body::Html {
                    bytes: resp.body,
                    content_type: resp.content_type,
                };
                Ok(Some(article))
            }
            Err(e) => {
                metrics::counter!("tidings_pages_total", "outcome" => "error").increment(1);
                metrics::counter!("tidings_fetch_errors_total", "kind" => e.kind()).increment(1);
                let key = article.ack.item().cloned();
                let at = timestamp(Utc::now());
                let attempts = match &key {
                    Some(k) if e.is_retryable() => {
                        self.lock().mark_item(k, ItemStatus::Pending, &at)?
                    }
                    _ => MAX_ITEM_ATTEMPTS,
                };
                if attempts < MAX_ITEM_ATTEMPTS {
                    tracing::warn!(attempts, "page fetch failed, retried at the next poll: {e}");
                    self.counters.skip("fetch", "retry later");
                    return Ok(None);
                }
                if e.is_retryable() {
                    tracing::warn!(attempts, "page fetch failed for good: {e}");
                } else {
                    tracing::warn!("page skipped: {e}");
                }
                self.counters.skip("fetch", e.kind());
                article.ack.finish(&self.state, ItemStatus::Skipped);
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
        !teaser && text.split_whitespace().count() >= self.cfg.poll.full_text_min_words
    }
}

/// The configured interval, lengthened (never shortened) by the feed's own
/// hint (`<ttl>`, max-age) up to `max_interval`: the operator decides how
/// often a feed may be asked, the feed only how rarely it needs to be.
/// `min_interval` is the floor under every configured interval.
pub fn next_interval(interval: Duration, hint: Option<Duration>, poll: &config::Poll) -> Duration {
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

    fn poll() -> config::Poll {
        config::Config::load(None).unwrap().poll
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

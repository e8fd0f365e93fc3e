//! The configured feeds with their health (decided in `state::health`): the
//! rows of `tidings feeds list` and `/api/feeds`, the `tidings_feeds` gauge,
//! and reviving a dead feed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::feeds::Feed;
use crate::record::timestamp;
use crate::redact;
use crate::state::{FeedHealth, FeedStatus, State, StateError, Store};

/// A configured feed and its health. The fields up to `records` are the
/// contract's (`spec/cli.md`); times are RFC 3339, UTC.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedRow {
    /// Without its secrets, as logs and the state store show it.
    pub url: String,
    pub name: Option<String>,
    pub status: FeedStatus,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    /// Failed polls in a row.
    pub errors: u32,
    /// When the daemon polls it next; `None` when it is not polled (dead,
    /// disabled) or never was.
    pub next_poll: Option<String>,
    /// Items of the feed the store has recorded, and the records among them.
    pub items: u64,
    pub records: u64,
    pub enabled: bool,
    pub tags: Vec<String>,
    /// Why a dead feed is dead.
    pub dead: Option<String>,
    /// When its newest item was first seen.
    pub newest_item: Option<String>,
    /// Its median gap between new items, once it has history enough; the
    /// yardstick of `stale`.
    pub usual_gap_secs: Option<i64>,
}

impl FeedRow {
    fn new(feed: &Feed, health: FeedHealth) -> FeedRow {
        let fs = health.state.unwrap_or_default();
        let polled = feed.enabled && health.status != FeedStatus::Dead;
        FeedRow {
            url: feed.shown(),
            name: feed.name.clone(),
            status: health.status,
            last_success: fs.last_success.map(timestamp),
            last_error: fs.last_error,
            errors: fs.errors,
            next_poll: fs.next_poll.filter(|_| polled).map(timestamp),
            items: health.items,
            records: health.records,
            enabled: feed.enabled,
            tags: feed.tags.clone(),
            dead: fs.dead,
            newest_item: health.newest_item.map(timestamp),
            usual_gap_secs: health.usual_gap.map(|g| g.num_seconds()),
        }
    }
}

/// Every configured feed with its health at `now`, in the config's order;
/// without a store (nothing ran yet) every feed is new.
pub fn rows(
    feeds: &[Feed],
    state: Option<&State>,
    now: DateTime<Utc>,
) -> Result<Vec<FeedRow>, StateError> {
    feeds
        .iter()
        .map(|feed| {
            let health = match state {
                Some(state) => state.feed_health(&feed.shown(), now)?,
                None => FeedHealth::default(),
            };
            Ok(FeedRow::new(feed, health))
        })
        .collect()
}

/// Sets `tidings_feeds{status}` to the number of feeds in each status, all
/// five every time, so a status no feed has any more drops to 0.
pub fn set_gauge(rows: &[FeedRow]) {
    for status in FeedStatus::ALL {
        let n = rows.iter().filter(|r| r.status == status).count();
        metrics::gauge!("tidings_feeds", "status" => status.as_str()).set(n as f64);
    }
}

/// Keeps the gauge up to date until `shutdown`: `stale` comes with time,
/// not with a poll, so it is recomputed every `every`.
pub async fn keep_gauge(
    feeds: Arc<Vec<Feed>>,
    store: Store,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        let listed = feeds.clone();
        match store
            .call(move |s| rows(&listed, Some(s), Utc::now()))
            .await
        {
            Ok(rows) => set_gauge(&rows),
            Err(_) if shutdown.is_cancelled() => return,
            Err(e) => tracing::warn!("feed health for the tidings_feeds gauge: {e:#}"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// The configured feed a user means by `url`: as configured, or as shown
/// (without its secrets), the URL's spelling normalized.
pub fn find<'f>(feeds: &'f [Feed], url: &str) -> Option<&'f Feed> {
    let normalized = url::Url::parse(url.trim())
        .map(|u| redact::url(u.as_str()))
        .unwrap_or_else(|_| url.trim().to_string());
    feeds
        .iter()
        .find(|f| f.shown() == normalized || f.url.as_str() == url.trim())
}

/// What became of a revive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revived {
    /// It was dead; it is polled again at the daemon's next look at it.
    Revived(String),
    /// It was not dead: nothing to do.
    NotDead(String, FeedStatus),
    NotConfigured,
}

/// Revives the configured feed `url` in `state` (see
/// [`State::revive_feed`]).
pub fn revive(feeds: &[Feed], state: Option<&State>, url: &str) -> Result<Revived, StateError> {
    let Some(feed) = find(feeds, url) else {
        return Ok(Revived::NotConfigured);
    };
    let shown = feed.shown();
    let Some(state) = state else {
        return Ok(Revived::NotDead(shown, FeedStatus::New));
    };
    if state.revive_feed(&shown)? {
        return Ok(Revived::Revived(shown));
    }
    let status = state.feed_health(&shown, Utc::now())?.status;
    Ok(Revived::NotDead(shown, status))
}

//! How the feed source of one process of a cluster shares hosts with the
//! others: it polls a feed, or fetches a page, only while it holds the
//! host's share, and hands the pages of other hosts to whoever holds those.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::flow::Outcome;
use crate::record::{FeedHints, Origin};
use crate::state::{ItemKey, ItemStatus, Store};

/// Held while one request to a host is in flight: the share of the host is
/// not given up under it.
pub type Hold = Box<dyn Send + Sync>;

/// The cluster, as the feed source sees it.
pub trait Share: Send + Sync {
    /// A hold on `url`'s host for one request, when this process may send
    /// one now; `None` when another process fetches that host (or this one
    /// is about to give it up).
    fn hold(&self, url: &url::Url) -> Option<Hold>;

    /// Resolves when the hosts this process holds may have changed.
    fn changed(&self) -> BoxFuture<'static, ()>;

    /// Hands an item's page to the process that fetches its host; resolves
    /// once the job is durable.
    fn hand_off(&self, job: PageJob) -> BoxFuture<'static, anyhow::Result<()>>;
}

/// A page to fetch for a feed item, handed from the process that polled the
/// feed to the process that fetches the page's host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageJob {
    /// The page, as the item links it (it may carry credentials, as feed
    /// links do: jobs live only in the cluster's own stream).
    pub url: String,
    /// The origin (scheme, host, port) of the feed that listed it: a page on
    /// the feed's own origin may be on a private network (see `[http]
    /// private_networks`).
    pub feed_origin: String,
    pub feed: String,
    pub guid: String,
    /// The page's normalized URL, without secrets ([`ItemKey::page`]).
    pub page: Option<String>,
    pub seen: DateTime<Utc>,
    /// The entry's date ([`ItemKey::dated`]); missing in jobs handed on by
    /// an earlier version.
    #[serde(default)]
    pub dated: Option<DateTime<Utc>>,
    /// The entry's digest ([`ItemKey::digest`]); missing in jobs handed on
    /// by an earlier version.
    #[serde(default)]
    pub digest: Option<String>,
    pub origin: Origin,
    pub hints: FeedHints,
}

impl PageJob {
    pub fn key(&self) -> ItemKey {
        ItemKey {
            feed: self.feed.clone(),
            guid: self.guid.clone(),
            page: self.page.clone(),
            seen: self.seen,
            dated: self.dated,
            digest: self.digest.clone(),
        }
    }

    /// The feed's origin, for the HTTP client's network policy.
    pub fn feed_origin(&self) -> url::Origin {
        url::Url::parse(&self.feed_origin)
            .map(|u| u.origin())
            .unwrap_or_else(|_| url::Origin::new_opaque())
    }
}

/// Records how an item left the pipeline, then runs `then` on the store's
/// thread once the status is stored: what waits for the status (a page's
/// claim, a stream's acknowledgement) never runs ahead of it.
pub fn record_item(
    store: &Store,
    key: ItemKey,
    outcome: Outcome,
    then: impl FnOnce() + Send + 'static,
) {
    let (status, record) = match outcome {
        Outcome::Written { record } => (ItemStatus::Written, Some(record)),
        Outcome::Skipped => (ItemStatus::Skipped, None),
        Outcome::Handed { record } => (ItemStatus::Handed, record),
    };
    store.send(move |s| {
        if let Err(e) = s.mark_item(&key, status, record.as_deref()) {
            tracing::error!(
                feed = key.feed,
                guid = key.guid,
                "recording the item: {e:#}"
            );
        }
        then();
    });
}

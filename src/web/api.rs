//! The JSON endpoints behind the pages (and for scripts): `/api/records`
//! (records with the count of their `copies`),
//! `/api/stats`, `/api/feeds`, and `POST /api/feeds/revive`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::App;
use super::auth::authorized;
use crate::fetch::health::{self as feed_health, FeedRow, Revived};
use crate::observe::{Logged, health, recent_problems};
use crate::record::Record;
use crate::state::{HourCount, RecentFilter};

/// The most records one request lists.
const MAX_LIMIT: usize = 1000;

/// `/api/records` parameters (the news page takes the same).
#[derive(Debug, Default, Deserialize)]
pub struct RecordQuery {
    pub relevant: Option<bool>,
    pub topic: Option<String>,
    pub actor: Option<String>,
    pub limit: Option<usize>,
}

impl RecordQuery {
    pub fn filter(&self, default_limit: usize, relevant_first: bool) -> RecentFilter {
        RecentFilter {
            relevant: self.relevant,
            topic: self.topic.clone().filter(|t| !t.is_empty()),
            actor: self.actor.clone().filter(|a| !a.is_empty()),
            relevant_first,
            limit: self.limit.unwrap_or(default_limit).min(MAX_LIMIT),
        }
    }
}

/// An answer for a store that failed: 500, and the reason logged.
pub fn failed(e: impl std::fmt::Display) -> Response {
    tracing::error!("status page: {e}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the state store failed\n",
    )
        .into_response()
}

/// A record as the status page lists it: the record, and how many copies
/// of it were seen since (dropped or written, see `[dedup] copies`), which
/// the record itself cannot say: it was written before they came.
#[derive(Debug, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub record: Record,
    pub copies: u64,
}

/// The window's records that pass `filter`, with their copies counted.
pub fn listed(
    s: &crate::state::State,
    filter: &RecentFilter,
) -> Result<Vec<Listed>, crate::state::StateError> {
    let records = s.recent(filter)?;
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let copies = s.copies(&ids)?;
    Ok(records
        .into_iter()
        .map(|record| Listed {
            copies: copies.get(&record.id).copied().unwrap_or(0),
            record,
        })
        .collect())
}

/// The latest records, newest first, as record objects with `copies`.
pub async fn records(State(app): State<App>, Query(q): Query<RecordQuery>) -> Response {
    let filter = q.filter(50, false);
    match app.store.call(move |s| listed(s, &filter)).await {
        Ok(records) => Json(records).into_response(),
        Err(e) => failed(e),
    }
}

/// What the overview shows, as JSON.
#[derive(Debug, Serialize)]
pub struct Stats {
    pub read: u64,
    pub written: u64,
    pub already_present: u64,
    pub dead_lettered: u64,
    pub skipped: std::collections::BTreeMap<String, u64>,
    pub queues: std::collections::BTreeMap<String, usize>,
    pub components: Vec<Component>,
    pub last_hour: u64,
    pub per_minute: f64,
    pub hourly: Vec<Hour>,
    pub problems: Vec<Logged>,
}

/// A sink or the state store, and whether it works.
#[derive(Debug, Serialize)]
pub struct Component {
    pub name: String,
    pub ok: bool,
    pub since: Option<String>,
    pub reason: Option<String>,
}

/// Records written in one hour.
#[derive(Debug, Serialize)]
pub struct Hour {
    pub hour: String,
    pub relevant: u64,
    pub other: u64,
}

impl From<HourCount> for Hour {
    fn from(h: HourCount) -> Hour {
        Hour {
            hour: h.hour,
            relevant: h.relevant,
            other: h.other,
        }
    }
}

/// The figures of the overview: since start, the last hour, 48 hours by
/// hour, and the warnings and errors of the last hour.
pub async fn gather(app: &App) -> Result<Stats, crate::state::StateError> {
    let now = Utc::now();
    let since = now - chrono::Duration::hours(48);
    let hourly = app.store.call(move |s| s.hourly(since)).await?;
    let hour_ago = now - chrono::Duration::hours(1);
    let last_hour = app.store.call(move |s| s.written_since(hour_ago)).await?;
    let summary = app.counters.summary(std::time::Duration::ZERO);
    let hour_ago = crate::record::timestamp(now - chrono::Duration::hours(1));
    Ok(Stats {
        read: summary.read,
        written: summary.written,
        already_present: summary.already_present,
        dead_lettered: summary.dead_lettered,
        skipped: summary.skipped,
        queues: app
            .counters
            .queue_depths()
            .into_iter()
            .map(|(q, n)| (q.to_string(), n))
            .collect(),
        components: health()
            .components()
            .into_iter()
            .map(|(name, failing)| Component {
                name,
                ok: failing.is_none(),
                since: failing.as_ref().map(|f| f.0.clone()),
                reason: failing.map(|f| f.1),
            })
            .collect(),
        last_hour,
        per_minute: last_hour as f64 / 60.0,
        hourly: hourly.into_iter().map(Hour::from).collect(),
        problems: recent_problems()
            .into_iter()
            .filter(|p| p.at >= hour_ago)
            .collect(),
    })
}

pub async fn stats(State(app): State<App>) -> Response {
    match gather(&app).await {
        Ok(stats) => Json(stats).into_response(),
        Err(e) => failed(e),
    }
}

/// Every configured feed with its health, now.
pub async fn feed_rows(app: &App) -> Result<Vec<FeedRow>, crate::state::StateError> {
    let feeds = app.feeds.clone();
    app.store
        .call(move |s| feed_health::rows(&feeds, Some(s), Utc::now()))
        .await
}

/// The array of `tidings feeds list --json`.
pub async fn feeds(State(app): State<App>) -> Response {
    match feed_rows(&app).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => failed(e),
    }
}

#[derive(Debug, Deserialize)]
struct ReviveRequest {
    url: String,
}

/// Revives a dead feed: `{"url": "..."}`, with the token. 404 for a URL
/// that is not a configured feed; 200 with `revived` false for one that
/// was not dead. The feed task looks at the store every
/// `min_interval_secs`, so the feed is polled again within that time.
pub async fn revive(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    // The token first: nothing about the request is looked at without it.
    if let Err(refused) = authorized(app.token.as_deref(), &headers) {
        return refused.into_response();
    }
    let Ok(ReviveRequest { url }) = serde_json::from_slice(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            "the body must be {\"url\": \"...\"}\n",
        )
            .into_response();
    };
    let feeds = app.feeds.clone();
    let asked = url.clone();
    let revived = app
        .store
        .call(move |s| feed_health::revive(&feeds, Some(s), &asked))
        .await;
    match revived {
        Ok(Revived::Revived(shown)) => {
            tracing::info!(feed = shown, "revived from the status page");
            Json(serde_json::json!({ "url": shown, "revived": true })).into_response()
        }
        Ok(Revived::NotDead(shown, status)) => {
            Json(serde_json::json!({ "url": shown, "revived": false, "status": status }))
                .into_response()
        }
        Ok(Revived::NotConfigured) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "url": url, "error": "not a configured feed" })),
        )
            .into_response(),
        Err(e) => failed(e),
    }
}

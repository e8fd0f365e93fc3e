//! Feed health: one status per feed from what the store holds. The one place
//! that decides it, for `tidings feeds list`, the status page and the
//! `tidings_feeds` gauge.
//!
//! `stale` is the status a plain error count misses: a feed that answers
//! 200 but has listed nothing new for much longer than it usually goes
//! without. What "usually" means is learned from the feed's own history:
//! the times its new items were first seen. Items first seen in one poll
//! share that poll's time, so the history is one arrival per poll that
//! brought something new (a first poll's backlog is one arrival, not a
//! burst of zero gaps), and it never trusts a publisher's dates.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::db::args;
use super::{FeedState, State, StateError};

/// The arrivals a feed's usual gap is learned from, newest first.
const HISTORY: usize = 100;
/// Fewer gaps than this is too little history to call a feed stale.
const MIN_GAPS: usize = 4;
/// Stale after this many of the feed's median gaps without a new item...
const MEDIAN_GAPS: i32 = 3;
/// ...and after no less than this: a quiet day is no failure.
fn floor() -> Duration {
    Duration::days(1)
}

/// How a feed is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedStatus {
    /// Not polled successfully yet, and not failing.
    #[default]
    New,
    /// Its last poll succeeded.
    Ok,
    /// Its last poll failed; it is retried with backoff.
    Failing,
    /// It answers, but nothing new for much longer than its usual gap.
    Stale,
    /// No longer polled (gone, or failing for `dead_after_days`) until
    /// revived or its entry is edited.
    Dead,
}

impl FeedStatus {
    /// Every status, for a gauge with a bounded set of labels.
    pub const ALL: [FeedStatus; 5] = [
        FeedStatus::New,
        FeedStatus::Ok,
        FeedStatus::Failing,
        FeedStatus::Stale,
        FeedStatus::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FeedStatus::New => "new",
            FeedStatus::Ok => "ok",
            FeedStatus::Failing => "failing",
            FeedStatus::Stale => "stale",
            FeedStatus::Dead => "dead",
        }
    }
}

impl std::fmt::Display for FeedStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A feed's health as the store knows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedHealth {
    pub status: FeedStatus,
    /// What the daemon keeps between polls; `None` for a feed never seen.
    pub state: Option<FeedState>,
    /// Items of the feed recorded, and how many of them became records.
    pub items: u64,
    pub records: u64,
    /// When the newest item was first seen.
    pub newest_item: Option<DateTime<Utc>>,
    /// The median gap between the feed's arrivals of new items, once there
    /// is history enough to say.
    pub usual_gap: Option<Duration>,
}

/// The status of a feed from its state and its arrivals of new items
/// (newest first), at `now`.
pub fn status(
    state: Option<&FeedState>,
    arrivals: &[DateTime<Utc>],
    now: DateTime<Utc>,
) -> FeedStatus {
    let Some(fs) = state else {
        return FeedStatus::New;
    };
    if fs.dead.is_some() {
        return FeedStatus::Dead;
    }
    if fs.errors > 0 {
        return FeedStatus::Failing;
    }
    if fs.last_success.is_none() {
        return FeedStatus::New;
    }
    match (arrivals.first(), stale_after(arrivals)) {
        (Some(&newest), Some(limit)) if now - newest > limit => FeedStatus::Stale,
        _ => FeedStatus::Ok,
    }
}

/// How long the feed may go without a new item before it is stale: the
/// longest of a few of its median gaps, the longest gap it has had (a
/// weekday outlet's weekend), and a day. `None` with too little history.
pub fn stale_after(arrivals: &[DateTime<Utc>]) -> Option<Duration> {
    let mut gaps = gaps(arrivals);
    if gaps.len() < MIN_GAPS {
        return None;
    }
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    let longest = gaps[gaps.len() - 1];
    Some((median * MEDIAN_GAPS).max(longest).max(floor()))
}

/// The gaps between consecutive arrivals (newest first in, any order out).
fn gaps(arrivals: &[DateTime<Utc>]) -> Vec<Duration> {
    arrivals
        .windows(2)
        .map(|w| w[0] - w[1])
        .filter(|gap| *gap > Duration::zero())
        .collect()
}

/// The median gap, for showing.
fn median_gap(arrivals: &[DateTime<Utc>]) -> Option<Duration> {
    let mut gaps = gaps(arrivals);
    if gaps.len() < MIN_GAPS {
        return None;
    }
    gaps.sort();
    Some(gaps[gaps.len() / 2])
}

impl State {
    /// The health of the feed stored under `url` (without its secrets, as
    /// the feeds table is keyed), at `now`.
    pub fn feed_health(&self, url: &str, now: DateTime<Utc>) -> Result<FeedHealth, StateError> {
        let state = self.feed(url)?;
        let arrivals = self.arrivals(url)?;
        let counts = self.db.query_one(
            "SELECT COUNT(*), COUNT(record_id) FILTER (WHERE status IN ('written', 'handed'))
             FROM items WHERE feed = ?1",
            args![url],
        )?;
        let (items, records) = (counts.int(0)?, counts.int(1)?);
        Ok(FeedHealth {
            status: status(state.as_ref(), &arrivals, now),
            state,
            items: items.max(0) as u64,
            records: records.max(0) as u64,
            newest_item: arrivals.first().copied(),
            usual_gap: median_gap(&arrivals),
        })
    }

    /// The times the feed's new items were first seen, newest first, one per
    /// poll that brought any.
    fn arrivals(&self, url: &str) -> Result<Vec<DateTime<Utc>>, StateError> {
        let rows = self.db.query(
            "SELECT DISTINCT first_seen FROM items
             WHERE feed = ?1 AND first_seen IS NOT NULL
             ORDER BY first_seen DESC LIMIT ?2",
            args![url, HISTORY as i64],
        )?;
        let mut times = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(t) = super::db::parse_time(&row.text(0)?) {
                times.push(t);
            }
        }
        Ok(times)
    }

    /// Clears a dead feed's mark (and its failure count, so one more failure
    /// does not mark it again at once) and schedules it now; the daemon
    /// polls it at its next look at the feed. Whether it was dead.
    pub fn revive_feed(&self, url: &str) -> Result<bool, StateError> {
        self.db
            .execute(
                "UPDATE feeds SET dead = NULL, errors = 0, failing_since = NULL, next_poll = NULL
                 WHERE url = ?1 AND dead IS NOT NULL",
                args![url],
            )
            .map(|changed| changed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-05T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::hours(hours)
    }

    fn answering() -> FeedState {
        FeedState {
            last_success: Some(at(0)),
            ..FeedState::default()
        }
    }

    /// Arrivals every `every` hours back from hour 0, newest first.
    fn every(every: i64, n: i64) -> Vec<DateTime<Utc>> {
        (0..n).map(|i| at(-i * every)).collect()
    }

    #[test]
    fn dead_then_failing_then_new_come_before_the_history() {
        let mut fs = answering();
        assert_eq!(status(None, &[], at(0)), FeedStatus::New);
        assert_eq!(
            status(Some(&FeedState::default()), &[], at(0)),
            FeedStatus::New
        );
        assert_eq!(status(Some(&fs), &[], at(0)), FeedStatus::Ok);
        fs.errors = 2;
        assert_eq!(status(Some(&fs), &[], at(0)), FeedStatus::Failing);
        fs.dead = Some("HTTP 410".into());
        assert_eq!(status(Some(&fs), &[], at(0)), FeedStatus::Dead);
    }

    #[test]
    fn an_hourly_feed_is_stale_after_a_silent_day_a_weekly_one_is_not() {
        let fs = answering();
        let hourly = every(1, 30);
        assert_eq!(status(Some(&fs), &hourly, at(20)), FeedStatus::Ok);
        assert_eq!(status(Some(&fs), &hourly, at(25)), FeedStatus::Stale);
        let weekly = every(24 * 7, 6);
        assert_eq!(status(Some(&fs), &weekly, at(24 * 8)), FeedStatus::Ok);
        assert_eq!(status(Some(&fs), &weekly, at(24 * 20)), FeedStatus::Ok);
        assert_eq!(
            status(Some(&fs), &weekly, at(24 * 22)),
            FeedStatus::Stale,
            "three weeks past a weekly feed's newest item"
        );
    }

    #[test]
    fn a_feed_with_little_history_or_one_burst_cannot_be_stale() {
        let fs = answering();
        assert_eq!(status(Some(&fs), &every(1, 4), at(24 * 30)), FeedStatus::Ok);
        let backlog = vec![at(0); 40];
        assert_eq!(status(Some(&fs), &backlog, at(24 * 30)), FeedStatus::Ok);
    }

    #[test]
    fn the_longest_gap_seen_is_tolerated_again() {
        // Hourly on weekdays, then a 62-hour weekend, then hourly again.
        let mut arrivals = every(1, 10);
        let monday = *arrivals.last().unwrap();
        arrivals.extend((0..10).map(|i| monday - Duration::hours(62 + i)));
        assert_eq!(stale_after(&arrivals), Some(Duration::hours(62)));
        let fs = answering();
        assert_eq!(status(Some(&fs), &arrivals, at(50)), FeedStatus::Ok);
        assert_eq!(status(Some(&fs), &arrivals, at(63)), FeedStatus::Stale);
    }
}

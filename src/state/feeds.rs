//! Feeds: schedule, health and cursor between polls and restarts.

use chrono::{DateTime, Utc};

use super::db::args;
use super::{State, StateError};

/// The validators of a feed's latest response whose items all finished: the
/// cursor a conditional GET carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What the daemon remembers of a feed between polls and restarts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedState {
    /// Hash of the feed's config entry: a changed entry revives a dead feed.
    pub config_hash: String,
    pub validators: Validators,
    pub last_success: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub errors: u32,
    pub last_error: Option<String>,
    pub next_poll: Option<DateTime<Utc>>,
    /// Why the feed is no longer polled.
    pub dead: Option<String>,
}

impl State {
    pub fn feed(&self, url: &str) -> Result<Option<FeedState>, StateError> {
        let Some(r) = self.db.query_opt(
            "SELECT config_hash, etag, last_modified, last_success, failing_since, errors,
                    last_error, next_poll, dead FROM feeds WHERE url = ?1",
            args![url],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(FeedState {
            config_hash: r.text(0)?,
            validators: Validators {
                etag: r.opt_text(1)?,
                last_modified: r.opt_text(2)?,
            },
            last_success: r.opt_time(3)?,
            failing_since: r.opt_time(4)?,
            errors: r.int(5)?.clamp(0, u32::MAX.into()) as u32,
            last_error: r.opt_text(6)?,
            next_poll: r.opt_time(7)?,
            dead: r.opt_text(8)?,
        }))
    }

    /// Saves a feed's schedule and health. The validators are saved apart, by
    /// [`State::save_validators`], once a poll's items are all finished.
    pub fn save_feed(&self, url: &str, f: &FeedState) -> Result<(), StateError> {
        self.db
            .execute(
                "INSERT INTO feeds (url, config_hash, last_success, failing_since, errors,
                                    last_error, next_poll, dead)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (url) DO UPDATE SET config_hash = ?2, last_success = ?3,
                    failing_since = ?4, errors = ?5, last_error = ?6, next_poll = ?7, dead = ?8",
                args![
                    url,
                    f.config_hash.as_str(),
                    f.last_success,
                    f.failing_since,
                    f.errors,
                    f.last_error.as_deref(),
                    f.next_poll,
                    f.dead.as_deref()
                ],
            )
            .map(drop)
    }

    /// The feed's cursor: from now on a conditional GET may skip every item
    /// that response held.
    pub fn save_validators(&self, url: &str, v: &Validators) -> Result<(), StateError> {
        self.db
            .execute(
                "UPDATE feeds SET etag = ?2, last_modified = ?3 WHERE url = ?1",
                args![url, v.etag.as_deref(), v.last_modified.as_deref()],
            )
            .map(drop)
    }
}

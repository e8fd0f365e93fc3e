//! Feeds: schedule, health and cursor between polls and restarts.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

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
        self.conn
            .query_row(
                "SELECT config_hash, etag, last_modified, last_success, failing_since, errors,
                        last_error, next_poll, dead FROM feeds WHERE url = ?1",
                [url],
                |r| {
                    Ok(FeedState {
                        config_hash: r.get(0)?,
                        validators: Validators {
                            etag: r.get(1)?,
                            last_modified: r.get(2)?,
                        },
                        last_success: r.get(3)?,
                        failing_since: r.get(4)?,
                        errors: r.get(5)?,
                        last_error: r.get(6)?,
                        next_poll: r.get(7)?,
                        dead: r.get(8)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Saves a feed's schedule and health. The validators are saved apart, by
    /// [`State::save_validators`], once a poll's items are all finished.
    pub fn save_feed(&self, url: &str, f: &FeedState) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO feeds (url, config_hash, last_success, failing_since, errors,
                                    last_error, next_poll, dead)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (url) DO UPDATE SET config_hash = ?2, last_success = ?3,
                    failing_since = ?4, errors = ?5, last_error = ?6, next_poll = ?7, dead = ?8",
                params![
                    url,
                    f.config_hash,
                    f.last_success,
                    f.failing_since,
                    f.errors,
                    f.last_error,
                    f.next_poll,
                    f.dead
                ],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// The feed's cursor: from now on a conditional GET may skip every item
    /// that response held.
    pub fn save_validators(&self, url: &str, v: &Validators) -> Result<(), StateError> {
        self.conn
            .execute(
                "UPDATE feeds SET etag = ?2, last_modified = ?3 WHERE url = ?1",
                params![url, v.etag, v.last_modified],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }
}

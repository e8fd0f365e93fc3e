//! Feed items: how each left the pipeline, and the page it links to.

use chrono::{DateTime, Utc};

use super::db::{Db, args};
use super::{State, StateError};

/// A feed item: the feed's URL and the item's guid, with the page it links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemKey {
    /// The feed's URL without its secrets ([`crate::redact::url`]), as the
    /// feeds table is keyed too: the store holds no credentials.
    pub feed: String,
    pub guid: String,
    /// The linked page's normalized URL without its secrets, when the item
    /// has a link.
    pub page: Option<String>,
    /// When the feed's response that listed the item was received. Kept
    /// from the first time the item is recorded: its first-seen time.
    pub seen: DateTime<Utc>,
    /// The date the feed's entry carries (updated, else published): an item
    /// dated later than it was may list a changed page.
    pub dated: Option<DateTime<Utc>>,
    /// A digest of the entry as the feed lists it (title, summary, content):
    /// many feeds change an entry when the story develops and leave its
    /// date alone.
    pub digest: Option<String>,
}

/// How an item left the pipeline. Every status but `Pending` is final: the
/// item is not fetched again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    /// Written to every sink.
    Written,
    /// Dropped as a duplicate, or not an article (no text, page gone).
    Skipped,
    /// Failed and will be tried again at the next poll.
    Pending,
    /// In a cluster: handed on through a durable stream (its page to the
    /// process that fetches the page's host, its record to the writer).
    Handed,
}

impl ItemStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Written => "written",
            ItemStatus::Skipped => "skipped",
            ItemStatus::Pending => "pending",
            ItemStatus::Handed => "handed",
        }
    }
}

impl State {
    /// Records how an item left the pipeline (with its record, when it has
    /// one). A pending item counts one more attempt; returns the attempts so
    /// far.
    pub fn mark_item(
        &mut self,
        item: &ItemKey,
        status: ItemStatus,
        record: Option<&str>,
    ) -> Result<u32, StateError> {
        let at = crate::record::timestamp(chrono::Utc::now());
        upsert_item(&self.db, item, status, record, &at)?;
        let attempts = self
            .db
            .query_one(
                "SELECT attempts FROM items WHERE feed = ?1 AND guid = ?2",
                args![item.feed.as_str(), item.guid.as_str()],
            )?
            .int(0)?;
        Ok(attempts.clamp(0, u32::MAX.into()) as u32)
    }

    /// Whether the item reached a final status for the run's sinks (see
    /// [`State::set_sinks`]): it was skipped (a duplicate, no text, gone), or
    /// its record is in every one of them. Either way it is not fetched again.
    pub fn item_finished(&self, item: &ItemKey) -> Result<bool, StateError> {
        let found = self.db.query_opt(
            "SELECT status, record_id FROM items WHERE feed = ?1 AND guid = ?2",
            args![item.feed.as_str(), item.guid.as_str()],
        )?;
        match found {
            Some(r) => self.finished(&r.text(0)?, r.opt_text(1)?.as_deref()),
            None => Ok(false),
        }
    }

    /// Whether a finished item's entry changed since the item finished:
    /// dated later than it was (or, when it was not dated then, than when
    /// it finished), or listed with another digest. Its page may have
    /// changed since. (An item stored without a digest, by an earlier
    /// version, is compared by its date alone.) An item marked at or after
    /// `due` is not checked yet, whatever its entry says: a feed that
    /// rewrites an entry at every poll would have its page fetched at every
    /// poll.
    pub fn item_changed(&self, item: &ItemKey, due: DateTime<Utc>) -> Result<bool, StateError> {
        let found = self.db.query_opt(
            "SELECT COALESCE(dated, at), digest, at FROM items WHERE feed = ?1 AND guid = ?2",
            args![item.feed.as_str(), item.guid.as_str()],
        )?;
        let Some(r) = found else {
            return Ok(false);
        };
        if r.time(2)? >= due {
            return Ok(false);
        }
        let stored = r.time(0)?;
        let redated = item.dated.is_some_and(|d| d > stored);
        let digest = r.opt_text(1)?;
        let rewritten = matches!((&item.digest, &digest), (Some(new), Some(old)) if new != old);
        Ok(redated || rewritten)
    }

    /// Whether an item of any feed that links to this page (normalized URL)
    /// is finished (see [`State::item_finished`]): the page is not fetched
    /// again.
    pub fn page_finished(&self, page: &str) -> Result<bool, StateError> {
        let items = self.db.query(
            "SELECT status, record_id FROM items WHERE page = ?1",
            args![page],
        )?;
        for r in items {
            if self.finished(&r.text(0)?, r.opt_text(1)?.as_deref())? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn finished(&self, status: &str, record: Option<&str>) -> Result<bool, StateError> {
        if status == ItemStatus::Pending.as_str() {
            return Ok(false);
        }
        // Another process of the cluster finishes it: the stream it went to
        // keeps it until then.
        if status == ItemStatus::Handed.as_str() {
            return Ok(true);
        }
        let Some(record) = record.filter(|_| status == ItemStatus::Written.as_str()) else {
            return Ok(true);
        };
        let holders = self.holders(record)?;
        Ok(self.sinks.iter().all(|s| holders.contains(s)))
    }
}

fn upsert_item(
    db: &Db,
    item: &ItemKey,
    status: ItemStatus,
    record_id: Option<&str>,
    at: &str,
) -> Result<(), StateError> {
    db.execute(
        "INSERT INTO items (feed, guid, status, attempts, record_id, at, page, first_seen, dated,
            digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (feed, guid) DO UPDATE SET status = ?3,
            attempts = items.attempts + ?4, record_id = COALESCE(?5, items.record_id), at = ?6,
            page = COALESCE(?7, items.page), first_seen = COALESCE(items.first_seen, ?8),
            dated = COALESCE(?9, items.dated), digest = COALESCE(?10, items.digest)",
        args![
            item.feed.as_str(),
            item.guid.as_str(),
            status.as_str(),
            u32::from(status == ItemStatus::Pending),
            record_id,
            at,
            item.page.as_deref(),
            crate::record::timestamp(item.seen),
            item.dated.map(crate::record::timestamp),
            item.digest.as_deref()
        ],
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Location;

    #[test]
    fn an_item_changes_with_a_later_entry_date_or_another_digest() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&Location::folder(dir.path())).unwrap();
        let day =
            |d: u32| Some(chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, d, 8, 0, 0).unwrap());
        let key = ItemKey {
            feed: "f".into(),
            guid: "g".into(),
            page: None,
            seen: Utc::now(),
            dated: day(2),
            digest: Some("a".into()),
        };
        let at = |dated, digest: &str| ItemKey {
            dated,
            digest: Some(digest.into()),
            ..key.clone()
        };
        // Changes of an item marked before this are due to be checked.
        let due = Utc::now() + chrono::Duration::seconds(5);
        assert!(
            !s.item_changed(&key, due).unwrap(),
            "an item never seen is new, not changed"
        );
        s.mark_item(&key, ItemStatus::Written, None).unwrap();
        let an_hour_ago = Utc::now() - chrono::Duration::hours(1);
        assert!(
            !s.item_changed(&at(day(3), "b"), an_hour_ago).unwrap(),
            "an item marked within the hour waits for its next check"
        );
        assert!(!s.item_changed(&at(day(2), "a"), due).unwrap());
        assert!(!s.item_changed(&at(day(1), "a"), due).unwrap());
        assert!(!s.item_changed(&at(None, "a"), due).unwrap());
        assert!(s.item_changed(&at(day(3), "a"), due).unwrap());
        assert!(s.item_changed(&at(day(2), "b"), due).unwrap());
        assert!(s.item_changed(&at(None, "b"), due).unwrap());
        // Written again: its date and digest are the ones to compare with.
        s.mark_item(&at(day(3), "b"), ItemStatus::Written, None)
            .unwrap();
        assert!(!s.item_changed(&at(day(3), "b"), due).unwrap());
        // A digest the store never had (an item of an earlier version) is
        // no change.
        let bare = ItemKey {
            guid: "h".into(),
            digest: None,
            ..key.clone()
        };
        s.mark_item(&bare, ItemStatus::Written, None).unwrap();
        assert!(
            !s.item_changed(
                &ItemKey {
                    guid: "h".into(),
                    ..key.clone()
                },
                due
            )
            .unwrap()
        );
    }
}

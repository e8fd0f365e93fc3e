//! The latest records, whatever the sinks are: a bounded window that the
//! status page reads (news, trends, the records-per-hour chart).

use chrono::{DateTime, Utc};

use super::db::args;
use super::{State, StateError};
use crate::record::{Record, timestamp};

/// Which of the window's records to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentFilter {
    /// Only relevant (`Some(true)`) or only irrelevant ones.
    pub relevant: Option<bool>,
    /// Only those tagged with this topic id.
    pub topic: Option<String>,
    /// Only those naming this actor id.
    pub actor: Option<String>,
    /// Relevant ones first (else newest first only).
    pub relevant_first: bool,
    pub limit: usize,
}

/// Records written in one hour (`2026-11-30T14`), relevant and not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourCount {
    pub hour: String,
    pub relevant: u64,
    pub other: u64,
}

impl State {
    /// Keeps written records in the window, then drops what is older than
    /// `keep_since` or beyond the newest `keep_most`.
    pub fn remember(
        &mut self,
        records: &[Record],
        at: DateTime<Utc>,
        keep_since: DateTime<Utc>,
        keep_most: usize,
    ) -> Result<(), StateError> {
        let at = timestamp(at);
        self.db.transaction(|db| {
            // A record written again goes to the window's end, as new.
            let put = db.pick(
                "INSERT OR REPLACE INTO recent (id, at, relevant, record) VALUES (?1, ?2, ?3, ?4)",
                "INSERT INTO recent (id, at, relevant, record) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET at = excluded.at, relevant = excluded.relevant,
                    record = excluded.record, seq = DEFAULT",
            );
            for record in records {
                let json = serde_json::to_string(record).unwrap_or_default();
                db.execute(
                    put,
                    args![record.id.as_str(), at.as_str(), record.relevant, json],
                )?;
            }
            db.execute(
                "DELETE FROM recent WHERE at < ?1",
                args![timestamp(keep_since)],
            )?;
            db.execute(
                "DELETE FROM recent WHERE id NOT IN
                     (SELECT id FROM recent ORDER BY at DESC LIMIT ?1)",
                args![keep_most as i64],
            )
            .map(drop)
        })
    }

    /// The ids of the records in the window.
    pub fn recent_ids(&self) -> Result<Vec<String>, StateError> {
        self.db
            .query("SELECT id FROM recent", &[])?
            .iter()
            .map(|r| r.text(0))
            .collect()
    }

    /// Records of the window written again (re-tagged): the window shows
    /// them as they are now, in the place they had. Records not in the
    /// window are left out of it.
    pub fn rewrite_recent(&mut self, records: &[Record]) -> Result<(), StateError> {
        self.db.transaction(|db| {
            for record in records {
                let json = serde_json::to_string(record).unwrap_or_default();
                db.execute(
                    "UPDATE recent SET relevant = ?2, record = ?3 WHERE id = ?1",
                    args![record.id.as_str(), record.relevant, json],
                )?;
            }
            Ok(())
        })
    }

    /// The window's records that pass `filter`, newest first (relevant ones
    /// first when asked).
    pub fn recent(&self, filter: &RecentFilter) -> Result<Vec<Record>, StateError> {
        let (rowid, json_has) = match self.db.is_postgres() {
            false => (
                "rowid",
                "EXISTS (SELECT 1 FROM json_each(record, '$.{list}') t
                         WHERE json_extract(t.value, '$.id') = ?{n})",
            ),
            true => (
                "seq",
                "EXISTS (SELECT 1 FROM jsonb_array_elements(record::jsonb -> '{list}') t
                         WHERE t.value ->> 'id' = ?{n})",
            ),
        };
        let has = |list: &str, n: &str| json_has.replace("{list}", list).replace("{n}", n);
        let order = if filter.relevant_first {
            format!("relevant DESC, at DESC, {rowid} DESC")
        } else {
            format!("at DESC, {rowid} DESC")
        };
        // The casts give PostgreSQL the parameters' types where a test for
        // NULL alone would leave them open.
        let sql = format!(
            "SELECT record FROM recent
             WHERE (CAST(?1 AS INTEGER) IS NULL OR relevant = ?1)
               AND (CAST(?2 AS TEXT) IS NULL OR {})
               AND (CAST(?3 AS TEXT) IS NULL OR {})
             ORDER BY {order} LIMIT ?4",
            has("topics", "2"),
            has("actors", "3"),
        );
        let rows = self.db.query(
            &sql,
            args![
                filter.relevant,
                filter.topic.as_deref(),
                filter.actor.as_deref(),
                filter.limit as i64
            ],
        )?;
        let mut records = Vec::new();
        for row in rows {
            // A record of another schema (an older build's) is left out.
            if let Ok(record) = serde_json::from_str(&row.text(0)?) {
                records.push(record);
            }
        }
        Ok(records)
    }

    /// One record of the window.
    pub fn recent_record(&self, id: &str) -> Result<Option<Record>, StateError> {
        let json = self
            .db
            .query_opt("SELECT record FROM recent WHERE id = ?1", args![id])?
            .map(|r| r.text(0))
            .transpose()?;
        Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
    }

    /// How many records of the window were written since `since`.
    pub fn written_since(&self, since: DateTime<Utc>) -> Result<u64, StateError> {
        let n = self
            .db
            .query_one(
                "SELECT COUNT(*) FROM recent WHERE at >= ?1",
                args![timestamp(since)],
            )?
            .int(0)?;
        Ok(n.max(0) as u64)
    }

    /// Records written per hour since `since`, oldest first.
    pub fn hourly(&self, since: DateTime<Utc>) -> Result<Vec<HourCount>, StateError> {
        // CAST: PostgreSQL sums integers into a numeric.
        self.db
            .query(
                "SELECT substr(at, 1, 13) AS hour, CAST(SUM(relevant) AS BIGINT),
                        CAST(SUM(1 - relevant) AS BIGINT)
                 FROM recent WHERE at >= ?1 GROUP BY hour ORDER BY hour",
                args![timestamp(since)],
            )?
            .iter()
            .map(|r| {
                Ok(HourCount {
                    hour: r.text(0)?,
                    relevant: r.int(1)?.max(0) as u64,
                    other: r.int(2)?.max(0) as u64,
                })
            })
            .collect()
    }

    /// How often each topic was tagged per day since `since`: (day, topic,
    /// records).
    pub fn topics_per_day(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, String, u64)>, StateError> {
        self.counts(
            self.db.pick(
                "SELECT substr(r.at, 1, 10) AS day, json_extract(t.value, '$.id') AS topic,
                        COUNT(*)
                 FROM recent r, json_each(r.record, '$.topics') t
                 WHERE r.at >= ?1 GROUP BY day, topic ORDER BY day, topic",
                "SELECT substr(r.at, 1, 10) AS day, t.value ->> 'id' AS topic, COUNT(*)
                 FROM recent r, jsonb_array_elements(r.record::jsonb -> 'topics') t
                 WHERE r.at >= ?1 GROUP BY day, topic
                 ORDER BY day, topic COLLATE \"C\"",
            ),
            since,
        )
    }

    /// The pairs of actors most often named in one record since `since`:
    /// (actor, actor, records), the most frequent first.
    pub fn actor_pairs(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, String, u64)>, StateError> {
        let mut pairs = self.counts(
            self.db.pick(
                "SELECT json_extract(a.value, '$.id') AS x, json_extract(b.value, '$.id') AS y,
                        COUNT(*) AS n
                 FROM recent r, json_each(r.record, '$.actors') a, json_each(r.record, '$.actors') b
                 WHERE r.at >= ?1 AND x < y
                 GROUP BY x, y ORDER BY n DESC, x, y",
                // Byte order ("C"), as SQLite compares text.
                "SELECT a.value ->> 'id' AS x, b.value ->> 'id' AS y, COUNT(*) AS n
                 FROM recent r, jsonb_array_elements(r.record::jsonb -> 'actors') a,
                      jsonb_array_elements(r.record::jsonb -> 'actors') b
                 WHERE r.at >= ?1 AND (a.value ->> 'id') < (b.value ->> 'id') COLLATE \"C\"
                 GROUP BY x, y ORDER BY n DESC, x COLLATE \"C\", y COLLATE \"C\"",
            ),
            since,
        )?;
        pairs.truncate(limit);
        Ok(pairs)
    }

    fn counts(
        &self,
        sql: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, String, u64)>, StateError> {
        self.db
            .query(sql, args![timestamp(since)])?
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?, r.int(2)?.max(0) as u64)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{
        ActorKind, ActorTag, Article, Extracted, FeedHints, Origin, OriginKind, Tags, TopicTag,
    };
    use crate::state::Location;

    fn record(n: usize, relevant: bool, topics: &[&str], actors: &[&str]) -> Record {
        let article = Article::new(
            Origin {
                kind: OriginKind::File,
                location: format!("doc{n}.txt"),
                name: None,
                tags: Vec::new(),
            },
            Some(format!("https://news.example/{n}")),
            None,
            Utc::now(),
            FeedHints::default(),
            Extracted {
                title: Some(format!("Story {n}")),
                text: format!("Text of story {n}."),
                ..Extracted::default()
            },
        );
        let tags = Tags {
            relevant,
            relevance: if relevant { 0.9 } else { 0.1 },
            topics: topics
                .iter()
                .map(|t| TopicTag {
                    id: t.to_string(),
                    label: t.to_string(),
                    score: 0.5,
                    evidence: Vec::new(),
                })
                .collect(),
            actors: actors
                .iter()
                .map(|a| ActorTag {
                    id: a.to_string(),
                    name: a.to_string(),
                    kind: ActorKind::State,
                    mentions: 1,
                    spellings: Vec::new(),
                })
                .collect(),
            taxonomy_version: "0123456789ab".into(),
        };
        Record::new(article, None, tags)
    }

    #[test]
    fn the_window_filters_counts_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&Location::folder(dir.path())).unwrap();
        let now = Utc::now();
        let day = chrono::Duration::days(1);
        let batch = [
            record(1, true, &["ceasefire"], &["ukraine", "russia"]),
            record(2, false, &[], &[]),
            record(3, true, &["sanctions"], &["russia", "eu"]),
        ];
        s.remember(&batch[..2], now - day, now - day * 7, 100)
            .unwrap();
        s.remember(&batch[2..], now, now - day * 7, 100).unwrap();

        fn titles(s: &State, filter: RecentFilter) -> Vec<String> {
            s.recent(&RecentFilter {
                limit: 10,
                ..filter
            })
            .unwrap()
            .into_iter()
            .map(|r| r.title)
            .collect()
        }
        let all = |filter| titles(&s, filter);
        assert_eq!(
            all(RecentFilter::default()),
            ["Story 3", "Story 2", "Story 1"]
        );
        let topic = RecentFilter {
            topic: Some("ceasefire".into()),
            ..RecentFilter::default()
        };
        assert_eq!(all(topic), ["Story 1"]);
        let actor = RecentFilter {
            actor: Some("russia".into()),
            ..RecentFilter::default()
        };
        assert_eq!(all(actor), ["Story 3", "Story 1"]);
        let irrelevant = RecentFilter {
            relevant: Some(false),
            ..RecentFilter::default()
        };
        assert_eq!(all(irrelevant), ["Story 2"]);
        assert_eq!(
            s.recent_record(&batch[1].id).unwrap().map(|r| r.title),
            Some("Story 2".to_string())
        );

        let hours = s.hourly(now - day * 2).unwrap();
        assert_eq!(hours.iter().map(|h| h.relevant).sum::<u64>(), 2);
        assert_eq!(hours.iter().map(|h| h.other).sum::<u64>(), 1);
        assert_eq!(
            s.actor_pairs(now - day * 2, 10).unwrap(),
            [
                ("eu".to_string(), "russia".to_string(), 1),
                ("russia".to_string(), "ukraine".to_string(), 1)
            ]
        );
        assert_eq!(s.topics_per_day(now - day * 2).unwrap().len(), 2);

        // Older than the window, or beyond its size: gone.
        s.remember(&[], now, now - chrono::Duration::hours(1), 100)
            .unwrap();
        assert_eq!(titles(&s, RecentFilter::default()), ["Story 3"]);
        s.remember(&batch[..2], now, now - day, 2).unwrap();
        assert_eq!(titles(&s, RecentFilter::default()).len(), 2);
    }
}

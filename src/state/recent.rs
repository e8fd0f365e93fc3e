//! The latest records, whatever the sinks are: a bounded window that the
//! status page reads (news, trends, the records-per-hour chart).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

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
        let path = &self.path;
        let err = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO recent (id, at, relevant, record) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            let at = timestamp(at);
            for record in records {
                let json = serde_json::to_string(record).unwrap_or_default();
                put.execute(params![record.id, at, record.relevant, json])
                    .map_err(err)?;
            }
        }
        tx.execute("DELETE FROM recent WHERE at < ?1", [timestamp(keep_since)])
            .map_err(err)?;
        tx.execute(
            "DELETE FROM recent WHERE id IN
                 (SELECT id FROM recent ORDER BY at DESC LIMIT -1 OFFSET ?1)",
            [keep_most as i64],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// The ids of the records in the window.
    pub fn recent_ids(&self) -> Result<Vec<String>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM recent")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Records of the window written again (re-tagged): the window shows
    /// them as they are now, in the place they had. Records not in the
    /// window are left out of it.
    pub fn rewrite_recent(&mut self, records: &[Record]) -> Result<(), StateError> {
        let path = &self.path;
        let err = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut put = tx
                .prepare_cached("UPDATE recent SET relevant = ?2, record = ?3 WHERE id = ?1")
                .map_err(err)?;
            for record in records {
                let json = serde_json::to_string(record).unwrap_or_default();
                put.execute(params![record.id, record.relevant, json])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// The window's records that pass `filter`, newest first (relevant ones
    /// first when asked).
    pub fn recent(&self, filter: &RecentFilter) -> Result<Vec<Record>, StateError> {
        let order = if filter.relevant_first {
            "relevant DESC, at DESC, rowid DESC"
        } else {
            "at DESC, rowid DESC"
        };
        let sql = format!(
            "SELECT record FROM recent
             WHERE (?1 IS NULL OR relevant = ?1)
               AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(record, '$.topics') t
                                          WHERE json_extract(t.value, '$.id') = ?2))
               AND (?3 IS NULL OR EXISTS (SELECT 1 FROM json_each(record, '$.actors') a
                                          WHERE json_extract(a.value, '$.id') = ?3))
             ORDER BY {order} LIMIT ?4"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(
                params![
                    filter.relevant,
                    filter.topic,
                    filter.actor,
                    filter.limit as i64
                ],
                |r| r.get::<_, String>(0),
            )
            .map_err(|e| self.err(e))?;
        let mut records = Vec::new();
        for json in rows {
            let json = json.map_err(|e| self.err(e))?;
            // A record of another schema (an older build's) is left out.
            if let Ok(record) = serde_json::from_str(&json) {
                records.push(record);
            }
        }
        Ok(records)
    }

    /// One record of the window.
    pub fn recent_record(&self, id: &str) -> Result<Option<Record>, StateError> {
        let json = self
            .conn
            .prepare_cached("SELECT record FROM recent WHERE id = ?1")
            .and_then(|mut stmt| stmt.query_row([id], |r| r.get::<_, String>(0)).optional())
            .map_err(|e| self.err(e))?;
        Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
    }

    /// How many records of the window were written since `since`.
    pub fn written_since(&self, since: DateTime<Utc>) -> Result<u64, StateError> {
        self.conn
            .prepare_cached("SELECT COUNT(*) FROM recent WHERE at >= ?1")
            .and_then(|mut stmt| stmt.query_row([timestamp(since)], |r| r.get::<_, i64>(0)))
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.err(e))
    }

    /// Records written per hour since `since`, oldest first.
    pub fn hourly(&self, since: DateTime<Utc>) -> Result<Vec<HourCount>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT substr(at, 1, 13) AS hour, SUM(relevant), SUM(1 - relevant)
                 FROM recent WHERE at >= ?1 GROUP BY hour ORDER BY hour",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([timestamp(since)], |r| {
                Ok(HourCount {
                    hour: r.get(0)?,
                    relevant: r.get::<_, i64>(1)?.max(0) as u64,
                    other: r.get::<_, i64>(2)?.max(0) as u64,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// How often each topic was tagged per day since `since`: (day, topic,
    /// records).
    pub fn topics_per_day(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, String, u64)>, StateError> {
        self.counts(
            "SELECT substr(r.at, 1, 10) AS day, json_extract(t.value, '$.id') AS topic,
                    COUNT(*)
             FROM recent r, json_each(r.record, '$.topics') t
             WHERE r.at >= ?1 GROUP BY day, topic ORDER BY day, topic",
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
            "SELECT json_extract(a.value, '$.id') AS x, json_extract(b.value, '$.id') AS y,
                    COUNT(*) AS n
             FROM recent r, json_each(r.record, '$.actors') a, json_each(r.record, '$.actors') b
             WHERE r.at >= ?1 AND x < y
             GROUP BY x, y ORDER BY n DESC, x, y",
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
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([timestamp(since)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{
        ActorKind, ActorTag, Article, Extracted, FeedHints, Origin, OriginKind, Tags, TopicTag,
    };

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
        let mut s = State::open(dir.path()).unwrap();
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

//! Which story each record was placed in, with what the placement learnt
//! (the record's story profile), so that a restart places the next records
//! as the run before would have.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::db::{Value, args};
use super::{State, StateError};

/// One record's placement.
#[derive(Debug, Clone, PartialEq)]
pub struct StoryMark {
    pub id: String,
    pub story: String,
    /// The record's story profile (JSON); `None` when the placement learnt
    /// nothing (a copy takes its original's story).
    pub profile: Option<String>,
}

impl State {
    /// Keeps placements made `at`; a record placed before keeps its first.
    pub fn mark_stories(
        &mut self,
        marks: &[StoryMark],
        at: DateTime<Utc>,
    ) -> Result<(), StateError> {
        let at = crate::record::timestamp(at);
        self.db.transaction(|db| {
            for m in marks {
                db.execute(
                    "INSERT INTO stories (id, story, placed, profile) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                    args![
                        m.id.as_str(),
                        m.story.as_str(),
                        at.as_str(),
                        m.profile.as_deref()
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// The stories of those of `ids` that were placed.
    pub fn stories_of(&self, ids: &[String]) -> Result<HashMap<String, String>, StateError> {
        let mut found = HashMap::new();
        for page in ids.chunks(200) {
            let marks: Vec<String> = (1..=page.len()).map(|i| format!("?{i}")).collect();
            let args: Vec<Value> = page.iter().map(Value::from).collect();
            let rows = self.db.query(
                &format!(
                    "SELECT id, story FROM stories WHERE id IN ({})",
                    marks.join(", ")
                ),
                &args,
            )?;
            for row in rows {
                found.insert(row.text(0)?, row.text(1)?);
            }
        }
        Ok(found)
    }

    /// The placements made since `since`, in the order they were made.
    pub fn story_marks(&self, since: DateTime<Utc>) -> Result<Vec<StoryMark>, StateError> {
        let rows = self.db.query(
            self.db.pick(
                "SELECT id, story, profile FROM stories WHERE placed >= ?1 ORDER BY rowid",
                "SELECT id, story, profile FROM stories WHERE placed >= ?1 ORDER BY seq",
            ),
            args![crate::record::timestamp(since)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(StoryMark {
                    id: r.text(0)?,
                    story: r.text(1)?,
                    profile: r.opt_text(2)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Location;
    use super::*;

    #[test]
    fn placements_come_back_in_order_and_the_first_stands() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&Location::folder(dir.path())).unwrap();
        let mark = |id: &str, story: &str| StoryMark {
            id: id.into(),
            story: story.into(),
            profile: Some(format!("{{\"of\": \"{id}\"}}")),
        };
        let then = Utc::now() - chrono::Duration::days(40);
        s.mark_stories(&[mark("old", "old")], then).unwrap();
        let now = Utc::now();
        s.mark_stories(&[mark("b", "b"), mark("a", "b")], now)
            .unwrap();
        s.mark_stories(&[mark("a", "a")], now).unwrap();
        let since = now - chrono::Duration::days(30);
        assert_eq!(
            s.story_marks(since).unwrap(),
            [mark("b", "b"), mark("a", "b")]
        );
        let ids = ["a".to_string(), "old".to_string(), "z".to_string()];
        let found = s.stories_of(&ids).unwrap();
        assert_eq!(found.get("a").map(String::as_str), Some("b"));
        assert_eq!(found.get("old").map(String::as_str), Some("old"));
        assert_eq!(found.get("z"), None);
    }
}

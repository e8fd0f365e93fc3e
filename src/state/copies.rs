//! How many copies of each original were seen: syndication, counted whether
//! the copies were dropped or written (`[dedup] copies`).

use std::collections::HashMap;

use super::db::{Value, args};
use super::{State, StateError};

impl State {
    /// Notes that `copy` (a record id) copies `original` (a record or seed
    /// id). Seeing the same copy again counts nothing more.
    pub fn note_copy(&mut self, original: &str, copy: &str) -> Result<(), StateError> {
        self.db
            .execute(
                "INSERT INTO copies (original, copy) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                args![original, copy],
            )
            .map(drop)
    }

    /// How many copies of each of `originals` were seen; an original without
    /// copies is left out.
    pub fn copies(&self, originals: &[String]) -> Result<HashMap<String, u64>, StateError> {
        let mut counts = HashMap::new();
        // One statement per page of ids: the status page asks for up to a
        // thousand at a time.
        for page in originals.chunks(200) {
            let marks: Vec<String> = (1..=page.len()).map(|i| format!("?{i}")).collect();
            let args: Vec<Value> = page.iter().map(Value::from).collect();
            let rows = self.db.query(
                &format!(
                    "SELECT original, COUNT(*) FROM copies WHERE original IN ({})
                     GROUP BY original",
                    marks.join(", ")
                ),
                &args,
            )?;
            for row in rows {
                counts.insert(row.text(0)?, row.int(1)?.max(0) as u64);
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Location;
    use super::*;

    #[test]
    fn a_copy_counts_once_for_its_original() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(&Location::folder(dir.path())).unwrap();
        s.note_copy("a", "b").unwrap();
        s.note_copy("a", "c").unwrap();
        s.note_copy("a", "b").unwrap();
        s.note_copy("x", "y").unwrap();
        let ids = ["a".to_string(), "x".to_string(), "z".to_string()];
        let counts = s.copies(&ids).unwrap();
        assert_eq!(counts.get("a"), Some(&2));
        assert_eq!(counts.get("x"), Some(&1));
        assert_eq!(counts.get("z"), None);
    }
}

//! `tidings retag`: stored records tagged again after a taxonomy change, in
//! a JSONL file and in PostgreSQL; and `backfill` refusing a file of
//! records.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use crate::support::servers::{self, pg};
use crate::support::{fixture, records, repo, stderr, tidings};

/// An actor the shipped taxonomy does not have, named in two of the seeds
/// ("the World Economic Forum in Davos").
const NEW_ACTOR: &str = "
[[actors]]
id = \"world_economic_forum\"
name = \"World Economic Forum\"
kind = \"organisation\"
aliases = [\"World Economic Forum\", \"Davos\"]
";

/// The fields a re-tagging may change.
const TAG_FIELDS: [&str; 5] = [
    "relevant",
    "relevance",
    "topics",
    "actors",
    "taxonomy_version",
];

/// A folder with a config (JSONL sink `out.jsonl`, state in `state/`) whose
/// taxonomy is `taxonomy.toml`, a copy of the shipped one.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo("config/taxonomy.toml"),
        dir.path().join("taxonomy.toml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tidings.toml"),
        "[state]\ndir = \"state\"\n\n[tag]\ntaxonomy = \"taxonomy.toml\"\n\n\
         [[sinks]]\nkind = \"jsonl\"\npath = \"out.jsonl\"\n",
    )
    .unwrap();
    dir
}

fn add_actor(dir: &Path) {
    let path = dir.join("taxonomy.toml");
    let mut taxonomy = std::fs::read_to_string(&path).unwrap();
    taxonomy.push_str(NEW_ACTOR);
    std::fs::write(path, taxonomy).unwrap();
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec![args[0], "--config", "tidings.toml"];
    all.extend(&args[1..]);
    tidings(dir, &all)
}

fn backfill(dir: &Path, inputs: &[&Path]) -> String {
    let mut args = vec!["backfill".to_string()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    stderr(&out)
}

fn retag(dir: &Path) -> Value {
    let out = run(dir, &["retag", "--jsonl", "out.jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("one JSON summary")
}

/// A record without its tag fields.
fn untagged(record: &Value) -> Value {
    let mut record = record.clone();
    for field in TAG_FIELDS {
        record.as_object_mut().unwrap().remove(field);
    }
    record
}

fn mentions_davos(record: &Value) -> bool {
    ["title", "text"]
        .iter()
        .any(|f| record[f].as_str().unwrap().contains("Davos"))
}

fn ids(records: &[Value]) -> Vec<&str> {
    records.iter().map(|r| r["id"].as_str().unwrap()).collect()
}

#[test]
fn retag_after_adding_an_actor_gives_the_records_the_actor_and_the_new_taxonomy_version() {
    let dir = setup();
    backfill(dir.path(), &[&repo("seeds")]);
    let out = dir.path().join("out.jsonl");
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = records(&out);
    assert_eq!(before.len(), 5);
    let old_version = before[0]["taxonomy_version"].as_str().unwrap().to_string();
    assert!(before.iter().all(|r| r["taxonomy_version"] == old_version));

    add_actor(dir.path());
    let summary = retag(dir.path());
    let after = records(&out);
    let new_version = after[0]["taxonomy_version"].as_str().unwrap();
    assert_ne!(new_version, old_version);
    assert_eq!(
        summary,
        serde_json::json!({"read": 5, "changed": 5, "unchanged": 0, "not_records": 0,
                           "taxonomy_version": new_version}),
        "every record carries the new version, so every one changed"
    );
    assert_eq!(ids(&after), ids(&before), "same ids, count and order");
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(untagged(new), untagged(old), "only the tags change");
        assert_eq!(new["taxonomy_version"], new_version);
        let named = |r: &Value| {
            r["actors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["id"] == "world_economic_forum")
        };
        assert!(!named(old));
        assert_eq!(named(new), mentions_davos(new), "{}", new["title"]);
    }
    assert!(after.iter().any(mentions_davos));
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "the file keeps its permissions");

    // The same taxonomy again: nothing to change, not a byte.
    let bytes = std::fs::read(&out).unwrap();
    let again = retag(dir.path());
    assert_eq!(again["changed"], 0);
    assert_eq!(again["unchanged"], 5);
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// Retagging makes the file longer (an actor added) or shorter (removed
/// again): either way the next run finds every record where it was, writes
/// none of them again and writes the new document once.
#[test]
fn a_run_after_retag_writes_nothing_twice_and_loses_nothing() {
    for grows in [true, false] {
        let dir = setup();
        let shipped = std::fs::read_to_string(dir.path().join("taxonomy.toml")).unwrap();
        if !grows {
            add_actor(dir.path());
        }
        backfill(dir.path(), &[&repo("seeds")]);
        let out = dir.path().join("out.jsonl");
        let len = std::fs::metadata(&out).unwrap().len();
        match grows {
            true => add_actor(dir.path()),
            false => std::fs::write(dir.path().join("taxonomy.toml"), &shipped).unwrap(),
        }
        retag(dir.path());
        let new_len = std::fs::metadata(&out).unwrap().len();
        assert_eq!(new_len > len, grows, "{len} -> {new_len}");

        let log = backfill(
            dir.path(),
            &[&repo("seeds"), &fixture("docs/geneva_talks.txt")],
        );
        assert!(
            log.contains("1 records written, 5 already present"),
            "{log}"
        );
        assert!(
            !log.contains("WARN"),
            "the state store knew the rewritten file: {log}"
        );
        let after = records(&out);
        let mut unique = ids(&after);
        unique.sort();
        unique.dedup();
        assert_eq!((after.len(), unique.len()), (6, 6), "grows: {grows}");
    }
}

#[test]
fn retag_refuses_a_file_while_a_daemon_holds_the_state_store() {
    let dir = setup();
    backfill(dir.path(), &[&repo("seeds")]);
    let out = dir.path().join("out.jsonl");
    let bytes = std::fs::read(&out).unwrap();
    add_actor(dir.path());
    // This test process stands for the daemon.
    let held =
        tidings::state::State::open(&tidings::state::Location::folder(&dir.path().join("state")))
            .unwrap();
    let refused = run(dir.path(), &["retag", "--jsonl", "out.jsonl"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("in use by another tidings process"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read(&out).unwrap(), bytes, "the file is untouched");
    drop(held);
    assert_eq!(retag(dir.path())["changed"], 5);
}

#[test]
fn backfill_refuses_a_file_of_records_and_points_at_retag() {
    let dir = setup();
    backfill(dir.path(), &[&repo("seeds")]);
    let out = dir.path().join("out.jsonl");
    let before = std::fs::read(&out).unwrap();

    let refused = run(dir.path(), &["backfill", "out.jsonl"]);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains("out.jsonl: a file of tidings records")
            && message.contains("tidings retag --jsonl out.jsonl"),
        "{message}"
    );
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert_eq!(std::fs::read(&out).unwrap(), before, "nothing ingested");

    // Met while walking a folder (whatever its name), it is a counted skip.
    let folder = dir.path().join("inbox");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(&out, folder.join("old-records.txt")).unwrap();
    std::fs::copy(fixture("docs/geneva_talks.txt"), folder.join("geneva.txt")).unwrap();
    let log = backfill(dir.path(), &[&folder]);
    assert!(log.contains("1 records written"), "{log}");
    assert!(log.contains("skipped 1: read: tidings records"), "{log}");
    assert_eq!(records(&out).len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retag_updates_the_tag_columns_of_a_postgres_table_on_the_real_servers() {
    let url = servers::postgres_url();
    let table = servers::unique("tidings_retag");
    let _cleanup = pg::cleanup(&url, &table);
    let dir = setup();
    let config = std::fs::read_to_string(dir.path().join("tidings.toml")).unwrap();
    std::fs::write(
        dir.path().join("tidings.toml"),
        format!("{config}\n[[sinks]]\nkind = \"postgres\"\nurl = \"{url}\"\ntable = \"{table}\"\n"),
    )
    .unwrap();
    backfill(dir.path(), &[&repo("seeds")]);
    let db = pg::client(&url).await;
    let query = format!("SELECT id, taxonomy_version, actors::text, text FROM {table} ORDER BY id");
    let before = db.query(&query, &[]).await.unwrap();
    assert_eq!(before.len(), 5);

    add_actor(dir.path());
    let out = run(dir.path(), &["retag", "--postgres"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = summary["taxonomy_version"].as_str().unwrap().to_string();
    assert_eq!(
        (&summary["read"], &summary["changed"]),
        (&5.into(), &5.into()),
        "{summary}"
    );

    let after = db.query(&query, &[]).await.unwrap();
    assert_eq!(after.len(), 5, "same rows");
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old.get::<_, String>(0), new.get::<_, String>(0));
        assert_eq!(old.get::<_, String>(3), new.get::<_, String>(3));
        assert_ne!(old.get::<_, Option<String>>(1), Some(version.clone()));
        assert_eq!(new.get::<_, String>(1), version);
        let actors: Value = serde_json::from_str(&new.get::<_, String>(2)).unwrap();
        let named = actors
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "world_economic_forum");
        assert_eq!(named, new.get::<_, String>(3).contains("Davos"));
    }
    // The record column holds the same tags as the columns.
    let row = db
        .query_one(
            &format!(
                "SELECT count(*) FROM {table} WHERE record->>'taxonomy_version' = $1 \
                 AND record->'actors' = actors"
            ),
            &[&version],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 5);

    let again = run(dir.path(), &["retag", "--postgres"]);
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        (&again["changed"], &again["unchanged"]),
        (&0.into(), &5.into())
    );
}

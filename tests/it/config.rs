//! `tidings check`: every problem of a config at once, each with its key and line.

use std::path::{Path, PathBuf};

use crate::support::tidings;

/// Writes `text` as `dir/tidings.toml` and runs `tidings check` on it: the exit
/// code and the problem lines printed.
fn check(dir: &Path, text: &str) -> (Option<i32>, Vec<String>) {
    let path: PathBuf = dir.join("tidings.toml");
    std::fs::write(&path, text).unwrap();
    let out = tidings(dir, &["check", "--config", path.to_str().unwrap()]);
    let report = String::from_utf8_lossy(&out.stdout);
    (
        out.status.code(),
        report.lines().map(str::to_string).collect(),
    )
}

/// The problem line of `key`, which must be there exactly once.
fn problem<'a>(report: &'a [String], key: &str) -> &'a str {
    let found: Vec<&String> = report
        .iter()
        .filter(|l| l.contains(&format!("tidings.toml: {key}: ")))
        .collect();
    assert_eq!(found.len(), 1, "one problem for {key} in {report:#?}");
    found[0]
}

#[test]
fn check_reports_every_unknown_key_and_wrong_type_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
[state]
dir = \"state\"

[pipeline]
chanel_capacity = 4
batch_size = \"64\"

[http]
  timout_secs = 30

[poll]
jitter = \"high\"

[[sinks]]
kind = \"jsonl\"
path = \"out.jsonl\"

[[sinks]]
kind = \"jsonl\"
path = \"other.jsonl\"
fsync = true
";
    let (code, report) = check(dir.path(), text);
    assert_eq!(code, Some(1));
    assert_eq!(report.len(), 5, "{report:#?}");
    for (key, what, line) in [
        (
            "pipeline.chanel_capacity",
            "unknown field `chanel_capacity`",
            5,
        ),
        (
            "pipeline.batch_size",
            "expected an integer, found a string",
            6,
        ),
        ("http.timout_secs", "unknown field `timout_secs`", 9),
        ("poll.jitter", "expected a number, found a string", 12),
        ("sinks[1].fsync", "unknown field `fsync`", 21),
    ] {
        let p = problem(&report, key);
        assert!(p.contains(what), "{p}");
        assert!(p.ends_with(&format!(" (line {line})")), "{p}");
    }
}

#[test]
fn check_reports_two_sinks_writing_to_one_place() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
[state]
dir = \"state\"

[[sinks]]
kind = \"jsonl\"
path = \"out/records.jsonl\"

[[sinks]]
kind = \"jsonl\"
path = \"./out/../out/records.jsonl\"

[[sinks]]
kind = \"postgres\"
url = \"postgres://postgres@127.0.0.1:5432/test\"

[[sinks]]
kind = \"postgres\"
url = \"postgres://postgres@127.0.0.1/test\"
table = \"records\"

[[sinks]]
kind = \"postgres\"
url = \"postgres://postgres@127.0.0.1/test\"
table = \"other\"

[[sinks]]
kind = \"nats\"
url = \"nats://127.0.0.1:4222\"
subject = \"tidings.records\"

[[sinks]]
kind = \"nats\"
url = \"nats://LOCALHOST:4222, nats://127.0.0.1\"
subject = \"tidings.records\"

[[sinks]]
kind = \"nats\"
url = \"nats://127.0.0.1:4222\"
subject = \"tidings.other\"
";
    let (code, report) = check(dir.path(), text);
    assert_eq!(code, Some(1));
    assert_eq!(report.len(), 3, "{report:#?}");
    for (key, other, line) in [
        ("sinks[1].path", "sinks[0]", 10),
        ("sinks[3].url", "sinks[2]", 18),
        ("sinks[6].subject", "sinks[5]", 34),
    ] {
        let p = problem(&report, key);
        assert!(p.contains("same "), "{p}");
        assert!(p.contains(other), "{p} names {other}");
        assert!(p.ends_with(&format!(" (line {line})")), "{p}");
    }
}

#[test]
fn check_reports_a_feed_configured_twice() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
[state]
dir = \"state\"

[[feeds]]
url = \"https://Example.COM/rss\"

[[feeds]]
url = \"http://example.org\"

[[feeds]]
url = \"https://example.com:443/rss#top\"

[[feeds]]
url = \"HTTP://EXAMPLE.org:80/\"

[[feeds]]
url = \"https://example.com/rss?page=2\"
";
    let (code, report) = check(dir.path(), text);
    assert_eq!(code, Some(1));
    assert_eq!(report.len(), 2, "{report:#?}");
    for (key, other, line) in [
        ("feeds[2].url", "feeds[0]", 11),
        ("feeds[3].url", "feeds[1]", 14),
    ] {
        let p = problem(&report, key);
        assert!(p.contains("same feed as"), "{p}");
        assert!(p.contains(other), "{p} names {other}");
        assert!(p.ends_with(&format!(" (line {line})")), "{p}");
    }
}

#[test]
fn check_validates_the_state_stores_postgres_url_and_schema_without_showing_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
[state]
dir = \"state\"
url = \"postgres://tidings:hunter2@db.example:5432/news?sslmode=sometimes\"
schema = \"Tidings-State\"
";
    let (code, report) = check(dir.path(), text);
    assert_eq!(code, Some(1));
    assert!(
        problem(&report, "state.url").contains("sslmode=\"sometimes\""),
        "{report:#?}"
    );
    assert!(
        problem(&report, "state.schema").contains("Tidings-State"),
        "{report:#?}"
    );
    assert!(!report.join("\n").contains("hunter2"), "{report:#?}");

    let (code, report) = check(dir.path(), "[state]\nschema = \"news\"\n");
    assert_eq!(code, Some(1));
    assert!(problem(&report, "state.schema").contains("needs a PostgreSQL url"));

    let (code, report) = check(
        dir.path(),
        "[state]\nurl = \"postgres://tidings@db.example/news?sslmode=require\"\n",
    );
    assert_eq!(code, Some(0), "{report:#?}");
}

//! The state store in PostgreSQL (`[state] url`): what the embedded store
//! does, the same through the server. Each test has a schema of its own,
//! dropped at its end.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tidings::state::{Delivery, Location, PgLocation, State, StateError};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::servers::{self, Cleanup};
use crate::support::{self, Daemon, records, stderr, tidings};

/// A fresh schema on the test server, dropped when the guard goes.
fn schema() -> (String, String, Cleanup) {
    let url = servers::postgres_url();
    let schema = servers::unique("tidings_state");
    let cleanup = servers::pg::drop_schema(&url, &schema);
    (url, schema, cleanup)
}

/// A config in `dir` with its state in PostgreSQL, a JSONL sink at
/// `dir/out.jsonl` and `extra` TOML.
fn config(dir: &Path, url: &str, schema: &str, extra: &str) -> PathBuf {
    let path = dir.join("tidings.toml");
    std::fs::write(
        &path,
        format!(
            "[state]\ndir = \"state\"\nurl = \"{url}\"\nschema = \"{schema}\"\n\n\
             [[sinks]]\nkind = \"jsonl\"\npath = \"out.jsonl\"\n{extra}"
        ),
    )
    .unwrap();
    path
}

/// Our own server on loopback: its whole body is the answer under test.
#[allow(clippy::disallowed_methods)]
async fn get(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

fn ids(written: &[serde_json::Value]) -> BTreeSet<String> {
    written
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn processes_opening_one_schema_together_migrate_it_once_and_one_of_them_writes() {
    let (url, schema, _cleanup) = schema();
    let dir = tempfile::tempdir().unwrap();
    let at = Location {
        dir: dir.path().to_path_buf(),
        postgres: Some(PgLocation::new(&url, &schema)),
    };
    assert!(
        State::open_read_only(&at).unwrap().is_none(),
        "nothing made by a reader"
    );
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
    let openers: Vec<_> = (0..6)
        .map(|_| {
            let (at, barrier) = (at.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                State::open(&at)
            })
        })
        .collect();
    let opened: Vec<_> = openers.into_iter().map(|t| t.join().unwrap()).collect();
    let writers = opened.iter().filter(|r| r.is_ok()).count();
    assert_eq!(writers, 1, "one writer per schema");
    for refused in opened.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(refused, StateError::SchemaLocked { holder: Some(h), .. }
                if h.contains(&format!("pid {}", std::process::id()))),
            "refused naming the holder: {refused}"
        );
    }
    drop(opened);

    // What the store keeps goes in and comes back out.
    let mut s = State::open(&at).expect("the lock went with its holder");
    let a = s.sink("jsonl:/out/a.jsonl").unwrap();
    let b = s.sink("postgres:db/records").unwrap();
    assert!(!a.adopted && a.position == 0 && a.id != b.id);
    let d = Delivery {
        id: "abc".into(),
        content_hash: "h".into(),
        version: 1,
        canonical_url: None,
        guid: Some("g".into()),
        fingerprint: None,
        duplicate: None,
        done_at: chrono::Utc::now(),
        sinks: vec![a.id],
        refused: vec![b.id],
    };
    s.mark_delivered(&[d.clone(), d], &[(a.id, 120)]).unwrap();
    assert_eq!(s.holders("abc").unwrap(), [a.id, b.id]);
    assert_eq!(s.verdict("abc").unwrap(), Some(None));
    assert_eq!(s.done_count().unwrap(), 1);
    assert_eq!(s.delivered().unwrap()[0].guid.as_deref(), Some("g"));
    assert_eq!(s.sink("jsonl:/out/a.jsonl").unwrap().position, 120);
    s.forget_sink(a.id).unwrap();
    assert_eq!(s.holders("abc").unwrap(), [b.id]);
    drop(s);

    // Opening again applies nothing twice.
    let again = State::open(&at).unwrap();
    assert_eq!(again.done_count().unwrap(), 1);
    let applied = std::thread::spawn(move || {
        let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let row = db
            .query_one(
                &format!("SELECT COUNT(*), MAX(version)::bigint FROM {schema}.migrations"),
                &[],
            )
            .unwrap();
        (row.get::<_, i64>(0), row.get::<_, i64>(1))
    })
    .join()
    .unwrap();
    // Numbered from 1 and kept once each (version is the key): as many
    // rows as the highest number means none was applied twice or skipped.
    assert_eq!(applied.0, applied.1, "each migration once");
    assert!(applied.1 >= 3, "{applied:?}");
    assert!(
        !dir.path().join("state.sqlite").exists(),
        "no embedded store beside it"
    );
}

#[test]
fn a_second_backfill_writes_nothing_and_a_later_copy_is_flagged() {
    let (url, schema, _cleanup) = schema();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &url, &schema, "");
    let cfg = cfg.to_str().unwrap();
    let seeds = dir.path().join("seeds");
    support::copy_dir(&support::repo("seeds"), &seeds);
    let seeds = seeds.to_str().unwrap();
    let first = tidings(dir.path(), &["backfill", "--config", cfg, seeds]);
    assert!(first.status.success(), "{}", stderr(&first));
    let again = tidings(dir.path(), &["backfill", "--config", cfg, seeds]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("0 records written, 5 already present"),
        "{}",
        stderr(&again)
    );
    assert_eq!(records(&dir.path().join("out.jsonl")).len(), 5);
    assert!(!dir.path().join("state/state.sqlite").exists());

    // A restart later, a copy of an earlier record is flagged: the dedup
    // index is rebuilt from the server.
    let original = support::fixture("dedup/unrelated_energy.txt");
    let run = |path: &Path| {
        let out = tidings(
            dir.path(),
            &["backfill", "--config", cfg, path.to_str().unwrap()],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    };
    run(&original);
    let update = dir.path().join("energy_update.txt");
    let text = std::fs::read_to_string(&original).unwrap();
    std::fs::write(
        &update,
        format!("{text}\nUpdate: officials said on Wednesday evening that repairs would take at least another week, and asked residents to limit their use of heaters.\n"),
    )
    .unwrap();
    run(&update);
    let written = records(&dir.path().join("out.jsonl"));
    assert_eq!(written.len(), 7);
    assert_eq!(written[6]["duplicate_of"], written[5]["id"]);
}

/// A feed of three items that answers 304 to its own ETag.
async fn feed_with_validators(server: &MockServer) -> String {
    let base = server.uri();
    let items: String = (0..3)
        .map(|i| {
            format!("<item><title>D {i}</title><link>{base}/p/{i}</link><guid>g-{i}</guid></item>")
        })
        .collect();
    let body = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>F</title>{items}</channel></rss>"
    );
    Mock::given(path("/feed.rss"))
        .respond_with(
            move |req: &Request| match req.headers.get("if-none-match") {
                Some(v) if v.to_str().unwrap() == "\"v1\"" => ResponseTemplate::new(304),
                _ => ResponseTemplate::new(200)
                    .insert_header("content-type", "application/rss+xml")
                    .insert_header("etag", "\"v1\"")
                    .set_body_string(body.clone()),
            },
        )
        .mount(server)
        .await;
    support::serve_article_pages(server, 3).await;
    format!("{base}/feed.rss")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_poll_is_conditional_and_feeds_list_shows_the_feeds_health() {
    let (url, schema, _cleanup) = schema();
    let server = MockServer::start().await;
    let feed = feed_with_validators(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &url,
        &schema,
        &format!("[http]\nper_host_delay_ms = 0\n[[feeds]]\nurl = \"{feed}\"\n"),
    );
    let cfg = cfg.to_str().unwrap();
    for _ in 0..2 {
        let run = tidings(dir.path(), &["run", "--once", "--config", cfg]);
        assert!(run.status.success(), "{}", stderr(&run));
    }
    assert_eq!(records(&dir.path().join("out.jsonl")).len(), 3);
    let received = server.received_requests().await.unwrap();
    let polls: Vec<Option<String>> = received
        .iter()
        .filter(|r| r.url.path() == "/feed.rss")
        .map(|r| {
            r.headers
                .get("if-none-match")
                .map(|v| v.to_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        polls,
        [None, Some("\"v1\"".to_string())],
        "the second is a 304"
    );
    assert_eq!(
        received
            .iter()
            .filter(|r| r.url.path().starts_with("/p/"))
            .count(),
        3,
        "each page fetched once"
    );

    let list = tidings(dir.path(), &["feeds", "list", "--json", "--config", cfg]);
    assert!(list.status.success(), "{}", stderr(&list));
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let row = &rows.as_array().unwrap()[0];
    assert_eq!(row["status"], "ok", "{row}");
    assert_eq!(row["records"], 3, "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_mid_run_loses_nothing_writes_nothing_twice_and_a_second_writer_is_refused() {
    let (url, schema, _cleanup) = schema();
    let server = MockServer::start().await;
    let base = server.uri();
    let items: String = (0..25)
        .map(|i| {
            format!("<item><title>D {i}</title><link>{base}/p/{i}</link><guid>g-{i}</guid></item>")
        })
        .collect();
    Mock::given(path("/feed.rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>F</title>{items}</channel></rss>"
        )))
        .mount(&server)
        .await;
    for i in 0..25 {
        Mock::given(path(format!("/p/{i}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/html")
                    .set_body_string(support::article_page(i))
                    .set_delay(Duration::from_millis(200)),
            )
            .mount(&server)
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &url,
        &schema,
        &format!("[web]\nlisten = \"127.0.0.1:0\"\n[[feeds]]\nurl = \"{base}/feed.rss\"\n"),
    );
    let cfg = cfg.to_str().unwrap();
    let mut first = Daemon::logged(
        Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args(["run", "--log-format", "json", "--config", cfg])
            .stdout(Stdio::null()),
    );
    let web = first.web_addr();
    let out = dir.path().join("out.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    while records(&out).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "nothing written: {:?}",
            first.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The status page reads its window from the server.
    let shown: Vec<serde_json::Value> =
        serde_json::from_str(&get(&format!("http://{web}/api/records")).await).unwrap();
    let shown = shown.len();
    assert!(shown >= 2, "{shown} records on the status page");

    let second = tidings(dir.path(), &["run", "--once", "--config", cfg]);
    let err = stderr(&second);
    assert!(!second.status.success(), "ran beside the daemon");
    assert!(err.contains(&schema), "names the schema: {err}");
    assert!(
        err.contains(&format!("pid {}", first.id())),
        "names the holder: {err}"
    );

    // The lock dies with its holder's connection, even by SIGKILL.
    first.kill();
    let again = tidings(dir.path(), &["run", "--once", "--config", cfg]);
    assert!(again.status.success(), "{}", stderr(&again));
    let written = records(&out);
    assert_eq!(ids(&written).len(), 25);
    assert_eq!(written.len(), 25, "no record twice");
}

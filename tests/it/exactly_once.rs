//! One writer per state folder, and every record exactly once in every sink.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::servers;
use crate::support::{self, Daemon, records, stderr};

/// A feed of `n` items whose pages answer after `delay`.
async fn slow_feed(server: &MockServer, n: usize, delay: Duration) -> String {
    let base = server.uri();
    let items: String = (0..n)
        .map(|i| {
            format!("<item><title>Dispatch {i}</title><link>{base}/p/{i}</link><guid>g-{i}</guid></item>")
        })
        .collect();
    Mock::given(path("/feed.rss"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/rss+xml")
                .set_body_string(format!(
                    "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>F</title>\
                     {items}</channel></rss>"
                )),
        )
        .mount(server)
        .await;
    for i in 0..n {
        Mock::given(path(format!("/p/{i}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/html")
                    .set_body_string(support::article_page(i))
                    .set_delay(delay),
            )
            .mount(server)
            .await;
    }
    format!("{base}/feed.rss")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_state_folder_is_refused_with_the_holders_pid() {
    let server = MockServer::start().await;
    let feed = slow_feed(&server, 25, Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::config(dir.path(), &format!("[[feeds]]\nurl = \"{feed}\"\n"));
    let cfg = cfg.to_str().unwrap();
    let mut first = Daemon::spawn(
        Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args(["run", "--config", cfg])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let out = dir.path().join("out.jsonl");
    let deadline = Instant::now() + Duration::from_secs(30);
    while records(&out).is_empty() {
        assert!(Instant::now() < deadline, "the first daemon wrote nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    for verb in [&["run", "--once"][..], &["backfill"][..]] {
        let second = support::tidings(dir.path(), &[verb, &["--config", cfg]].concat());
        let err = stderr(&second);
        assert!(!second.status.success(), "{verb:?} ran beside the daemon");
        assert!(
            err.contains(&dir.path().join("state").display().to_string()),
            "names the folder: {err}"
        );
        assert!(
            err.contains(&format!("pid {}", first.id())),
            "names the holder: {err}"
        );
    }

    // The lock dies with its holder, even by SIGKILL.
    first.kill();
    let again = support::tidings(dir.path(), &["run", "--once", "--config", cfg]);
    assert!(again.status.success(), "{}", stderr(&again));
    let written = records(&out);
    let ids: std::collections::BTreeSet<_> = written.iter().map(|r| r["id"].to_string()).collect();
    assert_eq!(ids.len(), 25);
    assert_eq!(written.len(), 25, "no record twice");
}

fn ids(written: &[serde_json::Value]) -> Vec<String> {
    let mut ids: Vec<String> = written
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_new_output_gets_every_record_already_written_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::config(dir.path(), "");
    let cfg = cfg.to_str().unwrap();
    let docs = support::fixture("docs");
    let docs = docs.to_str().unwrap();
    let backfill = |out: &str| {
        let run = support::tidings(
            dir.path(),
            &["backfill", "--config", cfg, docs, "--out", out],
        );
        assert!(run.status.success(), "{}", stderr(&run));
        records(&dir.path().join(out))
    };
    let a = backfill("a.jsonl");
    assert!(a.len() >= 3, "{a:?}");
    let b = backfill("b.jsonl");
    assert_eq!(ids(&b), ids(&a), "b.jsonl gets every record a.jsonl has");
    assert_eq!(
        backfill("a.jsonl").len(),
        a.len(),
        "a.jsonl gets none twice"
    );

    let fixture = support::fixture("replay/wire");
    let replay = |out: &str| {
        let run = support::tidings(
            dir.path(),
            &[
                "replay",
                fixture.to_str().unwrap(),
                "--config",
                cfg,
                "--out",
                out,
            ],
        );
        assert!(run.status.success(), "{}", stderr(&run));
        records(&dir.path().join(out))
    };
    let c = replay("c.jsonl");
    assert_eq!(c.len(), 4);
    assert_eq!(ids(&replay("d.jsonl")), ids(&c));
    assert_eq!(replay("c.jsonl").len(), 4);
}

#[test]
fn an_empty_state_store_beside_a_full_sink_rewrites_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::config(dir.path(), "");
    let cfg = cfg.to_str().unwrap();
    let docs = support::fixture("docs");
    let backfill = || {
        let run = support::tidings(
            dir.path(),
            &["backfill", "--config", cfg, docs.to_str().unwrap()],
        );
        assert!(run.status.success(), "{}", stderr(&run));
        run
    };
    backfill();
    let out = dir.path().join("out.jsonl");
    let first = records(&out);
    assert!(!first.is_empty());

    // A state file truncated to nothing (a disk that filled up, a bad
    // restore), and then one that is gone altogether.
    let state = dir.path().join("state");
    for name in ["state.sqlite-wal", "state.sqlite-shm"] {
        let _ = std::fs::remove_file(state.join(name));
    }
    std::fs::write(state.join("state.sqlite"), b"").unwrap();
    let again = backfill();
    assert_eq!(ids(&records(&out)), ids(&first), "{}", stderr(&again));
    std::fs::remove_dir_all(&state).unwrap();
    backfill();
    assert_eq!(ids(&records(&out)), ids(&first));
}

/// A config with a JSONL sink, then a PostgreSQL sink reached through
/// `pg_url`, polling `feed`.
fn jsonl_then_postgres(dir: &std::path::Path, feed: &str, pg_url: &str, table: &str) -> String {
    let cfg = support::config(
        dir,
        &format!(
            "[pipeline]\nbatch_size = 2\nbatch_timeout_ms = 50\nshutdown_grace_secs = 1\n\
             [http]\nper_host_delay_ms = 0\nper_host_concurrency = 4\n\
             [[sinks]]\nkind = \"postgres\"\nurl = \"{pg_url}\"\ntable = \"{table}\"\n\
             [[feeds]]\nurl = \"{feed}\"\n"
        ),
    );
    cfg.to_str().unwrap().to_string()
}

/// Stops the daemon with `signal` while the JSONL sink has written a batch
/// that PostgreSQL (cut off) cannot acknowledge; after a restart each sink
/// holds each record once.
async fn stop_between_the_sinks(signal: &str) {
    const N: usize = 12;
    let pg_url = servers::postgres_url();
    let table = servers::unique("tidings_between");
    let _cleanup = servers::pg::cleanup(&pg_url, &table);
    let server = MockServer::start().await;
    let feed = slow_feed(&server, N, Duration::from_millis(100)).await;
    let port = servers::free_port();
    let (via, pg_addr) = servers::via_port(&pg_url, port).await;
    let proxy = servers::Proxy::start(port, pg_addr).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = jsonl_then_postgres(dir.path(), &feed, &via, &table);
    let out = dir.path().join("out.jsonl");

    let mut daemon = Daemon::spawn(
        Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args(["run", "--config", &cfg])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let db = servers::pg::client(&pg_url).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let in_postgres = async || {
        db.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
            .await
            .unwrap()
            .get::<_, bool>(0)
    };
    while records(&out).is_empty() || !in_postgres().await {
        assert!(Instant::now() < deadline, "nothing written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.stop().await;
    let (in_pg, _) = servers::pg::stored(&db, &table).await;
    while records(&out).len() <= in_pg.len() {
        assert!(
            Instant::now() < deadline,
            "the JSONL sink wrote nothing more"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = Command::new("kill")
        .args([signal, &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = daemon.0.wait();

    let _proxy = servers::Proxy::start(port, pg_addr).await;
    let restart = support::tidings(dir.path(), &["run", "--once", "--config", &cfg]);
    assert!(restart.status.success(), "{}", stderr(&restart));
    let written = records(&out);
    assert_eq!(written.len(), N, "each record once in the JSONL file");
    let (in_pg, rows) = servers::pg::stored(&db, &table).await;
    assert_eq!(rows, N as i64);
    assert_eq!(
        in_pg.into_iter().collect::<Vec<_>>(),
        ids(&written),
        "the same records in both sinks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_the_jsonl_write_and_the_next_sinks_ack_writes_nothing_twice() {
    stop_between_the_sinks("-KILL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_sink_outage_writes_nothing_twice() {
    stop_between_the_sinks("-TERM").await;
}

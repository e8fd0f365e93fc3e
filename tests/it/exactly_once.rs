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
/// `pg_url`, polling `feed` every second.
fn jsonl_then_postgres(dir: &std::path::Path, feed: &str, pg_url: &str, table: &str) -> String {
    let cfg = support::config(
        dir,
        &format!(
            "[pipeline]\nbatch_size = 2\nbatch_timeout_ms = 50\nshutdown_grace_secs = 1\n\
             [http]\nper_host_delay_ms = 0\nper_host_concurrency = 4\n\
             [poll]\ninterval_secs = 1\nmin_interval_secs = 1\njitter = 0.0\n\
             [[sinks]]\nkind = \"postgres\"\nurl = \"{pg_url}\"\ntable = \"{table}\"\n\
             [[feeds]]\nurl = \"{feed}\"\n"
        ),
    );
    cfg.to_str().unwrap().to_string()
}

/// A feed that lists its first `first` items until `more` is set, then `n`.
async fn feed_in_two_steps(
    server: &MockServer,
    first: usize,
    n: usize,
    more: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> String {
    let base = server.uri();
    let feed_base = base.clone();
    Mock::given(path("/feed.rss"))
        .respond_with(move |_: &wiremock::Request| {
            let shown = if more.load(std::sync::atomic::Ordering::SeqCst) {
                n
            } else {
                first
            };
            let items: String = (0..shown)
                .map(|i| {
                    format!(
                        "<item><title>D {i}</title><link>{feed_base}/p/{i}</link>\
                         <guid>g-{i}</guid></item>"
                    )
                })
                .collect();
            ResponseTemplate::new(200).set_body_string(format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>F</title>\
                 {items}</channel></rss>"
            ))
        })
        .mount(server)
        .await;
    support::serve_article_pages(server, n).await;
    format!("{base}/feed.rss")
}

/// Stops the daemon with `signal` while the JSONL sink has written records
/// that PostgreSQL (cut off) cannot acknowledge; after a restart each sink
/// holds each record once.
async fn stop_between_the_sinks(signal: &str) {
    const FIRST: usize = 4;
    const N: usize = 12;
    let pg_url = servers::postgres_url();
    let table = servers::unique("tidings_between");
    let _cleanup = servers::pg::cleanup(&pg_url, &table);
    let server = MockServer::start().await;
    let more = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feed = feed_in_two_steps(&server, FIRST, N, more.clone()).await;
    let proxy = servers::Proxy::new(&pg_url, true).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = jsonl_then_postgres(dir.path(), &feed, proxy.url(), &table);
    let out = dir.path().join("out.jsonl");

    let daemon = Daemon::spawn(
        Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args(["run", "--config", &cfg])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let db = servers::pg::client(&pg_url).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let in_postgres = async || {
        let exists = db
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
            .await
            .unwrap()
            .get::<_, bool>(0);
        if exists {
            servers::pg::stored(&db, &table).await.1
        } else {
            0
        }
    };
    // The first items reach both sinks; then PostgreSQL goes away and the
    // feed lists more.
    while in_postgres().await < FIRST as i64 {
        assert!(
            Instant::now() < deadline,
            "the first items were not written"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.down();
    more.store(true, std::sync::atomic::Ordering::SeqCst);
    while records(&out).len() <= FIRST {
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
    let mut daemon = daemon;
    let _ = daemon.0.wait();

    proxy.up();
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

/// A page whose article text is about `kib` KiB.
fn long_page(kib: usize) -> String {
    // Numbered clauses: an article never repeats itself, and the extractor
    // drops a repeated copy of one.
    let paragraph = |i: usize| {
        format!(
            "<p>Delegations from both sides met again on Tuesday to go over clause {i} of \
             the monitoring annex, word by word, with observers present.</p>"
        )
    };
    let mut body = String::new();
    let mut i = 0;
    while body.len() < kib * 1024 + 8 * 1024 {
        body.push_str(&paragraph(i));
        i += 1;
    }
    format!(
        "<html><head><title>Long</title></head><body><article><h1>The whole annex, read \
         aloud</h1>{body}</article></body></html>"
    )
}

/// A feed of two ordinary pages and one whose record is over NATS's 1 MiB.
async fn feed_with_a_huge_page(server: &MockServer) -> String {
    let base = server.uri();
    let items: String = ["/p/0", "/huge", "/p/1"]
        .iter()
        .map(|p| format!("<item><title>T</title><link>{base}{p}</link><guid>{p}</guid></item>"))
        .collect();
    Mock::given(path("/feed.rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>F</title>{items}\
             </channel></rss>"
        )))
        .mount(server)
        .await;
    support::serve_article_pages(server, 2).await;
    Mock::given(path("/huge"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html")
                .set_body_string(long_page(1600)),
        )
        .mount(server)
        .await;
    format!("{base}/feed.rss")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_a_sink_refuses_for_good_is_set_aside_and_the_rest_goes_on() {
    let nats_url = servers::nats_url();
    let stream = servers::unique("TIDINGS_DLQ");
    let subject = format!("{}.records", stream.to_lowercase());
    let _cleanup = servers::js::cleanup(&nats_url, Some(&stream), &subject);
    let server = MockServer::start().await;
    let feed = feed_with_a_huge_page(&server).await;
    let dir = tempfile::tempdir().unwrap();
    // No cap on the text worth the name: the record is over 1 MiB.
    let cfg = support::config(
        dir.path(),
        &format!(
            "[extract]\nmax_text_kib = 4096\n[http]\nper_host_delay_ms = 0\nmax_body_mib = 8\n\
             [[sinks]]\nkind = \"nats\"\nurl = \"{nats_url}\"\nsubject = \"{subject}\"\n\
             stream = \"{stream}\"\n[[feeds]]\nurl = \"{feed}\"\n"
        ),
    );
    let cfg = cfg.to_str().unwrap();
    for round in 0..2 {
        let run = support::tidings(dir.path(), &["run", "--once", "--config", cfg]);
        assert!(run.status.success(), "round {round}: {}", stderr(&run));
    }
    let written = records(&dir.path().join("out.jsonl"));
    assert_eq!(written.len(), 3, "the JSONL sink takes all three, once");
    let huge = written
        .iter()
        .find(|r| r["url"].as_str().unwrap().ends_with("/huge"))
        .unwrap();
    assert_eq!(huge["truncated"], false);

    let js = servers::js::context(&nats_url).await;
    let (in_stream, count) = servers::js::stored(&js, &stream).await;
    assert_eq!(count, 2, "NATS takes the two that fit");
    assert!(!in_stream.contains(huge["id"].as_str().unwrap()));

    let letters: Vec<serde_json::Value> = records(&dir.path().join("state/dead-letter.jsonl"));
    assert_eq!(letters.len(), 1, "set aside once, not at every poll");
    assert_eq!(letters[0]["record"]["id"], huge["id"]);
    assert!(letters[0]["sink"].as_str().unwrap().starts_with("nats:"));
    assert!(
        letters[0]["reason"].as_str().unwrap().contains("payload"),
        "{}",
        letters[0]["reason"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_over_the_cap_is_cut_and_marked_truncated_and_fits_every_sink() {
    let nats_url = servers::nats_url();
    let stream = servers::unique("TIDINGS_CAP");
    let subject = format!("{}.records", stream.to_lowercase());
    let _cleanup = servers::js::cleanup(&nats_url, Some(&stream), &subject);
    let server = MockServer::start().await;
    let feed = feed_with_a_huge_page(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::config(
        dir.path(),
        &format!(
            "[http]\nper_host_delay_ms = 0\nmax_body_mib = 8\n\
             [[sinks]]\nkind = \"nats\"\nurl = \"{nats_url}\"\nsubject = \"{subject}\"\n\
             stream = \"{stream}\"\n[[feeds]]\nurl = \"{feed}\"\n"
        ),
    );
    let run = support::tidings(
        dir.path(),
        &["run", "--once", "--config", cfg.to_str().unwrap()],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let written = records(&dir.path().join("out.jsonl"));
    let huge = written
        .iter()
        .find(|r| r["url"].as_str().unwrap().ends_with("/huge"))
        .unwrap();
    assert_eq!(huge["truncated"], true);
    let text = huge["text"].as_str().unwrap();
    assert!(text.len() <= 512 * 1024, "{}", text.len());
    assert!(text.len() > 400 * 1024, "cut near the cap: {}", text.len());
    assert!(text.ends_with("present."), "cut between sentences");
    let js = servers::js::context(&nats_url).await;
    assert_eq!(servers::js::stored(&js, &stream).await.1, 3);
    assert!(!dir.path().join("state/dead-letter.jsonl").exists());
}

/// The crash test: the daemon writes into JSONL, PostgreSQL and NATS at once
/// and is killed with SIGKILL at 50 random moments (starting, polling,
/// fetching, between one sink's write and the next, marking the state);
/// then it runs to the end. Every sink holds every record, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_kills_at_random_moments_lose_nothing_and_write_nothing_twice_in_any_sink() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const N: usize = 80;
    const KILLS: usize = 50;
    let (pg_url, nats_url) = (servers::postgres_url(), servers::nats_url());
    let table = servers::unique("tidings_crash");
    let stream = servers::unique("TIDINGS_CRASH");
    let subject = format!("{}.records", stream.to_lowercase());
    let _pg_cleanup = servers::pg::cleanup(&pg_url, &table);
    let _js_cleanup = servers::js::cleanup(&nats_url, Some(&stream), &subject);

    // The feed grows by four items at each poll, so that later runs still
    // find new work to be killed in the middle of.
    let server = MockServer::start().await;
    let base = server.uri();
    let polls = AtomicUsize::new(0);
    // Once the kills are over the feed lists everything, however few polls
    // the killed daemons managed (a loaded machine starts them slowly).
    let all = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listing_all = all.clone();
    let feed_base = base.clone();
    Mock::given(path("/feed.rss"))
        .respond_with(move |_: &wiremock::Request| {
            let grown = 8 + 4 * polls.fetch_add(1, Ordering::Relaxed);
            let shown = if listing_all.load(Ordering::SeqCst) {
                N
            } else {
                grown.min(N)
            };
            let items: String = (0..shown)
                .map(|i| {
                    format!(
                        "<item><title>D {i}</title><link>{feed_base}/p/{i}</link>\
                         <guid>g-{i}</guid></item>"
                    )
                })
                .collect();
            ResponseTemplate::new(200).set_body_string(format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>F</title>\
                 {items}</channel></rss>"
            ))
        })
        .mount(&server)
        .await;
    for i in 0..N {
        Mock::given(path(format!("/p/{i}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/html")
                    .set_body_string(support::article_page(i))
                    .set_delay(Duration::from_millis(10 + (i as u64 * 7) % 30)),
            )
            .mount(&server)
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::config(
        dir.path(),
        &format!(
            "[pipeline]\nbatch_size = 3\nbatch_timeout_ms = 20\n\
             [http]\nper_host_delay_ms = 0\nper_host_concurrency = 4\n\
             [poll]\ninterval_secs = 1\nmin_interval_secs = 1\njitter = 0.0\n\
             [[sinks]]\nkind = \"postgres\"\nurl = \"{pg_url}\"\ntable = \"{table}\"\n\
             [[sinks]]\nkind = \"nats\"\nurl = \"{nats_url}\"\nsubject = \"{subject}\"\n\
             stream = \"{stream}\"\n[[feeds]]\nurl = \"{base}/feed.rss\"\n"
        ),
    );
    let cfg = cfg.to_str().unwrap();
    for _ in 0..KILLS {
        let mut daemon = Daemon::spawn(
            Command::new(env!("CARGO_BIN_EXE_tidings"))
                .args(["run", "--config", cfg])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let moment = rand::random_range(30..700);
        tokio::time::sleep(Duration::from_millis(moment)).await;
        daemon.kill();
    }
    let out = dir.path().join("out.jsonl");
    let partial = records(&out).len();
    all.store(true, Ordering::SeqCst);
    for _ in 0..2 {
        let run = support::tidings(dir.path(), &["run", "--once", "--config", cfg]);
        assert!(run.status.success(), "{}", stderr(&run));
    }

    let written = records(&out);
    let jsonl_ids = ids(&written);
    let expected: Vec<String> = {
        let mut guids: Vec<String> = written
            .iter()
            .map(|r| r["guid"].as_str().unwrap().to_string())
            .collect();
        guids.sort();
        guids.dedup();
        guids
    };
    assert_eq!(
        expected.len(),
        N,
        "every item has its record (JSONL had {partial} after the kills)"
    );
    assert_eq!(written.len(), N, "no record twice in the JSONL file");
    let db = servers::pg::client(&pg_url).await;
    let (in_pg, rows) = servers::pg::stored(&db, &table).await;
    assert_eq!(rows, N as i64);
    assert_eq!(in_pg.into_iter().collect::<Vec<_>>(), jsonl_ids);
    let js = servers::js::context(&nats_url).await;
    let (in_stream, messages) = servers::js::stored(&js, &stream).await;
    assert_eq!(messages, N as u64, "no message twice in the stream");
    assert_eq!(in_stream.into_iter().collect::<Vec<_>>(), jsonl_ids);
}

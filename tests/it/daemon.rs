//! The daemon against fixture servers on 127.0.0.1: polling, conditional GETs,
//! hostile servers, full-text feeds, replay, metrics, and a kill -9.

use std::path::Path;
use std::time::Duration;

use tidings::config::Config;
use tidings::observe::Summary;
use tidings::state::State;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{header, header_exists, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{fixture, records, stderr};

/// A fixture file with `http://HOST` pointed at the mock server.
fn served(name: &str, server: &MockServer) -> String {
    std::fs::read_to_string(fixture(&format!("feeds/{name}")))
        .unwrap()
        .replace("http://HOST", &server.uri())
}

fn feed_response(body: String, etag: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/rss+xml")
        .insert_header("etag", etag)
        .set_body_string(body)
}

async fn serve_pages(server: &MockServer, slugs: &[&str], times: u64) {
    for slug in slugs {
        Mock::given(method("GET"))
            .and(path(format!("/news/{slug}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/html; charset=utf-8")
                    .set_body_string(served(&format!("page-{slug}.html"), server)),
            )
            .expect(times)
            .mount(server)
            .await;
    }
}

/// A config for the mock server: fast HTTP settings (plus `http`), a JSONL
/// sink, and `extra` TOML sections.
fn config_with(dir: &Path, feeds: &[String], http: &str, extra: &str) -> Config {
    let mut text = format!(
        "[state]\ndir = \"state\"\n[http]\nper_host_delay_ms = 0\ntimeout_secs = 2\n\
         connect_timeout_secs = 2\nmax_body_mib = 1\n{http}\n[[sinks]]\nkind = \"jsonl\"\n\
         path = \"out.jsonl\"\n{extra}\n"
    );
    for f in feeds {
        text.push_str(&format!("[[feeds]]\nurl = {f:?}\n"));
    }
    Config::parse(&text, "test.toml", dir).unwrap()
}

fn config(dir: &Path, feeds: &[String], extra: &str) -> Config {
    config_with(dir, feeds, "", extra)
}

async fn run_once(cfg: &Config) -> Summary {
    crate::support::run_feeds(cfg, true, CancellationToken::new()).await
}

fn feed_state(dir: &Path, url: &str) -> tidings::state::FeedState {
    State::open(&tidings::state::Location::folder(&dir.join("state")))
        .unwrap()
        .feed(url)
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn run_once_writes_one_record_per_item_then_a_conditional_request_costs_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wire.rss"))
        .and(header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wire.rss"))
        .respond_with(feed_response(served("wire-v1.rss", &server), "\"v1\""))
        .expect(1)
        .mount(&server)
        .await;
    serve_pages(&server, &["talks-resume", "grain-deal", "prisoner-swap"], 1).await;

    let dir = tempfile::tempdir().unwrap();
    let feed = format!("{}/wire.rss", server.uri());
    let cfg = config(dir.path(), std::slice::from_ref(&feed), "");
    let first = run_once(&cfg).await;
    assert_eq!(first.written, 3, "{first:?}");
    let written = records(&dir.path().join("out.jsonl"));
    let titles: Vec<&str> = written
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"Hundreds return home in prisoner exchange"),
        "{titles:?}"
    );
    for r in &written {
        assert_eq!(r["source"]["kind"], "feed");
        assert_eq!(r["source"]["name"], "Fixture Wire");
        assert!(r["guid"].as_str().unwrap().starts_with("fixture-"));
        assert!(!r["text"].as_str().unwrap().contains("all rights reserved"));
    }

    let second = run_once(&cfg).await;
    assert_eq!(second.written, 0);
    assert_eq!(records(&dir.path().join("out.jsonl")).len(), 3);
    assert_eq!(
        feed_state(dir.path(), &feed).validators.etag.as_deref(),
        Some("\"v1\"")
    );
    // The .expect(n) of every mock is checked when the server drops.
}

#[tokio::test]
async fn items_that_appear_between_polls_are_picked_up_and_old_ones_are_not_fetched_again() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wire.rss"))
        .respond_with(feed_response(served("wire-v1.rss", &server), "\"v1\""))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/wire.rss"))
        .respond_with(feed_response(served("wire-v2.rss", &server), "\"v2\""))
        .mount(&server)
        .await;
    serve_pages(
        &server,
        &[
            "talks-resume",
            "grain-deal",
            "prisoner-swap",
            "energy-strikes",
        ],
        1,
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &[format!("{}/wire.rss", server.uri())], "");
    assert_eq!(run_once(&cfg).await.written, 3);
    let second = run_once(&cfg).await;
    assert_eq!(second.written, 1, "{second:?}");
    let last = records(&dir.path().join("out.jsonl")).pop().unwrap();
    assert_eq!(
        last["title"],
        "Heating restored after strikes on power plants"
    );
}

#[tokio::test]
async fn a_feed_with_the_full_text_needs_no_page_fetch() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/full.rss"))
        .respond_with(feed_response(served("fulltext.rss", &server), "\"f\""))
        .mount(&server)
        .await;
    Mock::given(path("/full/annex"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &[format!("{}/full.rss", server.uri())], "");
    assert_eq!(run_once(&cfg).await.written, 1);
    let r = &records(&dir.path().join("out.jsonl"))[0];
    assert_eq!(
        r["title"],
        "Envoys settle the wording of the monitoring annex"
    );
    assert!(
        r["text"]
            .as_str()
            .unwrap()
            .ends_with("Talks continue on Friday.")
    );
}

#[tokio::test]
async fn rate_limits_server_errors_and_gone_feeds_are_scheduled_accordingly() {
    let server = MockServer::start().await;
    Mock::given(path("/limited.rss"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .mount(&server)
        .await;
    Mock::given(path("/broken.rss"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(path("/gone.rss"))
        .respond_with(ResponseTemplate::new(410))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let feeds = ["limited", "broken", "gone"].map(|f| format!("{}/{f}.rss", server.uri()));
    let cfg = config(
        dir.path(),
        &feeds,
        "[poll]\njitter = 0.0\ninterval_secs = 60\n",
    );
    let before = chrono::Utc::now();
    run_once(&cfg).await;

    let limited = feed_state(dir.path(), &feeds[0]);
    let wait = (limited.next_poll.unwrap() - before).num_seconds();
    assert!(
        (3590..=3610).contains(&wait),
        "Retry-After honoured: {wait}s"
    );
    let broken = feed_state(dir.path(), &feeds[1]);
    assert_eq!(broken.errors, 1);
    assert!(broken.last_error.unwrap().contains("HTTP 500"));
    assert!(broken.dead.is_none());
    let gone = feed_state(dir.path(), &feeds[2]);
    assert!(gone.dead.unwrap().contains("410"));

    // A dead feed is not polled again (the mock expects exactly one request)...
    run_once(&cfg).await;
    assert_eq!(
        feed_state(dir.path(), &feeds[1]).errors,
        2,
        "failures in a row are counted"
    );
}

#[tokio::test]
async fn hostile_pages_are_counted_skips_and_the_rest_flows() {
    let server = MockServer::start().await;
    let base = server.uri();
    let feed = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Hostile</title>\
         <item><title>Loop</title><link>{base}/loop</link><guid>loop</guid></item>\
         <item><title>Huge</title><link>{base}/huge</link><guid>huge</guid></item>\
         <item><title>Bomb</title><link>{base}/bomb</link><guid>bomb</guid></item>\
         <item><title>Hang</title><link>{base}/hang</link><guid>hang</guid></item>\
         <item><title>Good</title><link>{base}/news/talks-resume</link><guid>good</guid></item>\
         </channel></rss>"
    );
    Mock::given(path("/hostile.rss"))
        .respond_with(feed_response(feed, "\"h\""))
        .mount(&server)
        .await;
    Mock::given(path("/loop"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/loop"))
        .mount(&server)
        .await;
    Mock::given(path("/huge"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<p>x</p>".repeat(300_000)))
        .mount(&server)
        .await;
    // 16 MiB of zeros gzip to ~16 KiB: a bomb against a 1 MiB cap.
    let bomb = {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 16 << 20]).unwrap();
        gz.finish().unwrap()
    };
    Mock::given(path("/bomb"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-encoding", "gzip")
                .insert_header("content-type", "text/html")
                .set_body_bytes(bomb),
        )
        .mount(&server)
        .await;
    Mock::given(path("/hang"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    serve_pages(&server, &["talks-resume"], 1).await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &[format!("{base}/hostile.rss")], "");
    let started = std::time::Instant::now();
    let summary = run_once(&cfg).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the hanging server timed out"
    );
    assert_eq!(summary.written, 1, "{summary:?}");
    let skipped = &summary.skipped;
    assert_eq!(skipped.get("fetch: redirects"), Some(&1), "{skipped:?}");
    assert_eq!(skipped.get("fetch: too_large"), Some(&2), "{skipped:?}");
    assert_eq!(skipped.get("fetch: retry later"), Some(&1), "{skipped:?}");
}

#[tokio::test]
async fn a_malformed_feed_is_an_error_for_that_feed_only() {
    let server = MockServer::start().await;
    Mock::given(path("/bad.rss"))
        .respond_with(feed_response(served("malformed.rss", &server), "\"b\""))
        .mount(&server)
        .await;
    Mock::given(path("/full.rss"))
        .respond_with(feed_response(served("fulltext.rss", &server), "\"f\""))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let feeds = [
        format!("{}/bad.rss", server.uri()),
        format!("{}/full.rss", server.uri()),
    ];
    let cfg = config(dir.path(), &feeds, "");
    assert_eq!(run_once(&cfg).await.written, 1);
    let bad = feed_state(dir.path(), &feeds[0]);
    assert!(bad.last_error.unwrap().contains("malformed feed"));
}

#[tokio::test]
async fn a_windows_1251_page_without_charset_comes_out_as_utf8() {
    let server = MockServer::start().await;
    let feed = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Cyr</title>\
         <item><title>x</title><link>{}/ru/talks</link><guid>ru-1</guid></item></channel></rss>",
        server.uri()
    );
    Mock::given(path("/ru.rss"))
        .respond_with(feed_response(feed, "\"r\""))
        .mount(&server)
        .await;
    let page = std::fs::read(fixture("feeds/page-cp1251-nocharset.html")).unwrap();
    Mock::given(path("/ru/talks"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html")
                .set_body_bytes(page),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &[format!("{}/ru.rss", server.uri())], "");
    assert_eq!(run_once(&cfg).await.written, 1);
    let r = &records(&dir.path().join("out.jsonl"))[0];
    assert_eq!(r["title"], "Переговоры в Стамбуле продолжатся");
    assert!(
        r["text"]
            .as_str()
            .unwrap()
            .contains("Дата встречи пока не названа.")
    );
}

#[tokio::test]
async fn user_agent_carries_the_contact() {
    let server = MockServer::start().await;
    Mock::given(path("/full.rss"))
        .and(header_exists("user-agent"))
        .respond_with(move |req: &Request| {
            let ua = req.headers.get("user-agent").unwrap().to_str().unwrap();
            if ua.contains("+ops@example.org") {
                ResponseTemplate::new(304)
            } else {
                ResponseTemplate::new(400)
            }
        })
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(
        dir.path(),
        &[format!("{}/full.rss", server.uri())],
        "contact = \"ops@example.org\"",
        "",
    );
    run_once(&cfg).await;
    assert_eq!(
        feed_state(dir.path(), &format!("{}/full.rss", server.uri())).errors,
        0
    );
}

#[test]
fn replay_runs_the_pipeline_offline_with_the_recorded_clock() {
    let fixture_dir = fixture("replay/wire");
    let run = |dir: &Path| {
        let cfg = crate::support::config(dir, "");
        let out = crate::support::tidings(
            dir,
            &[
                "replay",
                fixture_dir.to_str().unwrap(),
                "--config",
                cfg.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let mut written = records(&dir.join("out.jsonl"));
        written.sort_by(|a, b| a["guid"].as_str().cmp(&b["guid"].as_str()));
        written
    };
    let dir = tempfile::tempdir().unwrap();
    let written = run(dir.path());
    let guids: Vec<&str> = written
        .iter()
        .map(|r| r["guid"].as_str().unwrap())
        .collect();
    assert_eq!(
        guids,
        [
            "fixture-energy-strikes",
            "fixture-grain-deal",
            "fixture-prisoner-swap",
            "fixture-talks-resume"
        ]
    );
    let energy = &written[0];
    assert_eq!(
        energy["fetched_at"], "2026-11-23T10:10:01Z",
        "the recorded clock"
    );
    assert_eq!(
        energy["canonical_url"],
        "http://wire.test/news/energy-strikes"
    );

    // Deterministic: a second replay elsewhere gives the same records.
    let again = tempfile::tempdir().unwrap();
    assert_eq!(run(again.path()), written);
}

fn crash_page(i: usize) -> String {
    let words = [
        "envoys",
        "corridor",
        "monitoring",
        "delegation",
        "harbour",
        "winter",
        "grid",
        "observers",
        "schedule",
        "annex",
        "border",
        "convoy",
        "ministry",
        "statement",
        "draft",
        "summit",
    ];
    let body: Vec<String> = (0..40)
        .map(|k| words[(i * 7 + k * 3 + k * k) % words.len()].to_string())
        .collect();
    format!(
        "<html><head><title>Item {i}</title></head><body><article><h1>Dispatch number {i}</h1>\
         <p>Dispatch {i} reports: {}.</p><p>Filed as item {i} of the crash test.</p></article></body></html>",
        body.join(" ")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_kill_loses_nothing_and_writes_no_duplicates() {
    const N: usize = 20;
    let server = MockServer::start().await;
    let items: String = (0..N)
        .map(|i| {
            format!(
                "<item><title>Item {i}</title><link>{}/p/{i}</link><guid>crash-{i}</guid></item>",
                server.uri()
            )
        })
        .collect();
    Mock::given(path("/crash.rss"))
        .respond_with(feed_response(
            format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>C</title>{items}</channel></rss>"),
            "\"c\"",
        ))
        .mount(&server)
        .await;
    for i in 0..N {
        Mock::given(path(format!("/p/{i}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/html")
                    .set_body_string(crash_page(i))
                    .set_delay(Duration::from_millis(150)),
            )
            .mount(&server)
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::support::config(
        dir.path(),
        &format!(
            "[pipeline]\nbatch_size = 1\n[http]\nper_host_delay_ms = 0\nper_host_concurrency = 1\n\
             [[feeds]]\nurl = \"{}/crash.rss\"\n",
            server.uri()
        ),
    );
    let out = dir.path().join("out.jsonl");
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it mid-stream: some records written, most items still in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while records(&out).len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon wrote nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.kill().unwrap(); // SIGKILL
    daemon.wait().unwrap();
    let at_kill = records(&out).len();
    assert!(
        at_kill < N,
        "killed too late to test anything ({at_kill} records)"
    );

    let restart = tokio::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["run", "--once", "--config", cfg.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(restart.status.success(), "{}", stderr(&restart));

    let written = records(&out);
    let mut id_of = std::collections::HashMap::new();
    for r in &written {
        let guid = r["guid"].as_str().unwrap().to_string();
        let id = r["id"].as_str().unwrap().to_string();
        let first = id_of.entry(guid.clone()).or_insert_with(|| id.clone());
        assert_eq!(*first, id, "{guid} written twice under different ids");
    }
    assert_eq!(id_of.len(), N, "every item has its record");
    let state = State::open(&tidings::state::Location::folder(&dir.path().join("state"))).unwrap();
    assert_eq!(
        state.done_count().unwrap(),
        N as u64,
        "the state agrees with the sink"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_healthz_answer_and_sigterm_exits_cleanly() {
    let server = MockServer::start().await;
    Mock::given(path("/full.rss"))
        .respond_with(feed_response(served("fulltext.rss", &server), "\"f\""))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::support::config(
        dir.path(),
        &format!(
            "[metrics]\nlisten = \"127.0.0.1:0\"\n[[feeds]]\nurl = \"{}/full.rss\"\n",
            server.uri()
        ),
    );
    let mut daemon = crate::support::Daemon::logged(
        std::process::Command::new(env!("CARGO_BIN_EXE_tidings")).args([
            "run",
            "--log-format",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ]),
    );
    let addr = daemon.metrics_addr();
    // Our own listener on loopback: its whole body is the answer under test.
    #[allow(clippy::disallowed_methods)]
    let get = |p: &str| {
        let url = format!("http://{addr}{p}");
        async move { reqwest::get(&url).await.ok()?.text().await.ok() }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = get("/metrics").await.unwrap_or_default();
        if metrics.contains("tidings_records_written_total") {
            assert!(metrics.contains("tidings_polls_total"), "{metrics}");
            assert!(metrics.contains("tidings_queue_depth"), "{metrics}");
            assert!(metrics.contains("tidings_stage_seconds"), "{metrics}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no metrics: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get("/healthz").await.as_deref(), Some("ok\n"));

    let term = std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = daemon.0.wait().unwrap();
    assert!(status.success(), "exit 0 after SIGTERM: {status:?}");
    let log = daemon.log();
    assert!(!log.is_empty());
    for line in &log {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "{line}"
        );
    }
}

/// What an internal service would hold: it must never reach a record.
const SECRET: &str = "INTERNAL-ONLY admin token 5f3a";

/// A server standing for an internal service, with a page holding [`SECRET`]
/// at `/secret`, expected to be asked `times` times.
async fn internal_service(times: u64) -> MockServer {
    let server = MockServer::start().await;
    let page = served("page-grain-deal.html", &server).replace(
        "Traders said freight rates eased",
        &format!("{SECRET}: rates eased"),
    );
    Mock::given(method("GET"))
        .and(path("/secret"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html; charset=utf-8")
                .set_body_string(page),
        )
        .expect(times)
        .mount(&server)
        .await;
    server
}

/// A feed on `server` whose items link to `links`, and `/moved` on the same
/// server redirecting to `redirect_to`.
async fn feed_linking_to(server: &MockServer, links: &[String], redirect_to: &str) -> String {
    let items: String = links
        .iter()
        .enumerate()
        .map(|(i, link)| {
            format!("<item><title>Item {i}</title><link>{link}</link><guid>item-{i}</guid></item>")
        })
        .collect();
    let feed = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Links</title>{items}\
         </channel></rss>"
    );
    Mock::given(path("/links.rss"))
        .respond_with(feed_response(feed, "\"l\""))
        .mount(server)
        .await;
    Mock::given(path("/moved"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", redirect_to))
        .mount(server)
        .await;
    format!("{}/links.rss", server.uri())
}

#[tokio::test]
async fn links_and_redirects_to_private_addresses_are_not_fetched() {
    let internal = internal_service(0).await;
    let port = internal.address().port();
    let server = MockServer::start().await;
    serve_pages(&server, &["talks-resume"], 1).await;
    let links = [
        format!("http://127.0.0.1:{port}/secret"),
        format!("http://localhost:{port}/secret"),
        // Queries keep these apart from the first link once normalized, so
        // each is judged by the policy, not skipped as the same page.
        format!("http://2130706433:{port}/secret?as=decimal"),
        format!("http://0.0.0.0:{port}/secret"),
        format!("http://[::ffff:127.0.0.1]:{port}/secret?as=mapped"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("{}/moved", server.uri()),
        "file:///etc/passwd".to_string(),
        format!("gopher://127.0.0.1:{port}/secret"),
        // The feed's own origin is the operator's choice, private or not.
        format!("{}/news/talks-resume", server.uri()),
    ];
    let feed = feed_linking_to(&server, &links, &format!("{}/secret", internal.uri())).await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &[feed], "");
    let summary = run_once(&cfg).await;

    assert_eq!(summary.written, 1, "{summary:?}");
    assert_eq!(
        summary.skipped.get("fetch: denied"),
        Some(&9),
        "{:?}",
        summary.skipped
    );
    let written = records(&dir.path().join("out.jsonl"));
    assert_eq!(
        written[0]["url"],
        format!("{}/news/talks-resume", server.uri())
    );
    for r in &written {
        assert!(!r.to_string().contains(SECRET), "{r}");
    }
    // Denied for good: a second poll tries none of them again.
    let second = run_once(&cfg).await;
    assert_eq!(second.skipped_total(), 0, "{second:?}");
    internal.verify().await;
}

#[tokio::test]
async fn private_networks_allow_fetches_them_but_never_other_schemes() {
    let internal = internal_service(3).await;
    let port = internal.address().port();
    let server = MockServer::start().await;
    let links = [
        format!("http://127.0.0.1:{port}/secret"),
        format!("http://localhost:{port}/secret"),
        format!("{}/moved", server.uri()),
        "file:///etc/passwd".to_string(),
    ];
    let feed = feed_linking_to(&server, &links, &format!("{}/secret", internal.uri())).await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(dir.path(), &[feed], "private_networks = \"allow\"", "");
    let summary = run_once(&cfg).await;

    assert_eq!(
        summary.skipped.get("fetch: denied"),
        Some(&1),
        "{:?}",
        summary.skipped
    );
    let written = records(&dir.path().join("out.jsonl"));
    assert!(
        written
            .iter()
            .any(|r| r["text"].as_str().unwrap().contains(SECRET)),
        "{written:?}"
    );
    internal.verify().await;
}

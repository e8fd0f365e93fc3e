//! The daemon's schedule over several polls: conditional re-polls, the feeds'
//! own hints, and pages listed by more than one feed. Short real intervals
//! (one or a few seconds) against wiremock on 127.0.0.1.

use std::path::Path;
use std::time::Duration;

use tidings::config::Config;
use tidings::observe::Summary;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{article_page, records};

fn config(dir: &Path, feeds: &[String], poll: &str) -> Config {
    let mut text = format!(
        "[state]\ndir = \"state\"\n[http]\nper_host_delay_ms = 0\ntimeout_secs = 5\n\
         [poll]\njitter = 0.0\n{poll}\n[[sinks]]\nkind = \"jsonl\"\npath = \"out.jsonl\"\n"
    );
    for f in feeds {
        text.push_str(&format!("[[feeds]]\nurl = {f:?}\n"));
    }
    Config::parse(&text, "test.toml", dir).unwrap()
}

/// Runs the daemon (not `--once`) for `secs` seconds, then stops it.
async fn run_for(cfg: &Config, secs: f64) -> Summary {
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        stop.cancel();
    });
    crate::support::run_feeds(cfg, false, shutdown).await
}

async fn run_once(cfg: &Config) -> Summary {
    crate::support::run_feeds(cfg, true, CancellationToken::new()).await
}

fn rss(base: &str, items: impl IntoIterator<Item = usize>) -> String {
    let items: String = items
        .into_iter()
        .map(|i| {
            format!(
                "<item><title>Dispatch {i}</title><link>{base}/news/{i}</link>\
                 <guid>rss-{i}</guid></item>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Wire</title>{items}\
         </channel></rss>"
    )
}

fn atom(base: &str, items: impl IntoIterator<Item = usize>) -> String {
    let entries: String = items
        .into_iter()
        .map(|i| {
            // The same pages, spelled as a feed reader may find them: another
            // guid, tracking parameters and a fragment.
            format!(
                "<entry><title>Dispatch {i}</title><id>urn:atom:{i}</id>\
                 <link href=\"{base}/news/{i}?utm_source=atom#top\"/>\
                 <updated>2026-11-20T10:00:00Z</updated></entry>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><feed xmlns=\"http://www.w3.org/2005/Atom\">\
         <title>Atom wire</title><id>urn:atom</id><updated>2026-11-20T10:00:00Z</updated>\
         {entries}</feed>"
    )
}

async fn serve_articles(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path_regex(r"^/news/\d+$"))
        .respond_with(|req: &Request| {
            let i: usize = req.url.path().rsplit('/').next().unwrap().parse().unwrap();
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html; charset=utf-8")
                .set_body_string(article_page(i))
        })
        .mount(server)
        .await;
}

fn feed_requests(received: &[Request], feed_path: &str) -> Vec<Option<String>> {
    received
        .iter()
        .filter(|r| r.url.path() == feed_path)
        .map(|r| {
            r.headers
                .get("if-none-match")
                .map(|v| v.to_str().unwrap().to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_re_poll_carries_the_validators_of_the_latest_response() {
    let server = MockServer::start().await;
    let base = server.uri();
    // v1 holds one item; asked with v1's ETag the feed has moved on to v2 (a
    // second item); asked with v2's it is unchanged.
    let (v1, v2) = (rss(&base, [1]), rss(&base, [1, 2]));
    Mock::given(path("/wire.rss"))
        .respond_with(move |req: &Request| {
            let etag = req
                .headers
                .get("if-none-match")
                .map(|v| v.to_str().unwrap());
            let feed = |body: &str, etag: &str| {
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/rss+xml")
                    .insert_header("etag", etag)
                    .set_body_string(body)
            };
            match etag {
                None => feed(&v1, "\"v1\""),
                Some("\"v1\"") => feed(&v2, "\"v2\""),
                Some(_) => ResponseTemplate::new(304),
            }
        })
        .mount(&server)
        .await;
    serve_articles(&server).await;

    let dir = tempfile::tempdir().unwrap();
    let feed = format!("{base}/wire.rss");
    let cfg = config(
        dir.path(),
        std::slice::from_ref(&feed),
        "interval_secs = 1\nmin_interval_secs = 1",
    );
    let summary = run_for(&cfg, 4.5).await;
    assert_eq!(summary.written, 2, "{summary:?}");

    let received = server.received_requests().await.unwrap();
    let sent = feed_requests(&received, "/wire.rss");
    assert!(sent.len() >= 4, "four polls or more in 4.5 s: {sent:?}");
    assert_eq!(sent[0], None, "the first poll knows nothing yet");
    assert_eq!(sent[1].as_deref(), Some("\"v1\""), "{sent:?}");
    for later in &sent[2..] {
        assert_eq!(later.as_deref(), Some("\"v2\""), "{sent:?}");
    }

    // After a restart the first poll carries the newest validators too.
    server.reset().await;
    Mock::given(path("/wire.rss"))
        .respond_with(ResponseTemplate::new(304))
        .mount(&server)
        .await;
    run_once(&cfg).await;
    let received = server.received_requests().await.unwrap();
    assert_eq!(
        feed_requests(&received, "/wire.rss"),
        [Some("\"v2\"".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_hint_never_polls_more_often_than_the_configured_interval() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(path("/wire.rss"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/rss+xml")
                .insert_header("cache-control", "max-age=1")
                .set_body_string(rss(&base, [])),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &[format!("{base}/wire.rss")],
        "interval_secs = 3\nmin_interval_secs = 1",
    );
    run_for(&cfg, 4.5).await;
    let received = server.received_requests().await.unwrap();
    assert_eq!(
        feed_requests(&received, "/wire.rss").len(),
        2,
        "polled at 0 s and 3 s, not every second as max-age=1 asks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_listed_by_two_feeds_is_fetched_once() {
    const N: usize = 25;
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(path("/wire.rss"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/rss+xml")
                .set_body_string(rss(&base, 0..N)),
        )
        .mount(&server)
        .await;
    Mock::given(path("/wire.atom"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/atom+xml")
                .set_body_string(atom(&base, 0..N)),
        )
        .mount(&server)
        .await;
    serve_articles(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &[format!("{base}/wire.rss"), format!("{base}/wire.atom")],
        "",
    );
    let first = run_once(&cfg).await;
    let page_fetches = |received: &[Request]| {
        received
            .iter()
            .filter(|r| r.url.path().starts_with("/news/"))
            .count()
    };
    let received = server.received_requests().await.unwrap();
    assert_eq!(page_fetches(&received), N, "{first:?}");
    let written = records(&dir.path().join("out.jsonl"));
    assert_eq!(written.len(), N, "{first:?}");

    // Later polls (no validators here) fetch none of them again.
    run_once(&cfg).await;
    let received = server.received_requests().await.unwrap();
    assert_eq!(page_fetches(&received), N);
    assert_eq!(records(&dir.path().join("out.jsonl")).len(), N);
}

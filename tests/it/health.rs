//! Health that tells the truth about the sinks, and one-shot runs that give
//! up on a sink that stays down instead of waiting for ever.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::servers::{self, Proxy};
use crate::support::{self, Daemon, records, stderr};

/// A feed of `n` items and their pages.
async fn feed(server: &MockServer, n: usize) -> String {
    let base = server.uri();
    let items: String = (0..n)
        .map(|i| {
            format!("<item><title>D {i}</title><link>{base}/p/{i}</link><guid>g-{i}</guid></item>")
        })
        .collect();
    Mock::given(path("/feed.rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>F</title>{items}\
             </channel></rss>"
        )))
        .mount(server)
        .await;
    support::serve_article_pages(server, n).await;
    format!("{base}/feed.rss")
}

/// A config with JSONL and a PostgreSQL sink at `pg_url`, and `extra`.
fn config(dir: &std::path::Path, feed: &str, pg_url: &str, table: &str, extra: &str) -> String {
    support::config(
        dir,
        &format!(
            "{extra}\n[http]\nper_host_delay_ms = 0\n\
             [[sinks]]\nkind = \"postgres\"\nurl = \"{pg_url}\"\ntable = \"{table}\"\n\
             [[feeds]]\nurl = \"{feed}\"\n"
        ),
    )
    .to_str()
    .unwrap()
    .to_string()
}

/// `GET path` on the daemon's listener: status and body.
async fn get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    // Our own listener on loopback: its whole body is the answer under test.
    #[allow(clippy::disallowed_methods)]
    let answer = async {
        let resp = reqwest::get(format!("http://{addr}{path}")).await.ok()?;
        let status = resp.status().as_u16();
        Some((status, resp.text().await.ok()?))
    };
    answer.await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_names_an_unreachable_sink_and_recovers_with_it() {
    let pg_url = servers::postgres_url();
    let table = servers::unique("tidings_health");
    let _cleanup = servers::pg::cleanup(&pg_url, &table);
    let server = MockServer::start().await;
    let feed = feed(&server, 3).await;
    let proxy = Proxy::new(&pg_url, false).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &feed,
        proxy.url(),
        &table,
        "[metrics]\nlisten = \"127.0.0.1:0\"",
    );
    let daemon = Daemon::logged(
        Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args(["run", "--log-format", "json", "--config", &cfg])
            .stdout(Stdio::null()),
    );
    let listen = daemon.metrics_addr();
    let deadline = Instant::now() + Duration::from_secs(60);
    let unhealthy = loop {
        if let Some((503, body)) = get(listen, "/healthz").await {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "/healthz never said the sink is down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(unhealthy.contains("postgres:"), "{unhealthy}");
    assert!(unhealthy.contains(&table), "names the sink: {unhealthy}");

    proxy.up();
    loop {
        let answer = get(listen, "/healthz").await;
        if answer.as_ref().is_some_and(|(status, _)| *status == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "still unhealthy: {answer:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while records(&dir.path().join("out.jsonl")).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "nothing written once the sink came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_gives_up_on_a_sink_that_stays_down_and_the_next_run_writes_everything() {
    let pg_url = servers::postgres_url();
    let table = servers::unique("tidings_once");
    let _cleanup = servers::pg::cleanup(&pg_url, &table);
    let server = MockServer::start().await;
    let feed = feed(&server, 4).await;
    let proxy = Proxy::new(&pg_url, false).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &feed,
        proxy.url(),
        &table,
        "[pipeline]\nsink_wait_secs = 2",
    );

    let mut once = tokio::process::Command::new(env!("CARGO_BIN_EXE_tidings"));
    once.args(["run", "--once", "--config", &cfg])
        .kill_on_drop(true);
    let gave_up = tokio::time::timeout(Duration::from_secs(60), once.output())
        .await
        .expect("run --once gave up within a minute")
        .unwrap();
    let err = stderr(&gave_up);
    assert!(!gave_up.status.success(), "{err}");
    assert!(
        err.contains("postgres:") && err.contains(&table),
        "names the sink: {err}"
    );
    assert!(err.contains("unreachable"), "{err}");

    proxy.up();
    let next = support::tidings(dir.path(), &["run", "--once", "--config", &cfg]);
    assert!(next.status.success(), "{}", stderr(&next));
    assert_eq!(records(&dir.path().join("out.jsonl")).len(), 4);
    let db = servers::pg::client(&pg_url).await;
    assert_eq!(servers::pg::stored(&db, &table).await.1, 4);
}

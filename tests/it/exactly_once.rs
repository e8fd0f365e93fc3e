//! One writer per state folder, and every record exactly once in every sink.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

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

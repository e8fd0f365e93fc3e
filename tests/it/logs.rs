//! Diagnostics on standard error: no colour codes when it is not a
//! terminal, no third-party chatter at the default level, and one JSON
//! object per line with `--log-format json`.

use std::sync::Arc;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{config, fixture, stderr, tidings};

fn backfill(dir: &std::path::Path, extra: &[&str], inputs: &[&str]) -> std::process::Output {
    let cfg = config(dir, "");
    let mut args = vec!["backfill", "--config", cfg.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend_from_slice(inputs);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tidings(dir, &args)
}

fn assert_every_line_is_json(err: &str) -> Vec<serde_json::Value> {
    assert!(!err.trim().is_empty(), "something is logged");
    err.lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line:?}\nall: {err}"))
        })
        .collect()
}

#[test]
fn piped_stderr_carries_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let docs = fixture("docs");
    let out = backfill(dir.path(), &[], &[docs.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("WARN"), "the bad documents are logged: {err}");
    assert!(!out.stderr.contains(&0x1b), "ESC in piped stderr: {err:?}");
}

#[test]
fn third_party_warnings_stay_quiet_at_the_default_level() {
    let dir = tempfile::tempdir().unwrap();
    let page = fixture("logs/foster_parenting.html");
    let out = backfill(dir.path(), &[], &[page.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("1 records written"), "{err}");
    assert!(!err.contains("html5ever"), "{err}");
    assert!(!err.contains("foster parenting"), "{err}");
}

#[test]
fn json_backfill_writes_only_json_lines_with_the_summary_as_fields() {
    let dir = tempfile::tempdir().unwrap();
    let docs = fixture("docs");
    let out = backfill(
        dir.path(),
        &["--log-format", "json"],
        &[docs.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let events = assert_every_line_is_json(&stderr(&out));
    let summary = events
        .iter()
        .find(|e| e["fields"]["written"].is_u64())
        .unwrap_or_else(|| panic!("a summary event: {events:#?}"));
    let fields = &summary["fields"];
    assert!(fields["read"].as_u64().unwrap() >= 7, "{fields}");
    assert!(fields["written"].as_u64().unwrap() >= 3, "{fields}");
    assert_eq!(fields["skipped_by_reason"]["read: empty"], 1, "{fields}");
    assert_eq!(fields["skipped_by_reason"]["read: binary"], 1, "{fields}");
}

#[test]
fn json_errors_are_json_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = backfill(dir.path(), &["--log-format", "json"], &["no/such/file.txt"]);
    assert!(!out.status.success());
    let events = assert_every_line_is_json(&stderr(&out));
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["level"], "ERROR");
    let message = events[0]["fields"]["message"].as_str().unwrap();
    assert!(message.contains("no/such/file.txt"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_run_once_writes_only_json_lines() {
    let server = Arc::new(MockServer::start().await);
    let feed = std::fs::read_to_string(fixture("feeds/fulltext.rss"))
        .unwrap()
        .replace("http://HOST", &server.uri());
    Mock::given(method("GET"))
        .and(path("/full.rss"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/rss+xml")
                .set_body_string(feed),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "[http]\nper_host_delay_ms = 0\n[[feeds]]\nurl = \"{}/full.rss\"\n",
            server.uri()
        ),
    );
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .current_dir(dir.path())
        .args([
            "run",
            "--once",
            "--log-format",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let events = assert_every_line_is_json(&stderr(&out));
    assert!(
        events.iter().any(|e| e["fields"]["written"] == 1),
        "{events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_line_of_a_poll_names_its_feed() {
    let server = MockServer::start().await;
    let base = server.uri();
    let items: String = ["fine", "missing", "empty"]
        .iter()
        .map(|g| {
            format!("<item><title>{g}</title><link>{base}/p/{g}</link><guid>{g}</guid></item>")
        })
        .collect();
    Mock::given(path("/wire.rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>W</title>{items}</channel></rss>"
        )))
        .mount(&server)
        .await;
    Mock::given(path("/p/fine"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html")
                .set_body_string(crate::support::article_page(1)),
        )
        .mount(&server)
        .await;
    Mock::given(path("/p/empty"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html")
                .set_body_string("<html><body><nav>Home</nav></body></html>"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/p/missing"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(path("/broken.rss"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(path("/garbled.rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<rss><chan"))
        .mount(&server)
        .await;
    let feeds = [
        ("wire.rss", "Wire Desk"),
        ("broken.rss", "Broken Desk"),
        ("garbled.rss", "Garbled Desk"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut extra = String::from("[http]\nper_host_delay_ms = 0\n");
    for (f, name) in feeds {
        extra.push_str(&format!(
            "[[feeds]]\nurl = \"{base}/{f}\"\nname = \"{name}\"\n"
        ));
    }
    let cfg = config(dir.path(), &extra);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .current_dir(dir.path())
        .args(["run", "--once", "--log-format", "json", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "tidings=debug")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let events = assert_every_line_is_json(&stderr(&out));
    let urls: Vec<String> = feeds.iter().map(|(f, _)| format!("{base}/{f}")).collect();
    let mut seen = std::collections::BTreeSet::new();
    // A line about the poll of a feed or one of its items mentions the fixture
    // server; the run summary only counts.
    for e in events.iter().filter(|e| {
        e.to_string().contains(&base) || e["target"].as_str().unwrap().starts_with("tidings::fetch")
    }) {
        let feed = e["fields"]["feed"]
            .as_str()
            .or_else(|| e["span"]["feed"].as_str())
            .unwrap_or_else(|| panic!("no feed named in the event or its span: {e}"));
        assert!(urls.iter().any(|u| u == feed), "{feed} in {e}");
        seen.insert(e["fields"]["message"].as_str().unwrap().to_string());
        if let Some(spans) = e["spans"].as_array() {
            let poll = spans.iter().find(|s| s["name"] == "poll").unwrap();
            let name = feeds.iter().find(|(f, _)| feed.ends_with(f)).unwrap().1;
            assert_eq!(poll["feed_name"], name, "{e}");
        }
    }
    // Each kind of line was there to be judged.
    for needle in [
        "polled",
        "poll failed",
        "page skipped",
        "skipped: page has no article text",
    ] {
        assert!(
            seen.iter().any(|m| m.starts_with(needle)),
            "{needle} in {seen:#?}"
        );
    }
}

//! Hostile bytes in feeds and pages: invalid UTF-8, NUL characters and NUL
//! references are repaired or dropped, never allowed to reject a feed, flip
//! the charset decision or reach a record.

use std::path::Path;

use tidings::config::Config;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{config, fixture, records, stderr, tidings};

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("encoding/{name}"))).unwrap()
}

/// No field of any record, at any depth, holds a NUL.
fn assert_no_nul(out: &Path) {
    let text = std::fs::read_to_string(out).unwrap();
    assert!(
        !text.contains("\\u0000") && !text.contains('\0'),
        "a NUL reached a record: {text}"
    );
}

fn title_set(written: &[serde_json::Value]) -> Vec<String> {
    let mut titles: Vec<String> = written
        .iter()
        .map(|r| r["title"].as_str().unwrap().to_string())
        .collect();
    titles.sort();
    titles
}

const FEED_TITLES: [&str; 5] = [
    "Envoys meet in Riyadh for a second day \u{FFFD}",
    "Grid repairs continue after overnight strikes",
    "Observers reach the line of contact",
    "Prisoner exchange completed at the border",
    "Talks on the monitoring annex resume",
];

#[test]
fn feed_files_with_an_invalid_byte_or_nul_references_yield_their_items() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let mut args = vec![
        "backfill".to_string(),
        "--config".to_string(),
        cfg.to_str().unwrap().to_string(),
    ];
    for name in [
        "feed_invalid_byte.rss",
        "feed_nul_reference.rss",
        "feed_nul.json",
    ] {
        args.push(
            fixture(&format!("encoding/{name}"))
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tidings(dir.path(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("malformed"),
        "no feed is rejected: {}",
        stderr(&out)
    );
    let written = records(&dir.path().join("out.jsonl"));
    assert_eq!(title_set(&written), FEED_TITLES);
    assert_no_nul(&dir.path().join("out.jsonl"));
    let json_item = written.iter().find(|r| r["guid"] == "json-nul-1").unwrap();
    assert_eq!(json_item["source"]["name"], "Nul Feed");
    assert_eq!(json_item["authors"][0], "Marta Kowal");
}

fn served(name: &str, server: &MockServer) -> Vec<u8> {
    let text = bytes(name);
    let host = server.uri();
    // Byte-level replace: the fixtures are not all valid UTF-8.
    let mut out = Vec::new();
    let mut rest = &text[..];
    while let Some(at) = rest.windows(11).position(|w| w == b"http://HOST") {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(host.as_bytes());
        rest = &rest[at + 11..];
    }
    out.extend_from_slice(rest);
    out
}

#[tokio::test]
async fn polled_feeds_with_an_invalid_byte_or_nul_references_yield_their_items() {
    let server = MockServer::start().await;
    for (route, name, kind) in [
        ("/stray.rss", "feed_invalid_byte.rss", "application/rss+xml"),
        ("/nul.rss", "feed_nul_reference.rss", "application/rss+xml"),
        ("/nul.json", "feed_nul.json", "application/feed+json"),
    ] {
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", kind)
                    .set_body_bytes(served(name, &server)),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    // The items carry their text: no page is fetched.
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex("^/news/"))
        .respond_with(ResponseTemplate::new(404))
        .expect(0)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "[state]\ndir = \"state\"\n[http]\nper_host_delay_ms = 0\n[poll]\nfull_text_min_words = 1\n\
         [[sinks]]\nkind = \"jsonl\"\npath = \"out.jsonl\"\n",
    );
    for route in ["/stray.rss", "/nul.rss", "/nul.json"] {
        text.push_str(&format!("[[feeds]]\nurl = \"{}{route}\"\n", server.uri()));
    }
    let cfg = Config::parse(&text, "test.toml", dir.path()).unwrap();
    let summary = crate::support::run_feeds(&cfg, true, CancellationToken::new()).await;
    assert_eq!(summary.written, 5, "{summary:?}");
    let out = dir.path().join("out.jsonl");
    assert_eq!(title_set(&records(&out)), FEED_TITLES);
    assert_no_nul(&out);
}

const UK_TITLE: &str = "Зеленський: Україна готова до нових переговорів про перемир'я";

#[test]
fn a_utf8_ukrainian_page_with_stray_bytes_stays_cyrillic_and_relevant() {
    let dir = tempfile::tempdir().unwrap();
    let declared = fixture("encoding/uk_utf8_stray_bytes.html");
    // The same page without its <meta charset>.
    let undeclared = dir.path().join("undeclared.html");
    let page = String::from_utf8_lossy(&bytes("uk_utf8_stray_bytes.html")).into_owned();
    assert!(page.contains("<meta charset=\"utf-8\">"));
    let original = bytes("uk_utf8_stray_bytes.html");
    let cut = original
        .windows(22)
        .position(|w| w == b"<meta charset=\"utf-8\">")
        .unwrap();
    let mut without = original[..cut].to_vec();
    without.extend_from_slice(&original[cut + 22..]);
    std::fs::write(&undeclared, without).unwrap();

    for page in [declared, undeclared] {
        let page = page.to_str().unwrap();
        let out = tidings(dir.path(), &["extract", page]);
        assert!(out.status.success(), "{}", stderr(&out));
        let ex: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(ex["title"], UK_TITLE, "{page}");
        let text = ex["text"].as_str().unwrap();
        assert!(
            text.starts_with("Президент Володимир Зеленський заявив у понеділок, \u{FFFD} що"),
            "{text}"
        );
        assert!(text.ends_with("заплановано на кінець місяця."), "{text}");
        assert_eq!(
            text.matches('\u{FFFD}').count(),
            3,
            "one replacement per stray byte: {text}"
        );
        assert!(
            text.contains("перемир'я") && text.contains("Зеленський"),
            "{text}"
        );

        let out = tidings(dir.path(), &["tag", page]);
        assert!(out.status.success(), "{}", stderr(&out));
        let tags: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(tags["relevant"], true, "{tags}");
        let actors: Vec<&str> = tags["actors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert!(actors.contains(&"zelensky"), "{tags}");
    }
}

#[test]
fn a_page_with_nul_bytes_and_nul_references_yields_a_record_without_nul() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let page = fixture("encoding/nul_bytes_and_references.html");
    let out = tidings(
        dir.path(),
        &[
            "backfill",
            "--config",
            cfg.to_str().unwrap(),
            page.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let path = dir.path().join("out.jsonl");
    let written = records(&path);
    assert_eq!(written.len(), 1, "{}", stderr(&out));
    assert_no_nul(&path);
    let text = written[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("The first team of ceasefire monitors arrived in Zaporizhzhia"),
        "{text}"
    );
    assert!(text.ends_with("the next round of talks."), "{text}");
    assert!(
        written[0]["title"]
            .as_str()
            .unwrap()
            .starts_with("Ceasefire monitors arrive in Zaporizhzhia"),
        "{}",
        written[0]["title"]
    );

    // The extract verb prints no NUL either.
    let out = tidings(dir.path(), &["extract", page.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains("\\u0000"), "{stdout}");
}

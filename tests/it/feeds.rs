//! Feed lists (OPML in, OPML out) and per-feed settings: `feeds_opml`,
//! `enabled = false`, `tidings feeds export`.

use std::path::{Path, PathBuf};

use tidings::config::Config;
use tidings::fetch::feeds::Feed;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{fixture, stderr, tidings};

/// The exports of common readers under `tests/fixtures/opml/`.
const LISTS: [&str; 7] = [
    "feedly.opml",
    "inoreader.opml",
    "miniflux.opml",
    "netnewswire.opml",
    "freshrss.opml",
    "windows-1251.opml",
    "utf-16.opml",
];

/// `dir/tidings.toml` reading the given lists, plus `extra` TOML.
fn config_with_lists(dir: &Path, lists: &[PathBuf], extra: &str) -> PathBuf {
    let lists: Vec<String> = lists
        .iter()
        .map(|p| format!("{:?}", p.to_str().unwrap()))
        .collect();
    let path = dir.join("tidings.toml");
    std::fs::write(
        &path,
        format!(
            "feeds_opml = [{}]\n[state]\ndir = \"state\"\n[[sinks]]\nkind = \"jsonl\"\n\
             path = \"out.jsonl\"\n{extra}",
            lists.join(", ")
        ),
    )
    .unwrap();
    path
}

fn load(path: &Path) -> Config {
    Config::load(Some(path)).unwrap_or_else(|e| panic!("{e}"))
}

fn find<'a>(feeds: &'a [Feed], url: &str) -> &'a Feed {
    feeds
        .iter()
        .find(|f| f.url.as_str() == url)
        .unwrap_or_else(|| panic!("{url} in {feeds:#?}"))
}

/// `tidings feeds export`, written to `dir/name`.
fn export(config: &Path, dir: &Path, name: &str) -> PathBuf {
    let out = tidings(
        dir,
        &["feeds", "export", "--config", config.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("<opml version=\"2.0\">"), "{text}");
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// What a list can carry of a feed: URL, name, tags, site (not `enabled`,
/// not the interval).
type Listed = (String, Option<String>, Vec<String>, Option<String>);

fn listed(feeds: &[Feed]) -> Vec<Listed> {
    let mut all: Vec<_> = feeds
        .iter()
        .map(|f| {
            (
                f.url.to_string(),
                f.name.clone(),
                f.tags.clone(),
                f.html_url.clone(),
            )
        })
        .collect();
    all.sort();
    all
}

#[test]
fn lists_exported_by_common_readers_give_names_tags_and_sites() {
    let dir = tempfile::tempdir().unwrap();
    let lists: Vec<PathBuf> = LISTS
        .iter()
        .map(|l| fixture(&format!("opml/{l}")))
        .collect();
    let cfg = load(&config_with_lists(dir.path(), &lists, ""));
    let feeds = &cfg.feeds;
    assert_eq!(feeds.len(), 20, "{feeds:#?}");

    // Feedly: title over text, the site, the folder as a tag; a feed under
    // two folders is one feed with both.
    let ukrinform = find(feeds, "https://www.ukrinform.net/rss/block-lastnews");
    assert_eq!(
        ukrinform.name.as_deref(),
        Some("Ukrinform - Ukrainian National News Agency")
    );
    assert_eq!(ukrinform.tags, ["Ukraine", "Wires & broadcasters"]);
    assert_eq!(
        ukrinform.html_url.as_deref(),
        Some("https://www.ukrinform.net/")
    );
    // Inoreader: a feed outside any folder has no tags.
    let aljazeera = find(feeds, "https://www.aljazeera.com/xml/rss/all.xml");
    assert!(aljazeera.tags.is_empty());
    assert!(aljazeera.name.as_deref().unwrap().contains("Al Jazeera –"));
    // Miniflux: outlines with an end tag; an escaped ampersand in a URL.
    let isw = find(
        feeds,
        "https://www.understandingwar.org/rss.xml?q=ukraine&lang=en",
    );
    assert_eq!(isw.tags, ["Analysis"]);
    // NetNewsWire: nested folders, outermost first; a folder with text only.
    let yle = find(feeds, "https://yle.fi/rss/uutiset/osasto/news");
    assert_eq!(yle.tags, ["Europe", "Nordic"]);
    assert_eq!(
        find(feeds, "https://www.rferl.org/api/epiqq")
            .name
            .as_deref(),
        Some("RFE/RL")
    );
    // FreshRSS: text only, and categories after the folder, each once.
    let up = find(feeds, "https://www.pravda.com.ua/eng/rss/");
    assert_eq!(up.name.as_deref(), Some("Ukrainska Pravda"));
    assert_eq!(up.tags, ["Ukraine", "News", "english"]);
    // windows-1251 and UTF-16 lists come out as the same text.
    let meduza = find(feeds, "https://meduza.io/rss/all");
    assert_eq!(meduza.name.as_deref(), Some("Медуза"));
    assert_eq!(meduza.tags, ["Новости"]);
    let svoboda = find(feeds, "https://www.svoboda.org/api/zrqiteuuir");
    assert_eq!(svoboda.name.as_deref(), Some("Радио Свобода"));
    assert_eq!(svoboda.tags, ["Général"]);
}

#[test]
fn an_exported_list_reads_back_as_the_same_feeds() {
    let dir = tempfile::tempdir().unwrap();
    for list in LISTS {
        let original = config_with_lists(dir.path(), &[fixture(&format!("opml/{list}"))], "");
        let before = load(&original).feeds;
        let exported = export(&original, dir.path(), "exported.opml");
        let again = config_with_lists(dir.path(), &[exported], "");
        assert_eq!(listed(&load(&again).feeds), listed(&before), "{list}");
    }

    // [[feeds]] entries too, with names that need escaping, a disabled one,
    // and the lists beside them.
    let lists: Vec<PathBuf> = LISTS
        .iter()
        .map(|l| fixture(&format!("opml/{l}")))
        .collect();
    let entries = "\
[[feeds]]
url = \"https://wire.example/rss?a=1&b=<2>\"
name = \"Tom & \\\"Jerry\\\" <b>news</b>\"
tags = [\"wire\", \"it's\"]

[[feeds]]
url = \"https://quiet.example/feed\"
enabled = false
";
    let original = config_with_lists(dir.path(), &lists, entries);
    let before = load(&original).feeds;
    assert!(!find(&before, "https://quiet.example/feed").enabled);
    let exported = export(&original, dir.path(), "all.opml");
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(
        text.contains("https://quiet.example/feed"),
        "disabled feeds are exported"
    );
    assert!(!text.contains("<b>"), "{text}");
    let again = config_with_lists(dir.path(), &[exported], "");
    assert_eq!(listed(&load(&again).feeds), listed(&before));
}

#[test]
fn check_names_the_list_and_the_line_of_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    };
    let broken = write(
        "broken.opml",
        "<opml version=\"2.0\">\n<body>\n<outline text=\"a\">\n</body>\n</opml>\n",
    );
    let bad_url = write(
        "bad-url.opml",
        "<opml version=\"2.0\"><body>\n<outline text=\"folder only\"/>\n\
         <outline text=\"x\" xmlUrl=\"ftp://files.example/feed\"/>\n</body></opml>\n",
    );
    let listed_twice = write(
        "twice.opml",
        "<opml version=\"2.0\"><body>\n<outline text=\"Wire\">\n\
         <outline text=\"w\" xmlUrl=\"https://wire.example/rss\"/>\n</outline>\n</body></opml>\n",
    );
    let missing = dir.path().join("missing.opml");
    let cfg = config_with_lists(
        dir.path(),
        &[
            missing.clone(),
            broken.clone(),
            bad_url.clone(),
            listed_twice.clone(),
        ],
        "[[feeds]]\nurl = \"https://WIRE.example/rss\"\n",
    );
    let out = tidings(dir.path(), &["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let report: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(report.len(), 4, "{report:#?}");
    let line = |needle: &str| -> &String {
        report
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in {report:#?}"))
    };
    let p = line("missing.opml");
    assert!(
        p.contains("tidings.toml: feeds_opml: cannot read") && p.ends_with("(line 1)"),
        "{p}"
    );
    let p = line("broken.opml");
    assert!(
        p.starts_with(&format!("{}: malformed XML", broken.display())),
        "{p}"
    );
    assert!(p.ends_with("(line 4)"), "{p}");
    let p = line("bad-url.opml");
    assert_eq!(
        p,
        &format!(
            "{}: xmlUrl: scheme \"ftp\" is not http or https (line 3)",
            bad_url.display()
        )
    );
    let p = line("twice.opml");
    assert!(
        p.ends_with(&format!(
            "tidings.toml: feeds[0].url: same feed as the outline on line 3 of {} (line 8)",
            listed_twice.display()
        )),
        "{p}"
    );
}

#[tokio::test]
async fn a_disabled_feed_is_not_polled() {
    let server = MockServer::start().await;
    let rss =
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title></channel></rss>";
    Mock::given(path("/on.rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string(rss))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/off.rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string(rss))
        .expect(0)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[state]\ndir = \"state\"\n[http]\nper_host_delay_ms = 0\n[[sinks]]\nkind = \"jsonl\"\n\
         path = \"out.jsonl\"\n[[feeds]]\nurl = \"{0}/on.rss\"\n[[feeds]]\nurl = \"{0}/off.rss\"\n\
         enabled = false\n",
        server.uri()
    );
    let cfg = Config::parse(&text, "t.toml", dir.path()).unwrap();
    crate::support::run_feeds(&cfg, true, CancellationToken::new()).await;
    server.verify().await;
}

/// An RSS feed of items `guids`, each linking to `base/p/<guid>`.
fn rss(base: &str, guids: &[&str]) -> String {
    let items: String = guids
        .iter()
        .map(|g| {
            format!("<item><title>{g}</title><link>{base}/p/{g}</link><guid>{g}</guid></item>")
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title>{items}</channel></rss>"
    )
}

async fn serve_pages(server: &MockServer, guids: &[&str]) {
    for (i, g) in guids.iter().enumerate() {
        Mock::given(path(format!("/p/{g}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/html; charset=utf-8")
                    .set_body_string(crate::support::article_page(i)),
            )
            .mount(server)
            .await;
    }
}

/// `tidings feeds list --json`: the feeds by URL.
fn list_json(dir: &Path, config: &Path) -> std::collections::BTreeMap<String, serde_json::Value> {
    let out = tidings(
        dir,
        &[
            "feeds",
            "list",
            "--json",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter()
        .map(|r| (r["url"].as_str().unwrap().to_string(), r))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_list_tells_new_ok_failing_stale_and_dead_feeds_apart() {
    let server = MockServer::start().await;
    let base = server.uri();
    let fresh = ["a1", "a2"];
    let old = ["s1", "s2", "s3", "s4", "s5", "s6"];
    Mock::given(path("/ok.rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string(rss(&base, &fresh)))
        .mount(&server)
        .await;
    // Answers, but only with items first seen hourly three days ago.
    Mock::given(path("/stale.rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string(rss(&base, &old)))
        .mount(&server)
        .await;
    Mock::given(path("/failing.rss"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(path("/gone.rss"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&server)
        .await;
    serve_pages(&server, &fresh).await;
    let dir = tempfile::tempdir().unwrap();
    let url = |f: &str| format!("{base}/{f}.rss");
    let cfg_path = dir.path().join("tidings.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "[state]\ndir = \"state\"\n[http]\nper_host_delay_ms = 0\n[[sinks]]\nkind = \"jsonl\"\n\
             path = \"out.jsonl\"\n\
             [[feeds]]\nurl = \"{}\"\nname = \"Fresh Wire\"\n\
             [[feeds]]\nurl = \"{}\"\n\
             [[feeds]]\nurl = \"{}\"\n\
             [[feeds]]\nurl = \"{}\"\n\
             [[feeds]]\nurl = \"{base}/later.rss\"\nenabled = false\n",
            url("ok"),
            url("stale"),
            url("failing"),
            url("gone")
        ),
    )
    .unwrap();
    {
        let state = tidings::state::State::open(&tidings::state::Location::folder(
            &dir.path().join("state"),
        ))
        .unwrap();
        let start = chrono::Utc::now() - chrono::Duration::days(3);
        let mut state = state;
        for (i, g) in old.iter().enumerate() {
            let key = tidings::state::ItemKey {
                feed: url("stale"),
                guid: g.to_string(),
                page: None,
                seen: start - chrono::Duration::hours(i as i64),
                dated: None,
                digest: None,
            };
            state
                .mark_item(&key, tidings::state::ItemStatus::Skipped, None)
                .unwrap();
        }
    }
    let cfg = load(&cfg_path);
    crate::support::run_feeds(&cfg, true, CancellationToken::new()).await;

    let feeds = list_json(dir.path(), &cfg_path);
    let status = |f: &str| {
        feeds[&f.to_string()]["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status(&url("ok")), "ok");
    assert_eq!(status(&url("stale")), "stale");
    assert_eq!(status(&url("failing")), "failing");
    assert_eq!(status(&url("gone")), "dead");
    assert_eq!(status(&format!("{base}/later.rss")), "new");

    let ok = &feeds[&url("ok")];
    assert_eq!(ok["name"], "Fresh Wire");
    assert_eq!(ok["items"], 2);
    assert_eq!(ok["records"], 2);
    assert_eq!(ok["errors"], 0);
    assert!(
        ok["last_success"].is_string() && ok["next_poll"].is_string(),
        "{ok}"
    );
    assert!(ok["last_error"].is_null());
    let failing = &feeds[&url("failing")];
    assert_eq!(failing["errors"], 1);
    assert!(
        failing["last_error"].as_str().unwrap().contains("500"),
        "{failing}"
    );
    assert!(failing["last_success"].is_null());
    let stale = &feeds[&url("stale")];
    assert_eq!(
        (stale["items"].as_u64(), stale["records"].as_u64()),
        (Some(6), Some(0))
    );
    assert_eq!(stale["usual_gap_secs"], 3600);
    assert!(
        feeds[&url("gone")]["next_poll"].is_null(),
        "a dead feed is not polled"
    );
    for row in feeds.values() {
        for field in [
            "url",
            "name",
            "status",
            "last_success",
            "last_error",
            "errors",
            "next_poll",
            "items",
            "records",
        ] {
            assert!(row.get(field).is_some(), "{field} in {row}");
        }
    }

    // The table: one line per feed under a header, in aligned columns.
    let out = tidings(
        dir.path(),
        &["feeds", "list", "--config", cfg_path.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 6, "{table}");
    let column = lines[0].find("URL").unwrap();
    for line in &lines[1..] {
        assert_eq!(&line[column..column + base.len()], base, "{table}");
    }
    assert!(
        lines[1].starts_with("ok ") && lines[1].contains("Fresh Wire"),
        "{table}"
    );
    assert!(lines[5].starts_with("new (disabled)"), "{table}");
    assert!(lines[4].contains("HTTP 410"), "why it is dead: {table}");
}

/// The text of `/metrics` at `addr`.
#[allow(clippy::disallowed_methods)]
async fn metrics(addr: std::net::SocketAddr) -> String {
    match reqwest::get(format!("http://{addr}/metrics")).await {
        Ok(resp) => resp.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits (up to a minute) until `done` holds.
async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done().await {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_revived_while_the_daemon_runs_is_polled_again() {
    let server = MockServer::start().await;
    let base = server.uri();
    // Gone at first, back afterwards with one item.
    Mock::given(path("/back.rss"))
        .respond_with(ResponseTemplate::new(410))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/back.rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string(rss(&base, &["b1"])))
        .with_priority(2)
        .mount(&server)
        .await;
    serve_pages(&server, &["b1"]).await;
    let feed = format!("{base}/back.rss");
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::support::config(
        dir.path(),
        &format!(
            "[http]\nper_host_delay_ms = 0\n[poll]\ninterval_secs = 1\nmin_interval_secs = 1\n\
             jitter = 0.0\n[metrics]\nlisten = \"127.0.0.1:0\"\n[[feeds]]\nurl = \"{feed}\"\n"
        ),
    );
    let config = cfg.to_str().unwrap();
    let daemon = crate::support::Daemon::logged(
        std::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args(["run", "--log-format", "json", "--config", config])
            .stdout(std::process::Stdio::null()),
    );
    let addr = daemon.metrics_addr();

    // `feeds list` reads beside the daemon, which holds the state's lock.
    until("the feed listed dead", async || {
        list_json(dir.path(), &cfg)[&feed]["status"] == "dead"
    })
    .await;
    until("the gauge counts it dead", async || {
        metrics(addr)
            .await
            .contains("tidings_feeds{status=\"dead\"} 1")
    })
    .await;
    let gauge = metrics(addr).await;
    for status in ["new", "ok", "failing", "stale"] {
        assert!(
            gauge.contains(&format!("tidings_feeds{{status=\"{status}\"}} 0")),
            "{status}: {gauge}"
        );
    }

    let out = tidings(
        dir.path(),
        &[
            "feeds",
            "revive",
            "--config",
            config,
            "https://nowhere.example/rss",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("https://nowhere.example/rss is not a configured feed"));
    let out = tidings(
        dir.path(),
        &["feeds", "revive", "--config", config, "--all-dead"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("revived {feed}\n")
    );

    until("the revived feed's item written", async || {
        crate::support::records(&dir.path().join("out.jsonl")).len() == 1
    })
    .await;
    until("the gauge counts it ok", async || {
        metrics(addr)
            .await
            .contains("tidings_feeds{status=\"ok\"} 1")
    })
    .await;
    assert_eq!(list_json(dir.path(), &cfg)[&feed]["status"], "ok");
    let out = tidings(dir.path(), &["feeds", "revive", "--config", config, &feed]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("is not dead (ok)"),
        "{}",
        stderr(&out)
    );
}

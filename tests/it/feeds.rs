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

/// What a list can carry of a feed (not `enabled`, not the interval).
fn listed(feeds: &[Feed]) -> Vec<(String, Option<String>, Vec<String>, Option<String>)> {
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

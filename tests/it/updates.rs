//! A page that changes after it was written (a developing story): written
//! again under the same id, with `version` and `updated_at` (`[dedup]
//! updates`).

use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::servers::{self, js, pg};
use crate::support::{article_page, page, records, report, stderr, tidings};

/// Serves a feed of one item dated `date` linking to `/p/0`, whose page is
/// `page`; what was served before is forgotten.
pub async fn serve(server: &MockServer, date: &str, page: String) {
    serve_entry(server, date, "The first dispatch.", page).await;
}

/// Like [`serve`], the entry's summary `summary`.
async fn serve_entry(server: &MockServer, date: &str, summary: &str, page: String) {
    server.reset().await;
    let feed = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Desk</title>\
         <item><title>Dispatch</title><guid>dispatch-0</guid><link>{}/p/0</link>\
         <description>{summary}</description><pubDate>{date}</pubDate></item></channel></rss>",
        server.uri()
    );
    mount(server, "/feed.rss", "application/rss+xml", feed).await;
    mount(server, "/p/0", "text/html", page).await;
}

/// Serves `body` at `at`.
async fn mount(server: &MockServer, at: &str, content_type: &str, body: String) {
    Mock::given(path(at))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", content_type)
                .set_body_string(body),
        )
        .mount(server)
        .await;
}

/// The page of item 0 with one more paragraph: the story developed.
pub fn developed() -> String {
    article_page(0).replace(
        "</article>",
        "<p>Update: the delegations agreed late in the evening to extend the \
         humanitarian corridor by another week and to exchange lists of detainees.</p></article>",
    )
}

/// Changed entries are checked at the next poll (`recheck_minutes`
/// would otherwise hold them back a quarter of an hour).
const AT_ONCE: &str = "[dedup]\nrecheck_minutes = 0\n";

pub const FIRST: &str = "Mon, 30 Nov 2026 08:00:00 GMT";
pub const LATER: &str = "Mon, 30 Nov 2026 12:00:00 GMT";

/// Runs the feed once with `extra` config, the page as `page` and the item
/// dated `date`.
async fn run(dir: &std::path::Path, server: &MockServer, extra: &str, date: &str, page: String) {
    serve(server, date, page).await;
    poll_once(dir, server, extra);
}

fn poll_once(dir: &std::path::Path, server: &MockServer, extra: &str) {
    let cfg = crate::support::config(
        dir,
        &format!("{extra}\n[[feeds]]\nurl = \"{}/feed.rss\"\n", server.uri()),
    );
    let out = tidings(dir, &["run", "--once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_page_with_a_newer_date_is_written_again_as_version_2() {
    let (server, dir) = (MockServer::start().await, tempfile::tempdir().unwrap());
    let pg_url = servers::postgres_url();
    let table = servers::unique("tidings_updates");
    let _cleanup = pg::cleanup(&pg_url, &table);
    let nats_url = servers::nats_url();
    let stream = servers::unique("TIDINGS_UPDATES");
    let subject = format!("{}.records", stream.to_lowercase());
    let _js_cleanup = js::cleanup(&nats_url, Some(&stream), &subject);
    let sink = format!(
        "{AT_ONCE}[[sinks]]\nkind = \"postgres\"\nurl = \"{pg_url}\"\ntable = \"{table}\"\n\
         [[sinks]]\nkind = \"nats\"\nurl = \"{nats_url}\"\nsubject = \"{subject}\"\nstream = \"{stream}\"\n"
    );

    run(dir.path(), &server, &sink, FIRST, article_page(0)).await;
    run(dir.path(), &server, &sink, LATER, developed()).await;

    let written = records(&dir.path().join("out.jsonl"));
    assert_eq!(written.len(), 2, "JSONL appends the new version");
    let (first, second) = (&written[0], &written[1]);
    assert_eq!(first["id"], second["id"], "the same article, the same id");
    assert_eq!(first["version"], 1);
    assert!(first["updated_at"].is_null());
    assert_eq!(second["version"], 2);
    assert!(second["updated_at"].is_string());
    assert_ne!(first["content_hash"], second["content_hash"]);
    assert!(
        second["text"]
            .as_str()
            .unwrap()
            .contains("extend the humanitarian corridor")
    );

    let db = pg::client(&pg_url).await;
    let rows = db
        .query(
            &format!("SELECT id, version, updated_at::text, text FROM {table}"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "PostgreSQL keeps the latest version only");
    assert_eq!(rows[0].get::<_, String>(0), second["id"].as_str().unwrap());
    assert_eq!(rows[0].get::<_, i32>(1), 2);
    assert!(rows[0].get::<_, Option<String>>(2).is_some());
    assert!(
        rows[0]
            .get::<_, String>(3)
            .contains("extend the humanitarian corridor")
    );

    // Not dropped as a repeat of the first: its own message id.
    let id = second["id"].as_str().unwrap();
    let expected = [id.to_string(), format!("{id}@2")].into_iter().collect();
    let js = js::context(&nats_url).await;
    assert_eq!(js::stored(&js, &stream).await, (expected, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_that_changes_under_the_same_date_is_fetched_again() {
    // Many feeds never touch an entry's date when the story develops; its
    // summary changes.
    let (server, dir) = (MockServer::start().await, tempfile::tempdir().unwrap());
    serve_entry(&server, FIRST, "The first dispatch.", article_page(0)).await;
    poll_once(dir.path(), &server, AT_ONCE);
    serve_entry(&server, FIRST, "The corridor is extended.", developed()).await;
    poll_once(dir.path(), &server, AT_ONCE);
    // Nothing changed in the feed: the page is not fetched again.
    serve_entry(&server, FIRST, "The corridor is extended.", article_page(1)).await;
    poll_once(dir.path(), &server, AT_ONCE);
    let written = records(&dir.path().join("out.jsonl"));
    let versions: Vec<_> = written.iter().map(|r| r["version"].clone()).collect();
    assert_eq!(versions, [1, 2]);
    assert!(
        written[1]["text"]
            .as_str()
            .unwrap()
            .contains("extend the humanitarian corridor")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_rewritten_at_every_poll_is_not_fetched_at_every_poll() {
    // A feed may rewrite an entry at every poll (a comment counter in the
    // summary, a date that is always now): its page is checked again once
    // per `recheck_minutes`, not once per poll.
    let (server, dir) = (MockServer::start().await, tempfile::tempdir().unwrap());
    let hourly = "[dedup]\nrecheck_minutes = 60\n";
    serve_entry(&server, FIRST, "3 comments.", article_page(0)).await;
    poll_once(dir.path(), &server, hourly);
    for (date, summary) in [(FIRST, "4 comments."), (LATER, "5 comments.")] {
        serve_entry(&server, date, summary, developed()).await;
        poll_once(dir.path(), &server, hourly);
        let fetched = server.received_requests().await.unwrap();
        assert!(
            fetched.iter().all(|r| r.url.path() != "/p/0"),
            "the page was fetched again within the hour"
        );
    }
    let written = records(&dir.path().join("out.jsonl"));
    assert_eq!(written.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_page_with_a_newer_date_gives_nothing_new() {
    let (server, dir) = (MockServer::start().await, tempfile::tempdir().unwrap());
    run(dir.path(), &server, AT_ONCE, FIRST, article_page(0)).await;
    run(dir.path(), &server, AT_ONCE, LATER, article_page(0)).await;
    let written = records(&dir.path().join("out.jsonl"));
    assert_eq!(written.len(), 1);
    assert_eq!(written[0]["version"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_updates_off_a_changed_page_gives_nothing_new() {
    let (server, dir) = (MockServer::start().await, tempfile::tempdir().unwrap());
    let off = "[dedup]\nupdates = false\nrecheck_minutes = 0\n";
    run(dir.path(), &server, off, FIRST, article_page(0)).await;
    run(dir.path(), &server, off, LATER, developed()).await;
    let written = records(&dir.path().join("out.jsonl"));
    assert_eq!(written.len(), 1);
    assert_eq!(written[0]["version"], 1);
}

/// A feed of the items `(guid, path, date, page)`, each page served at
/// its path.
async fn serve_items(server: &MockServer, items: &[(&str, &str, &str, String)]) {
    server.reset().await;
    let entries: String = items
        .iter()
        .map(|(guid, at, date, _)| {
            format!(
                "<item><title>{guid}</title><guid>{guid}</guid><link>{}{at}</link>\
                 <pubDate>{date}</pubDate></item>",
                server.uri()
            )
        })
        .collect();
    let feed = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Desk</title>{entries}\
         </channel></rss>"
    );
    mount(server, "/feed.rss", "application/rss+xml", feed).await;
    for (_, at, _, body) in items {
        mount(server, at, "text/html", body.clone()).await;
    }
}

/// Waits (up to 30 s) until `out` holds `n` records.
async fn until_records(out: &std::path::Path, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..300 {
        if out.exists() && records(out).len() >= n {
            return records(out);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{} records of {n} after 30 s", records(out).len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_a_later_version_is_a_copy_within_the_same_run() {
    // The story is rewritten (version 2 shares nothing with version 1);
    // another page then copies version 2. The daemon knows it as a copy
    // without a restart.
    let (server, dir) = (MockServer::start().await, tempfile::tempdir().unwrap());
    let text = |n| page(&format!("Report {n}"), &report(n));
    let cfg = tidings::config::Config::parse(
        &format!(
            "[state]\ndir = \"state\"\n[http]\nper_host_delay_ms = 0\ntimeout_secs = 5\n\
             [poll]\njitter = 0.0\ninterval_secs = 1\nmin_interval_secs = 1\n\
             [dedup]\ncopies = \"flag\"\nrecheck_minutes = 0\n\
             [[sinks]]\nkind = \"jsonl\"\npath = \"out.jsonl\"\n\
             [[feeds]]\nurl = \"{}/feed.rss\"\n",
            server.uri()
        ),
        "test.toml",
        dir.path(),
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    serve_items(&server, &[("story", "/story", FIRST, text(1))]).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let daemon = {
        let (cfg, shutdown) = (cfg.clone(), shutdown.clone());
        tokio::spawn(async move { crate::support::run_feeds(&cfg, false, shutdown).await })
    };
    until_records(&out, 1).await;
    serve_items(&server, &[("story", "/story", LATER, text(2))]).await;
    until_records(&out, 2).await;
    serve_items(
        &server,
        &[
            ("story", "/story", LATER, text(2)),
            (
                "copy",
                "/copy",
                LATER,
                text(2).replace("Report 2", "Report 2, as run here"),
            ),
        ],
    )
    .await;
    let written = until_records(&out, 3).await;
    shutdown.cancel();
    daemon.await.unwrap();
    let story = &written[0]["id"];
    assert_eq!(written[1]["id"], *story);
    assert_eq!(written[1]["version"], 2);
    let copy = &written[2];
    assert_ne!(copy["id"], *story);
    assert_eq!(
        copy["duplicate_of"], *story,
        "the copy of version 2 names the story: {copy}"
    );
}

//! The status page, served by a running daemon, read over HTTP and in a real
//! browser (headless Chromium).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::browser::Browser;
use crate::support::{self, Daemon, records};

const TOKEN: &str = "a-status-page-token-42";

/// A title that would run a script if the page did not escape it.
const HOSTILE: &str = "<img src=x onerror=\"document.title='pwned'\">Talks resume in Geneva";

const GENEVA: &str = "Ukrainian and Russian delegations resumed peace talks in Geneva on Monday, \
     discussing a ceasefire along the front line and an exchange of prisoners. \
     Volodymyr Zelensky said Ukraine wants security guarantees.";

/// A feed of pages about the talks (tagged, so trends have data), one of them
/// with a hostile headline, and a syndicated copy of it (dropped, counted).
async fn feed(server: &MockServer) -> String {
    let base = server.uri();
    let pages = [
        ("geneva", HOSTILE.to_string(), GENEVA),
        (
            "sanctions",
            "EU weighs new sanctions as talks stall".to_string(),
            "The European Union discussed new sanctions against Russia as peace talks \
             stalled. Vladimir Putin said Moscow was ready for negotiations on a ceasefire.",
        ),
        (
            "weather",
            "A sunny week ahead".to_string(),
            "Forecasters expect a sunny week with light winds across the region, and \
             warmer nights by the weekend, they said on Sunday.",
        ),
        ("geneva-copy", HOSTILE.to_string(), GENEVA),
    ];
    let items: String = pages
        .iter()
        .map(|(slug, _, _)| {
            format!(
                "<item><title>{slug}</title><link>{base}/p/{slug}</link><guid>{slug}</guid></item>"
            )
        })
        .collect();
    Mock::given(path("/feed.rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Wire</title>{items}\
             </channel></rss>"
        )))
        .mount(server)
        .await;
    for (slug, title, text) in pages {
        let escaped = title
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let body = format!(
            "<html><head><title>{escaped}</title></head><body><article><h1>{escaped}</h1>\
             <p>{text}</p><p>{text} More on this later today.</p></article></body></html>"
        );
        Mock::given(path(format!("/p/{slug}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/html; charset=utf-8")
                    .set_body_string(body),
            )
            .mount(server)
            .await;
    }
    format!("{base}/feed.rss")
}

/// A daemon with the status page on, once its records are written.
async fn daemon(dir: &std::path::Path) -> (Daemon, std::net::SocketAddr, MockServer) {
    let server = MockServer::start().await;
    let feed = feed(&server).await;
    let cfg = support::config(
        dir,
        &format!(
            "[http]\nper_host_delay_ms = 0\n[web]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n\
             [[feeds]]\nurl = \"{feed}\"\n"
        ),
    );
    let daemon = Daemon::logged(
        Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args(["run", "--log-format", "json", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null()),
    );
    let addr = daemon.web_addr();
    let deadline = Instant::now() + Duration::from_secs(60);
    while records(&dir.join("out.jsonl")).len() < 3 {
        assert!(Instant::now() < deadline, "no records: {:?}", daemon.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (daemon, addr, server)
}

/// Our own server on loopback: its whole body is the answer under test.
#[allow(clippy::disallowed_methods)]
async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_and_endpoint_answers_with_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, addr, server) = daemon(dir.path()).await;
    let base = format!("http://{addr}");

    let (status, _, body) = get(&format!("{base}/api/records")).await;
    assert_eq!(status, 200);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().any(|r| r["title"] == HOSTILE), "{body}");
    let relevant: Vec<serde_json::Value> =
        serde_json::from_str(&get(&format!("{base}/api/records?relevant=true")).await.2).unwrap();
    assert_eq!(relevant.len(), 2, "the weather is not about the talks");
    let by_topic: Vec<serde_json::Value> = serde_json::from_str(
        &get(&format!("{base}/api/records?topic=sanctions&limit=5"))
            .await
            .2,
    )
    .unwrap();
    assert_eq!(by_topic.len(), 1);
    assert_eq!(
        by_topic[0]["title"],
        "EU weighs new sanctions as talks stall"
    );

    // One of the two Geneva pages is dropped as a copy of the other (the
    // default policy), and counted on it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed: Vec<serde_json::Value> =
            serde_json::from_str(&get(&format!("{base}/api/records")).await.2).unwrap();
        let copied: Vec<(&str, &serde_json::Value)> = listed
            .iter()
            .filter(|r| r["copies"] != 0)
            .map(|r| (r["url"].as_str().unwrap(), &r["copies"]))
            .collect();
        let geneva = format!("{}/p/geneva", server.uri());
        if let [(url, n)] = copied[..] {
            assert!(url.starts_with(&geneva) && *n == 1, "{copied:?}");
            break;
        }
        assert!(copied.is_empty(), "{copied:?}");
        assert!(Instant::now() < deadline, "the copy is not counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (status, _, stats) = get(&format!("{base}/api/stats")).await;
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["written"], 3);
    assert!(
        stats["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"].as_str().unwrap().starts_with("jsonl:")),
        "{stats}"
    );

    let id = listed[0]["id"].as_str().unwrap();
    for page in [
        "/",
        "/feeds",
        "/news",
        "/news?relevant=true",
        "/trends",
        &format!("/records/{id}"),
    ] {
        let (status, headers, body) = get(&format!("{base}{page}")).await;
        assert_eq!(status, 200, "{page}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"));
        assert!(
            !body.contains("<img src=x"),
            "{page} carries raw markup of a title"
        );
    }
    let (status, _, _) = get(&format!("{base}/records/no-such-record")).await;
    assert_eq!(status, 404);
    assert_eq!(get(&format!("{base}/healthz")).await.2, "ok\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_every_page_loads_without_an_error_and_a_hostile_title_is_only_text() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, addr, _server) = daemon(dir.path()).await;
    let base = format!("http://{addr}");
    let written = records(&dir.path().join("out.jsonl"));
    let hostile = written
        .iter()
        .find(|r| r["title"] == HOSTILE)
        .expect("the hostile page is a record");
    let record_page = format!("/records/{}", hostile["id"].as_str().unwrap());

    let mut browser = Browser::start().await;
    for page in [
        "/",
        "/feeds",
        "/news",
        "/news?relevant=true",
        "/trends",
        &record_page,
    ] {
        assert_eq!(browser.open(&format!("{base}{page}")).await, 200, "{page}");
        assert_eq!(
            browser
                .eval("document.querySelector('header .brand').textContent")
                .await,
            "tidings",
            "{page}"
        );
        assert_eq!(
            browser.problems().await,
            Vec::<String>::new(),
            "{page}: console errors, exceptions or refused loads"
        );
    }

    browser.open(&format!("{base}/news")).await;
    let titles = browser
        .eval("Array.from(document.querySelectorAll('.item h3 > a'), a => a.textContent)")
        .await;
    assert!(
        titles.as_array().unwrap().iter().any(|t| t == HOSTILE),
        "the title shows as text: {titles}"
    );
    assert_eq!(
        browser
            .eval("document.querySelectorAll('main img').length")
            .await,
        0,
        "no image element made of it"
    );
    assert_eq!(
        browser.eval("document.title").await,
        "News · tidings",
        "its script did not run"
    );
    browser.open(&format!("{base}{record_page}")).await;
    assert_eq!(
        browser
            .eval("document.querySelector('h1').textContent")
            .await,
        HOSTILE
    );
    assert_eq!(
        browser.eval("document.title").await,
        format!("{HOSTILE} · tidings")
    );
    assert_eq!(browser.problems().await, Vec::<String>::new());

    // What the browser would have said is heard: a script the page adds
    // inline is refused by the Content-Security-Policy, and the refusal is
    // reported as a problem.
    browser
        .eval(
            "const s = document.createElement('script'); \
             s.textContent = 'document.title = \"ran\"'; document.body.append(s); 0",
        )
        .await;
    let problems = browser.problems().await;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Content Security Policy")),
        "{problems:?}"
    );
    assert_ne!(browser.eval("document.title").await, "ran");
}

/// A daemon with the status page over three feeds, once each has its status:
/// the talks (ok), one that fails (500) and one that is gone (410) at first
/// and back afterwards with one item. Polled every second, so that a revived
/// feed is polled again at once.
async fn daemon_with_troubled_feeds(
    dir: &std::path::Path,
) -> (Daemon, String, MockServer, [String; 3]) {
    let server = MockServer::start().await;
    let ok = feed(&server).await;
    let base = server.uri();
    Mock::given(path("/failing.rss"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(path("/back.rss"))
        .respond_with(ResponseTemplate::new(410))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/back.rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Back</title>\
             <item><title>b</title><link>{base}/p/back</link><guid>back</guid></item>\
             </channel></rss>"
        )))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(path("/p/back"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html; charset=utf-8")
                .set_body_string(support::article_page(7)),
        )
        .mount(&server)
        .await;
    let feeds = [
        ok,
        format!("{base}/failing.rss"),
        format!("{base}/back.rss"),
    ];
    let cfg = support::config(
        dir,
        &format!(
            "[http]\nper_host_delay_ms = 0\n[poll]\ninterval_secs = 1\nmin_interval_secs = 1\n\
             jitter = 0.0\n[web]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n\
             [[feeds]]\nurl = \"{}\"\nname = \"Talks Wire\"\n[[feeds]]\nurl = \"{}\"\n\
             [[feeds]]\nurl = \"{}\"\n",
            feeds[0], feeds[1], feeds[2]
        ),
    );
    let daemon = Daemon::logged(
        Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args(["run", "--log-format", "json", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null()),
    );
    let base = format!("http://{}", daemon.web_addr());
    let wanted = ["ok", "failing", "dead"];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let statuses = feed_statuses(&base).await;
        if feeds
            .iter()
            .zip(wanted)
            .all(|(f, s)| statuses.get(f).map(String::as_str) == Some(s))
            && records(&dir.join("out.jsonl")).len() == 3
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{statuses:?}: {:?}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (daemon, base, server, feeds)
}

/// The status of each feed in `/api/feeds`, by URL.
async fn feed_statuses(base: &str) -> std::collections::BTreeMap<String, String> {
    let (_, _, body) = get(&format!("{base}/api/feeds")).await;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
    rows.iter()
        .map(|r| {
            (
                r["url"].as_str().unwrap_or_default().to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// `POST /api/feeds/revive` with `body` and, when given, the `Authorization` header.
async fn post_revive(base: &str, authorization: Option<&str>, body: &str) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/feeds/revive"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    #[allow(clippy::disallowed_methods)]
    let text = resp.text().await.unwrap();
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revive_needs_the_token_and_the_daemon_polls_the_feed_again() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, base, _server, feeds) = daemon_with_troubled_feeds(dir.path()).await;
    let (status, _, body) = get(&format!("{base}/api/feeds")).await;
    assert_eq!(status, 200);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["name"], "Talks Wire");
    assert_eq!(rows[0]["records"], 3);
    assert!(
        rows[1]["last_error"].as_str().unwrap().contains("500"),
        "{body}"
    );

    let dead = format!("{{\"url\": \"{}\"}}", feeds[2]);
    let right = format!("Bearer {TOKEN}");
    assert_eq!(post_revive(&base, None, &dead).await.0, 401);
    assert_eq!(
        post_revive(&base, Some("Bearer not-the-token-at-all"), &dead)
            .await
            .0,
        403
    );
    assert_eq!(
        post_revive(&base, Some(&right[..right.len() - 1]), &dead)
            .await
            .0,
        403
    );
    let (status, body) = post_revive(
        &base,
        Some(&right),
        "{\"url\": \"https://nowhere.example/rss\"}",
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        get(&format!("{base}/api/feeds/revive")).await.0,
        405,
        "a GET changes nothing"
    );
    assert_eq!(feed_statuses(&base).await[&feeds[2]], "dead", "still dead");

    let (status, body) = post_revive(&base, Some(&right), &dead).await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["revived"], true, "{body}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !records(&dir.path().join("out.jsonl"))
        .iter()
        .any(|r| r["url"].as_str().is_some_and(|u| u.ends_with("/p/back")))
    {
        assert!(
            Instant::now() < deadline,
            "the revived feed was not polled: {:?}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(feed_statuses(&base).await[&feeds[2]], "ok");
    let (status, body) = post_revive(&base, Some(&right), &dead).await;
    assert_eq!(
        (status, body.contains("\"revived\":false")),
        (200, true),
        "{body}"
    );
}

/// The rows of the feeds table as the browser shows them: the text, the
/// status badge, and whether a revive button is there and visible.
async fn feed_table(browser: &mut Browser) -> Vec<serde_json::Value> {
    let rows = browser
        .eval(
            "Array.from(document.querySelectorAll('#feeds tbody tr'), r => ({ \
               text: r.textContent, \
               hidden: r.hidden, \
               status: r.querySelector('.status').textContent, \
               revive: r.querySelector('button.revive')?.checkVisibility() ?? false }))",
        )
        .await;
    rows.as_array().unwrap().clone()
}

/// The row of `feed` in [`feed_table`]'s rows.
fn row<'r>(rows: &'r [serde_json::Value], feed: &str) -> &'r serde_json::Value {
    rows.iter()
        .find(|r| r["text"].as_str().unwrap().contains(feed))
        .unwrap_or_else(|| panic!("a row for {feed}: {rows:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_the_feeds_page_shows_each_feeds_status() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, base, _server, feeds) = daemon_with_troubled_feeds(dir.path()).await;
    let mut browser = Browser::start().await;
    assert_eq!(browser.open(&format!("{base}/feeds")).await, 200);
    assert_eq!(browser.eval("document.title").await, "Feeds · tidings");
    let rows = feed_table(&mut browser).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (feed, status) in feeds.iter().zip(["ok", "failing", "dead"]) {
        let row = row(&rows, feed);
        assert_eq!(row["status"], status, "{feed}: {row}");
        assert_eq!(row["revive"], status == "dead", "{feed}: {row}");
    }
    assert_eq!(
        browser
            .eval("document.querySelector('input#token').type")
            .await,
        "password",
        "the token field for revive"
    );

    // The filter box keeps the rows that match what is typed.
    browser.type_into("#filter", "failing").await;
    let shown: Vec<String> = feed_table(&mut browser)
        .await
        .iter()
        .filter(|r| r["hidden"] == false)
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shown, ["failing"]);
    assert_eq!(browser.problems().await, Vec::<String>::new());
}

/// On the feeds page, types `token` into the token field (nothing when
/// empty), clicks the revive button of `feed` and returns what the page
/// then says beside it.
async fn revive_in_the_browser(
    browser: &mut Browser,
    base: &str,
    feed: &str,
    token: &str,
) -> String {
    assert_eq!(browser.open(&format!("{base}/feeds")).await, 200);
    if !token.is_empty() {
        browser.type_into("#token", token).await;
    }
    let button = format!(
        "button.revive[data-url={}]",
        serde_json::to_string(feed).unwrap()
    );
    browser.click(&button).await;
    let said = browser
        .wait_for(&format!(
            "document.querySelector({}).parentNode.querySelector('.revive-status').textContent",
            serde_json::to_string(&button).unwrap()
        ))
        .await;
    said.as_str().unwrap().to_string()
}

/// Waits for the record of the feed that comes back (`/p/back`).
async fn wait_for_the_revived_feeds_record(dir: &std::path::Path, daemon: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !records(&dir.join("out.jsonl"))
        .iter()
        .any(|r| r["url"].as_str().is_some_and(|u| u.ends_with("/p/back")))
    {
        assert!(
            Instant::now() < deadline,
            "the revived feed was not polled: {:?}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_revive_with_the_token_brings_a_dead_feed_back() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, base, _server, feeds) = daemon_with_troubled_feeds(dir.path()).await;
    let dead = &feeds[2];
    let mut browser = Browser::start().await;

    let said = revive_in_the_browser(&mut browser, &base, dead, TOKEN).await;
    assert_eq!(said, "revived: polled again shortly");
    assert!(
        !row(&feed_table(&mut browser).await, dead)["revive"]
            .as_bool()
            .unwrap(),
        "nothing left to click"
    );
    assert_eq!(
        browser.eval("location.href").await,
        format!("{base}/feeds"),
        "the token is in no URL"
    );
    wait_for_the_revived_feeds_record(dir.path(), &daemon).await;
    assert_eq!(feed_statuses(&base).await[dead], "ok");

    browser.open(&format!("{base}/feeds")).await;
    let row = row(&feed_table(&mut browser).await, dead).clone();
    assert_eq!(
        (&row["status"], &row["revive"]),
        (&"ok".into(), &false.into()),
        "{row}"
    );
    assert_eq!(browser.problems().await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_revive_is_refused_without_the_right_token() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, base, _server, feeds) = daemon_with_troubled_feeds(dir.path()).await;
    let dead = &feeds[2];
    let mut browser = Browser::start().await;
    for (token, refusal) in [
        ("", "refused (401): type the token first"),
        ("not-the-token-at-all", "refused (403): wrong token"),
        (&TOKEN[1..], "refused (403): wrong token"),
    ] {
        let said = revive_in_the_browser(&mut browser, &base, dead, token).await;
        assert_eq!(said, refusal, "token {token:?}");
        assert_eq!(
            feed_statuses(&base).await[dead],
            "dead",
            "still dead after token {token:?}"
        );
        assert!(
            row(&feed_table(&mut browser).await, dead)["revive"]
                .as_bool()
                .unwrap(),
            "the button stays, to try again"
        );
        // The browser reports the refused request itself, and nothing else.
        let problems = browser.problems().await;
        assert!(
            problems.len() == 1 && problems[0].contains("/api/feeds/revive"),
            "{problems:?}"
        );
    }
}

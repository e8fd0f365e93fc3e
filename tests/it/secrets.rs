//! Secrets in URLs stay where they are needed (the requests themselves) and
//! nowhere else: not in logs, errors, `check`, records, the state store,
//! fixture folders or metrics.
//!
//! One test plants a distinct secret in every kind of URL tidings takes (a
//! feed URL with a password and an API key, a page link with a token, a
//! PostgreSQL URL with a password in both places, a NATS URL with a token,
//! invalid URLs with passwords), runs every verb that shows or stores a URL,
//! and looks for each secret in every byte those verbs left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{article_page, records};

const FEED_PASSWORD: &str = "pa55word";
/// `reader:pa55word` as an `Authorization: Basic` header carries it.
const FEED_BASIC: &str = "cmVhZGVyOnBhNTV3b3Jk";
const FEED_KEY: &str = "K3YSECRET";
const PAGE_TOKEN: &str = "T0KENSECRET";
const PG_PASSWORD: &str = "PGSECRET";
const PG_QUERY_PASSWORD: &str = "PGQUERYSECRET";
const NATS_TOKEN: &str = "NATSTOKEN";
const BAD_PG_PASSWORD: &str = "INVALIDPGPASS";
const BAD_NATS_TOKEN: &str = "INVALIDNATSTOK";
const BAD_FEED_PASSWORD: &str = "BADFEEDSECRET";
const FILE_LINK_TOKEN: &str = "F1LEACCESS";
const FILE_LINK_PASSWORD: &str = "F1LEPA55";

const SECRETS: &[&str] = &[
    FEED_PASSWORD,
    FEED_BASIC,
    FEED_KEY,
    PAGE_TOKEN,
    PG_PASSWORD,
    PG_QUERY_PASSWORD,
    NATS_TOKEN,
    BAD_PG_PASSWORD,
    BAD_NATS_TOKEN,
    BAD_FEED_PASSWORD,
    FILE_LINK_TOKEN,
    FILE_LINK_PASSWORD,
];

/// Everything one verb left behind, by name.
#[derive(Default)]
struct Outputs(Vec<(String, Vec<u8>)>);

impl Outputs {
    fn add(&mut self, name: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.0.push((name.into(), bytes.into()));
    }

    fn process(&mut self, verb: &str, out: &Output) {
        self.add(format!("{verb}: stdout"), out.stdout.clone());
        self.add(format!("{verb}: stderr"), out.stderr.clone());
    }

    /// Every file under `dir` but those in `planted` (the inputs that hold
    /// the secrets on purpose).
    fn files(&mut self, dir: &Path, planted: &[PathBuf]) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if planted.contains(&path) {
                continue;
            }
            if path.is_dir() {
                self.files(&path, planted);
            } else {
                self.add(path.display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }

    /// `secret in place` for every secret found anywhere.
    fn leaks(&self) -> Vec<String> {
        let mut found = Vec::new();
        for (name, bytes) in &self.0 {
            for secret in SECRETS {
                let at = bytes
                    .windows(secret.len())
                    .position(|w| w.eq_ignore_ascii_case(secret.as_bytes()));
                if let Some(at) = at {
                    // A little of what surrounds it, to tell where it came from.
                    let around = &bytes[at.saturating_sub(120)..(at + 80).min(bytes.len())];
                    found.push(format!("{secret} in {name}: …{}…", text(around)));
                }
            }
        }
        found
    }
}

fn env_url(var: &str) -> Option<url::Url> {
    let url = std::env::var(var).ok().filter(|v| !v.is_empty());
    if url.is_none() {
        println!("{var} not set: that sink is only checked, not written to");
    }
    url.map(|u| url::Url::parse(&u).unwrap())
}

/// `tidings ARGS` in `cwd` with debug logs of every crate, as JSON.
fn tidings(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidings"));
    cmd.current_dir(cwd)
        .args(args)
        .args(["--log-format", "json"])
        .env("RUST_LOG", "debug");
    cmd
}

/// The metrics listener's address, from a JSON log file being written.
fn listening_on(log: &Path) -> std::net::SocketAddr {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found = std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["fields"]["message"] == "metrics and /healthz listening")
            .and_then(|e| e["fields"]["addr"].as_str()?.parse().ok());
        if let Some(addr) = found {
            return addr;
        }
        assert!(std::time::Instant::now() < deadline, "no metrics listener");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("the tidings binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A config in `dir` named `name`: its own state folder and JSONL file,
/// plus `sinks` and `rest`.
fn config(dir: &Path, name: &str, sinks: &str, rest: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[state]\ndir = \"state-{name}\"\n[http]\nper_host_delay_ms = 0\ntimeout_secs = 5\n\
             [[sinks]]\nkind = \"jsonl\"\npath = \"{name}.jsonl\"\n{sinks}\n{rest}\n"
        ),
    )
    .unwrap();
    path
}

/// Drops what the test made in PostgreSQL and NATS, however it ends.
struct Cleanup {
    pg: Option<(String, String)>,
    nats: Option<(String, String)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (pg, nats) = (self.pg.take(), self.nats.take());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                if let Some((url, table)) = pg
                    && let Ok((client, conn)) =
                        tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP TABLE IF EXISTS {table} CASCADE"))
                        .await;
                }
                if let Some((url, stream)) = nats
                    && let Ok(client) = async_nats::connect(url).await
                {
                    let _ = async_nats::jetstream::new(client)
                        .delete_stream(&stream)
                        .await;
                }
            });
        })
        .join()
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_of_any_url_reaches_logs_errors_records_state_or_fixtures() {
    // The feed answers only when its credentials and key arrive, and the
    // page only with its token: the secrets are still used where needed.
    let server = MockServer::start().await;
    let page_link = format!("{}/news/talks?token={PAGE_TOKEN}", server.uri());
    let feed_body = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Private wire</title>\
         <item><title>Dispatch</title><link>{link}</link>\
         <guid isPermaLink=\"true\">{link}</guid></item></channel></rss>",
        link = page_link.replace('&', "&amp;"),
    );
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .and(query_param("api_key", FEED_KEY))
        .and(header("authorization", format!("Basic {FEED_BASIC}")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/rss+xml")
                .set_body_string(feed_body),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/news/talks"))
        .and(query_param("token", PAGE_TOKEN))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html; charset=utf-8")
                .set_body_string(article_page(7)),
        )
        .mount(&server)
        .await;
    let port = server.address().port();
    let feed_url =
        format!("http://reader:{FEED_PASSWORD}@127.0.0.1:{port}/feed.xml?api_key={FEED_KEY}");

    // The sinks: real servers when the environment names them.
    let unique = format!("secrets_{}", std::process::id());
    let pg = env_url("TIDINGS_TEST_POSTGRES_URL");
    let nats = env_url("TIDINGS_TEST_NATS_URL");
    let _cleanup = Cleanup {
        pg: pg.as_ref().map(|u| (u.to_string(), unique.clone())),
        nats: nats
            .as_ref()
            .map(|u| (u.to_string(), unique.to_uppercase())),
    };
    let mut pg_url =
        pg.unwrap_or_else(|| url::Url::parse("postgres://postgres@127.0.0.1:5432/test").unwrap());
    pg_url.set_password(Some(PG_PASSWORD)).unwrap();
    pg_url.set_query(Some(&format!("password={PG_QUERY_PASSWORD}")));
    let mut nats_url = nats
        .clone()
        .unwrap_or_else(|| url::Url::parse("nats://127.0.0.1:4222").unwrap());
    nats_url.set_username(NATS_TOKEN).unwrap();
    let network_sinks = format!(
        "[[sinks]]\nkind = \"postgres\"\nurl = \"{pg_url}\"\ntable = \"{unique}\"\n\
         [[sinks]]\nkind = \"nats\"\nurl = \"{nats_url}\"\nsubject = \"{unique}.records\"\n\
         stream = \"{}\"\n",
        unique.to_uppercase()
    );
    let writes_to_servers = std::env::var("TIDINGS_TEST_POSTGRES_URL").is_ok()
        && std::env::var("TIDINGS_TEST_NATS_URL").is_ok();
    let run_sinks = if writes_to_servers {
        network_sinks.as_str()
    } else {
        ""
    };
    let feeds = format!("[[feeds]]\nurl = \"{feed_url}\"\nname = \"Private wire\"\n");

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut planted = Vec::new();
    let mut outputs = Outputs::default();

    // check: a valid config with every secret, then invalid URLs with theirs.
    let valid = config(root, "valid", &network_sinks, &feeds);
    planted.push(valid.clone());
    let out = output(&mut tidings(
        root,
        &["check", "--config", valid.to_str().unwrap()],
    ));
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    outputs.process("check (valid)", &out);

    let invalid = config(
        root,
        "invalid",
        &format!(
            "[[sinks]]\nkind = \"postgres\"\nurl = \"postgres://admin:{BAD_PG_PASSWORD}@db host:5432/x\"\n\
             [[sinks]]\nkind = \"nats\"\nurl = \"{BAD_NATS_TOKEN}@127.0.0.1:4222\"\nsubject = \"a.b\"\n"
        ),
        &format!("[[feeds]]\nurl = \"http://reader:{BAD_FEED_PASSWORD}@bad host/feed.xml\"\n"),
    );
    planted.push(invalid.clone());
    let out = output(&mut tidings(
        root,
        &["check", "--config", invalid.to_str().unwrap()],
    ));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let shown = text(&out.stdout);
    assert_eq!(shown.lines().count(), 3, "one problem per bad URL: {shown}");
    for redacted in [
        "postgres://admin:***@db host:5432/x",
        "***@127.0.0.1:4222",
        "http://reader:***@bad host/feed.xml",
    ] {
        assert!(
            shown.contains(redacted),
            "each bad URL shown redacted: {shown}"
        );
    }
    outputs.process("check (invalid)", &out);
    let out = output(&mut tidings(
        root,
        &["run", "--once", "--config", invalid.to_str().unwrap()],
    ));
    assert!(!out.status.success());
    outputs.process("run (invalid)", &out);

    // run --once: the feed, its page, every sink.
    let run = config(root, "run", run_sinks, &feeds);
    planted.push(run.clone());
    let out = output(&mut tidings(
        root,
        &["run", "--once", "--config", run.to_str().unwrap()],
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    outputs.process("run --once", &out);
    let written = records(&root.join("run.jsonl"));
    assert_eq!(
        written.len(),
        1,
        "the page was fetched with its token: {}",
        text(&out.stderr)
    );
    let record = &written[0];
    assert_eq!(record["source"]["name"], "Private wire");
    assert!(
        record["url"]
            .as_str()
            .unwrap()
            .contains("/news/talks?token="),
        "the URL stays recognisable: {record}"
    );
    let feed_shown = format!("http://reader:***@127.0.0.1:{port}/feed.xml?api_key=***");
    assert_eq!(record["source"]["location"], feed_shown.as_str());
    assert!(
        text(&out.stderr).contains(&format!("\"feed\":\"{feed_shown}\"")),
        "the poll span names the feed, redacted"
    );

    // record, as a daemon with the metrics listener, then replay its fixture.
    let rec = config(
        root,
        "record",
        "",
        &format!("{feeds}[metrics]\nlisten = \"127.0.0.1:0\"\n"),
    );
    planted.push(rec.clone());
    let fixture = root.join("fixture");
    // Files, not pipes: nobody reads a pipe while the daemon runs, and debug
    // logs would fill one.
    let logs = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let mut daemon = crate::support::Daemon::spawn(
        tidings(
            root,
            &[
                "record",
                "--out",
                fixture.to_str().unwrap(),
                "--config",
                rec.to_str().unwrap(),
            ],
        )
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap()),
    );
    let metrics_addr = listening_on(&err_path);
    // Our own listener on loopback: its whole body is the answer under test.
    #[allow(clippy::disallowed_methods)]
    let scrape = || async move {
        let url = format!("http://{metrics_addr}/metrics");
        reqwest::get(&url).await.ok()?.text().await.ok()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let metrics = scrape().await.unwrap_or_default();
        if metrics.contains("tidings_records_written_total") {
            break metrics;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no record written: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    outputs.add("record: /metrics", metrics);
    let term = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = daemon.0.wait().unwrap();
    let err = std::fs::read(&err_path).unwrap();
    assert!(status.success(), "exit 0 after SIGTERM: {}", text(&err));
    outputs.add("record: stdout", std::fs::read(&out_path).unwrap());
    outputs.add("record: stderr", err);

    let replay = config(root, "replay", "", "");
    planted.push(replay.clone());
    let out = output(&mut tidings(
        root,
        &[
            "replay",
            fixture.to_str().unwrap(),
            "--config",
            replay.to_str().unwrap(),
        ],
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    outputs.process("replay", &out);
    let replayed = records(&root.join("replay.jsonl"));
    assert_eq!(
        replayed.len(),
        1,
        "replay finds the recorded feed and page: {}",
        text(&out.stderr)
    );
    assert_eq!(
        replayed[0]["id"], record["id"],
        "the same record id as the live run"
    );

    // backfill of a feed file whose item links carry secrets.
    let feed_file = root.join("input.rss");
    std::fs::write(
        &feed_file,
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Saved wire</title>\
             <item><title>Saved dispatch</title>\
             <link>https://user:{FILE_LINK_PASSWORD}@wire.example/a/1?id=9&amp;access_token={FILE_LINK_TOKEN}</link>\
             <description><![CDATA[{}]]></description></item></channel></rss>",
            article_page(8)
        ),
    )
    .unwrap();
    planted.push(feed_file.clone());
    let back = config(root, "backfill", "", "");
    planted.push(back.clone());
    let out = output(&mut tidings(
        root,
        &[
            "backfill",
            "--config",
            back.to_str().unwrap(),
            feed_file.to_str().unwrap(),
        ],
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    outputs.process("backfill", &out);
    assert_eq!(
        records(&root.join("backfill.jsonl")).len(),
        1,
        "{}",
        text(&out.stderr)
    );

    // extract, told the page's URL on the command line.
    let page = root.join("page.html");
    std::fs::write(&page, article_page(9)).unwrap();
    let out = output(&mut tidings(
        root,
        &["extract", "--url", &page_link, page.to_str().unwrap()],
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    outputs.process("extract", &out);

    // Every byte left behind: records, state stores (and their WAL), the
    // fixture folder.
    outputs.files(root, &planted);
    let leaks = outputs.leaks();
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}

/// A NATS server of our own that requires `auth` (`--auth TOKEN` or
/// `--user U --pass P`), on a free port; killed when dropped.
struct AuthNats {
    child: std::process::Child,
    port: u16,
    _store: tempfile::TempDir,
}

impl AuthNats {
    fn start(auth: &[&str]) -> Option<AuthNats> {
        let bin = Path::new("/usr/sbin/nats-server");
        if !bin.exists() {
            println!("skipped: no {}", bin.display());
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = tempfile::tempdir().unwrap();
        let child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path())
            .args(auth)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Some(AuthNats {
            child,
            port,
            _store: store,
        })
    }
}

impl Drop for AuthNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn nats_credentials_in_the_url_log_in_to_a_server_that_requires_them() {
    for (auth, userinfo) in [
        (&["--auth", "S3CRETTOKEN"][..], "S3CRETTOKEN@"),
        (&["--user", "bus", "--pass", "p@ss"][..], "bus:p%40ss@"),
    ] {
        let Some(server) = AuthNats::start(auth) else {
            return;
        };
        let url = format!("nats://{userinfo}127.0.0.1:{}", server.port);
        // Without the credentials the client would retry for ever: the
        // guard turns that into a failure.
        let opened = tokio::time::timeout(
            Duration::from_secs(60),
            tidings::sink::NatsSink::open(
                &tidings::sink::NatsConfig::new(&url, "secrets.auth", None),
                None,
            ),
        )
        .await;
        let sink = opened
            .unwrap_or_else(|_| panic!("{auth:?}: no login within 60 s"))
            .unwrap_or_else(|e| panic!("{auth:?}: {e}"));
        assert!(
            sink.name().starts_with("nats:nats://")
                && !sink.name().contains("S3CRET")
                && !sink.name().contains("p@ss")
                && !sink.name().contains("p%40ss"),
            "{}",
            sink.name()
        );
    }
}

//! Cluster mode against the real NATS and PostgreSQL: three processes, a
//! dozen hosts (127.0.1.x), pages listed by feeds of other hosts, wire
//! stories syndicated across outlets, one process killed mid-run and
//! another restarted.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::servers::{self, js, pg};
use crate::support::{self, Daemon};

const HOSTS: usize = 12;
const ITEMS: usize = 8;
/// Wire stories, each published by three outlets.
const WIRE: usize = 6;
const PAGE_DELAY: Duration = Duration::from_millis(150);

/// When each request to a host was served, and for which process (the
/// node name each process puts in its User-Agent).
#[derive(Clone, Default)]
struct Visits(Arc<Mutex<Vec<Visit>>>);

#[derive(Clone, Debug)]
struct Visit {
    host: usize,
    node: String,
    path: String,
    start: Instant,
    end: Instant,
}

struct Page {
    host: usize,
    body: String,
    visits: Visits,
}

impl Respond for Page {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let node = request
            .headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.rsplit(' ').next())
            .unwrap_or("?")
            .to_string();
        let start = Instant::now();
        self.visits.0.lock().unwrap().push(Visit {
            host: self.host,
            node,
            path: request.url.path().to_string(),
            start,
            end: start + PAGE_DELAY,
        });
        let kind = if request.url.path().ends_with(".rss") {
            "application/rss+xml"
        } else {
            "text/html"
        };
        ResponseTemplate::new(200)
            .insert_header("content-type", kind)
            .set_body_string(self.body.clone())
            .set_delay(PAGE_DELAY)
    }
}

/// A wire story as outlet `outlet` runs it: the same agency report with the
/// outlet's own headline and closing paragraph.
fn wire_page(story: usize, outlet: usize) -> String {
    let closing = format!(
        "<p>Outlet {outlet} adds from its own desk that officials in district {outlet} expect \
         more news after the holiday, and that its correspondent will report again.</p>"
    );
    support::page(
        &format!("Outlet {outlet}: wire story {story}"),
        &(support::report(HOSTS * ITEMS + story) + &closing),
    )
}

struct Fixture {
    servers: Vec<MockServer>,
    visits: Visits,
    /// Every page URL a feed lists, with the wire story it carries.
    pages: BTreeMap<String, Option<usize>>,
}

async fn fixture() -> Fixture {
    let visits = Visits::default();
    let mut servers = Vec::new();
    for h in 0..HOSTS {
        let listener = std::net::TcpListener::bind(format!("127.0.1.{}:0", h + 1))
            .expect("all of 127.0.0.0/8 is loopback");
        servers.push(MockServer::builder().listener(listener).start().await);
    }
    let mut pages = BTreeMap::new();
    for h in 0..HOSTS {
        let mut items = String::new();
        for j in 0..ITEMS {
            // Every fourth item links a page of the next host: fetched by
            // whichever process leases that host, not by the feed's poller.
            let on = if j % 4 == 3 { (h + 1) % HOSTS } else { h };
            let url = format!("{}/p/{h}-{j}", servers[on].uri());
            items.push_str(&format!(
                "<item><title>Item {h}-{j}</title><link>{url}</link><guid>{h}-{j}</guid></item>"
            ));
            let n = h * ITEMS + j;
            Mock::given(path(format!("/p/{h}-{j}")))
                .respond_with(Page {
                    host: on,
                    body: support::page(&format!("Report {n}"), &support::report(n)),
                    visits: visits.clone(),
                })
                .mount(&servers[on])
                .await;
            pages.insert(url, None);
        }
        // The wire stories, each on three outlets.
        for story in 0..WIRE {
            let outlets = [story % HOSTS, (story + 4) % HOSTS, (story + 8) % HOSTS];
            if !outlets.contains(&h) {
                continue;
            }
            let url = format!("{}/wire/{story}", servers[h].uri());
            items.push_str(&format!(
                "<item><title>Wire {story}</title><link>{url}</link><guid>wire-{story}-{h}</guid></item>"
            ));
            Mock::given(path(format!("/wire/{story}")))
                .respond_with(Page {
                    host: h,
                    body: wire_page(story, h),
                    visits: visits.clone(),
                })
                .mount(&servers[h])
                .await;
            pages.insert(url, Some(story));
        }
        Mock::given(path("/feed.rss"))
            .respond_with(Page {
                host: h,
                body: format!(
                    "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Outlet {h}</title>\
                     {items}</channel></rss>"
                ),
                visits: visits.clone(),
            })
            .mount(&servers[h])
            .await;
    }
    Fixture {
        servers,
        visits,
        pages,
    }
}

fn config(dir: &std::path::Path, fixture: &Fixture, names: &Names) -> std::path::PathBuf {
    let feeds: String = fixture
        .servers
        .iter()
        .map(|s| format!("[[feeds]]\nurl = \"{}/feed.rss\"\n", s.uri()))
        .collect();
    let path = dir.join("tidings.toml");
    std::fs::write(
        &path,
        format!(
            "[state]\ndir = \"state\"\nurl = \"{pg}\"\nschema = \"{schema}\"\n\n\
             [cluster]\nnats = \"{nats}\"\nname = \"{name}\"\nnode = \"${{NODE}}\"\n\
             partitions = 16\nlease_secs = 4\nack_wait_secs = 4\n\n\
             [http]\ntimeout_secs = 2\nprivate_networks = \"allow\"\n\
             user_agent = \"tidings-test ${{NODE}}\"\nper_host_delay_ms = 0\n\n\
             [poll]\ninterval_secs = 2\nmin_interval_secs = 1\njitter = 0.0\n\n\
             [pipeline]\nbatch_timeout_ms = 100\nshutdown_grace_secs = 5\n\n\
             [dedup]\nrecheck_minutes = 0\n\n\
             [[sinks]]\nkind = \"postgres\"\nurl = \"{pg}\"\ntable = \"{table}\"\n\n\
             [[sinks]]\nkind = \"nats\"\nurl = \"{nats}\"\nsubject = \"{subject}\"\n\n{feeds}",
            pg = names.pg,
            nats = names.nats,
            schema = names.schema,
            name = names.cluster,
            table = names.table,
            subject = names.subject,
        ),
    )
    .unwrap();
    path
}

struct Names {
    pg: String,
    nats: String,
    schema: String,
    cluster: String,
    table: String,
    subject: String,
}

impl Names {
    /// Names no other test uses, with everything made under them dropped
    /// when the test ends.
    fn fresh(cluster: &str) -> (Names, Vec<servers::Cleanup>) {
        let names = Names {
            pg: servers::postgres_url(),
            nats: servers::nats_url(),
            schema: servers::unique("cluster_state"),
            cluster: servers::unique(cluster),
            table: servers::unique("cluster_records"),
            subject: servers::unique("cluster.records").replace('_', "."),
        };
        let cleanup = vec![
            pg::drop_schema(&names.pg, &names.schema),
            pg::cleanup(&names.pg, &names.table),
            js::cleanup(&names.nats, None, &names.subject),
            js::cleanup(&names.nats, Some(&names.stream("PAGES")), ""),
            js::cleanup(&names.nats, Some(&names.stream("HANDOFF")), ""),
        ];
        (names, cleanup)
    }

    /// The name of one of the cluster's streams (see `src/cluster/bus.rs`).
    fn stream(&self, kind: &str) -> String {
        format!("{}_{kind}", self.cluster.to_ascii_uppercase())
    }
}

fn start(cfg: &std::path::Path, node: &str) -> Daemon {
    Daemon::logged(
        Command::new(env!("CARGO_BIN_EXE_tidings"))
            .args(["--log-format", "json", "run", "--config"])
            .arg(cfg)
            .env("NODE", node)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null()),
    )
}

/// The warnings and errors a process logged.
fn problems(daemon: &Daemon) -> Vec<String> {
    daemon
        .log()
        .into_iter()
        .filter(|l| l.contains("\"WARN\"") || l.contains("\"ERROR\""))
        .collect()
}

fn is_writer(daemon: &Daemon) -> bool {
    daemon
        .log()
        .iter()
        .any(|l| l.contains("this process is the cluster's writer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_three_processes_a_kill_and_a_restart_write_every_record_once_and_flag_every_copy()
{
    let (names, _cleanup) = Names::fresh("tc");

    let fixture = fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &fixture, &names);
    let check = support::tidings_with(
        dir.path(),
        &["check", "--config", cfg.to_str().unwrap()],
        &[("NODE", std::path::Path::new("check"))],
    );
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        support::stderr(&check)
    );

    let mut nodes: Vec<(String, Daemon)> = ["a", "b", "c"]
        .iter()
        .map(|n| (n.to_string(), start(&cfg, n)))
        .collect();
    let db = pg::client(&names.pg).await;
    let count = || async {
        db.query_one(&format!("SELECT COUNT(*) FROM {}", names.table), &[])
            .await
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(0)
    };
    let expected = fixture.pages.len() as i64;
    // Kill the writer once a fifth of the records are in: the hardest place
    // to die, with batches in flight to both sinks.
    let deadline = Instant::now() + servers::PATIENCE;
    while count().await < expected / 5 {
        assert!(Instant::now() < deadline, "the cluster wrote nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let writer = nodes
        .iter()
        .position(|(_, d)| is_writer(d))
        .expect("one process is the writer");
    let (killed, mut daemon) = nodes.remove(writer);
    daemon.kill();
    let killed_at = Instant::now();

    // Then a rolling restart of another: SIGTERM, drained, started again.
    while count().await < expected * 3 / 5 {
        assert!(
            Instant::now() < deadline,
            "the cluster stalled after the kill"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (restarted, mut daemon) = nodes.remove(0);
    assert_eq!(unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) }, 0);
    let stopped = daemon.0.wait().unwrap();
    assert!(
        stopped.success(),
        "drained and stopped: {stopped:?} {:?}",
        problems(&daemon)
    );
    nodes.push((restarted.clone(), start(&cfg, &restarted)));

    while count().await < expected {
        if Instant::now() > deadline {
            let urls: BTreeSet<String> = db
                .query(&format!("SELECT url FROM {}", names.table), &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            let missing: Vec<&String> = fixture
                .pages
                .keys()
                .filter(|u| !urls.contains(*u))
                .collect();
            panic!(
                "{} of {expected} records after killing {killed}; missing {missing:?}; warnings: {:#?}",
                urls.len(),
                nodes
                    .iter()
                    .map(|(n, d)| (n, problems(d)))
                    .collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for anything still on its way to show up twice.
    tokio::time::sleep(Duration::from_secs(6)).await;
    // Every piece of work was acknowledged: the work queues are empty.
    let js = js::context(&names.nats).await;
    for name in [names.stream("PAGES"), names.stream("HANDOFF")] {
        let mut stream = js.get_stream(&name).await.unwrap();
        let left = stream.info().await.unwrap().state.messages;
        assert_eq!(left, 0, "{name} still holds {left} messages");
    }

    let (ids, rows) = pg::stored(&db, &names.table).await;
    assert_eq!(rows, expected, "every record once in PostgreSQL");
    let stream = js.stream_by_subject(names.subject.clone()).await.unwrap();
    let (in_stream, messages) = js::stored(&js, &stream).await;
    assert_eq!(messages as i64, expected, "every record once in JetStream");
    assert_eq!(in_stream, ids, "the same records in both sinks");

    // Every copy of a wire story names the one original.
    let rows = db
        .query(
            &format!("SELECT url, duplicate_of FROM {}", names.table),
            &[],
        )
        .await
        .unwrap();
    let url_of: BTreeMap<String, Option<String>> = rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, Option<String>>(1)))
        .collect();
    for story in 0..WIRE {
        let copies: Vec<(&String, &Option<String>)> = fixture
            .pages
            .iter()
            .filter(|(_, s)| **s == Some(story))
            .map(|(url, _)| (url, &url_of[url]))
            .collect();
        let originals = copies.iter().filter(|(_, d)| d.is_none()).count();
        assert_eq!(originals, 1, "story {story}: {copies:?}");
        let flagged: BTreeSet<_> = copies.iter().filter_map(|(_, d)| d.as_ref()).collect();
        assert_eq!(
            flagged.len(),
            1,
            "story {story}: both copies name one original: {copies:?}"
        );
    }
    for (url, dup) in &url_of {
        if fixture.pages.get(url) == Some(&None) {
            assert!(dup.is_none(), "{url} is no copy, flagged as one of {dup:?}");
        }
    }

    // Politeness: no host served two processes at once.
    let visits = fixture.visits.0.lock().unwrap().clone();
    for host in 0..HOSTS {
        let mine: Vec<&Visit> = visits.iter().filter(|v| v.host == host).collect();
        for a in &mine {
            for b in &mine {
                if a.node < b.node && a.start < b.end && b.start < a.end {
                    panic!("host {host}: {a:?} and {b:?} at once");
                }
            }
        }
    }
    // Each page fetched once, but for those the killed process had taken.
    let mut fetches: BTreeMap<(usize, &str), Vec<&str>> = BTreeMap::new();
    for v in visits.iter().filter(|v| !v.path.ends_with(".rss")) {
        fetches.entry((v.host, &v.path)).or_default().push(&v.node);
    }
    for (page, by) in &fetches {
        let again = by.len() > 1;
        assert!(
            !again || (by.len() == 2 && by.contains(&killed.as_str())),
            "{page:?} fetched by {by:?}"
        );
    }
    let survivors: BTreeSet<&str> = visits
        .iter()
        .filter(|v| v.start > killed_at + Duration::from_secs(1))
        .map(|v| v.node.as_str())
        .collect();
    assert!(
        !survivors.contains(killed.as_str()),
        "the killed process {killed} still fetched"
    );
    assert_eq!(
        survivors.len(),
        2,
        "both others fetch after the kill: {survivors:?}"
    );
    for (_, mut d) in nodes {
        d.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_a_later_version_of_a_page_goes_through_the_clusters_streams() {
    use crate::updates;
    let (names, _cleanup) = Names::fresh("tu");
    let server = MockServer::start().await;
    updates::serve(&server, updates::FIRST, support::article_page(0)).await;
    let fixture = Fixture {
        servers: vec![server],
        visits: Visits::default(),
        pages: BTreeMap::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &fixture, &names);
    let node = start(&cfg, "a");
    let db = pg::client(&names.pg).await;
    let version = || async {
        db.query_opt(&format!("SELECT version FROM {}", names.table), &[])
            .await
            .ok()
            .flatten()
            .map(|r| r.get::<_, i32>(0))
    };
    let deadline = Instant::now() + servers::PATIENCE;
    while version().await != Some(1) {
        assert!(
            Instant::now() < deadline,
            "no record: {:?}",
            problems(&node)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    updates::serve(&fixture.servers[0], updates::LATER, updates::developed()).await;
    while version().await != Some(2) {
        assert!(
            Instant::now() < deadline,
            "the later version never reached the sink: {:?}",
            problems(&node)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

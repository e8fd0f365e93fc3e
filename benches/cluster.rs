//! Does a cluster scale? `cargo bench --bench cluster`, against the real
//! PostgreSQL and NATS (`TIDINGS_TEST_POSTGRES_URL`, `TIDINGS_TEST_NATS_URL`,
//! by default the local ones).
//!
//! 1. CPU-bound pages: the pages of both extraction dev sets (see
//!    `support/corpus.rs`), each three times under URLs of their own (the
//!    copies fetched, extracted and tagged like any page, then dropped by the
//!    writer as copies), served by one fixture server per host on 127.0.1.x
//!    and listed by one feed per host. `tidings run` in cluster mode, one
//!    process pinned to core 0, then two processes pinned to cores 0 and 1,
//!    alternating, each with fresh state; records into a PostgreSQL table.
//!    The feeds list nothing until every process holds its leases, then
//!    list everything: the clock runs from then until every page has left
//!    the front half and the last record is in. Reports pages/s and the
//!    ratio two processes / one (target: 1.8).
//! 2. Polling: many feeds with nothing new, polled every second by one
//!    process pinned to one core; reports feed polls per second.
//!
//! PostgreSQL, NATS and the fixture servers run beside the pinned processes
//! on the same two cores: the ratio is a floor of what two machines give.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;

#[path = "support/corpus.rs"]
mod corpus;

const RUNS: usize = 3;
const HOSTS: usize = 16;
/// Each page is served this many times, under URLs of its own: more work
/// per run than the corpus once, so start-up weighs less in the figure.
const COPIES: usize = 3;
/// Feeds in the polling part, spread over the hosts.
const POLLED_FEEDS: usize = 2000;

/// What one fixture host serves: its feeds and pages, and how often it
/// was asked for a feed.
#[derive(Default)]
struct Host {
    files: Mutex<HashMap<String, (String, Vec<u8>)>>,
    feed_polls: AtomicU64,
}

#[derive(Clone)]
struct Served {
    host: Arc<Host>,
    /// Feeds list their items only once this is set.
    go: Arc<AtomicBool>,
}

async fn serve_file(
    State(served): State<Served>,
    UrlPath(path): UrlPath<String>,
) -> impl IntoResponse {
    let is_feed = path.ends_with(".rss");
    if is_feed {
        served.host.feed_polls.fetch_add(1, Ordering::Relaxed);
        if !served.go.load(Ordering::Relaxed) {
            let empty = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Waiting</title>\
                         </channel></rss>";
            return feed_response(empty.as_bytes().to_vec());
        }
    }
    let files = served.host.files.lock().unwrap();
    match files.get(&path) {
        Some((kind, body)) => {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, kind.parse().unwrap());
            (StatusCode::OK, headers, body.clone())
        }
        None => (StatusCode::NOT_FOUND, HeaderMap::new(), Vec::new()),
    }
}

fn feed_response(body: Vec<u8>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, "application/rss+xml".parse().unwrap());
    (StatusCode::OK, headers, body)
}

/// One server per host on 127.0.1.1.. ; their addresses.
async fn start_hosts(go: Arc<AtomicBool>) -> Vec<(SocketAddr, Arc<Host>)> {
    let mut out = Vec::new();
    for h in 0..HOSTS {
        let listener = tokio::net::TcpListener::bind(format!("127.0.1.{}:0", h + 1))
            .await
            .expect("all of 127.0.0.0/8 is loopback");
        let addr = listener.local_addr().unwrap();
        let host = Arc::new(Host::default());
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::get(serve_file))
            .with_state(Served {
                host: host.clone(),
                go: go.clone(),
            });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        out.push((addr, host));
    }
    out
}

/// Puts every page (and its copies) on a host and each host's feed
/// listing them; returns how many pages that is.
fn publish_corpus(hosts: &[(SocketAddr, Arc<Host>)], pages: &[(String, Vec<u8>)]) -> usize {
    let mut items: Vec<String> = vec![String::new(); hosts.len()];
    let mut n = 0;
    for (i, (name, bytes)) in pages.iter().enumerate() {
        for copy in 0..COPIES {
            let body = match copy {
                0 => bytes.clone(),
                // A page of its own (the original's canonical URL would give
                // it the original's record id).
                _ => String::from_utf8_lossy(bytes)
                    .replace("canonical", "republished")
                    .replace("og:url", "og:source")
                    .into_bytes(),
            };
            let h = (i * COPIES + copy) % hosts.len();
            let (addr, host) = &hosts[h];
            let path = match copy {
                0 => name.clone(),
                _ => format!("copy{copy}-{name}"),
            };
            host.files
                .lock()
                .unwrap()
                .insert(path.clone(), ("text/html".to_string(), body));
            items[h].push_str(&format!(
                "<item><title>{path}</title><link>http://{addr}/{path}</link><guid>{path}</guid></item>"
            ));
            n += 1;
        }
    }
    for ((_, host), items) in hosts.iter().zip(items) {
        let rss = format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Bench</title>{items}</channel></rss>"
        );
        host.files.lock().unwrap().insert(
            "feed.rss".to_string(),
            ("application/rss+xml".to_string(), rss.into_bytes()),
        );
    }
    n
}

fn server(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

struct Run {
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    table: String,
    schema: String,
    name: String,
}

/// A config for a fresh cluster: its own state schema, streams and table.
fn fresh(feeds: &[String], label: &str, poll_secs: u64) -> Run {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let id = format!("{label}_{}_{n}", std::process::id());
    let (pg, nats) = (
        server(
            "TIDINGS_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        ),
        server("TIDINGS_TEST_NATS_URL", "nats://127.0.0.1:4222"),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tidings.toml");
    let feeds: String = feeds
        .iter()
        .map(|f| format!("[[feeds]]\nurl = \"{f}\"\n"))
        .collect();
    let (table, schema, name) = (
        format!("bench_{id}"),
        format!("bench_state_{id}"),
        format!("bench-{id}"),
    );
    std::fs::write(
        &config,
        format!(
            "[state]\ndir = \"state\"\nurl = \"{pg}\"\nschema = \"{schema}\"\n\n\
             [cluster]\nnats = \"{nats}\"\nname = \"{name}\"\nnode = \"${{NODE}}\"\n\
             partitions = 16\nlease_secs = 30\n\n\
             [http]\ntimeout_secs = 10\nprivate_networks = \"allow\"\nper_host_delay_ms = 0\n\
             per_host_concurrency = 4\n\n\
             [poll]\ninterval_secs = {poll_secs}\nmin_interval_secs = 1\njitter = 0.0\n\n\
             [pipeline]\nextract_workers = 1\ntag_workers = 1\nbatch_size = 256\n\n\
             [[sinks]]\nkind = \"postgres\"\nurl = \"{pg}\"\ntable = \"{table}\"\n\n{feeds}"
        ),
    )
    .unwrap();
    Run {
        dir,
        config,
        table,
        schema,
        name,
    }
}

/// Each process's log goes to `$TIDINGS_BENCH_LOGS/<node>.log` when that
/// is set (to see why a run is slow), else nowhere.
fn spawn(run: &Run, node: &str, cpu: &str) -> Child {
    let (log, level) = match std::env::var_os("TIDINGS_BENCH_LOGS") {
        Some(dir) => {
            let file = std::fs::File::create(Path::new(&dir).join(format!("{node}.log")))
                .expect("the log folder exists");
            (Stdio::from(file), "info")
        }
        None => (Stdio::null(), "error"),
    };
    Command::new("taskset")
        .args(["-c", cpu, env!("CARGO_BIN_EXE_tidings"), "run", "--config"])
        .arg(&run.config)
        .current_dir(run.dir.path())
        .env("NODE", node)
        .env("RUST_LOG", level)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("taskset and tidings start")
}

async fn pg() -> tokio_postgres::Client {
    let url = server(
        "TIDINGS_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL answers");
    tokio::spawn(conn);
    client
}

async fn count(db: &tokio_postgres::Client, table: &str) -> i64 {
    db.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or(0)
}

/// Every process's leases settled: as many partitions held as there are.
async fn settled(db: &tokio_postgres::Client, run: &Run, processes: i64) -> bool {
    let sql = format!(
        "SELECT COUNT(DISTINCT holder), COUNT(holder) FROM \"{}\".\"{}_leases\" WHERE until > now()",
        run.schema, run.name
    );
    match db.query_one(&sql, &[]).await {
        Ok(row) => row.get::<_, i64>(0) == processes && row.get::<_, i64>(1) == 16,
        Err(_) => false,
    }
}

async fn cleanup(db: &tokio_postgres::Client, run: &Run) {
    let _ = db
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {} CASCADE; DROP SCHEMA IF EXISTS \"{}\" CASCADE; \
             DELETE FROM tidings_schema WHERE table_name = '{}'",
            run.table, run.schema, run.table
        ))
        .await;
    let nats = server("TIDINGS_TEST_NATS_URL", "nats://127.0.0.1:4222");
    if let Ok(client) = async_nats::connect(nats).await {
        let js = async_nats::jetstream::new(client);
        let upper = run.name.to_ascii_uppercase().replace('-', "_");
        for stream in ["PAGES", "HANDOFF"] {
            let _ = js.delete_stream(format!("{upper}_{stream}")).await;
        }
    }
}

/// Pages per second through `cpus.len()` processes, one per listed core.
async fn pages_per_sec(feeds: &[String], go: &AtomicBool, pages: usize, cpus: &[&str]) -> Rate {
    go.store(false, Ordering::Relaxed);
    let db = pg().await;
    let run = fresh(feeds, "pages", 1);
    let mut children: Vec<Child> = cpus
        .iter()
        .enumerate()
        .map(|(i, cpu)| spawn(&run, &format!("n{i}"), cpu))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !settled(&db, &run, cpus.len() as i64).await {
        assert!(Instant::now() < deadline, "the leases never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    go.store(true, Ordering::Relaxed);
    let started = Instant::now();
    // Until every page has left the front half (its item final in the state
    // store) and no record came for two seconds since: exact copies and
    // pages without text make no record, pages sharing a canonical URL one.
    let items = format!(
        "SELECT COUNT(*) FROM \"{}\".items WHERE status IN ('handed', 'skipped')",
        run.schema
    );
    let (mut written, mut last) = (0, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = count(&db, &run.table).await;
        if now > written {
            (written, last) = (now, Instant::now());
        }
        let done: i64 = db
            .query_one(&items, &[])
            .await
            .map(|r| r.get(0))
            .unwrap_or(0);
        if done >= pages as i64 && last.elapsed() > Duration::from_secs(2) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "pages missing"
        );
    }
    let took = last - started;
    let cpu: f64 = children.iter().map(|c| cpu_secs(c.id())).sum();
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    cleanup(&db, &run).await;
    eprintln!(
        "{} process(es): {pages} pages, {written} records, in {took:.1?}, {cpu:.1} s of CPU",
        cpus.len()
    );
    Rate {
        pages_per_sec: pages as f64 / took.as_secs_f64(),
        pages_per_cpu_sec: pages as f64 / cpu,
    }
}

struct Rate {
    pages_per_sec: f64,
    /// Pages per second of CPU the tidings processes used (start-up and
    /// lease settling included): what a process does with a core it has
    /// to itself.
    pages_per_cpu_sec: f64,
}

/// User and system CPU seconds of a live process so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    // SAFETY: sysconf only reads a constant of the system.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / per_sec
}

/// Feed polls per second of one process on one core, over ten seconds.
async fn polls_per_sec(hosts: &[(SocketAddr, Arc<Host>)]) -> f64 {
    let feeds: Vec<String> = (0..POLLED_FEEDS)
        .map(|i| {
            let (addr, host) = &hosts[i % hosts.len()];
            let path = format!("idle-{i}.rss");
            let rss = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Idle</title>\
                       </channel></rss>";
            host.files.lock().unwrap().insert(
                path.clone(),
                ("application/rss+xml".to_string(), rss.as_bytes().to_vec()),
            );
            format!("http://{addr}/{path}")
        })
        .collect();
    let db = pg().await;
    let run = fresh(&feeds, "polls", 1);
    let mut child = spawn(&run, "n0", "0");
    let total = || -> u64 {
        hosts
            .iter()
            .map(|(_, h)| h.feed_polls.load(Ordering::Relaxed))
            .sum()
    };
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (before, started) = (total(), Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let polls = total() - before;
    let rate = polls as f64 / started.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    cleanup(&db, &run).await;
    rate
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[tokio::main]
async fn main() {
    let pages = corpus::pages();
    if pages.is_empty() {
        eprintln!("no dev pages found: skipping the cluster bench");
        return;
    }
    let go = Arc::new(AtomicBool::new(false));
    let hosts = start_hosts(go.clone()).await;
    let records = publish_corpus(&hosts, &pages);
    let feeds: Vec<String> = hosts
        .iter()
        .map(|(addr, _)| format!("http://{addr}/feed.rss"))
        .collect();
    let (mut one, mut two, mut one_cpu, mut two_cpu) = (vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        let rate = pages_per_sec(&feeds, &go, records, &["0"]).await;
        one.push(rate.pages_per_sec);
        one_cpu.push(rate.pages_per_cpu_sec);
        let rate = pages_per_sec(&feeds, &go, records, &["0", "1"]).await;
        two.push(rate.pages_per_sec);
        two_cpu.push(rate.pages_per_cpu_sec);
    }
    let (one, two) = (median(one), median(two));
    let (one_cpu, two_cpu) = (median(one_cpu), median(two_cpu));
    println!(
        "corpus: {records} pages ({} real, each {COPIES} times) on {HOSTS} hosts",
        pages.len()
    );
    println!("one process on one core: {one:.0} pages/s, {one_cpu:.0} pages per CPU second");
    println!(
        "two processes on a core each: {two:.0} pages/s = {:.2} x one (target >= 1.8); \
         {two_cpu:.0} pages per CPU second = {:.2} x one",
        two / one,
        two_cpu / one_cpu
    );
    go.store(true, Ordering::Relaxed);
    let polls = polls_per_sec(&hosts).await;
    println!(
        "polling {POLLED_FEEDS} idle feeds every second, one process on one core: {polls:.0} \
         feed polls/s"
    );
}

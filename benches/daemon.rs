//! `tidings run --once` over 1,000 feeds of 20 items each, served from a
//! fixture server on 127.0.0.1: time to drain, peak memory of the daemon, and
//! the requests of a second pass (conditional GETs only). The baseline, measured
//! in the same run, is fetching the same 21,000 URLs with a bare client.
//!
//! `cargo bench --bench daemon` (TIDINGS_BENCH_FEEDS overrides the feed count).

use std::time::{Duration, Instant};

use futures::StreamExt;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const ITEMS: usize = 20;
const CONCURRENCY: usize = 64;

fn page(feed: usize, item: usize) -> String {
    const WORDS: [&str; 24] = [
        "envoys",
        "corridor",
        "monitoring",
        "delegation",
        "harbour",
        "winter",
        "grid",
        "observers",
        "schedule",
        "annex",
        "border",
        "convoy",
        "ministry",
        "statement",
        "draft",
        "summit",
        "frontier",
        "agreement",
        "ceasefire",
        "capital",
        "talks",
        "mediator",
        "exchange",
        "deadline",
    ];
    let mut x = (feed * 1_000_003 + item * 7919 + 17) as u64;
    let mut words = Vec::with_capacity(400);
    for _ in 0..400 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        words.push(WORDS[(x % WORDS.len() as u64) as usize]);
    }
    let paragraphs: Vec<String> = words
        .chunks(50)
        .map(|c| format!("<p>{}.</p>", c.join(" ")))
        .collect();
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><title>Feed {feed} item {item}</title></head>\
         <body><nav><a href=\"/\">Home</a></nav><article><h1>Feed {feed} item {item}</h1>{}</article>\
         <footer>Bench Wire</footer></body></html>",
        paragraphs.join("")
    )
}

fn respond(base: &str, req: &Request) -> ResponseTemplate {
    let path = req.url.path();
    if let Some(f) = path
        .strip_prefix("/feed/")
        .and_then(|p| p.strip_suffix(".rss"))
    {
        let etag = format!("\"f{f}\"");
        let matches = req
            .headers
            .get("if-none-match")
            .is_some_and(|v| v.to_str().ok() == Some(etag.as_str()));
        if matches {
            return ResponseTemplate::new(304);
        }
        let items: String = (0..ITEMS)
            .map(|i| format!("<item><title>Feed {f} item {i}</title><link>{base}/page/{f}/{i}</link><guid>{f}-{i}</guid></item>"))
            .collect();
        return ResponseTemplate::new(200)
            .insert_header("etag", etag.as_str())
            .insert_header("content-type", "application/rss+xml")
            .set_body_string(format!(
                "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Feed {f}</title>{items}</channel></rss>"
            ));
    }
    let mut parts = path.trim_start_matches("/page/").split('/');
    let (Some(f), Some(i)) = (parts.next(), parts.next()) else {
        return ResponseTemplate::new(404);
    };
    match (f.parse(), i.parse()) {
        (Ok(f), Ok(i)) => ResponseTemplate::new(200)
            .insert_header("content-type", "text/html; charset=utf-8")
            .set_body_string(page(f, i)),
        _ => ResponseTemplate::new(404),
    }
}

/// Clears the recorded requests and serves the fixture feeds and pages.
fn remount(rt: &tokio::runtime::Runtime, server: &MockServer) {
    let base = server.uri();
    rt.block_on(async {
        server.reset().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(move |req: &Request| respond(&base, req))
            .mount(server)
            .await;
    });
}

/// Runs the daemon once; returns wall time and the child's peak RSS in KiB.
fn run_once(config: &std::path::Path) -> (Duration, i64) {
    let started = Instant::now();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["run", "--once", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "error")
        .status()
        .expect("the tidings binary runs");
    let elapsed = started.elapsed();
    assert!(status.success());
    // SAFETY: getrusage only writes into the struct we pass.
    let peak = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    };
    (elapsed, peak)
}

fn main() {
    let feeds: usize = std::env::var("TIDINGS_BENCH_FEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(MockServer::start());
    let base = server.uri();
    remount(&rt, &server);

    // Baseline: the same URLs with a bare client, no pipeline.
    let urls: Vec<String> = (0..feeds)
        .flat_map(|f| {
            let base = &base;
            std::iter::once(format!("{base}/feed/{f}.rss"))
                .chain((0..ITEMS).map(move |i| format!("{base}/page/{f}/{i}")))
        })
        .collect();
    let client = reqwest::Client::new();
    let started = Instant::now();
    rt.block_on(
        futures::stream::iter(urls.iter())
            .map(|u| {
                let client = &client;
                async move {
                    let mut resp = client.get(u).send().await.expect("fixture server answers");
                    while resp.chunk().await.expect("body").is_some() {}
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<()>>(),
    );
    let baseline = started.elapsed();
    remount(&rt, &server);

    let dir = tempfile::tempdir().unwrap();
    let mut config = format!(
        "[state]\ndir = \"state\"\n[pipeline]\nbatch_size = 256\n[http]\nconcurrency = {CONCURRENCY}\n\
         per_host_concurrency = {CONCURRENCY}\nper_host_delay_ms = 0\n[[sinks]]\nkind = \"jsonl\"\npath = \"out.jsonl\"\n"
    );
    for f in 0..feeds {
        config.push_str(&format!("[[feeds]]\nurl = \"{base}/feed/{f}.rss\"\n"));
    }
    let config_path = dir.path().join("bench.toml");
    std::fs::write(&config_path, config).unwrap();

    let (first, peak_kib) = run_once(&config_path);
    let written = std::fs::read_to_string(dir.path().join("out.jsonl"))
        .unwrap()
        .lines()
        .count();
    remount(&rt, &server);
    let (second, _) = run_once(&config_path);
    let requests = rt.block_on(server.received_requests()).unwrap_or_default();
    let conditional = requests
        .iter()
        .filter(|r| r.headers.contains_key("if-none-match"))
        .count();
    let pages = requests
        .iter()
        .filter(|r| r.url.path().starts_with("/page/"))
        .count();

    println!(
        "daemon bench: {feeds} feeds x {ITEMS} items ({} URLs)",
        urls.len()
    );
    println!(
        "  baseline (bare client, same URLs): {:.2}s",
        baseline.as_secs_f64()
    );
    println!(
        "  run --once, first pass:  {:.2}s = {:.2}x baseline, {written} records, peak RSS {:.1} MiB",
        first.as_secs_f64(),
        first.as_secs_f64() / baseline.as_secs_f64(),
        peak_kib as f64 / 1024.0
    );
    println!(
        "  run --once, second pass: {:.2}s, {} requests ({conditional} conditional, {pages} page fetches)",
        second.as_secs_f64(),
        requests.len()
    );
}

//! Do the CPU stages use the cores? `cargo bench --bench scaling`.
//!
//! The corpus is the real pages of both extraction dev sets
//! (`TIDINGS_EXTRACTION_DEV`, `TIDINGS_EXTRACTION_WCXB`; by default
//! `../shared/data/extraction-dev` and `../shared/data/extraction-wcxb-dev`
//! beside the crate), each twice (the second copy with a line of its own, so
//! it is a near copy that still goes all the way to the sink). The bench
//! measures, in one run:
//! - the baseline: extraction alone, on one thread, in this process;
//! - `tidings backfill` of the corpus into JSONL, pinned with `taskset` to one
//!   core, then to two, alternating, fresh state each time.
//!
//! It reports pages/s, the ratio two cores / one core (target: 1.8 or more),
//! and the end-to-end rate on N cores against N x the single-core extraction
//! rate (target: 0.8 or more).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tidings::extract::{Options, extract};

#[path = "support/corpus.rs"]
mod corpus;
use corpus::pages;

const RUNS: usize = 3;

/// Pages per second of extraction alone on this thread: the work a core can
/// do at best.
fn extraction_rate(pages: &[(String, Vec<u8>)]) -> f64 {
    let opts = Options::default();
    let started = Instant::now();
    for (_, bytes) in pages {
        let _ = std::hint::black_box(extract(bytes, None, None, &opts));
    }
    pages.len() as f64 / started.elapsed().as_secs_f64()
}

/// The corpus as files: every page, and a near copy of it.
fn write_corpus(pages: &[(String, Vec<u8>)], to: &Path) -> usize {
    std::fs::create_dir_all(to).unwrap();
    for (name, bytes) in pages {
        std::fs::write(to.join(name), bytes).unwrap();
        let mut copy = bytes.clone();
        copy.extend_from_slice(b"\n<p>Republished by the scaling bench.</p>\n");
        std::fs::write(to.join(format!("copy-{name}")), copy).unwrap();
    }
    pages.len() * 2
}

/// Wall time of one backfill of `corpus` pinned to `cpus`, fresh state.
fn backfill(cpus: &str, corpus: &Path) -> Duration {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("tidings.toml");
    std::fs::write(
        &config,
        "[state]\ndir = \"state\"\n[[sinks]]\nkind = \"jsonl\"\npath = \"out.jsonl\"\n",
    )
    .unwrap();
    let started = Instant::now();
    let out = Command::new("taskset")
        .args([
            "-c",
            cpus,
            env!("CARGO_BIN_EXE_tidings"),
            "backfill",
            "--config",
        ])
        .arg(&config)
        .arg(corpus)
        .output()
        .expect("taskset and tidings run");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let pages = pages();
    if pages.is_empty() {
        eprintln!("no dev pages found: skipping the scaling bench");
        return;
    }
    let corpus_dir = tempfile::tempdir().unwrap();
    let n = write_corpus(&pages, corpus_dir.path());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    let (mut one, mut two, mut rate) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        rate.push(extraction_rate(&pages));
        one.push(n as f64 / backfill("0", corpus_dir.path()).as_secs_f64());
        if cores > 1 {
            two.push(n as f64 / backfill("0,1", corpus_dir.path()).as_secs_f64());
        }
    }
    let (rate, one) = (median(rate), median(one));
    println!("corpus: {n} pages ({} real, each twice)", pages.len());
    println!("extraction alone, one thread: {rate:.0} pages/s");
    println!(
        "backfill on 1 core: {one:.0} pages/s = {:.2} x extraction alone",
        one / rate
    );
    if cores > 1 {
        let two = median(two);
        println!(
            "backfill on 2 cores: {two:.0} pages/s = {:.2} x one core (target >= 1.8), \
             {:.2} x 2 x extraction alone (target >= 0.8)",
            two / one,
            two / (2.0 * rate)
        );
    }
}

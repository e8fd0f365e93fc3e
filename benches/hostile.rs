//! Extraction of generated hostile pages (`tests/it/hostile.rs`), in ms per
//! MB, next to the median real page: `cargo bench --bench hostile`.
//!
//! Every hostile kind at 1 MiB and at 8 MiB (the default size cap) goes
//! through criterion, and the two pages of the issue: 100 000 `<div/>` and
//! 100 000 `<div></b>`. Then a table of ms/MB for each (best of a few direct
//! runs, which a busy machine disturbs least) and the line "worst hostile X
//! ms/MB vs median real page Y ms/MB (ratio R)". The real pages come from
//! `TIDINGS_EXTRACTION_DEV` (default `../shared/data/extraction-dev` beside
//! the crate); without them the comparison is left out.

#[path = "../tests/it/hostile.rs"]
mod hostile;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tidings::extract::{Options, extract};

const SIZES: [usize; 2] = [1 << 20, 8 << 20];

/// Direct runs per page for the table.
const RUNS: usize = 5;

/// The dev pages, if they are there.
fn real_pages() -> Option<Vec<Vec<u8>>> {
    let dir = std::env::var_os("TIDINGS_EXTRACTION_DEV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/extraction-dev")
        });
    let entries = std::fs::read_dir(&dir)
        .inspect_err(|e| {
            eprintln!(
                "cannot read {}: {e}: no comparison with real pages",
                dir.display()
            )
        })
        .ok()?;
    let pages: Vec<Vec<u8>> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .filter_map(|p| std::fs::read(p).ok())
        .collect();
    if pages.is_empty() {
        eprintln!(
            "no pages in {}: no comparison with real pages",
            dir.display()
        );
        return None;
    }
    Some(pages)
}

/// Time to extract `page`, best of [`RUNS`].
fn best_time(page: &[u8], opts: &Options) -> Duration {
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let _ = std::hint::black_box(extract(page, None, None, opts));
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Milliseconds per MB (10^6 bytes) to extract `page`.
fn ms_per_mb(page: &[u8], opts: &Options) -> f64 {
    best_time(page, opts).as_secs_f64() * 1e3 / (page.len() as f64 / 1e6)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn bench(c: &mut Criterion) {
    let opts = Options::default();
    let mut group = c.benchmark_group("hostile");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let mut issue = Vec::new();
    for (name, markup) in [
        ("self_closing_divs", "<div/>"),
        ("stray_end_tags", "<div></b>"),
    ] {
        let page = hostile::kind(name).repeated(100_000);
        group.throughput(Throughput::Bytes(page.len() as u64));
        group.bench_with_input(
            BenchmarkId::new(name, "x100000"),
            page.as_bytes(),
            |b, page| b.iter(|| extract(page, None, None, &opts)),
        );
        issue.push((markup, best_time(page.as_bytes(), &opts)));
    }
    let mut table = Vec::new();
    for kind in hostile::KINDS {
        let mut row = Vec::new();
        for size in SIZES {
            let page = kind.page(size);
            group.throughput(Throughput::Bytes(page.len() as u64));
            group.bench_with_input(
                BenchmarkId::new(kind.name, format!("{}MiB", size >> 20)),
                page.as_bytes(),
                |b, page| b.iter(|| extract(page, None, None, &opts)),
            );
            row.push(ms_per_mb(page.as_bytes(), &opts));
        }
        table.push((kind.name, row));
    }
    group.finish();

    println!();
    for (markup, time) in issue {
        println!("100 000 x {markup}: {:.2} ms", time.as_secs_f64() * 1e3);
    }
    println!(
        "{:<24} {:>12} {:>12}",
        "hostile kind", "1 MiB ms/MB", "8 MiB ms/MB"
    );
    for (name, row) in &table {
        println!("{name:<24} {:>12.1} {:>12.1}", row[0], row[1]);
    }
    let (worst_kind, worst) = table
        .iter()
        .map(|(name, row)| (*name, row.iter().copied().fold(0.0, f64::max)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or(("none", 0.0));
    let Some(pages) = real_pages() else {
        println!("worst hostile {worst:.1} ms/MB ({worst_kind})");
        return;
    };
    let real = median(pages.iter().map(|p| ms_per_mb(p, &opts)).collect());
    println!(
        "median real page ({} pages) {real:.1} ms/MB\n\
         worst hostile {worst:.1} ms/MB ({worst_kind}) vs median real page {real:.1} ms/MB (ratio {:.1})",
        pages.len(),
        worst / real
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);

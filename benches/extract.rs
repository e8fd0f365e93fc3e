//! Extraction rate over the dev pages against scraper's parse alone, the
//! practical ceiling: `cargo bench --bench extract`. The pages come from
//! `TIDINGS_EXTRACTION_DEV` (default `../shared/data/extraction-dev` beside the
//! crate); without them the bench says so and measures nothing.

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidings::extract::{Options, extract};

fn pages() -> Option<Vec<(Vec<u8>, String)>> {
    let dir = std::env::var_os("TIDINGS_EXTRACTION_DEV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/extraction-dev")
        });
    let entries = std::fs::read_dir(&dir)
        .inspect_err(|e| {
            eprintln!(
                "cannot read {}: {e}: skipping the extract bench",
                dir.display()
            )
        })
        .ok()?;
    let mut pages: Vec<(Vec<u8>, String)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .filter_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            Some((bytes, text))
        })
        .collect();
    pages.sort();
    if pages.is_empty() {
        eprintln!("no pages in {}: skipping the extract bench", dir.display());
        return None;
    }
    Some(pages)
}

fn bench(c: &mut Criterion) {
    let Some(pages) = pages() else {
        return;
    };
    let opts = Options::default();
    let mut group = c.benchmark_group("dev_pages");
    group.throughput(Throughput::Elements(pages.len() as u64));
    group.sample_size(10);
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            for (_, text) in &pages {
                std::hint::black_box(scraper::Html::parse_document(text));
            }
        })
    });
    group.bench_function("extract", |b| {
        b.iter(|| {
            for (bytes, _) in &pages {
                let _ = std::hint::black_box(extract(bytes, None, None, &opts));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

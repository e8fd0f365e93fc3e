//! Extraction rate over both dev sets against scraper's parse alone, the
//! practical ceiling: `cargo bench --bench extract`. The ScrapingHub-format
//! pages (`<id>.html`) come from `TIDINGS_EXTRACTION_DEV` (default
//! `../shared/data/extraction-dev` beside the crate), the WCXB-format pages
//! (`html/<id>.html.gz`) from `TIDINGS_EXTRACTION_WCXB` (default
//! `../shared/data/extraction-wcxb-dev`); a set that is missing is named and
//! skipped. Pages per second on one core are the figure to set beside
//! `scripts/trafilatura_predictions.py`'s on the same folder.

use std::io::Read;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidings::extract::{Options, extract};

/// The folder named by `var`, else `default` beside the crate.
fn folder(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(default))
}

/// Every file of `dir` whose name ends with `suffix`, read by `read`, in
/// name order; `None` (said on stderr) when there are none.
fn pages(dir: &Path, suffix: &str, read: fn(&Path) -> Option<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
    let entries = std::fs::read_dir(dir)
        .inspect_err(|e| eprintln!("cannot read {}: {e}: skipping that set", dir.display()))
        .ok()?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    paths.sort();
    let pages: Vec<Vec<u8>> = paths.iter().filter_map(|p| read(p)).collect();
    if pages.is_empty() {
        eprintln!("no pages in {}: skipping that set", dir.display());
        return None;
    }
    Some(pages)
}

fn gunzip(path: &Path) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).ok()?)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

fn bench_set(c: &mut Criterion, name: &str, pages: &[Vec<u8>]) {
    let texts: Vec<String> = pages
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let opts = Options::default();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(pages.len() as u64));
    group.sample_size(10);
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            for text in &texts {
                std::hint::black_box(scraper::Html::parse_document(text));
            }
        })
    });
    group.bench_function("extract", |b| {
        b.iter(|| {
            for bytes in pages {
                let _ = std::hint::black_box(extract(bytes, None, None, &opts));
            }
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let scrapinghub = folder("TIDINGS_EXTRACTION_DEV", "../shared/data/extraction-dev");
    if let Some(pages) = pages(&scrapinghub, ".html", |p| std::fs::read(p).ok()) {
        bench_set(c, "dev_pages", &pages);
    }
    let wcxb = folder(
        "TIDINGS_EXTRACTION_WCXB",
        "../shared/data/extraction-wcxb-dev",
    );
    if let Some(pages) = pages(&wcxb.join("html"), ".html.gz", gunzip) {
        bench_set(c, "wcxb_dev_pages", &pages);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The real pages of both extraction dev sets, for the benches that need a
//! CPU-bound corpus: `TIDINGS_EXTRACTION_DEV` and `TIDINGS_EXTRACTION_WCXB`, by
//! default `../shared/data/extraction-dev` and
//! `../shared/data/extraction-wcxb-dev` beside the crate.

use std::path::{Path, PathBuf};

fn dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(default))
}

/// The HTML pages of the dev sets (the WCXB ones are gzipped).
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let plain = dir("TIDINGS_EXTRACTION_DEV", "../shared/data/extraction-dev");
    for entry in std::fs::read_dir(&plain).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "html")
            && let Ok(bytes) = std::fs::read(&path)
        {
            out.push((file_name(&path), bytes));
        }
    }
    let wcxb = dir(
        "TIDINGS_EXTRACTION_WCXB",
        "../shared/data/extraction-wcxb-dev",
    )
    .join("html");
    for entry in std::fs::read_dir(&wcxb).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(gz) = std::fs::read(&path) else {
            continue;
        };
        let mut bytes = Vec::new();
        if std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut bytes)
            .is_ok()
        {
            out.push((file_name(&path).replace(".gz", ""), bytes));
        }
    }
    out.sort();
    out
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

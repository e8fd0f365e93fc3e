//! The seed corpus: the articles every document is first compared against.
//! Ids are file names without `.txt`.

use std::path::Path;

use anyhow::Context;

/// The corpus compiled into the binary from `seeds/`.
pub const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/seeds.rs"));

/// Loads `(id, text)` pairs from `dir`, or the embedded corpus when `None`.
pub fn load(dir: Option<&Path>) -> anyhow::Result<Vec<(String, String)>> {
    let Some(dir) = dir else {
        return Ok(EMBEDDED
            .iter()
            .map(|(id, text)| (id.to_string(), text.to_string()))
            .collect());
    };
    let mut seeds = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading seed folder {}", dir.display()))?;
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading seed folder {}", dir.display()))?
            .path();
        if path.extension().is_none_or(|e| e != "txt") {
            continue;
        }
        let Some(id) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading seed {}", path.display()))?;
        seeds.push((id.to_string(), text));
    }
    seeds.sort();
    Ok(seeds)
}

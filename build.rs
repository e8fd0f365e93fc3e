//! Embeds the seed corpus (`seeds/*.txt`) so the binary works wherever it runs.

use std::fmt::Write;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=seeds");
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("seeds");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("seeds/ is part of the repository")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    names.sort();
    let mut out = String::from("&[\n");
    for path in names {
        let id = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("UTF-8 seed name");
        writeln!(out, "    ({id:?}, include_str!({:?})),", path.display())
            .expect("write to String");
    }
    out.push(']');
    let target = Path::new(&std::env::var("OUT_DIR").expect("cargo sets it")).join("seeds.rs");
    std::fs::write(target, out).expect("OUT_DIR is writable");
}

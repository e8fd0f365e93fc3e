//! Embeds the seed corpus (`seeds/*.txt`) so the binary works wherever it runs.
//!
//! The generated list names each file relative to `CARGO_MANIFEST_DIR`, which
//! the compiler fills in for the checkout being built: a target folder shared
//! by two checkouts (or a checkout that moved) never points at another one's
//! seeds.

use std::fmt::Write;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=seeds");
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("seeds");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("seeds/ is part of the repository")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".txt"))
        .collect();
    names.sort();
    let mut out = String::from("&[\n");
    for name in names {
        let id = name.trim_end_matches(".txt");
        writeln!(
            out,
            "    ({id:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/seeds/{name}\"))),"
        )
        .expect("write to String");
    }
    out.push(']');
    let target = Path::new(&std::env::var("OUT_DIR").expect("cargo sets it")).join("seeds.rs");
    std::fs::write(target, out).expect("OUT_DIR is writable");
}

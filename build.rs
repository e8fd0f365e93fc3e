//! Embeds the seed corpus (`seeds/*.txt`) so the binary works wherever it
//! runs, and names the commit it was built from for `tidings --version`.
//!
//! The generated list names each file relative to `CARGO_MANIFEST_DIR`, which
//! the compiler fills in for the checkout being built: a target folder shared
//! by two checkouts (or a checkout that moved) never points at another one's
//! seeds.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the binary is built from: a change here can change the commit's
/// dirty marker (tests and docs cannot).
const SOURCES: [&str; 6] = [
    "src",
    "build.rs",
    "Cargo.toml",
    "Cargo.lock",
    "config",
    "seeds",
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    embed_seeds(&manifest);
    let commit = commit(&manifest);
    println!("cargo:rustc-env=TIDINGS_COMMIT={commit}");
}

/// The short hash of HEAD, with `-dirty` when the sources differ from it;
/// else `$TIDINGS_GIT_COMMIT` (a build without `.git`, such as the container
/// image's, can pass it in); else `unknown`.
fn commit(manifest: &Path) -> String {
    println!("cargo:rerun-if-env-changed=TIDINGS_GIT_COMMIT");
    for source in SOURCES {
        println!("cargo:rerun-if-changed={source}");
    }
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            // Never rewrite the index from here: a refreshed index would
            // look like a change on the next build.
            .arg("--no-optional-locks")
            .args(args)
            .current_dir(manifest)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let Some(hash) = git(&["rev-parse", "--short", "HEAD"]) else {
        return std::env::var("TIDINGS_GIT_COMMIT")
            .ok()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| "unknown".to_string());
    };
    // A commit, a checkout or a branch moving changes HEAD or the ref it
    // names (loose, or packed). In a worktree `.git` is a file, so git says
    // where they are.
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            let path = manifest.join(path);
            // A path that does not exist would make cargo rerun this on every build.
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let mut status = vec!["status", "--porcelain", "--"];
    status.extend(SOURCES);
    match git(&status) {
        Some(changes) if !changes.is_empty() => format!("{hash}-dirty"),
        _ => hash,
    }
}

fn embed_seeds(manifest: &Path) {
    let dir = manifest.join("seeds");
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

//! The module layers of `src/` (see `docs/architecture.md`): every
//! dependency between top-level modules runs from a higher layer to a lower
//! one, so there is no cycle and each layer can be read, tested and changed
//! knowing only the ones below it. A `crate::x` path in a module's code (its
//! tests aside) is a dependency on `x`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Lowest first. A new module goes in the lowest layer its dependencies allow.
const LAYERS: &[&[&str]] = &[
    &["redact", "seeds", "url"],
    &["pgtls", "record", "settings"],
    &["observe", "extract", "dedup", "tag", "story"],
    &["state"],
    &["flow"],
    &["fetch", "sink"],
    &["web"],
    &["config"],
    &["pipeline"],
    &["cluster", "retag"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The `crate::x` modules a file's code (before its tests) names.
fn uses(code: &str) -> BTreeSet<String> {
    let code: String = code
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = code[i + "crate::".len()..].trim_start_matches(['{', ' ', '\n']);
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        found.insert(name);
        // `crate::{a, b::c}` names several.
        if code[i + "crate::".len()..].starts_with('{') {
            let group = &code[i + "crate::{".len()..];
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for part in group.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                found.insert(name);
            }
        }
    }
    found
}

/// Top-level module -> the modules it uses, from every file of `src/`.
fn dependencies(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let code = std::fs::read_to_string(&path).unwrap();
            let used = deps.entry(module.clone()).or_default();
            used.extend(uses(&code).into_iter().filter(|m| *m != module));
        }
    }
    deps
}

#[test]
fn every_dependency_runs_down_the_layers() {
    let deps = dependencies(&crate::support::repo("src"));
    let mut wrong = Vec::new();
    for (module, used) in &deps {
        let Some(own) = layer_of(module) else {
            wrong.push(format!("{module} is in no layer: add it to LAYERS"));
            continue;
        };
        for other in used.iter().filter(|m| deps.contains_key(*m)) {
            match layer_of(other) {
                Some(layer) if layer < own => {}
                _ => wrong.push(format!("{module} -> {other}")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies that do not run down the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_dependency_up_the_layers_is_caught() {
    let used = uses(
        "use crate::{record::Record, pipeline};\nfn f() { crate::cli::run(); }\n// crate::sink in a comment\n#[cfg(test)]\nmod tests { use crate::config; }",
    );
    let names: Vec<&str> = used.iter().map(String::as_str).collect();
    assert_eq!(names, ["cli", "pipeline", "record"]);
}

//! The CLI explains itself: every verb and every argument of it has a
//! description in `--help` (and so in the man page made from the same
//! definition).

use clap::CommandFactory;

/// `path` of every argument under `cmd` (its verbs included) with no help text.
fn undescribed(cmd: &clap::Command, path: &str, found: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        // clap's own --help and --version describe themselves.
        if id == "help" || id == "version" {
            continue;
        }
        let described = arg
            .get_long_help()
            .or(arg.get_help())
            .is_some_and(|h| !h.to_string().trim().is_empty());
        if !described {
            found.push(format!("{path} {id}"));
        }
    }
    for sub in cmd.get_subcommands() {
        if sub
            .get_about()
            .is_none_or(|a| a.to_string().trim().is_empty())
        {
            found.push(format!("{path} {} (the verb)", sub.get_name()));
        }
        undescribed(sub, &format!("{path} {}", sub.get_name()), found);
    }
}

#[test]
fn every_argument_of_every_verb_has_a_description() {
    let mut found = Vec::new();
    undescribed(&tidings::cli::Cli::command(), "tidings", &mut found);
    assert!(found.is_empty(), "without a description: {found:#?}");
}

/// What git says, in the checkout the binary was built from.
fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn version_names_the_release_and_the_commit_built_from() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::support::tidings(dir.path(), &["--version"]);
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let rest = line
        .trim()
        .strip_prefix(&format!("tidings {} (", env!("CARGO_PKG_VERSION")))
        .unwrap_or_else(|| panic!("not `tidings VERSION (COMMIT)`: {line:?}"));
    let commit = rest.strip_suffix(')').unwrap();
    match git(&["rev-parse", "HEAD"]) {
        Some(head) => {
            let hash = commit.trim_end_matches("-dirty");
            assert!(
                hash.len() >= 7 && head.starts_with(hash),
                "{commit:?} is not HEAD ({head})"
            );
        }
        None => assert_eq!(commit, "unknown"),
    }
}

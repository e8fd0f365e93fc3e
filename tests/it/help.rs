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

/// The verbs a user can see: those of the contract, and any added since.
fn verbs() -> Vec<String> {
    let mut verbs: Vec<String> = [
        "extract", "dedup", "tag", "backfill", "run", "record", "replay", "check",
    ]
    .map(String::from)
    .to_vec();
    for sub in tidings::cli::Cli::command().get_subcommands() {
        let name = sub.get_name().to_string();
        if !sub.is_hide_set() && name != "help" && !verbs.contains(&name) {
            verbs.push(name);
        }
    }
    verbs
}

fn stdout_of(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::support::tidings(dir.path(), args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        crate::support::stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completions_offer_every_verb_in_bash_zsh_and_fish() {
    /// How a shell's script names a verb.
    type Entry = fn(&str) -> String;
    // Each shell, how its script names a verb and the --config option.
    let shells: [(&str, Entry, &str); 3] = [
        ("bash", |verb| format!("tidings,{verb})"), "--config"),
        ("zsh", |verb| format!("'{verb}:"), "'--config="),
        ("fish", |verb| format!("-a \"{verb}\""), "-l config"),
    ];
    for (shell, verb_entry, config) in shells {
        let script = stdout_of(&["completions", shell]);
        for verb in verbs() {
            assert!(
                script.contains(&verb_entry(&verb)),
                "the {shell} completion lacks `{verb}`:\n{script}"
            );
        }
        assert!(script.contains(config), "{shell}:\n{script}");
    }
}

/// The options of a man page (roff) that have no description: an item
/// (`.TP`, then its title line) followed at once by the next item or section.
fn options_without_description(page: &str) -> Vec<String> {
    let lines: Vec<&str> = page.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if *line != ".TP" {
            continue;
        }
        let title = lines.get(i + 1).copied().unwrap_or_default();
        let next = lines.get(i + 2).copied().unwrap_or(".SH");
        if next.starts_with(".TP") || next.starts_with(".SH") || next.trim().is_empty() {
            found.push(title.to_string());
        }
    }
    found
}

#[test]
fn man_pages_cover_every_verb_and_describe_every_option() {
    let page = stdout_of(&["manpage"]);
    assert!(page.contains(".TH tidings 1"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    stdout_of(&["manpage", "--out-dir", out_dir.to_str().unwrap()]);
    let main = std::fs::read_to_string(out_dir.join("tidings.1")).unwrap();
    assert_eq!(main, page, "the printed page is the one written");
    let mut missing = options_without_description(&main);
    for verb in verbs() {
        assert!(
            main.contains(&format!("tidings\\-{}(1)", verb.replace('-', "\\-"))),
            "tidings(1) does not list `{verb}`"
        );
        let file = out_dir.join(format!("tidings-{verb}.1"));
        let verb_page =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(verb_page.contains(".SH OPTIONS"), "{verb_page}");
        missing.extend(
            options_without_description(&verb_page)
                .into_iter()
                .map(|o| format!("{verb}: {o}")),
        );
    }
    assert!(
        missing.is_empty(),
        "options without a description: {missing:#?}"
    );
}

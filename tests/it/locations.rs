//! Where tidings looks for its config and keeps what it writes. From a
//! checkout, relative to the working directory (`backfill` fills
//! `out/records.jsonl` and `data/`); as a service, where the service manager
//! says: systemd's `StateDirectory=` and `ConfigurationDirectory=` set
//! `STATE_DIRECTORY` and `CONFIGURATION_DIRECTORY`, and without them a
//! daemon started in `/` would write `/data` and `/out`.

use std::path::Path;

use crate::support::{records, repo, stderr, tidings_with};

/// A temporary tree: `cwd/` (the working directory), `state/`, `etc/`.
struct Tree {
    _dir: tempfile::TempDir,
    cwd: std::path::PathBuf,
    state: std::path::PathBuf,
    etc: std::path::PathBuf,
}

fn tree() -> Tree {
    let dir = tempfile::tempdir().unwrap();
    let [cwd, state, etc] = ["cwd", "state", "etc"].map(|d| dir.path().join(d));
    for d in [&cwd, &state, &etc] {
        std::fs::create_dir(d).unwrap();
    }
    Tree {
        _dir: dir,
        cwd,
        state,
        etc,
    }
}

/// The names in a folder, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn from_a_checkout_backfill_writes_out_and_data_in_the_working_directory() {
    let t = tree();
    let out = tidings_with(&t.cwd, &["backfill"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(records(&t.cwd.join("out/records.jsonl")).len(), 5);
    assert!(t.cwd.join("data").is_dir());
}

#[test]
fn under_a_state_directory_the_embedded_config_writes_there_and_nowhere_else() {
    let t = tree();
    let out = tidings_with(&t.cwd, &["backfill"], &[("STATE_DIRECTORY", &t.state)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(records(&t.state.join("out/records.jsonl")).len(), 5);
    assert!(t.state.join("data").is_dir(), "{:?}", listing(&t.state));
    assert!(listing(&t.cwd).is_empty(), "{:?}", listing(&t.cwd));
    // The state is the same store the second time: nothing is written again.
    let again = tidings_with(&t.cwd, &["backfill"], &[("STATE_DIRECTORY", &t.state)]);
    assert!(
        stderr(&again).contains("0 records written"),
        "{}",
        stderr(&again)
    );
}

/// A config in `etc/` with relative paths: the state and the JSONL file it
/// writes, and a taxonomy it reads.
fn service_config(etc: &Path) {
    std::fs::copy(repo("config/taxonomy.toml"), etc.join("taxonomy.toml")).unwrap();
    std::fs::write(
        etc.join("tidings.toml"),
        "[state]\ndir = \"store\"\n[tag]\ntaxonomy = \"taxonomy.toml\"\n\
         [[sinks]]\nkind = \"jsonl\"\npath = \"feeds/records.jsonl\"\n",
    )
    .unwrap();
}

#[test]
fn the_configuration_directory_config_is_the_default_and_its_writes_go_to_the_state_directory() {
    let t = tree();
    service_config(&t.etc);
    let env = [
        ("STATE_DIRECTORY", t.state.as_path()),
        ("CONFIGURATION_DIRECTORY", t.etc.as_path()),
    ];
    let out = tidings_with(&t.cwd, &["backfill"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(records(&t.state.join("feeds/records.jsonl")).len(), 5);
    assert_eq!(listing(&t.state), ["feeds", "store"]);
    assert_eq!(listing(&t.etc), ["taxonomy.toml", "tidings.toml"]);
    assert!(listing(&t.cwd).is_empty(), "{:?}", listing(&t.cwd));

    // `check` reads the same file: a mistake in it is reported there.
    std::fs::write(t.etc.join("tidings.toml"), "[state]\ndri = \"x\"\n").unwrap();
    let out = tidings_with(&t.cwd, &["check"], &env);
    let problems = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        problems.contains(&format!(
            "{}: state.dri",
            t.etc.join("tidings.toml").display()
        )),
        "{problems}"
    );
}

#[test]
fn an_explicit_config_wins_but_its_writes_still_go_to_the_state_directory() {
    let t = tree();
    service_config(&t.etc);
    let other = t.cwd.join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(
        other.join("mine.toml"),
        "[[sinks]]\nkind = \"jsonl\"\npath = \"mine.jsonl\"\n",
    )
    .unwrap();
    let out = tidings_with(
        &t.cwd,
        &["backfill", "--config", "other/mine.toml"],
        &[
            ("STATE_DIRECTORY", t.state.as_path()),
            ("CONFIGURATION_DIRECTORY", t.etc.as_path()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(records(&t.state.join("mine.jsonl")).len(), 5);
    assert_eq!(listing(&t.state), ["data", "mine.jsonl"]);
    assert_eq!(listing(&other), ["mine.toml"]);
}

#[test]
fn a_configuration_directory_without_tidings_toml_leaves_the_embedded_config() {
    let t = tree();
    let out = tidings_with(
        &t.cwd,
        &["backfill"],
        &[("CONFIGURATION_DIRECTORY", t.etc.as_path())],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(records(&t.cwd.join("out/records.jsonl")).len(), 5);
}

#[test]
fn the_daemon_says_where_its_config_state_and_records_are() {
    let t = tree();
    std::fs::write(
        t.etc.join("tidings.toml"),
        // A feed nobody answers: the run polls it once, fails and ends.
        "[[feeds]]\nurl = \"http://127.0.0.1:9/feed.rss\"\n",
    )
    .unwrap();
    // The config named, so that a broken default can never send this test
    // to the embedded config's feeds on the internet.
    let config = t.etc.join("tidings.toml");
    let out = tidings_with(
        &t.cwd,
        &[
            "run",
            "--once",
            "--log-format",
            "json",
            "--config",
            config.to_str().unwrap(),
        ],
        &[("STATE_DIRECTORY", t.state.as_path())],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let event = stderr(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["fields"]["state"].is_string())
        .unwrap_or_else(|| panic!("no event names the state: {}", stderr(&out)));
    let fields = &event["fields"];
    assert_eq!(event["level"], "INFO");
    assert_eq!(fields["config"], config.display().to_string());
    assert_eq!(fields["state"], t.state.join("data").display().to_string());
    assert_eq!(
        fields["records"],
        t.state.join("out/records.jsonl").display().to_string()
    );
}

//! `tidings backfill`: the seed corpus, mixed inputs, re-runs and bad input.

use std::collections::BTreeSet;

use crate::support::{config, copy_dir, fixture, records, repo, stderr, tidings};

const SEED_HEADLINES: [&str; 5] = [
    "Zelenskyy calls for US leadership in peace efforts amid Ukraine conflict",
    "Zelensky urges the US and Europe to put pressure on Russia to end the war",
    "Ukraine–US Talks Highlight Renewed Momentum Toward Peace",
    "Zelensky asks Trump to join talks with Putin: \"All of us in Ukraine would like him to be there with us\"",
    "Trump Presses Putin as Davos Talks With Zelenskiy Signal Narrowing Gaps",
];

#[test]
fn backfill_of_the_seeds_writes_five_records_with_the_real_headlines() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo("seeds"), &dir.path().join("seeds"));
    let out = tidings(dir.path(), &["backfill"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("5 records written"),
        "{}",
        stderr(&out)
    );

    let written = records(&dir.path().join("out/records.jsonl"));
    let titles: BTreeSet<&str> = written
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, SEED_HEADLINES.into_iter().collect());
    for r in &written {
        assert_eq!(r["schema_version"], 1);
        assert!(
            r["duplicate_of"].is_null(),
            "a seed is no duplicate: {}",
            r["title"]
        );
        assert!(r["word_count"].as_u64().unwrap() > 300);
        let fetched = r["fetched_at"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(fetched).is_ok() && fetched.ends_with('Z'));
    }
}

#[test]
fn second_backfill_writes_nothing_new_and_ids_are_stable() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo("seeds"), &dir.path().join("seeds"));
    assert!(tidings(dir.path(), &["backfill"]).status.success());
    let first: BTreeSet<String> = records(&dir.path().join("out/records.jsonl"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();

    let again = tidings(dir.path(), &["backfill"]);
    assert!(again.status.success());
    assert!(
        stderr(&again).contains("0 records written, 5 already present"),
        "{}",
        stderr(&again)
    );
    assert_eq!(records(&dir.path().join("out/records.jsonl")).len(), 5);

    // A fresh state and sink elsewhere gives the same ids: they come from the content.
    let other = tempfile::tempdir().unwrap();
    copy_dir(&repo("seeds"), &other.path().join("seeds"));
    assert!(tidings(other.path(), &["backfill"]).status.success());
    let second: BTreeSet<String> = records(&other.path().join("out/records.jsonl"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(first, second);
}

#[test]
fn mixed_folder_ingests_text_html_and_feed_items_and_counts_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let docs = fixture("docs");
    let out = tidings(
        dir.path(),
        &[
            "backfill",
            "--config",
            cfg.to_str().unwrap(),
            docs.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("read: empty"), "{err}");
    assert!(err.contains("read: binary"), "{err}");
    assert!(err.contains("read: malformed feed"), "{err}");
    assert!(
        err.contains("empty.txt"),
        "the skipped file is named: {err}"
    );

    let written = records(&dir.path().join("out.jsonl"));
    let by_title = |t: &str| {
        written
            .iter()
            .find(|r| r["title"] == t)
            .unwrap_or_else(|| panic!("no record titled {t:?} in {written:#?}"))
    };
    let page = by_title("Grain Corridor Talks Stall Over Port Inspections");
    assert_eq!(
        page["canonical_url"],
        "https://harbourpost.example/world/grain-corridor-talks"
    );
    assert!(
        page["text"]
            .as_str()
            .unwrap()
            .ends_with("Mediators said they would try again next week.")
    );

    let text = by_title("Delegations Return to Geneva as Ceasefire Draft Takes Shape");
    assert!(
        !text["text"].as_str().unwrap().contains("Marta Kowal"),
        "byline is not body text"
    );

    let item = by_title("Envoys meet in Riyadh for second day");
    assert_eq!(item["guid"], "wire-1001");
    assert_eq!(item["published_at"], "2026-11-24T08:00:00Z");
    assert_eq!(item["source"]["name"], "Example Wire");
    let teaser = by_title("Energy grid repairs continue after overnight strikes");
    assert!(
        teaser["text"]
            .as_str()
            .unwrap()
            .starts_with("Repair crews worked")
    );
}

#[test]
fn a_missing_input_fails_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = tidings(dir.path(), &["backfill", "no/such/file.txt"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("no/such/file.txt"), "{err}");
}

#[test]
fn a_config_typo_is_reported_with_file_and_key_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "[pipeline]\nchanel_capacity = 4\n[dedup]\nnear = \"sometimes\"\n",
    );
    let check = tidings(dir.path(), &["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(1));
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.contains("tidings.toml: pipeline.chanel_capacity: unknown field"),
        "{report}"
    );

    let run = tidings(dir.path(), &["backfill", "--config", cfg.to_str().unwrap()]);
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains("pipeline.chanel_capacity"),
        "{}",
        stderr(&run)
    );
    assert!(!dir.path().join("out.jsonl").exists(), "nothing ran");
}

#[test]
fn check_lists_every_bad_value() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "[pipeline]\nbatch_size = 0\n[dedup]\nnear = \"sometimes\"\n[[feeds]]\nurl = \"not a url\"\n\
         [[sinks]]\nkind = \"postgres\"\nurl = \"mysql://db/x\"\n[[sinks]]\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\n",
    );
    let check = tidings(dir.path(), &["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(1));
    let report = String::from_utf8_lossy(&check.stdout);
    for key in [
        "pipeline.batch_size",
        "dedup.near",
        "feeds[0].url",
        "sinks[1]",
        "sinks[2].subject",
    ] {
        assert!(report.contains(key), "{key} missing: {report}");
    }
}

#[test]
fn one_document_verbs_reject_bad_input_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (file, expect) in [
        ("empty.txt", "empty document"),
        ("image.txt", "binary data"),
    ] {
        let path = fixture(&format!("docs/{file}"));
        let out = tidings(dir.path(), &["dedup", path.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(file) && err.contains(expect), "{err}");
    }
}

#[test]
fn copies_of_seeds_are_flagged_with_the_seed_id_and_other_reports_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let inputs = [
        "000_teaser.txt",
        "002_update.txt",
        "000_other_report.txt",
        "unrelated_grain.txt",
    ]
    .map(|f| fixture(&format!("dedup/{f}")).to_str().unwrap().to_string());
    let mut args = vec!["backfill", "--config", cfg.to_str().unwrap()];
    args.extend(inputs.iter().map(String::as_str));
    let out = tidings(dir.path(), &args);
    assert!(out.status.success(), "{}", stderr(&out));

    let written = records(&dir.path().join("out.jsonl"));
    assert_eq!(
        written.len(),
        4,
        "near duplicates are flagged, not dropped, by default"
    );
    let from = |name: &str| {
        written
            .iter()
            .find(|r| r["source"]["location"].as_str().unwrap().ends_with(name))
            .unwrap()
    };
    assert_eq!(
        from("000_teaser.txt")["duplicate_of"],
        "000_59a1805b399ebc2d"
    );
    assert_eq!(from("000_teaser.txt")["duplicate_method"], "near");
    assert_eq!(
        from("002_update.txt")["duplicate_of"],
        "002_988dbeb1567e4a12"
    );
    assert!(from("000_other_report.txt")["duplicate_of"].is_null());
    assert!(from("unrelated_grain.txt")["duplicate_of"].is_null());
}

#[test]
fn the_dedup_index_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let original = fixture("dedup/unrelated_energy.txt");
    let run = |path: &str| {
        let out = tidings(
            dir.path(),
            &["backfill", "--config", cfg.to_str().unwrap(), path],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    };
    run(original.to_str().unwrap());
    let first_id = records(&dir.path().join("out.jsonl"))[0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The same story a day later, with a paragraph appended.
    let update = dir.path().join("energy_update.txt");
    let text = std::fs::read_to_string(&original).unwrap();
    std::fs::write(
        &update,
        format!("{text}\nUpdate: officials said on Wednesday evening that repairs would take at least another week, and asked residents to limit their use of heaters.\n"),
    )
    .unwrap();
    run(update.to_str().unwrap());
    let written = records(&dir.path().join("out.jsonl"));
    assert_eq!(written.len(), 2);
    assert_eq!(written[1]["duplicate_of"], first_id.as_str());
}

#[test]
fn dedup_verb_names_the_seed_a_copy_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    let ask = |file: &str| {
        let path = fixture(&format!("dedup/{file}"));
        let out = tidings(dir.path(), &["dedup", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let copy = ask("001_syndicated.txt");
    assert_eq!(copy["duplicate_of"], "001_8d560390692858d2");
    assert!(copy["similarity"].as_f64().unwrap() > 0.6, "{copy}");
    let other = ask("001_other_report.txt");
    assert!(other["duplicate_of"].is_null(), "{other}");
    assert!(other["similarity"].as_f64().unwrap() < 0.45, "{other}");
}

#[test]
fn the_stdout_sink_prints_one_json_record_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("stdout.toml");
    std::fs::write(
        &cfg,
        "[state]\ndir = \"state\"\n[[sinks]]\nkind = \"stdout\"\n",
    )
    .unwrap();
    let doc = fixture("docs/geneva_talks.txt");
    let out = tidings(
        dir.path(),
        &[
            "backfill",
            "--config",
            cfg.to_str().unwrap(),
            doc.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        lines[0]["title"],
        "Delegations Return to Geneva as Ceasefire Draft Takes Shape"
    );
}

#[test]
fn check_reports_taxonomy_mistakes_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut taxonomy = std::fs::read_to_string(repo("config/taxonomy.toml")).unwrap();
    taxonomy.push_str(
        "\n[[actors]]\nid = \"zelensky_fan\"\nname = \"A Fan\"\nkind = \"person\"\naliases = [\"Zelenskyy\", \"\"]\n",
    );
    std::fs::write(dir.path().join("taxonomy.toml"), taxonomy).unwrap();
    let cfg = config(dir.path(), "[tag]\ntaxonomy = \"taxonomy.toml\"\n");
    let check = tidings(dir.path(), &["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(1));
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.lines().count() >= 2,
        "both mistakes are listed: {report}"
    );
    assert!(report.contains("taxonomy.toml: actors["), "{report}");
    assert!(
        report.to_lowercase().contains("zelenskyy"),
        "the doubly claimed alias is named: {report}"
    );
}

/// Runs the binary and waits at most `secs` for it; a run that does not end
/// is killed and reported with what it printed.
fn run_bounded(cwd: &std::path::Path, args: &[&str], secs: u64) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .current_dir(cwd)
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "tidings {args:?} still running after {secs}s; stderr: {}",
                stderr(&out)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn mkfifo(path: &std::path::Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

#[test]
fn a_symlink_loop_repeated_links_and_a_fifo_in_a_folder_end_with_each_document_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(docs.join("a")).unwrap();
    std::fs::copy(fixture("docs/geneva_talks.txt"), docs.join("a/geneva.txt")).unwrap();
    std::fs::copy(fixture("dedup/unrelated_grain.txt"), docs.join("grain.txt")).unwrap();
    // docs/a/loop -> docs, and docs/b -> docs/a: every folder reachable
    // through ever longer paths, twice over.
    std::os::unix::fs::symlink(&docs, docs.join("a/loop")).unwrap();
    std::os::unix::fs::symlink(docs.join("a"), docs.join("b")).unwrap();
    mkfifo(&docs.join("pipe"));

    let out = run_bounded(
        dir.path(),
        &[
            "backfill",
            "--config",
            cfg.to_str().unwrap(),
            docs.to_str().unwrap(),
        ],
        60,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let written = records(&dir.path().join("out.jsonl"));
    let mut locations: Vec<&str> = written
        .iter()
        .map(|r| r["source"]["location"].as_str().unwrap())
        .collect();
    locations.sort();
    assert_eq!(locations.len(), 2, "{locations:?}\n{err}");
    assert!(locations[0].ends_with("a/geneva.txt"), "{locations:?}");
    assert!(locations[1].ends_with("grain.txt"), "{locations:?}");
    assert!(
        err.contains("2 records written") && !err.contains("duplicate"),
        "each document is read once, not found again as a copy: {err}"
    );
    let warning = err
        .lines()
        .find(|l| l.contains("WARN") && l.contains("pipe"))
        .unwrap_or_else(|| panic!("a warning names the FIFO: {err}"));
    assert!(warning.contains("not a regular file"), "{warning}");
    assert!(
        err.contains("skipped 1: read: not a regular file"),
        "the FIFO is a counted skip: {err}"
    );
}

#[test]
fn sigterm_stops_a_backfill_stuck_reading_a_named_pipe() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let pipe = dir.path().join("pipe");
    mkfifo(&pipe);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .current_dir(dir.path())
        .args(["backfill", "--config", cfg.to_str().unwrap()])
        .arg(&pipe)
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A writer can open the pipe only once tidings has it open for reading;
    // holding it open without writing leaves tidings waiting for data.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let _writer = loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&pipe)
        {
            Ok(w) => break w,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "tidings ended before reading the pipe"
                );
                assert!(
                    std::time::Instant::now() < deadline,
                    "tidings never opened the pipe"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("opening the pipe: {e}"),
        }
    };
    // SAFETY: signalling our own child by its pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("still running 20s after SIGTERM; stderr: {}", stderr(&out));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "exit 0 after a drain: {err}");
    assert!(err.contains("stopping"), "{err}");
    assert!(
        err.contains("0 records written"),
        "the summary is printed: {err}"
    );
}

/// The OS error text of `ENOENT`, as `std::io::Error` shows it.
const NO_SUCH_FILE: &str = "No such file or directory";

#[test]
fn backfill_outside_the_repository_ingests_the_embedded_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let out = tidings(dir.path(), &["backfill"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("5 records written"),
        "{}",
        stderr(&out)
    );
    let titles: BTreeSet<String> = records(&dir.path().join("out/records.jsonl"))
        .iter()
        .map(|r| r["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        titles,
        SEED_HEADLINES.into_iter().map(String::from).collect()
    );
}

#[test]
fn an_os_error_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing_input = tidings(dir.path(), &["backfill", "no/such/file.txt"]);
    let missing_config = tidings(
        dir.path(),
        &["backfill", "--config", "no/such/tidings.toml"],
    );
    let missing_page = tidings(dir.path(), &["extract", "no/such/page.html"]);
    for out in [missing_input, missing_config, missing_page] {
        assert!(!out.status.success());
        let err = stderr(&out);
        assert_eq!(err.matches(NO_SUCH_FILE).count(), 1, "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// Plain text and feed full text have no language of their own to declare:
/// it is detected. A feed's declaration (`en-US`) comes out as `en`, and
/// gives way to the text when the text is in another language; it stands
/// for a text too short to tell.
#[test]
fn every_record_has_its_language_as_an_iso_639_1_code() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let out = tidings(
        dir.path(),
        &[
            "backfill",
            "--config",
            cfg.to_str().unwrap(),
            repo("seeds").to_str().unwrap(),
            fixture("feeds/fulltext.rss").to_str().unwrap(),
            fixture("feeds/languages.rss").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let written = records(&dir.path().join("out.jsonl"));
    let language = |title: &str| {
        let r = written
            .iter()
            .find(|r| r["title"].as_str().unwrap().starts_with(title))
            .unwrap_or_else(|| panic!("no record titled {title}"));
        r["language"].clone()
    };
    for headline in SEED_HEADLINES {
        assert_eq!(language(headline), "en", "seed {headline}");
    }
    assert_eq!(
        language("Envoys settle the wording"),
        "en",
        "feed full text"
    );
    assert_eq!(language("Envoys agree on the monitoring annex"), "en");
    assert_eq!(
        language("Делегации согласовали"),
        "ru",
        "not the feed's en-US"
    );
    assert_eq!(
        language("Talks continue"),
        "en",
        "too short to contradict en-US"
    );
    assert_eq!(written.len(), 9);
}

/// An original, then two outlets running it word for word under their own
/// headlines, then one of them again: with the default policy the copies are
/// dropped, with `[dedup] copies = "flag"` written naming the original; the
/// store counts the two copies either way, and a copy seen twice once.
#[test]
fn exact_copies_are_dropped_or_flagged_and_counted_either_way() {
    let body = "Negotiators from Kyiv and Moscow met in Riyadh on Tuesday for a second day of \
                talks on a maritime truce in the Black Sea, officials said. The American \
                delegation shuttled between the two rooms. A joint statement is expected on \
                Wednesday, after both sides consult their capitals about monitoring by Turkey.";
    for (policy, expected_records) in [("", 1), ("[dedup]\ncopies = \"flag\"\n", 3)] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), policy);
        let write = |name: &str, headline: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("{headline}\n\n{body}\n")).unwrap();
            path
        };
        let original = write("original.txt", "Black Sea truce talks enter second day");
        let copy_a = write("copy_a.txt", "Riyadh: second day of Black Sea talks");
        let copy_b = write("copy_b.txt", "Talks on sea truce continue in Saudi capital");
        for batch in [vec![&original], vec![&copy_a, &copy_b], vec![&copy_a]] {
            let mut args = vec!["backfill", "--config", cfg.to_str().unwrap()];
            args.extend(batch.iter().map(|p| p.to_str().unwrap()));
            let out = tidings(dir.path(), &args);
            assert!(out.status.success(), "{}", stderr(&out));
        }
        let written = records(&dir.path().join("out.jsonl"));
        assert_eq!(written.len(), expected_records, "policy {policy:?}");
        let original_id = written[0]["id"].as_str().unwrap().to_string();
        for copy in &written[1..] {
            assert_eq!(copy["duplicate_of"], original_id.as_str(), "{copy}");
            assert_eq!(copy["duplicate_method"], "hash", "{copy}");
        }
        let state = tidings::state::State::open(&tidings::state::Location::folder(
            &dir.path().join("state"),
        ))
        .unwrap();
        let copies = state.copies(std::slice::from_ref(&original_id)).unwrap();
        assert_eq!(copies.get(&original_id), Some(&2), "policy {policy:?}");
    }
}

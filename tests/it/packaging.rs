//! The container image and the systemd unit, checked where no Docker engine
//! or systemd instance runs: the facts that decide whether they work (who the
//! daemon runs as, where its state goes, that its drain is not cut short).

use std::path::Path;
use std::time::Duration;

use tidings::config::{CONFIG_FILE, Config, Locations};
use tidings::sink;

use crate::support::repo;

/// The instructions of a Dockerfile's last stage, continuation lines joined,
/// comments dropped, as (instruction, arguments).
fn final_stage(dockerfile: &str) -> Vec<(String, String)> {
    let mut joined: Vec<String> = Vec::new();
    let mut open = false;
    for line in dockerfile.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (text, continues) = match line.strip_suffix('\\') {
            Some(text) => (text.trim(), true),
            None => (line, false),
        };
        match joined.last_mut() {
            Some(last) if open => {
                last.push(' ');
                last.push_str(text);
            }
            _ => joined.push(text.to_string()),
        }
        open = continues;
    }
    let last_from = joined
        .iter()
        .rposition(|l| l.starts_with("FROM "))
        .expect("a FROM");
    joined[last_from..]
        .iter()
        .map(|l| {
            let (op, args) = l.split_once(' ').unwrap_or((l, ""));
            (op.to_uppercase(), args.trim().to_string())
        })
        .collect()
}

fn instruction<'a>(stage: &'a [(String, String)], op: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|(o, _)| o == op)
        .map(|(_, args)| args.as_str())
        .collect()
}

/// `NAME=value` pairs of the stage's ENV instructions.
fn env_of(stage: &[(String, String)], name: &str) -> Option<String> {
    instruction(stage, "ENV")
        .iter()
        .flat_map(|args| args.split_whitespace())
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .map(str::to_string)
}

fn json_array(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("not an exec-form array ({e}): {args}"))
}

#[test]
fn the_image_runs_tidings_as_a_fixed_non_root_user() {
    let stage = final_stage(&std::fs::read_to_string(repo("Dockerfile")).unwrap());
    let users = instruction(&stage, "USER");
    let user = users.last().expect("the final stage sets USER");
    let uid = user.split(':').next().unwrap();
    // Numeric, so that a runtime can check it is not root without the image's passwd.
    let uid: u32 = uid
        .parse()
        .unwrap_or_else(|_| panic!("USER {user} is not a number"));
    assert_ne!(uid, 0, "USER {user} is root");
    let entrypoint = json_array(instruction(&stage, "ENTRYPOINT").last().unwrap());
    assert_eq!(entrypoint, [env!("CARGO_PKG_NAME")]);
    assert!(
        Path::new(env!("CARGO_BIN_EXE_tidings")).ends_with(env!("CARGO_PKG_NAME")),
        "the binary is named after the package"
    );
    let copied = instruction(&stage, "COPY");
    let binary = format!("/usr/local/bin/{}", env!("CARGO_PKG_NAME"));
    assert!(
        copied
            .iter()
            .any(|c| c.starts_with("--from=builder") && c.ends_with(&binary)),
        "{copied:?}"
    );
}

#[test]
fn the_image_keeps_state_and_records_in_its_volume_and_reads_its_config_from_etc() {
    let stage = final_stage(&std::fs::read_to_string(repo("Dockerfile")).unwrap());
    let volume = instruction(&stage, "VOLUME");
    assert_eq!(volume.len(), 1, "{volume:?}");
    let state = env_of(&stage, "STATE_DIRECTORY").expect("ENV STATE_DIRECTORY");
    assert_eq!(volume[0], state, "the volume is the state directory");
    let etc = env_of(&stage, "CONFIGURATION_DIRECTORY").expect("ENV CONFIGURATION_DIRECTORY");
    let config = format!("{etc}/{CONFIG_FILE}");
    let cmd = json_array(instruction(&stage, "CMD").last().unwrap());
    assert_eq!(cmd, ["run", "--config", config.as_str()]);
    assert!(
        instruction(&stage, "COPY").contains(&format!("config/tidings.toml {config}").as_str()),
        "the default config is at {config}"
    );

    // What tidings makes of the default config in the image: everything it
    // writes is under the volume.
    let cfg = Config::load_at(&Locations::new(
        Some(&repo("config/tidings.toml")),
        Some(state.as_ref()),
        Some(etc.as_ref()),
    ))
    .unwrap();
    assert!(cfg.state.dir.starts_with(&state), "{:?}", cfg.state.dir);
    for s in &cfg.sinks {
        if let sink::Config::Jsonl(j) = s {
            assert!(j.path.starts_with(&state), "{:?}", j.path);
        }
    }
}

#[test]
fn the_build_context_keeps_the_sources_and_leaves_out_target_and_git() {
    let ignored: Vec<String> = std::fs::read_to_string(repo(".dockerignore"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_matches('/').to_string())
        .collect();
    for left_out in ["target", ".git"] {
        assert!(
            ignored.iter().any(|i| i == left_out),
            "{left_out}: {ignored:?}"
        );
    }
    // What `cargo build --locked` needs (benches: Cargo.toml names them).
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "src",
        "config",
        "seeds",
        "benches",
    ] {
        assert!(repo(needed).exists(), "{needed}");
        assert!(
            !ignored
                .iter()
                .any(|i| i == needed || i == "*" || needed.starts_with(&format!("{i}/"))),
            "{needed} is left out of the build context: {ignored:?}"
        );
    }
}

/// The `Key=value` settings of a unit file, in order.
fn unit_settings(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn setting<'a>(settings: &'a [(String, String)], key: &str) -> &'a str {
    settings
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{key} is not set"))
}

/// A systemd time span as the unit files here write it: `45s`, `2min`, `90`.
fn seconds(span: &str) -> Duration {
    let (n, unit) = span
        .find(|c: char| !c.is_ascii_digit())
        .map_or((span, ""), |i| span.split_at(i));
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("time span {span:?}"));
    match unit {
        "" | "s" => Duration::from_secs(n),
        "min" => Duration::from_secs(n * 60),
        other => panic!("unit {other:?} in {span:?}"),
    }
}

#[test]
fn the_systemd_unit_gives_the_drain_its_grace_and_the_service_its_directories() {
    let unit = std::fs::read_to_string(repo("packaging/tidings.service")).unwrap();
    let s = unit_settings(&unit);
    let grace = Config::load(None).unwrap().pipeline.shutdown_grace;
    assert_eq!(setting(&s, "KillSignal"), "SIGTERM");
    let stop = seconds(setting(&s, "TimeoutStopSec"));
    assert!(
        stop > grace,
        "TimeoutStopSec {stop:?} must exceed the drain's grace {grace:?}"
    );
    assert_eq!(setting(&s, "Restart"), "on-failure");
    assert!(seconds(setting(&s, "RestartSec")) > Duration::ZERO);
    // The directories whose variables tidings reads (see tests/it/locations.rs).
    assert_eq!(setting(&s, "StateDirectory"), "tidings");
    assert_eq!(setting(&s, "ConfigurationDirectory"), "tidings");
    assert_eq!(setting(&s, "DynamicUser"), "yes");
    assert_eq!(setting(&s, "ProtectSystem"), "strict");
    assert_eq!(setting(&s, "CapabilityBoundingSet"), "");
    let exec: Vec<&str> = setting(&s, "ExecStart").split_whitespace().collect();
    assert!(
        exec[0].ends_with(&format!("/{}", env!("CARGO_PKG_NAME"))),
        "{exec:?}"
    );
    assert_eq!(exec[1..], ["run"]);
}

#[test]
fn systemd_analyze_verify_finds_nothing_in_the_unit() {
    // verify checks that ExecStart's binary exists: point it at the one built.
    let unit = std::fs::read_to_string(repo("packaging/tidings.service"))
        .unwrap()
        .replace(
            "ExecStart=/usr/local/bin/tidings ",
            &format!("ExecStart={} ", env!("CARGO_BIN_EXE_tidings")),
        );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tidings.service");
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        // The man page is not installed where the tests run.
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze does not run ({e}): install Debian's systemd package")
        });
    // verify exits 0 on an unknown key or a bad value too, and says so.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

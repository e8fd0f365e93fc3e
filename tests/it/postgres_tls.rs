//! TLS to PostgreSQL, against a server the test starts itself with `ssl = on`
//! and a certificate from a CA made for the test, which accepts TLS
//! connections only (`hostssl` in `pg_hba.conf`): each `sslmode` either
//! writes the records or fails at once with an error that says why.

use std::path::Path;
use std::process::{Command, Output};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::support::article_page;
use crate::support::own_postgres::{OwnPostgres, Setup};

/// A TLS-only server and the PEM of the CA that issued its certificate
/// (for `localhost` and `127.0.0.1`).
fn tls_server() -> (OwnPostgres, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "tidings test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let server = OwnPostgres::start(Setup {
        hba: &["hostssl all all 127.0.0.1/32 trust"],
        tls: Some((&cert.pem(), &key.serialize_pem())),
    });
    (server, ca_cert.pem())
}

/// `tidings backfill` of one page into `table` of the server at `port`,
/// with the URL parameters `params`, from a config in `dir`.
fn backfill(dir: &Path, port: u16, table: &str, params: &str) -> Output {
    std::fs::write(
        dir.join(format!("{table}.toml")),
        format!(
            "[state]\ndir = \"state-{table}\"\n\
             [pipeline]\nsink_wait_secs = 1\n\
             [[sinks]]\nkind = \"postgres\"\n\
             url = \"postgres://postgres@127.0.0.1:{port}/postgres?{params}\"\n\
             table = \"{table}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("page.html"), article_page(11)).unwrap();
    Command::new(env!("CARGO_BIN_EXE_tidings"))
        .current_dir(dir)
        .args([
            "backfill",
            "--config",
            &format!("{table}.toml"),
            "page.html",
        ])
        .env_remove("RUST_LOG")
        .output()
        .expect("the tidings binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn rows(server: &OwnPostgres, table: &str) -> i64 {
    server
        .admin()
        .await
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_its_ca_and_require_without_roots_write_over_tls() {
    let (server, ca) = tls_server();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca).unwrap();

    // The CA file relative to the config's folder, as every path in it.
    let out = backfill(
        dir.path(),
        server.port(),
        "verified",
        "sslmode=verify-full&sslrootcert=ca.pem",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(rows(&server, "verified").await, 1);

    let out = backfill(dir.path(), server.port(), "encrypted", "sslmode=require");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(rows(&server, "encrypted").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_ca_or_no_tls_is_refused_at_once_with_the_reason() {
    let (server, _ca) = tls_server();
    let dir = tempfile::tempdir().unwrap();

    // The test's CA is in no system store.
    let out = backfill(dir.path(), server.port(), "system", "sslmode=verify-full");
    assert!(!out.status.success());
    let error = text(&out.stderr);
    for said in [
        "sslmode=verify-full",
        "the system's root certificates",
        "invalid peer certificate: UnknownIssuer",
        "certificate verification failed",
        "sslrootcert=PATH",
    ] {
        assert!(error.contains(said), "{said:?} in {error}");
    }
    // Refused for good, not retried as an outage.
    assert!(!error.contains("unreachable for"), "{error}");

    let out = backfill(dir.path(), server.port(), "plain", "sslmode=disable");
    assert!(!out.status.success());
    let error = text(&out.stderr);
    assert!(
        error.contains("no pg_hba.conf entry") && error.contains("no encryption"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_against_a_server_without_tls_is_refused_and_prefer_falls_back() {
    let server = OwnPostgres::start(Setup {
        hba: &["host all all 127.0.0.1/32 trust"],
        tls: None,
    });
    let dir = tempfile::tempdir().unwrap();

    let out = backfill(dir.path(), server.port(), "required", "sslmode=require");
    assert!(!out.status.success());
    let error = text(&out.stderr);
    assert!(
        error.contains("server does not support TLS") && error.contains("turn ssl on"),
        "{error}"
    );
    assert!(!error.contains("unreachable for"), "{error}");

    // The default, as in libpq: TLS when the server has it, else plain.
    let out = backfill(dir.path(), server.port(), "preferred", "application_name=t");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(rows(&server, "preferred").await, 1);
}

#[test]
fn check_names_a_bad_sslmode_and_an_unreadable_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").unwrap();
    let config = dir.path().join("tidings.toml");
    std::fs::write(
        &config,
        "[[sinks]]\nkind = \"postgres\"\nurl = \"postgres://u@db/a?sslmode=verify_full\"\n\
         [[sinks]]\nkind = \"postgres\"\nurl = \"postgres://u@db/b?sslmode=verify-ca&sslrootcert=missing.pem\"\n\
         [[sinks]]\nkind = \"postgres\"\nurl = \"postgres://u@db/c?sslmode=verify-full&sslrootcert=empty.pem\"\n\
         [[sinks]]\nkind = \"postgres\"\nurl = \"postgres://u@db/d?sslmode=require\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 3, "{report}");
    assert!(
        lines[0].contains("sinks[0]: sslmode=\"verify_full\" is not one of disable, prefer, require, verify-ca, verify-full"),
        "{report}"
    );
    assert!(
        lines[1].contains("sinks[1].url: sslrootcert: cannot read")
            && lines[1].contains("missing.pem"),
        "{report}"
    );
    assert!(
        lines[2].contains("sinks[2].url: sslrootcert") && lines[2].contains("no PEM certificate"),
        "{report}"
    );
}

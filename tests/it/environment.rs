//! Configuration from the environment: `${VAR}`, `${VAR:-default}` and `$$`
//! in string values, `X_file` keys for secrets, and what `tidings check`
//! says when a variable is missing, all through the binary as an operator
//! runs it. Each test gives the child process its own variables, so tests
//! running at once do not see each other's.

use std::path::Path;
use std::process::{Command, Output};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::own_postgres::{OwnPostgres, Setup};
use crate::support::{article_page, records};

/// `tidings ARGS` in `dir` with the variables `env` set (and no others of
/// the test's own).
fn tidings(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidings"));
    cmd.current_dir(dir).args(args).env_remove("RUST_LOG");
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().expect("the tidings binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `dir/tidings.toml` and an article page `dir/in/page.html` to
/// backfill.
fn setup(dir: &Path, config: &str) {
    std::fs::write(dir.join("tidings.toml"), config).unwrap();
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/page.html"), article_page(3)).unwrap();
}

fn backfill(dir: &Path, env: &[(&str, &str)]) -> Output {
    tidings(
        dir,
        &["backfill", "--config", "tidings.toml", "in/page.html"],
        env,
    )
}

fn check(dir: &Path, env: &[(&str, &str)]) -> Output {
    tidings(dir, &["check", "--config", "tidings.toml"], env)
}

#[test]
fn variables_and_defaults_fill_values_and_a_value_cannot_add_keys() {
    let dir = tempfile::tempdir().unwrap();
    setup(
        dir.path(),
        "[state]\ndir = \"${TIDINGS_IT_STATE}\"\n\
         [[sinks]]\nkind = \"jsonl\"\npath = \"${TIDINGS_IT_OUT_UNSET:-fallback}/${TIDINGS_IT_FILE}\"\n",
    );
    // A value that would be two more keys and a table, were it TOML.
    let sneaky = "records.jsonl\"\nfsync = true\n[[sinks]]\nkind = \"stdout";
    let env = [("TIDINGS_IT_STATE", "st8"), ("TIDINGS_IT_FILE", sneaky)];

    let out = check(dir.path(), &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = backfill(dir.path(), &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        dir.path().join("st8").is_dir(),
        "the state folder from the variable"
    );
    assert!(!dir.path().join("${TIDINGS_IT_STATE}").exists());
    let written = records(&dir.path().join("fallback").join(sneaky));
    assert_eq!(
        written.len(),
        1,
        "the record in the file the value names, whole"
    );
    assert!(
        !text(&out.stdout).contains("Dispatch"),
        "no stdout sink came out of the value"
    );
}

#[test]
fn an_unset_variable_without_default_is_reported_by_check_with_its_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    setup(
        dir.path(),
        "[state]\ndir = \"state\"\n\
         [[sinks]]\nkind = \"jsonl\"\npath = \"out/${TIDINGS_IT_NOWHERE}.jsonl\"\n\
         [[feeds]]\nurl = \"https://news.example/rss\"\ntags = [\"wire\", \"${TIDINGS_IT_REGION}\"]\n",
    );

    let out = check(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 2, "both at once: {report}");
    assert!(
        lines[0].starts_with(
            "tidings.toml: sinks[0].path: environment variable TIDINGS_IT_NOWHERE is not set"
        ) && lines[0].ends_with("(line 5)"),
        "{report}"
    );
    assert!(
        lines[1].starts_with(
            "tidings.toml: feeds[0].tags[1]: environment variable TIDINGS_IT_REGION is not set"
        ) && lines[1].ends_with("(line 8)"),
        "{report}"
    );

    // Nothing runs on such a config.
    let out = backfill(dir.path(), &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("TIDINGS_IT_NOWHERE is not set"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("out").exists());

    // Set, the same config is fine.
    let env = [("TIDINGS_IT_NOWHERE", "n"), ("TIDINGS_IT_REGION", "r")];
    assert_eq!(check(dir.path(), &env).status.code(), Some(0));
}

#[test]
fn two_dollars_write_one_and_a_lone_dollar_stays() {
    let dir = tempfile::tempdir().unwrap();
    setup(
        dir.path(),
        "[state]\ndir = \"state\"\n\
         [[sinks]]\nkind = \"jsonl\"\npath = \"$${TIDINGS_IT_X}/a$b/r.jsonl\"\n",
    );
    let out = backfill(dir.path(), &[("TIDINGS_IT_X", "no")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        records(&dir.path().join("${TIDINGS_IT_X}/a$b/r.jsonl")).len(),
        1
    );
    assert!(!dir.path().join("no").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variable_in_a_feed_url_is_where_the_feed_is_fetched() {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path("/desk/wire.rss"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/rss+xml")
                .set_body_string(format!(
                    "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Wire</title>\
                     <item><title>Dispatch 5</title><link>{base}/news/5</link><guid>n5</guid>\
                     </item></channel></rss>"
                )),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/news/5"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html; charset=utf-8")
                .set_body_string(article_page(5)),
        )
        .expect(1)
        .mount(&server)
        .await;

    let dir = tempfile::tempdir().unwrap();
    setup(
        dir.path(),
        "[state]\ndir = \"state\"\n[http]\nper_host_delay_ms = 0\n\
         [[sinks]]\nkind = \"jsonl\"\npath = \"out.jsonl\"\n\
         [[feeds]]\nurl = \"http://127.0.0.1:${TIDINGS_IT_PORT}/${TIDINGS_IT_DESK:-desk}/wire.rss\"\n",
    );
    let port = server.address().port().to_string();
    let out = tidings(
        dir.path(),
        &["run", "--once", "--config", "tidings.toml"],
        &[("TIDINGS_IT_PORT", &port)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = records(&dir.path().join("out.jsonl"));
    assert_eq!(written.len(), 1);
    assert_eq!(written[0]["url"], format!("{base}/news/5"));
    assert_eq!(
        written[0]["source"]["location"],
        format!("{base}/desk/wire.rss")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_file_logs_in_to_postgres_and_a_wrong_password_shows_nowhere() {
    // A server that checks passwords (the shared test server trusts all).
    let server = OwnPostgres::start(Setup {
        hba: &["host all all 127.0.0.1/32 scram-sha-256"],
        tls: None,
    });
    let admin = server.admin().await;
    for sql in [
        "CREATE ROLE writer LOGIN PASSWORD 'C0rrect-h0rse'",
        "CREATE DATABASE news OWNER writer",
    ] {
        admin.batch_execute(sql).await.unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    setup(
        dir.path(),
        "[state]\ndir = \"state\"\n[pipeline]\nsink_wait_secs = 0\n\
         [[sinks]]\nkind = \"postgres\"\n\
         url = \"postgres://writer@127.0.0.1:${TIDINGS_IT_PG_PORT}/news\"\n\
         password_file = \"${TIDINGS_IT_SECRETS:-secrets}/pg\"\n",
    );
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    let port = server.port().to_string();
    let env = [("TIDINGS_IT_PG_PORT", port.as_str())];

    // The way editors and `echo` write it: with a newline, not part of it.
    std::fs::write(dir.path().join("secrets/pg"), "C0rrect-h0rse\n").unwrap();
    let out = backfill(dir.path(), &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let news = server.client("news").await;
    let count: i64 = news
        .query_one("SELECT count(*) FROM records", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);

    std::fs::write(dir.path().join("secrets/pg"), "Wr0ng-battery\n").unwrap();
    let out = backfill(dir.path(), &env);
    assert!(!out.status.success());
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(shown.contains("password authentication failed"), "{shown}");
    assert!(!shown.contains("Wr0ng"), "{shown}");
}

#[test]
fn values_from_the_environment_or_a_file_never_show_in_check_or_errors() {
    const LISTEN: &str = "L1sten-S3cret";
    const CODE: &str = "F33d-C0de-S3cret";
    const TOKEN: &str = "Sh0rt-T0k";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
    setup(
        dir.path(),
        "[state]\ndir = \"state\"\n\
         [metrics]\nlisten = \"${TIDINGS_IT_LISTEN}\"\n\
         [web]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"token\"\n\
         [[feeds]]\nurl = \"https://bad host/feed?code=${TIDINGS_IT_CODE}\"\n\
         [[sinks]]\nkind = \"postgres\"\nurl = \"postgres://w@127.0.0.1/x\"\n\
         password = \"p\"\npassword_file = \"token\"\n\
         [[sinks]]\nkind = \"jsonl\"\npath = \"o.jsonl\"\npth_file = \"token\"\n\
         [[sinks]]\nkind = \"postgres\"\nurl = \"postgres://w@127.0.0.1/y\"\n\
         password_file = \"missing\"\n",
    );
    let env = [("TIDINGS_IT_LISTEN", LISTEN), ("TIDINGS_IT_CODE", CODE)];

    let out = check(dir.path(), &env);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    for (key, message) in [
        (
            "metrics.listen",
            "\"${TIDINGS_IT_LISTEN}\" is not an address",
        ),
        ("web.token_file", "is shorter than 16 characters"),
        (
            "feeds[0].url",
            "\"https://bad host/feed?code=${TIDINGS_IT_CODE}\"",
        ),
        (
            "sinks[0].password_file",
            "give `password` or `password_file`, not both",
        ),
        (
            "sinks[1].pth_file",
            "unknown field `pth_file`, did you mean `path_file`?",
        ),
        ("sinks[2].password_file", "cannot read"),
    ] {
        assert!(
            report
                .lines()
                .any(|l| l.contains(&format!("tidings.toml: {key}: ")) && l.contains(message)),
            "{key}: {message} in {report}"
        );
    }
    assert_eq!(report.lines().count(), 6, "{report}");

    let run = tidings(
        dir.path(),
        &["run", "--once", "--config", "tidings.toml"],
        &env,
    );
    assert!(!run.status.success());
    for shown in [&out.stdout, &out.stderr, &run.stdout, &run.stderr] {
        let shown = text(shown);
        for secret in [LISTEN, CODE, TOKEN] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}

//! Every error names each cause once: in its own message or as its source,
//! never both, so the one-line chain `main` prints says it once.

use std::error::Error;
use std::path::PathBuf;

use tidings::fetch::local::InputError;
use tidings::sink::{NatsError, PostgresError, SinkError};
use tidings::state::StateError;
use tidings::tag::TaxonomyError;

const NO_SUCH_FILE: &str = "No such file or directory";

fn enoent() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::ENOENT)
}

fn bad_json() -> serde_json::Error {
    serde_json::from_str::<serde_json::Value>("{").unwrap_err()
}

fn bad_postgres() -> tokio_postgres::Error {
    "host=".parse::<tokio_postgres::Config>().unwrap_err()
}

/// Walks the chain: no error's message holds its source's message. Returns
/// the line `main` would print.
fn each_cause_once<E: Error + Send + Sync + 'static>(error: E) -> String {
    let mut level: Option<&(dyn Error + 'static)> = Some(&error);
    while let Some(e) = level {
        if let Some(source) = e.source() {
            let (outer, inner) = (e.to_string(), source.to_string());
            assert!(
                !outer.contains(&inner),
                "{outer:?} shows its source {inner:?} and returns it as its source too"
            );
        }
        level = e.source();
    }
    tidings::observe::error_chain(&anyhow::Error::new(error))
}

#[test]
fn errors_with_an_os_cause_say_it_once() {
    let lines = [
        each_cause_once(InputError::Unreadable {
            path: "docs/a.txt".into(),
            error: enoent(),
        }),
        each_cause_once(StateError::CreateDir {
            path: PathBuf::from("data"),
            source: enoent(),
        }),
        each_cause_once(SinkError::Io {
            path: "out/records.jsonl".into(),
            source: enoent(),
        }),
        each_cause_once(TaxonomyError::Io {
            path: PathBuf::from("taxonomy.toml"),
            source: enoent(),
        }),
    ];
    for line in lines {
        assert_eq!(line.matches(NO_SUCH_FILE).count(), 1, "{line}");
    }
}

#[test]
fn errors_with_a_library_cause_say_it_once() {
    let json = bad_json().to_string();
    let postgres = bad_postgres().to_string();
    for (line, cause) in [
        (
            each_cause_once(StateError::Sqlite {
                path: PathBuf::from("data"),
                source: rusqlite::Error::QueryReturnedNoRows,
            }),
            rusqlite::Error::QueryReturnedNoRows.to_string(),
        ),
        (
            each_cause_once(SinkError::Postgres(PostgresError::Connect {
                target: "db.example:5432/news".into(),
                source: bad_postgres(),
            })),
            postgres.clone(),
        ),
        (
            each_cause_once(PostgresError::Setup {
                table: "records".into(),
                source: bad_postgres(),
            }),
            postgres.clone(),
        ),
        (
            each_cause_once(PostgresError::Write {
                table: "records".into(),
                count: 3,
                source: bad_postgres(),
            }),
            postgres,
        ),
        (
            each_cause_once(PostgresError::Encode(bad_json())),
            json.clone(),
        ),
        (
            each_cause_once(SinkError::Nats(NatsError::Encode {
                id: "abc".into(),
                source: bad_json(),
            })),
            json,
        ),
    ] {
        assert_eq!(line.matches(cause.as_str()).count(), 1, "{line}");
    }
}

/// rusqlite shows some errors' source in their own message: the printed
/// chain still says it once.
#[test]
fn a_library_error_that_repeats_its_source_is_printed_once() {
    let busy =
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
    let cause = busy.to_string();
    let line = tidings::observe::error_chain(&anyhow::Error::new(StateError::Sqlite {
        path: PathBuf::from("data"),
        source: busy,
    }));
    assert_eq!(line.matches(cause.as_str()).count(), 1, "{line}");
}

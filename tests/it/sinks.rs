//! The PostgreSQL and NATS JetStream sinks against the real servers named by
//! TIDINGS_TEST_POSTGRES_URL and TIDINGS_TEST_NATS_URL (skipped, with a
//! notice, when unset). Each test works in its own table or stream and
//! removes it afterwards.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tidings::config;
use tidings::record::{
    ActorKind, ActorTag, Record, SCHEMA_VERSION, Source, SourceKind, TopicTag, content_hash,
    record_id,
};
use tidings::sink::{
    NatsError, NatsSink, PostgresError, PostgresSink, Sink, SinkError, TABLE_VERSION,
    validate_nats, validate_postgres,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Bound on anything that waits for a server, so a broken sink fails the
/// test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(120);

fn env_url(var: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|v| !v.is_empty());
    if url.is_none() {
        println!("skipped: {var} not set");
    }
    url
}

/// A name no other test (or concurrent run) uses.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Record `n` of a test run: even ones are about a ceasefire and name a
/// state, odd ones are not.
fn record(run: &str, n: usize) -> Record {
    let url = format!("https://wire.example/{run}/story-{n}");
    let title = format!("Envoys end round {n} of talks in Geneva");
    let text = format!(
        "The delegations met for round {n} behind closed doors.\n\n\
         Both sides described the exchange as practical and agreed to meet again."
    );
    let about_ceasefire = n.is_multiple_of(2);
    Record {
        id: record_id(Some(&url), &title, &text),
        schema_version: SCHEMA_VERSION,
        url: Some(url.clone()),
        canonical_url: Some(url),
        guid: Some(format!("{run}-{n}")),
        summary: Some(format!("Round {n} of talks ended.")),
        authors: vec!["Desk Reporter".to_string()],
        published_at: Some("2026-11-20T08:30:00Z".to_string()),
        fetched_at: "2026-11-25T09:00:00Z".to_string(),
        source: Source {
            kind: SourceKind::Feed,
            location: "https://wire.example/feed.xml".to_string(),
            name: Some("Example Wire".to_string()),
            tags: vec!["wire".to_string()],
        },
        language: Some("en".to_string()),
        word_count: text.split_whitespace().count(),
        content_hash: content_hash(&text),
        duplicate_of: None,
        similarity: None,
        duplicate_method: None,
        relevant: about_ceasefire,
        relevance: if about_ceasefire { 0.8 } else { 0.1 },
        topics: if about_ceasefire {
            vec![TopicTag {
                id: "ceasefire".to_string(),
                label: "Ceasefire".to_string(),
                score: 0.8,
                evidence: vec!["Both sides discussed a halt to the shelling.".to_string()],
            }]
        } else {
            Vec::new()
        },
        actors: if about_ceasefire {
            vec![ActorTag {
                id: "ukraine".to_string(),
                name: "Ukraine".to_string(),
                kind: ActorKind::State,
                mentions: 2,
                spellings: vec!["Ukraine".to_string()],
            }]
        } else {
            Vec::new()
        },
        title,
        text,
    }
}

fn records(run: &str, range: std::ops::Range<usize>) -> Vec<Record> {
    range.map(|n| record(run, n)).collect()
}

fn ids(records: &[Record]) -> BTreeSet<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

/// A port on which nothing listens (until a test starts a proxy there).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// The URL with its host and port replaced by 127.0.0.1:`port`, and the
/// server address the original pointed to.
async fn via_port(url: &str, port: u16) -> (String, SocketAddr) {
    let mut u = url::Url::parse(url).expect("the test URL parses");
    let host = u.host_str().expect("the test URL has a host").to_string();
    let server =
        tokio::net::lookup_host((host.as_str(), u.port().expect("the test URL has a port")))
            .await
            .expect("the test server's host resolves")
            .next()
            .expect("one address");
    u.set_host(Some("127.0.0.1")).unwrap();
    u.set_port(Some(port)).unwrap();
    (u.to_string(), server)
}

/// A TCP forwarder standing in for a server that goes away and comes back.
struct Proxy {
    task: JoinHandle<()>,
}

impl Proxy {
    async fn start(port: u16, server: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the proxy port is free");
        let task = tokio::spawn(async move {
            // Dropped with the task: stopping the proxy cuts every open
            // connection, as a server that dies would.
            let mut conns = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                conns.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(server).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy { task }
    }

    /// Closes the listener and all connections, and waits until they are.
    async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {PATIENCE:?}"))
}

/// Runs its future when dropped, so a failing test removes its table or
/// stream too. `Drop` cannot await, and the test's runtime may be going away,
/// so it runs on a thread with a runtime of its own.
struct Cleanup(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Cleanup {
    fn new(fut: impl Future<Output = ()> + Send + 'static) -> Cleanup {
        Cleanup(Some(Box::pin(fut)))
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(fut) = self.0.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(fut);
                }
            })
            .join();
        }
    }
}

/// Opens `sink` on a port where nothing listens yet and writes `first`; the
/// server appears; then it is cut mid-run and `second` is written. Both
/// writes must wait for the server, then complete. Returns the running proxy.
async fn write_across_outages(
    sink: config::Sink,
    port: u16,
    server: SocketAddr,
    first: Vec<Record>,
    second: Vec<Record>,
) -> Proxy {
    let opening = tokio::spawn(async move {
        let mut sink = Sink::open(&sink).await?;
        sink.write(&first).await?;
        Ok::<_, SinkError>(sink)
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!opening.is_finished(), "open succeeded with no server");
    let proxy = Proxy::start(port, server).await;
    let mut sink = within("the first write", opening).await.unwrap().unwrap();

    // The server goes away mid-run and comes back.
    proxy.stop().await;
    let writing = tokio::spawn(async move {
        sink.write(&second).await?;
        Ok::<_, SinkError>(sink)
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !writing.is_finished(),
        "a write was acknowledged with the server gone"
    );
    let proxy = Proxy::start(port, server).await;
    within("the second write", writing).await.unwrap().unwrap();
    proxy
}

mod pg {
    use super::*;
    use tokio_postgres::{Client, NoTls};

    pub async fn client(url: &str) -> Client {
        let (client, conn) = tokio_postgres::connect(url, NoTls)
            .await
            .expect("the test database answers");
        tokio::spawn(conn);
        client
    }

    /// The ids stored in `table`, and how many rows there are.
    pub async fn stored(client: &Client, table: &str) -> (BTreeSet<String>, i64) {
        let rows = client
            .query(&format!("SELECT id FROM {table}"), &[])
            .await
            .expect("the table can be read");
        let count = rows.len() as i64;
        (rows.iter().map(|r| r.get::<_, String>(0)).collect(), count)
    }

    /// Drops `table` and its `tidings_schema` row when the test ends.
    pub fn cleanup(url: &str, table: &str) -> Cleanup {
        let (url, table) = (url.to_string(), table.to_string());
        Cleanup::new(async move {
            let db = client(&url).await;
            let _ = db
                .batch_execute(&format!("DROP TABLE IF EXISTS {table}"))
                .await;
            let _ = db
                .execute(
                    "DELETE FROM tidings_schema WHERE table_name = $1",
                    &[&table],
                )
                .await;
        })
    }
}

#[tokio::test]
async fn postgres_stores_each_record_once_and_a_replay_changes_nothing() {
    let Some(url) = env_url("TIDINGS_TEST_POSTGRES_URL") else {
        return;
    };
    let table = unique("tidings_it");
    let _cleanup = pg::cleanup(&url, &table);
    let db = pg::client(&url).await;
    let batch_a = records(&table, 0..7);
    let batch_b = records(&table, 7..10);

    let mut sink = PostgresSink::open(&url, &table).await.unwrap();
    sink.write(&batch_a).await.unwrap();
    sink.write(&batch_b).await.unwrap();
    let all: Vec<Record> = batch_a.iter().chain(&batch_b).cloned().collect();
    assert_eq!(pg::stored(&db, &table).await, (ids(&all), 10));

    let before: Vec<(String, String)> = db
        .query(
            &format!("SELECT id, written_at::text FROM {table} ORDER BY id"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // A replay, as after a crash before the state store marked them done,
    // through a sink opened anew on the existing table.
    let mut again = PostgresSink::open(&url, &table).await.unwrap();
    again.write(&all).await.unwrap();
    again.write(&batch_b).await.unwrap();
    assert_eq!(pg::stored(&db, &table).await, (ids(&all), 10));
    let after: Vec<(String, String)> = db
        .query(
            &format!("SELECT id, written_at::text FROM {table} ORDER BY id"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(before, after, "a replay rewrote rows");

    // The columns a newsroom queries hold the record's values.
    let ceasefire: i64 = db
        .query_one(
            &format!(
                "SELECT count(*) FROM {table} WHERE topics @> '[{{\"id\": \"ceasefire\"}}]' \
                 AND actors @> '[{{\"id\": \"ukraine\"}}]' AND relevant"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ceasefire, 5);
    let row = db
        .query_one(
            &format!(
                "SELECT title, published_at = '2026-11-20T08:30:00Z'::timestamptz, \
                 record->>'guid', schema_version, source_tags ? 'wire' FROM {table} WHERE id = $1"
            ),
            &[&all[3].id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), all[3].title);
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, Option<String>>(2), all[3].guid);
    assert_eq!(row.get::<_, i32>(3), SCHEMA_VERSION as i32);
    assert!(row.get::<_, bool>(4), "the feed's tags are queryable");

    // A re-fetched page whose text changed replaces its row.
    let mut changed = all[3].clone();
    changed.title = "Envoys end round 3 with a joint statement".to_string();
    again.write(&[changed.clone()]).await.unwrap();
    assert_eq!(pg::stored(&db, &table).await.1, 10);
    let title: String = db
        .query_one(
            &format!("SELECT title FROM {table} WHERE id = $1"),
            &[&changed.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(title, changed.title);
}

#[tokio::test]
async fn postgres_keeps_the_later_of_two_records_with_one_id_in_a_batch() {
    let Some(url) = env_url("TIDINGS_TEST_POSTGRES_URL") else {
        return;
    };
    let table = unique("tidings_it");
    let _cleanup = pg::cleanup(&url, &table);
    let db = pg::client(&url).await;
    let first = record(&table, 1);
    let mut second = first.clone();
    second.title = "Envoys end round 1, corrected".to_string();
    // A text with U+0000 that PostgreSQL cannot store as such.
    second.text.push_str("\u{0}trailing");

    let mut sink = PostgresSink::open(&url, &table).await.unwrap();
    sink.write(&[first, second.clone()]).await.unwrap();
    let rows = db
        .query(&format!("SELECT title, text FROM {table}"), &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), second.title);
    assert!(rows[0].get::<_, String>(1).ends_with("\u{FFFD}trailing"));
}

#[tokio::test]
async fn postgres_refuses_tables_it_did_not_lay_out() {
    let Some(url) = env_url("TIDINGS_TEST_POSTGRES_URL") else {
        return;
    };
    let db = pg::client(&url).await;

    let newer = unique("tidings_it");
    let _cleanup_newer = pg::cleanup(&url, &newer);
    drop(PostgresSink::open(&url, &newer).await.unwrap());
    db.execute(
        "UPDATE tidings_schema SET version = $2 WHERE table_name = $1",
        &[&newer, &(TABLE_VERSION + 1)],
    )
    .await
    .unwrap();
    let err = PostgresSink::open(&url, &newer)
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, PostgresError::NewerTable { .. }), "{err}");
    assert!(err.to_string().contains(&newer), "{err}");

    let foreign = unique("tidings_it");
    let _cleanup_foreign = pg::cleanup(&url, &foreign);
    db.batch_execute(&format!("CREATE TABLE {foreign} (id integer)"))
        .await
        .unwrap();
    let err = PostgresSink::open(&url, &foreign)
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, PostgresError::ForeignTable { .. }), "{err}");
}

#[tokio::test]
async fn postgres_write_waits_for_a_server_that_is_down_and_stores_everything_once() {
    let Some(url) = env_url("TIDINGS_TEST_POSTGRES_URL") else {
        return;
    };
    let table = unique("tidings_it");
    let _cleanup = pg::cleanup(&url, &table);
    let db = pg::client(&url).await;
    let port = free_port();
    let (proxied, server) = via_port(&url, port).await;
    let batch_a = records(&table, 0..6);
    let batch_b = records(&table, 6..12);

    let sink = config::Sink::Postgres {
        url: proxied,
        table: table.clone(),
    };
    let proxy = write_across_outages(sink, port, server, batch_a.clone(), batch_b.clone()).await;

    let all: Vec<Record> = batch_a.iter().chain(&batch_b).cloned().collect();
    assert_eq!(pg::stored(&db, &table).await, (ids(&all), 12));
    proxy.stop().await;
}

mod js {
    use super::*;
    use async_nats::jetstream::{self, Context};

    pub async fn context(url: &str) -> Context {
        let client = async_nats::connect(url)
            .await
            .expect("the test NATS server answers");
        jetstream::new(client)
    }

    /// The message ids stored in `stream`, and how many messages there are.
    pub async fn stored(js: &Context, stream: &str) -> (BTreeSet<String>, u64) {
        let mut stream = js.get_stream(stream).await.expect("the stream exists");
        let state = stream.info().await.expect("stream info").state.clone();
        let mut ids = BTreeSet::new();
        for seq in state.first_sequence..=state.last_sequence {
            if state.messages == 0 {
                break;
            }
            let message = stream.get_raw_message(seq).await.expect("a stored message");
            let id = message
                .headers
                .get("Nats-Msg-Id")
                .expect("each message carries its record id")
                .to_string();
            let record: Record =
                serde_json::from_slice(&message.payload).expect("each message is a record");
            assert_eq!(record.id, id);
            ids.insert(id);
        }
        (ids, state.messages)
    }

    /// Deletes the stream named `stream`, or else the one taking `subject`,
    /// when the test ends.
    pub fn cleanup(url: &str, stream: Option<&str>, subject: &str) -> Cleanup {
        let (url, stream, subject) = (
            url.to_string(),
            stream.map(str::to_string),
            subject.to_string(),
        );
        Cleanup::new(async move {
            let js = context(&url).await;
            let name = match stream {
                Some(name) => Some(name),
                None => js.stream_by_subject(subject).await.ok(),
            };
            if let Some(name) = name {
                let _ = js.delete_stream(name).await;
            }
        })
    }
}

#[tokio::test]
async fn nats_stores_each_record_once_and_drops_a_replay() {
    let Some(url) = env_url("TIDINGS_TEST_NATS_URL") else {
        return;
    };
    let stream = unique("TIDINGS_IT");
    let subject = format!("{}.records", stream.to_lowercase());
    let _cleanup = js::cleanup(&url, Some(&stream), &subject);
    let js = js::context(&url).await;
    let batch_a = records(&stream, 0..7);
    let batch_b = records(&stream, 7..10);

    let mut sink = NatsSink::open(&url, &subject, Some(&stream)).await.unwrap();
    sink.write(&batch_a).await.unwrap();
    sink.write(&batch_b).await.unwrap();
    let all: Vec<Record> = batch_a.iter().chain(&batch_b).cloned().collect();
    assert_eq!(js::stored(&js, &stream).await, (ids(&all), 10));

    let mut again = NatsSink::open(&url, &subject, Some(&stream)).await.unwrap();
    again.write(&all).await.unwrap();
    assert_eq!(js::stored(&js, &stream).await, (ids(&all), 10));
}

#[tokio::test]
async fn nats_creates_a_stream_for_the_subject_when_none_is_named() {
    let Some(url) = env_url("TIDINGS_TEST_NATS_URL") else {
        return;
    };
    let subject = format!("{}.records", unique("tidings_it"));
    let _cleanup = js::cleanup(&url, None, &subject);
    let js = js::context(&url).await;
    let batch = records(&subject, 0..3);

    let mut sink = NatsSink::open(&url, &subject, None).await.unwrap();
    sink.write(&batch).await.unwrap();
    let stream = js.stream_by_subject(subject.as_str()).await.unwrap();
    assert_eq!(js::stored(&js, &stream).await, (ids(&batch), 3));
    // Opened again, it finds that stream rather than making another.
    let mut again = NatsSink::open(&url, &subject, None).await.unwrap();
    again.write(&batch).await.unwrap();
    assert_eq!(js::stored(&js, &stream).await.1, 3);
}

#[tokio::test]
async fn nats_refuses_a_named_stream_that_does_not_take_the_subject() {
    let Some(url) = env_url("TIDINGS_TEST_NATS_URL") else {
        return;
    };
    let stream = unique("TIDINGS_IT");
    let _cleanup = js::cleanup(&url, Some(&stream), "");
    let js = js::context(&url).await;
    js.create_stream(async_nats::jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![format!("{}.other", stream.to_lowercase())],
        ..Default::default()
    })
    .await
    .unwrap();

    let subject = format!("{}.records", stream.to_lowercase());
    let err = NatsSink::open(&url, &subject, Some(&stream))
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, NatsError::SubjectNotInStream { .. }), "{err}");
    assert!(err.to_string().contains(&subject), "{err}");
}

#[tokio::test]
async fn nats_write_waits_for_a_server_that_is_down_and_stores_everything_once() {
    let Some(url) = env_url("TIDINGS_TEST_NATS_URL") else {
        return;
    };
    let stream = unique("TIDINGS_IT");
    let subject = format!("{}.records", stream.to_lowercase());
    let _cleanup = js::cleanup(&url, Some(&stream), &subject);
    let js = js::context(&url).await;
    let port = free_port();
    let (proxied, server) = via_port(&url, port).await;
    let batch_a = records(&stream, 0..6);
    let batch_b = records(&stream, 6..12);

    let sink = config::Sink::Nats {
        url: proxied,
        subject: subject.clone(),
        stream: Some(stream.clone()),
    };
    let proxy = write_across_outages(sink, port, server, batch_a.clone(), batch_b.clone()).await;

    let all: Vec<Record> = batch_a.iter().chain(&batch_b).cloned().collect();
    assert_eq!(js::stored(&js, &stream).await, (ids(&all), 12));
    proxy.stop().await;
}

#[test]
fn bad_sink_settings_are_rejected_with_a_reason() {
    assert_eq!(
        validate_postgres("postgres://news@db.local:5432/newsroom", "records"),
        Vec::<String>::new()
    );
    assert_eq!(
        validate_nats("nats://bus.local:4222", "news.records", Some("NEWS")),
        Vec::<String>::new()
    );

    let scheme = validate_postgres("mysql://db.local/newsroom", "records");
    assert!(
        matches!(&scheme[..], [m] if m.contains("mysql")),
        "{scheme:?}"
    );
    let garbage = validate_postgres("not a url", "records");
    assert!(
        matches!(&garbage[..], [m] if m.contains("not a URL")),
        "{garbage:?}"
    );
    let table = validate_postgres("postgres://db.local/newsroom", "news-items; drop");
    assert!(
        matches!(&table[..], [m] if m.contains("news-items; drop")),
        "{table:?}"
    );

    let wildcard = validate_nats("nats://bus.local:4222", "news.*", None);
    assert!(
        matches!(&wildcard[..], [m] if m.contains("wildcard")),
        "{wildcard:?}"
    );
    let empty = validate_nats("nats://bus.local:4222", "", None);
    assert!(
        matches!(&empty[..], [m] if m.contains("empty")),
        "{empty:?}"
    );
    // Every problem of an entry is reported, not only the first.
    let all = validate_nats("http://bus.local", "news records", Some("news.stream"));
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all[0].contains("http"), "{all:?}");
    assert!(all[1].contains("whitespace"), "{all:?}");
    assert!(all[2].contains("news.stream"), "{all:?}");
}

#[tokio::test]
async fn sinks_with_bad_settings_fail_to_open_without_waiting() {
    // Nothing listens on these ports: a bad setting must be reported at once,
    // not retried like an unreachable server.
    let port = free_port();
    let err = within(
        "opening with a bad table",
        PostgresSink::open(
            &format!("postgres://postgres@127.0.0.1:{port}/test"),
            "Bad Name",
        ),
    )
    .await
    .err()
    .expect("refused");
    assert!(matches!(err, PostgresError::Config(_)), "{err}");
    let err = within(
        "opening with a bad subject",
        NatsSink::open(&format!("nats://127.0.0.1:{port}"), "news.>", None),
    )
    .await
    .err()
    .expect("refused");
    assert!(matches!(err, NatsError::Config(_)), "{err}");
}

/// The whole pipeline into all three sinks at once; then the same input again
/// with a fresh state store (a replay the state cannot filter): each sink still
/// holds every record exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_into_all_three_sinks_stores_each_record_once_even_when_replayed() {
    let (Some(pg_url), Some(nats_url)) = (
        env_url("TIDINGS_TEST_POSTGRES_URL"),
        env_url("TIDINGS_TEST_NATS_URL"),
    ) else {
        return;
    };
    let table = unique("tidings_backfill");
    let stream = unique("TIDINGS_BACKFILL");
    let subject = format!("{}.records", stream.to_lowercase());
    let _pg_cleanup = pg::cleanup(&pg_url, &table);
    let _js_cleanup = js::cleanup(&nats_url, Some(&stream), &subject);

    let dir = tempfile::tempdir().unwrap();
    let run = |state: &str| {
        let config = format!(
            "[state]\ndir = \"{state}\"\n\
             [[sinks]]\nkind = \"jsonl\"\npath = \"out.jsonl\"\n\
             [[sinks]]\nkind = \"postgres\"\nurl = \"{pg_url}\"\ntable = \"{table}\"\n\
             [[sinks]]\nkind = \"nats\"\nurl = \"{nats_url}\"\nsubject = \"{subject}\"\nstream = \"{stream}\"\n"
        );
        let path = dir.path().join(format!("{state}.toml"));
        std::fs::write(&path, config).unwrap();
        let seeds = crate::support::repo("seeds");
        let out = crate::support::tidings(
            dir.path(),
            &[
                "backfill",
                "--config",
                path.to_str().unwrap(),
                seeds.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", crate::support::stderr(&out));
    };
    run("first");
    run("second");

    let jsonl = crate::support::records(&dir.path().join("out.jsonl"));
    assert_eq!(
        jsonl.len(),
        10,
        "the file sink appends; the replay wrote again"
    );
    let expected: BTreeSet<String> = jsonl
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(expected.len(), 5, "with the same ids");
    let db = pg::client(&pg_url).await;
    assert_eq!(pg::stored(&db, &table).await, (expected.clone(), 5));
    let js = js::context(&nats_url).await;
    assert_eq!(js::stored(&js, &stream).await, (expected, 5));
}

//! The PostgreSQL and NATS JetStream sinks against the real servers (see
//! `support::servers`). Each test works in its own table or stream and
//! removes it afterwards.

use std::collections::BTreeSet;
use std::time::Duration;

use tidings::record::{
    ActorKind, ActorTag, DupMethod, Origin, OriginKind, Record, SCHEMA_VERSION, TopicTag,
    content_hash, record_id,
};
use tidings::sink::{
    self, NatsConfig, NatsError, NatsSink, PostgresConfig, PostgresError, PostgresSink, Sink,
    SinkError, TABLE_VERSION, validate_nats, validate_postgres,
};

use crate::support::servers::{self, Proxy, free_port, js, pg, within};

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
        source: Origin {
            kind: OriginKind::Feed,
            location: "https://wire.example/feed.xml".to_string(),
            name: Some("Example Wire".to_string()),
            tags: vec!["wire".to_string()],
        },
        language: Some("en".to_string()),
        word_count: text.split_whitespace().count(),
        content_hash: content_hash(&text),
        version: 1,
        updated_at: None,
        duplicate_of: None,
        duplicate_via: None,
        similarity: None,
        duplicate_method: None,
        story_id: Some(format!("story-{}", n / 2)),
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
        taxonomy_version: "0123456789ab".to_string(),
        truncated: false,
        title,
        text,
    }
}

fn records(run: &str, range: std::ops::Range<usize>) -> Vec<Record> {
    range.map(|n| record(run, n)).collect()
}

fn refs(records: &[Record]) -> Vec<&Record> {
    records.iter().collect()
}

fn ids(records: &[Record]) -> BTreeSet<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

/// Opens `sink` on a port where nothing listens yet and writes `first`; the
/// server appears; then it is cut mid-run and `second` is written. Both
/// writes must wait for the server, then complete. Returns the running proxy.
async fn write_across_outages(
    sink: sink::Config,
    proxy: &Proxy,
    first: Vec<Record>,
    second: Vec<Record>,
) {
    let opening = tokio::spawn(async move {
        let mut sink = Sink::open(&sink, None).await?;
        sink.write(&refs(&first)).await?;
        Ok::<_, SinkError>(sink)
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!opening.is_finished(), "open succeeded with no server");
    proxy.up();
    let mut sink = within("the first write", opening).await.unwrap().unwrap();

    // The server goes away mid-run and comes back.
    proxy.down();
    let writing = tokio::spawn(async move {
        sink.write(&refs(&second)).await?;
        Ok::<_, SinkError>(sink)
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !writing.is_finished(),
        "a write was acknowledged with the server gone"
    );
    proxy.up();
    within("the second write", writing).await.unwrap().unwrap();
}

#[tokio::test]
async fn postgres_stores_each_record_once_and_a_replay_changes_nothing() {
    let url = servers::postgres_url();
    let table = servers::unique("tidings_it");
    let _cleanup = pg::cleanup(&url, &table);
    let db = pg::client(&url).await;
    let batch_a = records(&table, 0..7);
    let batch_b = records(&table, 7..10);

    let mut sink = PostgresSink::open(&PostgresConfig::new(&url, &table), None)
        .await
        .unwrap();
    sink.write(&refs(&batch_a)).await.unwrap();
    sink.write(&refs(&batch_b)).await.unwrap();
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
    let mut again = PostgresSink::open(&PostgresConfig::new(&url, &table), None)
        .await
        .unwrap();
    again.write(&refs(&all)).await.unwrap();
    again.write(&refs(&batch_b)).await.unwrap();
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
    again.write(&[&changed]).await.unwrap();
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
    let url = servers::postgres_url();
    let table = servers::unique("tidings_it");
    let _cleanup = pg::cleanup(&url, &table);
    let db = pg::client(&url).await;
    let first = record(&table, 1);
    let mut second = first.clone();
    second.title = "Envoys end round 1, corrected".to_string();
    // A text with U+0000 that PostgreSQL cannot store as such.
    second.text.push_str("\u{0}trailing");

    let mut sink = PostgresSink::open(&PostgresConfig::new(&url, &table), None)
        .await
        .unwrap();
    sink.write(&[&first, &second]).await.unwrap();
    let rows = db
        .query(&format!("SELECT title, text FROM {table}"), &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), second.title);
    assert!(rows[0].get::<_, String>(1).ends_with("\u{FFFD}trailing"));
}

/// Each column as SQL reads it from the record's JSON (`r` is the row's
/// `record`): whatever way the sink sends a batch, a column must hold what
/// its record says.
const COLUMNS_FROM_RECORD: &[(&str, &str)] = &[
    ("id", "r->>'id'"),
    ("schema_version", "(r->>'schema_version')::integer"),
    ("url", "r->>'url'"),
    ("canonical_url", "r->>'canonical_url'"),
    ("guid", "r->>'guid'"),
    ("title", "r->>'title'"),
    ("text", "r->>'text'"),
    ("summary", "r->>'summary'"),
    ("authors", "r->'authors'"),
    ("published_at", "(r->>'published_at')::timestamptz"),
    ("fetched_at", "(r->>'fetched_at')::timestamptz"),
    ("source_kind", "r->'source'->>'kind'"),
    ("source_location", "r->'source'->>'location'"),
    ("source_name", "r->'source'->>'name'"),
    ("source_tags", "r->'source'->'tags'"),
    ("language", "r->>'language'"),
    ("word_count", "(r->>'word_count')::bigint"),
    ("content_hash", "r->>'content_hash'"),
    ("version", "(r->>'version')::integer"),
    ("updated_at", "(r->>'updated_at')::timestamptz"),
    ("duplicate_of", "r->>'duplicate_of'"),
    ("similarity", "(r->>'similarity')::double precision"),
    ("duplicate_method", "r->>'duplicate_method'"),
    ("relevant", "(r->>'relevant')::boolean"),
    ("relevance", "(r->>'relevance')::double precision"),
    ("topics", "r->'topics'"),
    ("actors", "r->'actors'"),
];

#[tokio::test]
async fn postgres_columns_hold_what_the_stored_record_says() {
    let url = servers::postgres_url();
    let table = servers::unique("tidings_it");
    let _cleanup = pg::cleanup(&url, &table);
    let db = pg::client(&url).await;
    let mut batch = records(&table, 0..4);
    // Every optional field empty.
    batch[1].url = None;
    batch[1].canonical_url = None;
    batch[1].guid = None;
    batch[1].summary = None;
    batch[1].published_at = None;
    batch[1].source.name = None;
    batch[1].source.tags = Vec::new();
    batch[1].language = None;
    batch[1].authors = Vec::new();
    // A near copy, with what escapes and quotes would trip over.
    batch[2].duplicate_of = Some(batch[0].id.clone());
    batch[2].similarity = Some(0.91);
    batch[2].duplicate_method = Some(DupMethod::Near);
    batch[2].title = "Quotes \"\" and 'single', a back\\slash, {braces}, NULL, \\N".to_string();
    batch[2].text =
        "Tabs\tand\r\nnew lines\n\n\\.\nand a literal \\u0000 and Ⅻ ünïcödé 🕊".to_string();
    batch[2].source.kind = OriginKind::File;
    batch[2].published_at = Some("2026-11-20T10:30:00+02:00".to_string());
    // A long text, which the server compresses and stores out of line.
    batch[3].text = "Observers will report to both capitals every week. ".repeat(4000);
    batch[3].word_count = usize::MAX >> 1;

    let mut sink = PostgresSink::open(&PostgresConfig::new(&url, &table), None)
        .await
        .unwrap();
    sink.write(&refs(&batch)).await.unwrap();
    assert_eq!(pg::stored(&db, &table).await, (ids(&batch), 4));

    for (column, from_record) in COLUMNS_FROM_RECORD {
        let differ: Vec<String> = db
            .query(
                &format!(
                    "SELECT id FROM (SELECT id, {column} AS c, record AS r FROM {table}) AS t \
                     WHERE c IS DISTINCT FROM {from_record}"
                ),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert!(
            differ.is_empty(),
            "{column} differs from the record in {differ:?}"
        );
    }
    // Long values are compressed with lz4 where the server has it: several
    // times faster than pglz, PostgreSQL's default.
    let compression: String = db
        .query_one(
            &format!("SELECT pg_column_compression(text) FROM {table} WHERE id = $1"),
            &[&batch[3].id],
        )
        .await
        .unwrap()
        .get(0);
    let has_lz4: bool = db
        .query_one(
            "SELECT 'lz4' = ANY (enumvals) FROM pg_settings \
             WHERE name = 'default_toast_compression'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(compression, if has_lz4 { "lz4" } else { "pglz" });
    // The record column gives back the records written.
    let stored: Vec<Record> = db
        .query(&format!("SELECT record::text FROM {table}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|row| serde_json::from_str(row.get(0)).unwrap())
        .collect();
    for record in &batch {
        assert!(stored.contains(record), "{record:?} changed on the way");
    }
}

/// A record the server refuses for good (here a published date it cannot
/// read) is found in its batch and set aside; the rest of the batch is
/// stored.
#[tokio::test]
async fn postgres_sets_aside_the_one_record_it_refuses_and_stores_the_rest() {
    let url = servers::postgres_url();
    let table = servers::unique("tidings_it");
    let _cleanup = pg::cleanup(&url, &table);
    let db = pg::client(&url).await;
    let mut batch = records(&table, 0..9);
    batch[5].published_at = Some("the day after tomorrow".to_string());

    let mut sink = Sink::open(
        &sink::Config::Postgres(PostgresConfig::new(&url, &table)),
        None,
    )
    .await
    .unwrap();
    let written = sink.write(&refs(&batch)).await.unwrap();
    assert_eq!(written.rejected.len(), 1, "{:?}", written.rejected);
    let (at, reason) = &written.rejected[0];
    assert_eq!(*at, 5);
    assert!(reason.contains("the day after tomorrow"), "{reason}");
    let mut rest = batch.clone();
    rest.remove(5);
    assert_eq!(pg::stored(&db, &table).await, (ids(&rest), 8));
}

#[tokio::test]
async fn postgres_refuses_tables_it_did_not_lay_out() {
    let url = servers::postgres_url();
    let db = pg::client(&url).await;

    let newer = servers::unique("tidings_it");
    let _cleanup_newer = pg::cleanup(&url, &newer);
    drop(
        PostgresSink::open(&PostgresConfig::new(&url, &newer), None)
            .await
            .unwrap(),
    );
    db.execute(
        "UPDATE tidings_schema SET version = $2 WHERE table_name = $1",
        &[&newer, &(TABLE_VERSION + 1)],
    )
    .await
    .unwrap();
    let err = PostgresSink::open(&PostgresConfig::new(&url, &newer), None)
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, PostgresError::NewerTable { .. }), "{err}");
    assert!(err.to_string().contains(&newer), "{err}");

    let foreign = servers::unique("tidings_it");
    let _cleanup_foreign = pg::cleanup(&url, &foreign);
    db.batch_execute(&format!("CREATE TABLE {foreign} (id integer)"))
        .await
        .unwrap();
    let err = PostgresSink::open(&PostgresConfig::new(&url, &foreign), None)
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, PostgresError::ForeignTable { .. }), "{err}");
}

#[tokio::test]
async fn postgres_brings_a_table_of_the_first_layout_up_to_date_with_its_views_and_keeps_its_rows()
{
    let url = servers::postgres_url();
    let db = pg::client(&url).await;
    let table = servers::unique("tidings_it");
    let _cleanup = pg::cleanup(&url, &table);
    let config = PostgresConfig::new(&url, &table);
    let mut sink = PostgresSink::open(&config, None).await.unwrap();
    sink.write(&refs(&records(&table, 0..3))).await.unwrap();
    drop(sink);
    // The table as the first layout had it: no views, three columns fewer.
    db.batch_execute(&format!(
        "DROP VIEW {table}_topics, {table}_actors;
         ALTER TABLE {table} DROP COLUMN taxonomy_version, DROP COLUMN duplicate_via,
                             DROP COLUMN story_id;
         UPDATE tidings_schema SET version = 1 WHERE table_name = '{table}';"
    ))
    .await
    .unwrap();

    let mut sink = PostgresSink::open(&config, None).await.unwrap();
    sink.write(&refs(&records(&table, 3..4))).await.unwrap();
    let version: i32 = db
        .query_one(
            "SELECT version FROM tidings_schema WHERE table_name = $1",
            &[&table],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, TABLE_VERSION);
    let rows = db
        .query(
            &format!("SELECT taxonomy_version, story_id FROM {table} ORDER BY written_at, id"),
            &[],
        )
        .await
        .unwrap();
    let versions: Vec<Option<String>> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions.len(), 4);
    assert_eq!(versions[3].as_deref(), Some("0123456789ab"));
    let stories: Vec<Option<String>> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(stories[3].as_deref(), Some("story-1"));
    let tagged: i64 = db
        .query_one(
            &format!(
                "SELECT (SELECT count(*) FROM {table}_topics) + (SELECT count(*) FROM {table}_actors)"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        tagged, 4,
        "the views are back: two even records, a topic and an actor each"
    );
}

#[tokio::test]
async fn postgres_write_waits_for_a_server_that_is_down_and_stores_everything_once() {
    let url = servers::postgres_url();
    let table = servers::unique("tidings_it");
    let _cleanup = pg::cleanup(&url, &table);
    let db = pg::client(&url).await;
    let proxy = Proxy::new(&url, false).await;
    let batch_a = records(&table, 0..6);
    let batch_b = records(&table, 6..12);

    let sink = sink::Config::Postgres(PostgresConfig::new(proxy.url(), &table));
    write_across_outages(sink, &proxy, batch_a.clone(), batch_b.clone()).await;

    let all: Vec<Record> = batch_a.iter().chain(&batch_b).cloned().collect();
    assert_eq!(pg::stored(&db, &table).await, (ids(&all), 12));
}

#[tokio::test]
async fn nats_stores_each_record_once_and_drops_a_replay() {
    let url = servers::nats_url();
    let stream = servers::unique("TIDINGS_IT");
    let subject = format!("{}.records", stream.to_lowercase());
    let _cleanup = js::cleanup(&url, Some(&stream), &subject);
    let js = js::context(&url).await;
    let batch_a = records(&stream, 0..7);
    let batch_b = records(&stream, 7..10);

    let mut sink = NatsSink::open(&NatsConfig::new(&url, &subject, Some(&stream)), None)
        .await
        .unwrap();
    sink.write(&refs(&batch_a)).await.unwrap();
    sink.write(&refs(&batch_b)).await.unwrap();
    let all: Vec<Record> = batch_a.iter().chain(&batch_b).cloned().collect();
    assert_eq!(js::stored(&js, &stream).await, (ids(&all), 10));

    let mut again = NatsSink::open(&NatsConfig::new(&url, &subject, Some(&stream)), None)
        .await
        .unwrap();
    again.write(&refs(&all)).await.unwrap();
    assert_eq!(js::stored(&js, &stream).await, (ids(&all), 10));
}

#[tokio::test]
async fn nats_creates_a_stream_for_the_subject_when_none_is_named() {
    let url = servers::nats_url();
    let subject = format!("{}.records", servers::unique("tidings_it"));
    let _cleanup = js::cleanup(&url, None, &subject);
    let js = js::context(&url).await;
    let batch = records(&subject, 0..3);

    let mut sink = NatsSink::open(&NatsConfig::new(&url, &subject, None), None)
        .await
        .unwrap();
    sink.write(&refs(&batch)).await.unwrap();
    let stream = js.stream_by_subject(subject.as_str()).await.unwrap();
    assert_eq!(js::stored(&js, &stream).await, (ids(&batch), 3));
    // Opened again, it finds that stream rather than making another.
    let mut again = NatsSink::open(&NatsConfig::new(&url, &subject, None), None)
        .await
        .unwrap();
    again.write(&refs(&batch)).await.unwrap();
    assert_eq!(js::stored(&js, &stream).await.1, 3);
}

#[tokio::test]
async fn nats_refuses_a_named_stream_that_does_not_take_the_subject() {
    let url = servers::nats_url();
    let stream = servers::unique("TIDINGS_IT");
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
    let err = NatsSink::open(&NatsConfig::new(&url, &subject, Some(&stream)), None)
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, NatsError::SubjectNotInStream { .. }), "{err}");
    assert!(err.to_string().contains(&subject), "{err}");
}

#[tokio::test]
async fn nats_write_waits_for_a_server_that_is_down_and_stores_everything_once() {
    let url = servers::nats_url();
    let stream = servers::unique("TIDINGS_IT");
    let subject = format!("{}.records", stream.to_lowercase());
    let _cleanup = js::cleanup(&url, Some(&stream), &subject);
    let js = js::context(&url).await;
    let proxy = Proxy::new(&url, false).await;
    let batch_a = records(&stream, 0..6);
    let batch_b = records(&stream, 6..12);

    let sink = sink::Config::Nats(NatsConfig::new(proxy.url(), &subject, Some(&stream)));
    write_across_outages(sink, &proxy, batch_a.clone(), batch_b.clone()).await;

    let all: Vec<Record> = batch_a.iter().chain(&batch_b).cloned().collect();
    assert_eq!(js::stored(&js, &stream).await, (ids(&all), 12));
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
            &PostgresConfig::new(
                &format!("postgres://postgres@127.0.0.1:{port}/test"),
                "Bad Name",
            ),
            None,
        ),
    )
    .await
    .err()
    .expect("refused");
    assert!(matches!(err, PostgresError::Config(_)), "{err}");
    let err = within(
        "opening with a bad subject",
        NatsSink::open(
            &NatsConfig::new(&format!("nats://127.0.0.1:{port}"), "news.>", None),
            None,
        ),
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
    let (pg_url, nats_url) = (servers::postgres_url(), servers::nats_url());
    let table = servers::unique("tidings_backfill");
    let stream = servers::unique("TIDINGS_BACKFILL");
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
    let expected: BTreeSet<String> = jsonl
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(expected.len(), 5);
    assert_eq!(
        jsonl.len(),
        5,
        "the new state store learns what the file holds: nothing twice"
    );
    let db = pg::client(&pg_url).await;
    assert_eq!(pg::stored(&db, &table).await, (expected.clone(), 5));
    let js = js::context(&nats_url).await;
    assert_eq!(js::stored(&js, &stream).await, (expected, 5));
}

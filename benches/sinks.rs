//! Records per second into each sink, in batches of 1, 64 (the daemon's
//! default `[pipeline] batch_size`) and 256, with the JSONL file sink
//! (appended and fsynced per batch) as the baseline of the same run.
//! The PostgreSQL and NATS parts need TIDINGS_TEST_POSTGRES_URL and
//! TIDINGS_TEST_NATS_URL and are skipped with a message without them.
//!
//! Each measured write carries records with new ids, so PostgreSQL inserts
//! and JetStream stores rather than finding repeats.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tidings::record::{
    ActorKind, ActorTag, Origin, OriginKind, Record, SCHEMA_VERSION, TopicTag, content_hash,
    record_id,
};
use tidings::sink::{
    JsonlConfig, JsonlSink, NatsConfig, NatsSink, PostgresConfig, PostgresSink, SinkError,
};
use tokio::runtime::Runtime;

const BATCH_SIZES: [usize; 3] = [1, 64, 256];

/// An article of about 600 words, the size of a typical news story.
fn record(run: &str, n: usize) -> Record {
    let url = format!("https://wire.example/{run}/story-{n}");
    let title = format!("Envoys end round {n} of talks without an agreement");
    let paragraph = format!(
        "Negotiators met for the {n}th session in a lakeside hotel, where both delegations \
         presented maps of the front line and proposals for monitoring a pause in the fighting. \
         Officials said the exchange was detailed but that key questions about guarantees, \
         prisoner exchanges and the return of displaced families remain open. "
    );
    let text = [paragraph.as_str(); 12].join("\n\n");
    Record {
        id: record_id(Some(&url), &title, &text),
        schema_version: SCHEMA_VERSION,
        url: Some(url.clone()),
        canonical_url: Some(url),
        guid: Some(format!("{run}-{n}")),
        summary: Some(format!("Round {n} of talks ended without an agreement.")),
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
        story_id: None,
        relevant: true,
        relevance: 0.7,
        topics: vec![TopicTag {
            id: "ceasefire".to_string(),
            label: "Ceasefire".to_string(),
            score: 0.7,
            evidence: vec!["proposals for monitoring a pause in the fighting".to_string()],
        }],
        actors: vec![ActorTag {
            id: "ukraine".to_string(),
            name: "Ukraine".to_string(),
            kind: ActorKind::State,
            mentions: 1,
            spellings: vec!["Ukraine".to_string()],
        }],
        taxonomy_version: "0123456789ab".to_string(),
        truncated: false,
        title,
        text,
    }
}

/// `count` batches of `size` records never written before.
fn fresh_batches(run: &str, count: u64, size: usize) -> Vec<Vec<Record>> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    (0..count)
        .map(|_| {
            (0..size)
                .map(|_| record(run, NEXT.fetch_add(1, Ordering::Relaxed)))
                .collect()
        })
        .collect()
}

/// One benchmark per batch size, timing only the writes.
fn bench_sink<S>(c: &mut Criterion, rt: &Runtime, label: &str, run: &str, sink: &mut S)
where
    S: WriteBatch,
{
    let mut group = c.benchmark_group("sink_write");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for size in BATCH_SIZES {
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(BenchmarkId::new(label, size), |b| {
            b.iter_custom(|iters| {
                let batches = fresh_batches(run, iters, size);
                rt.block_on(async {
                    let start = Instant::now();
                    for batch in &batches {
                        if let Err(e) = sink.write_batch(batch).await {
                            panic!("{label}: {e}");
                        }
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

trait WriteBatch {
    async fn write_batch(&mut self, batch: &[Record]) -> Result<(), SinkError>;
}

impl WriteBatch for JsonlSink {
    async fn write_batch(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        self.write(&batch.iter().collect::<Vec<_>>())
            .await
            .map(drop)
    }
}

impl WriteBatch for PostgresSink {
    async fn write_batch(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        Ok(self
            .write(&batch.iter().collect::<Vec<_>>())
            .await
            .map(drop)?)
    }
}

impl WriteBatch for NatsSink {
    async fn write_batch(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        Ok(self
            .write(&batch.iter().collect::<Vec<_>>())
            .await
            .map(drop)?)
    }
}

fn env_url(var: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|v| !v.is_empty());
    if url.is_none() {
        eprintln!("skipped: {var} not set");
    }
    url
}

fn sinks(c: &mut Criterion) {
    let rt = Runtime::new().expect("a tokio runtime");
    let run = format!("bench_{}", std::process::id());

    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a temp dir");
    let mut jsonl = rt
        .block_on(JsonlSink::open(
            &JsonlConfig {
                path: dir.path().join("records.jsonl"),
            },
            None,
        ))
        .expect("opening the JSONL sink");
    bench_sink(c, &rt, "jsonl", &run, &mut jsonl);

    if let Some(url) = env_url("TIDINGS_TEST_POSTGRES_URL") {
        let table = format!("tidings_{run}");
        let mut pg = rt
            .block_on(PostgresSink::open(&PostgresConfig::new(&url, &table), None))
            .expect("opening the PostgreSQL sink");
        bench_sink(c, &rt, "postgres", &run, &mut pg);
        rt.block_on(drop_table(&url, &table));
    }

    if let Some(url) = env_url("TIDINGS_TEST_NATS_URL") {
        let stream = run.to_uppercase();
        let subject = format!("{run}.records");
        let mut nats = rt
            .block_on(NatsSink::open(
                &NatsConfig::new(&url, &subject, Some(&stream)),
                None,
            ))
            .expect("opening the NATS sink");
        bench_sink(c, &rt, "nats", &run, &mut nats);
        rt.block_on(delete_stream(&url, &stream));
    }
}

async fn drop_table(url: &str, table: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connecting for cleanup");
    tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "DROP TABLE {table}; DELETE FROM tidings_schema WHERE table_name = '{table}'"
        ))
        .await
        .expect("dropping the bench table");
}

async fn delete_stream(url: &str, stream: &str) {
    let client = async_nats::connect(url)
        .await
        .expect("connecting for cleanup");
    async_nats::jetstream::new(client)
        .delete_stream(stream)
        .await
        .expect("deleting the bench stream");
}

criterion_group!(benches, sinks);
criterion_main!(benches);

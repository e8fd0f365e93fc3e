//! The pipeline as a whole: backpressure and draining.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tidings::config::Config;
use tidings::fetch::local::{FileSource, Input, Progress};
use tidings::pipeline::{self, Mode};
use tokio_util::sync::CancellationToken;

use crate::support::servers::{self, Proxy};

fn write_docs(dir: &Path, n: usize) -> Vec<Input> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let path = dir.join(format!("doc{i:04}.txt"));
            std::fs::write(
                &path,
                format!(
                    "Report number {i} on the state of the talks\n\n\
                     Paragraph one of report {i}, with details that differ, as they should.\n"
                ),
            )
            .unwrap();
            Input::Named(path)
        })
        .collect()
}

/// A sink that stops taking records (its server gone) must stop the source:
/// memory stays bounded by the channel capacities, whatever the input size;
/// once the sink is back, everything drains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sink_stops_the_source_and_everything_drains_once_it_moves() {
    const N: u64 = 300;
    let pg_url = servers::postgres_url();
    let table = servers::unique("tidings_stall");
    let _cleanup = servers::pg::cleanup(&pg_url, &table);
    let proxy = Proxy::new(&pg_url, true).await;
    let via = proxy.url();
    let dir = tempfile::tempdir().unwrap();
    let cfg_text = format!(
        "[state]\ndir = \"state\"\n[pipeline]\nchannel_capacity = 2\nextract_workers = 1\n\
         tag_workers = 1\nbatch_size = 1\n[[sinks]]\nkind = \"postgres\"\nurl = \"{via}\"\n\
         table = \"{table}\"\n"
    );
    let cfg = Config::parse(&cfg_text, "test", dir.path()).unwrap();
    let inputs = write_docs(&dir.path().join("docs"), N as usize);

    let read = Arc::new(AtomicU64::new(0));
    let counter = read.clone();
    let progress: Progress = Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let run = tokio::spawn(async move {
        let source = Box::new(FileSource {
            inputs,
            max_bytes: 1 << 20,
            progress: Some(progress),
        });
        pipeline::run(&cfg, source, Mode::Daemon, CancellationToken::new()).await
    });
    // The sink opens and takes a first record, then its server goes away.
    let db = servers::pg::client(&pg_url).await;
    while !table_has_rows(&db, &table).await {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.down();

    // Wait until the source has stopped advancing.
    let mut last = u64::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = read.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
    }
    // What the sink stored before the cut is not in memory; what the source
    // read beyond it is. Four channels of 2, one worker per stage, one batch in
    // the sink and one document in the source's hand: far below the 300 offered.
    let stored = servers::pg::stored(&db, &table).await.1 as u64;
    let held = last - stored;
    assert!(
        held <= 20,
        "the pipeline held {held} documents while the sink was stalled \
         (read {last}, stored {stored})"
    );
    assert!(!run.is_finished());

    proxy.up();
    let summary = servers::within("the drain", run).await.unwrap().unwrap();
    assert_eq!(summary.written, N);
    assert_eq!(servers::pg::stored(&db, &table).await.1, N as i64);
}

async fn table_has_rows(db: &tokio_postgres::Client, table: &str) -> bool {
    db.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .is_ok_and(|row| row.get::<_, i64>(0) > 0)
}

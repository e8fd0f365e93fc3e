//! The pipeline as a whole: backpressure and draining.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tidings::config::Config;
use tidings::pipeline::{self, Source};
use tokio_util::sync::CancellationToken;

fn write_docs(dir: &Path, n: usize) -> Vec<std::path::PathBuf> {
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
            path
        })
        .collect()
}

/// A sink that does not keep up (a FIFO nobody reads yet) must stop the source:
/// memory stays bounded by the channel capacities, whatever the input size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sink_stops_the_source_and_everything_drains_once_it_moves() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("records.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let cfg_text = format!(
        "[state]\ndir = \"state\"\n[pipeline]\nchannel_capacity = 2\nextract_workers = 1\n\
         batch_size = 1\n[[sinks]]\nkind = \"jsonl\"\npath = {:?}\n",
        fifo.to_str().unwrap()
    );
    let cfg = Config::parse(&cfg_text, "test", dir.path()).unwrap();
    let docs = write_docs(&dir.path().join("docs").tap_mkdir(), 300);

    let read = Arc::new(AtomicU64::new(0));
    let counter = read.clone();
    let progress: pipeline::Progress = Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let run = tokio::spawn(async move {
        pipeline::run(
            &cfg,
            Source::Files(docs.into_iter().map(Into::into).collect()),
            CancellationToken::new(),
            Some(progress),
        )
        .await
    });

    // Nobody reads the FIFO: wait until the source has stopped advancing.
    let mut last = u64::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = read.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
    }
    // Three channels of 2, one extract worker, one batch in the sink and one
    // document in the source's hand: far below the 300 documents offered.
    assert!(
        last <= 12,
        "the source read {last} documents while the sink was stalled"
    );

    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        std::fs::File::open(&fifo)
            .unwrap()
            .read_to_string(&mut all)
            .unwrap();
        all
    });
    let summary = run.await.unwrap().unwrap();
    assert_eq!(summary.written, 300);
    // The reader sees EOF only once the sink is dropped at the end of the run.
    let lines = reader.join().unwrap();
    assert_eq!(lines.lines().count(), 300);
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

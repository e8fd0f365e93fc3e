//! The extract stage's loop: N workers on one receiver, the CPU work (the
//! page's text, then the dedup fingerprint) on the blocking pool.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use async_channel::{Receiver, Sender};

use crate::config::Config;
use crate::dedup::Fingerprint;
use crate::extract;
use crate::flow::{Ack, Document, Outcome};
use crate::observe::Counters;
use crate::record::{Article, OriginKind, Tags, cap_text};
use crate::tag::Tagger;

/// An extracted document, on its way to dedup.
pub struct Parsed {
    pub article: Article,
    pub fingerprint: Fingerprint,
    /// The seed id the document *is*, when it was read from the seed corpus
    /// itself: a seed is not a copy of itself.
    pub own_seed: Option<String>,
    /// Found already when the document was tagged beside its extraction
    /// (a cluster's front half); else the tag stage finds them.
    pub tags: Option<Tags>,
    pub ack: Ack,
}

/// What extraction accepts and keeps.
#[derive(Debug, Clone)]
pub struct Limits {
    pub extract: extract::Options,
    /// Longer text is cut and its record marked `truncated`.
    pub max_text_bytes: usize,
}

impl Limits {
    pub fn of(cfg: &Config) -> Limits {
        Limits {
            extract: extract::Options {
                max_html_bytes: cfg.extract.max_html_bytes,
            },
            max_text_bytes: cfg.extract.max_text_bytes,
        }
    }
}

/// One extraction worker: a thread of its own for as long as the stage
/// runs, blocking on the channels (a page's extraction takes milliseconds of
/// CPU; an async hop per page would leave the core idle between pages).
/// With a `tagger` it tags what it extracted too (see
/// [`super::run_front`]).
pub async fn worker(
    rx: Receiver<Document>,
    tx: Sender<Parsed>,
    limits: Limits,
    tagger: Option<Arc<Tagger>>,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        while let Ok(doc) = rx.recv_blocking() {
            let started = Instant::now();
            let mut parsed = parse(doc, &limits, &counters);
            metrics::histogram!("tidings_stage_seconds", "stage" => "extract")
                .record(started.elapsed().as_secs_f64());
            if let (Some(parsed), Some(tagger)) = (&mut parsed, &tagger) {
                parsed.tags = Some(super::tag::tag(tagger, &parsed.article));
            }
            if let Some(parsed) = parsed
                && tx.send_blocking(parsed).is_err()
            {
                break;
            }
        }
    })
    .await?;
    Ok(())
}

/// The document's article and fingerprint; `None` (a counted skip, its
/// source told) when it has no article text.
fn parse(doc: Document, limits: &Limits, counters: &Counters) -> Option<Parsed> {
    let extracted = doc.body.extract(
        doc.url.as_deref(),
        doc.hints.language.as_deref(),
        &limits.extract,
    );
    let mut ex = match extracted {
        Ok(ex) => ex,
        Err(e) => {
            // A feed's item names its feed, like every line of its poll.
            let feed =
                (doc.origin.kind == OriginKind::Feed).then_some(doc.origin.location.as_str());
            tracing::warn!(source = doc.describe(), feed, "skipped: {e}");
            counters.skip("extract", &e.to_string());
            doc.ack.done(Outcome::Skipped);
            return None;
        }
    };
    ex.truncated = cap_text(&mut ex.text, limits.max_text_bytes);
    let fingerprint = Fingerprint::of(&ex.text);
    let own_seed = Path::new(&doc.origin.location)
        .file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string);
    let article = Article::new(doc.origin, doc.url, doc.guid, doc.fetched_at, doc.hints, ex);
    Some(Parsed {
        article,
        fingerprint,
        own_seed,
        tags: None,
        ack: doc.ack,
    })
}

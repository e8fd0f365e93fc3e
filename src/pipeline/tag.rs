//! The tag stage's loop: N workers on one receiver, the matching on the
//! blocking pool.

use std::sync::Arc;
use std::time::Instant;

use async_channel::{Receiver, Sender};

use super::dedup::Checked;
use crate::config::Config;
use crate::record::{Article, Tags};
use crate::tag::{Tagger, Taxonomy};

/// A checked record-to-be with its tags, on its way to the sinks.
pub struct Tagged {
    pub checked: Checked,
    pub tags: Tags,
}

/// The configured taxonomy (or the embedded one), compiled once.
pub fn load_tagger(cfg: &Config) -> anyhow::Result<Tagger> {
    let taxonomy = match &cfg.tag.taxonomy {
        Some(path) => Taxonomy::load(path)?,
        None => Taxonomy::embedded(),
    };
    Ok(Tagger::new(&taxonomy)?)
}

/// The article's tags, timed and counted.
pub fn tag(tagger: &Tagger, article: &Article) -> Tags {
    let started = Instant::now();
    let tags = tagger.tag(&article.title, &article.text);
    metrics::histogram!("tidings_stage_seconds", "stage" => "tag")
        .record(started.elapsed().as_secs_f64());
    if tags.relevant {
        metrics::counter!("tidings_relevant_total").increment(1);
    }
    for topic in &tags.topics {
        metrics::counter!("tidings_topics_total", "topic" => topic.id.clone()).increment(1);
    }
    tags
}

/// One tagging worker: a thread of its own for as long as the stage runs
/// (see the extract stage's workers). What came tagged passes through.
pub async fn worker(
    rx: Receiver<Checked>,
    tx: Sender<Tagged>,
    tagger: Arc<Tagger>,
) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        while let Ok(mut checked) = rx.recv_blocking() {
            let tags = match checked.tags.take() {
                Some(tags) => tags,
                None => tag(&tagger, &checked.article),
            };
            if tx.send_blocking(Tagged { checked, tags }).is_err() {
                break;
            }
        }
    })
    .await?;
    Ok(())
}

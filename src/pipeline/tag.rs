//! The tag stage's loop: N workers on one receiver, the matching on the
//! blocking pool.

use std::sync::Arc;
use std::time::Instant;

use async_channel::{Receiver, Sender};

use super::dedup::Checked;
use crate::config::Config;
use crate::record::Tags;
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

pub async fn worker(
    rx: Receiver<Checked>,
    tx: Sender<Tagged>,
    tagger: Arc<Tagger>,
) -> anyhow::Result<()> {
    while let Ok(checked) = rx.recv().await {
        let tagger = tagger.clone();
        let started = Instant::now();
        let tagged = tokio::task::spawn_blocking(move || {
            let tags = tagger.tag(&checked.article.title, &checked.article.text);
            Tagged { checked, tags }
        })
        .await?;
        metrics::histogram!("tidings_stage_seconds", "stage" => "tag")
            .record(started.elapsed().as_secs_f64());
        if tagged.tags.relevant {
            metrics::counter!("tidings_relevant_total").increment(1);
        }
        for topic in &tagged.tags.topics {
            metrics::counter!("tidings_topics_total", "topic" => topic.id.clone()).increment(1);
        }
        if tx.send(tagged).await.is_err() {
            break;
        }
    }
    Ok(())
}

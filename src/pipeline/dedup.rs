//! The dedup stage's loop: one task (the index is one), asking the state
//! store which sinks already hold each record.

use std::sync::Arc;
use std::time::Duration;

use async_channel::{Receiver, Sender};
use chrono::Utc;

use super::extract::Parsed;
use crate::config::{Config, DupPolicy};
use crate::dedup::{self, Fingerprint, Keys};
use crate::extract;
use crate::flow::{Ack, Outcome};
use crate::observe::Counters;
use crate::record::{Article, DupMethod, Duplicate, Tags};
use crate::sink::{Targets, targets};
use crate::state::{Delivery, Store};

/// A record-to-be with its verdict, on its way to tagging.
pub struct Checked {
    pub article: Article,
    pub fingerprint: Fingerprint,
    pub verdict: Option<Duplicate>,
    /// The run's sinks that do not hold it yet.
    pub targets: Targets,
    /// Its tags, when it came tagged (see [`Parsed::tags`]).
    pub tags: Option<Tags>,
    /// Set when it is a later version of a record written before.
    pub revision: Option<Revision>,
    pub ack: Ack,
}

/// A record written before whose page changed since: written again under
/// its id, to every sink, as its next version.
pub struct Revision {
    pub version: u32,
    /// When this version was seen.
    pub updated_at: String,
}

/// Evicting walks the index; once per this many inserts keeps it cheap.
const EVICT_EVERY: u32 = 1024;

/// What the stage works with.
pub struct Stage {
    pub index: dedup::Index,
    pub store: Store,
    /// The run's sinks, by their ids in the store.
    pub sinks: Vec<i64>,
    pub near: DupPolicy,
    pub copies: DupPolicy,
    /// How long records stay in the index.
    pub window: Duration,
    /// Write a changed page again as its next version (`[dedup] updates`).
    pub updates: bool,
}

pub async fn stage(
    rx: Receiver<Parsed>,
    tx: Sender<Checked>,
    mut stage: Stage,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let mut inserted = 0u32;
    while let Ok(parsed) = rx.recv().await {
        let id = parsed.article.id.clone();
        let (holders, known, stored) = stage
            .store
            .call(move |s| Ok((s.holders(&id)?, s.verdict(&id)?, s.revision(&id)?)))
            .await?;
        let revision = stored
            .filter(|(hash, _)| stage.updates && *hash != parsed.article.content_hash)
            .map(|(_, version)| Revision {
                version: version + 1,
                updated_at: crate::record::timestamp(Utc::now()),
            });
        // The sinks hold an earlier version: every one takes the new one,
        // and the index learns its text, so that copies of it are known as
        // copies in this run too (a restart learns it from the store).
        let targets = match revision {
            Some(_) => {
                remember(&mut stage.index, &parsed);
                targets(&stage.sinks, &[])
            }
            None => targets(&stage.sinks, &holders),
        };
        // A record written before (to other sinks) keeps the verdict it was
        // written with: the index now holds it, and records that came later.
        let learnt_from_sinks = known.is_none();
        let verdict = match known {
            Some(verdict) => verdict,
            None => {
                inserted += 1;
                if inserted.is_multiple_of(EVICT_EVERY) {
                    stage.index.evict_before(window_start(stage.window));
                }
                check(&mut stage.index, &parsed)
            }
        };
        if targets == 0 {
            if learnt_from_sinks {
                // Every sink holds it, but the store learnt that from the
                // sinks (a crash before the mark, a lost store): what dedup
                // needs of it is kept now.
                let delivery = delivery(&parsed, verdict);
                stage.store.send(move |s| {
                    if let Err(e) = s.mark_delivered(&[delivery], &[]) {
                        tracing::error!("recording a record found in the sinks: {e:#}");
                    }
                });
            }
            counters.already_present();
            let record = parsed.article.id;
            parsed.ack.done(Outcome::Written { record });
            continue;
        }
        // A new version keeps the verdict its record was written with, and
        // was counted as a copy then.
        if let Some(dup) = verdict.as_ref().filter(|_| revision.is_none()) {
            let method = format!("{:?}", dup.method).to_lowercase();
            metrics::counter!("tidings_dedup_total", "method" => method).increment(1);
            // A page seen again under its own id is the original itself,
            // not a copy to count or write.
            let itself = dup.duplicate_of == parsed.article.id;
            if !itself {
                let (original, copy) = (dup.duplicate_of.clone(), parsed.article.id.clone());
                stage.store.send(move |s| {
                    if let Err(e) = s.note_copy(&original, &copy) {
                        tracing::warn!("counting a copy of {original}: {e:#}");
                    }
                });
            }
            let policy = match dup.method {
                DupMethod::Near => stage.near,
                DupMethod::Url | DupMethod::Guid | DupMethod::Hash => stage.copies,
            };
            if itself || policy == DupPolicy::Drop {
                tracing::debug!(
                    record = parsed.article.id,
                    of = dup.duplicate_of,
                    "duplicate dropped"
                );
                counters.skip("dedup", "duplicate");
                parsed.ack.done(Outcome::Skipped);
                continue;
            }
        }
        let checked = Checked {
            article: parsed.article,
            fingerprint: parsed.fingerprint,
            verdict,
            targets,
            tags: parsed.tags,
            revision,
            ack: parsed.ack,
        };
        if tx.send(checked).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// A record every sink holds already, as the store keeps it.
fn delivery(parsed: &Parsed, verdict: Option<Duplicate>) -> Delivery {
    let article = &parsed.article;
    Delivery {
        id: article.id.clone(),
        content_hash: article.content_hash.clone(),
        version: 1,
        canonical_url: article.canonical_url.clone(),
        guid: article.guid.clone(),
        fingerprint: serde_json::to_string(&parsed.fingerprint).ok(),
        duplicate: verdict,
        done_at: Utc::now(),
        sinks: Vec::new(),
        refused: Vec::new(),
    }
}

/// The verdict on a record the index has not seen, which it then holds.
fn check(index: &mut dedup::Index, parsed: &Parsed) -> Option<Duplicate> {
    let verdict = index
        .check(&keys(parsed), &parsed.fingerprint)
        .filter(|d| Some(&d.duplicate_of) != parsed.own_seed.as_ref());
    remember(index, parsed);
    if let Some(dup) = &verdict {
        index.note_copy(&parsed.article.id, &dup.duplicate_of);
    }
    verdict
}

/// Indexes the article's text under its id.
fn remember(index: &mut dedup::Index, parsed: &Parsed) {
    let article = &parsed.article;
    let fetched_at = chrono::DateTime::parse_from_rfc3339(&article.fetched_at)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now());
    index.insert(
        &article.id,
        &keys(parsed),
        parsed.fingerprint.clone(),
        fetched_at,
    );
}

fn keys(parsed: &Parsed) -> Keys<'_> {
    Keys {
        canonical_url: parsed.article.canonical_url.as_deref(),
        guid: parsed.article.guid.as_deref(),
    }
}

/// The oldest record the near-duplicate index keeps.
fn window_start(window: Duration) -> chrono::DateTime<Utc> {
    Utc::now() - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX)
}

/// The index of a run: the seed corpus, then the records delivered before,
/// within the window.
pub fn build_index(cfg: &Config, delivered: &[Delivery]) -> anyhow::Result<dedup::Index> {
    let mut index = dedup::Index::new(dedup::Params::default());
    for (id, text) in crate::seeds::load(cfg.dedup.seeds.as_deref())? {
        let body = extract::from_text(&text).map(|e| e.text).unwrap_or(text);
        index.add_seed(&id, &body);
    }
    let horizon = window_start(cfg.dedup.window);
    let mut stale = 0;
    for done in delivered {
        let fp = done
            .fingerprint
            .as_deref()
            .and_then(|json| serde_json::from_str::<Fingerprint>(json).ok())
            .filter(|fp| fp.version == dedup::FINGERPRINT_VERSION);
        let Some(fp) = fp else {
            stale += 1;
            continue;
        };
        if done.done_at < horizon {
            continue;
        }
        let keys = Keys {
            canonical_url: done.canonical_url.as_deref(),
            guid: done.guid.as_deref(),
        };
        index.insert(&done.id, &keys, fp, done.done_at);
        if let Some(dup) = &done.duplicate {
            index.note_copy(&done.id, &dup.duplicate_of);
        }
    }
    if stale > 0 {
        // Their ids still stop exact repeats (the state store checks them);
        // only near-duplicate matching against them is lost.
        tracing::warn!(
            stale,
            "records without a current fingerprint left out of the dedup index"
        );
    }
    Ok(index)
}

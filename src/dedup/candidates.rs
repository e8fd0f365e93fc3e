//! Near candidates: the documents that share shingles (seeds) or sampled
//! keys (records) with a query, each judged by the verdict.

use super::fingerprint::{Fingerprint, in_tier};
use super::index::Index;
use super::multimap::MultiMap;
use super::verdict::{RecordOverlap, Score, SeedOverlap};

/// A document and how the query scores against it.
#[derive(Clone, Copy)]
pub(super) struct Candidate {
    pub(super) doc: u32,
    pub(super) score: Score,
}

/// The best candidate among seeds and among records, and the best
/// similarity to any document, near or not.
pub(super) struct Nearest {
    pub(super) seed: Option<Candidate>,
    pub(super) record: Option<Candidate>,
    pub(super) similarity: f64,
}

/// The best candidate offered so far: a near one before any other, then
/// the most similar.
#[derive(Default)]
struct Best {
    top: Option<Candidate>,
    similarity: f64,
}

impl Best {
    fn offer(&mut self, doc: u32, score: Score) {
        self.similarity = self.similarity.max(score.similarity);
        // Documents come in order, so on a tie the earlier one stays.
        let better =
            |c: &Candidate| (score.near, score.similarity) > (c.score.near, c.score.similarity);
        if self.top.as_ref().is_none_or(better) {
            self.top = Some(Candidate { doc, score });
        }
    }
}

impl Index {
    /// Best near candidates among seeds and among records, and the best
    /// similarity overall.
    pub(super) fn near(&self, fp: &Fingerprint) -> Nearest {
        let seeds = self.nearest_seed(fp);
        let records = self.nearest_record(fp);
        Nearest {
            seed: seeds.top,
            record: records.top,
            similarity: seeds.similarity.max(records.similarity),
        }
    }

    fn nearest_seed(&self, fp: &Fingerprint) -> Best {
        // Seeds hold every shingle, so the share of the query's shingles
        // (or, read back from storage, of its keys) found in a seed
        // estimates |A∩S| / |A| without bias, wherever the text sits.
        let probe = if fp.shingles.is_empty() {
            &fp.keys
        } else {
            &fp.shingles
        };
        let narration = runs(&fp.narration, &self.seed_narration);
        let mut best = Best::default();
        for (doc, hits) in runs(probe, &self.seed_postings) {
            let d = &self.docs[doc as usize];
            let narration_hits = narration
                .binary_search_by_key(&doc, |r| r.0)
                .map_or(0, |i| narration[i].1);
            let overlap = SeedOverlap {
                hits,
                probed: probe.len(),
                shingles: (f64::from(fp.shingle_count), f64::from(d.shingles)),
                narration_hits,
                narration: (fp.narration.len(), usize::from(d.narration)),
            };
            best.offer(doc, self.params.judge_seed(&overlap));
        }
        best
    }

    fn nearest_record(&self, fp: &Fingerprint) -> Best {
        let own = fp.tier_counts();
        let mut best = Best::default();
        for (doc, shared) in record_runs(&fp.keys, &self.postings) {
            if !self.is_live(doc) {
                continue;
            }
            let d = &self.docs[doc as usize];
            let tiers = std::array::from_fn(|t| {
                let hits = shared.iter().filter(|&&k| in_tier(k, t)).count() as u32;
                (hits, own[t], u32::from(d.tiers[t]))
            });
            let overlap = RecordOverlap {
                tiers,
                shingles: (f64::from(fp.shingle_count), f64::from(d.shingles)),
            };
            best.offer(doc, self.params.judge_record(&overlap));
        }
        best
    }
}

/// Hits per seed: (seed, shingles of the probe found in it).
fn runs(probe: &[u32], postings: &MultiMap<u32>) -> Vec<(u32, u32)> {
    let mut docs: Vec<u32> = Vec::new();
    for &key in probe {
        postings.for_each(key, |doc| docs.push(doc));
    }
    docs.sort_unstable();
    docs.chunk_by(|a, b| a == b)
        .map(|run| (run[0], run.len() as u32))
        .collect()
}

/// Keys shared per record: (record, the shared keys).
fn record_runs(keys: &[u32], postings: &MultiMap<u32>) -> Vec<(u32, Vec<u32>)> {
    let mut shared: Vec<(u32, u32)> = Vec::new();
    for &key in keys {
        postings.for_each(key, |doc| shared.push((doc, key)));
    }
    shared.sort_unstable();
    shared
        .chunk_by(|a, b| a.0 == b.0)
        .map(|run| (run[0].0, run.iter().map(|h| h.1).collect()))
        .collect()
}

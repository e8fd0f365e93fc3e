//! Topics: cue weights per topic and sentence, topic scores, and the
//! sentences shown as evidence.

use super::patterns::LAYER_TOPICS;
use super::relevance::Sentences;
use super::round3;
use super::scan::Scan;
use super::tagger::Tagger;
use super::taxonomy::Topic;
use super::text::preceded_by;
use crate::record::TopicTag;

/// Evidence sentences kept per topic.
const MAX_EVIDENCE: usize = 3;
/// Sentences weaker than this are not shown as evidence.
const MIN_EVIDENCE_WEIGHT: f64 = 0.5;
/// Evidence longer than this many characters is cut (a "sentence" can be a
/// whole paragraph without punctuation).
const MAX_EVIDENCE_CHARS: usize = 400;

/// What the tagger keeps of a taxonomy topic.
pub(super) struct TopicInfo {
    id: String,
    label: String,
    threshold: f64,
}

impl TopicInfo {
    pub(super) fn new(t: &Topic) -> TopicInfo {
        TopicInfo {
            id: t.id.clone(),
            label: t.label.clone(),
            threshold: t.threshold,
        }
    }
}

/// A cue this strong names its topic ("truce", "sanctions"); weaker ones
/// ("strikes", "talks", "земли") only touch it.
const NAMING_CUE: f64 = 0.7;
/// What a sentence without a naming cue can weigh for a topic, however
/// many touching cues it holds: two such sentences make a topic, one does
/// not.
const TOUCH_ONLY: f64 = 0.5;

/// Topic cue weights per sentence.
pub(super) struct TopicCues {
    /// Sentences per row.
    n: usize,
    /// One row of `n` per topic.
    weights: Vec<f64>,
    /// Like `weights`, the strongest single cue.
    strongest: Vec<f64>,
    /// Per sentence, the weight of all its topic cues: how much it is about
    /// the peace process (relevance cues are added to it later).
    pub(super) peace: Vec<f64>,
}

impl TopicCues {
    fn row(&self, topic: usize) -> &[f64] {
        &self.weights[topic * self.n..(topic + 1) * self.n]
    }

    /// What each sentence weighs for `topic`: its cues' sum, at most 1,
    /// and at most `TOUCH_ONLY` without a naming cue.
    fn capped(&self, topic: usize) -> impl Iterator<Item = f64> + '_ {
        let strongest = &self.strongest[topic * self.n..(topic + 1) * self.n];
        self.row(topic)
            .iter()
            .zip(strongest)
            .map(|(&w, &top)| match top >= NAMING_CUE {
                true => w.min(1.0),
                false => w.min(TOUCH_ONLY),
            })
    }
}

impl Scan<'_> {
    /// The weight of every topic's cues in every sentence that counts, each
    /// distinct cue once; a cue mentioned in passing ("after any peace
    /// deal") weighs less.
    pub(super) fn topic_cues(&self, t: &Tagger, sentences: &Sentences) -> TopicCues {
        let n = self.sentence_count();
        let text = self.folded.text.as_str();
        let mut weights = vec![0.0f64; n * t.topics.len()];
        let mut strongest = vec![0.0f64; n * t.topics.len()];
        let mut peace = vec![0.0f64; n];
        let mut seen = Vec::new();
        let rows = weights
            .chunks_exact_mut(n.max(1))
            .zip(strongest.chunks_exact_mut(n.max(1)));
        for (ti, (row, top)) in rows.enumerate() {
            let counts = |s| sentences.counts(s);
            self.distinct_cues(LAYER_TOPICS + ti, counts, &mut seen, |s, h, weight| {
                let weight = match preceded_by(text, h.start, &t.passing_before) {
                    true => weight * t.passing_factor,
                    false => weight,
                };
                peace[s] += weight;
                // Only a cue that names the topic makes a sentence
                // discuss it, in the headline too.
                top[s] = top[s].max(weight);
                // A headline states what the article is about: its cues
                // count `title_weight` times for the topic.
                row[s] += match s < self.title_sentences {
                    true => weight * t.relevance.title_weight.max(1.0),
                    false => weight,
                };
            });
        }
        TopicCues {
            n,
            weights,
            strongest,
            peace,
        }
    }

    /// The topics scoring at least their threshold, best first, each with
    /// its strongest sentences as evidence.
    pub(super) fn topic_tags(&self, t: &Tagger, cues: &TopicCues) -> Vec<TopicTag> {
        let mut topics = Vec::new();
        for (ti, info) in t.topics.iter().enumerate() {
            let weights = cues.row(ti);
            let raw: f64 = cues.capped(ti).sum();
            let score = round3(1.0 - (-raw).exp());
            if score < info.threshold || score == 0.0 {
                continue;
            }
            topics.push(TopicTag {
                id: info.id.clone(),
                label: info.label.clone(),
                score,
                evidence: self.evidence(weights),
            });
        }
        topics.sort_by(|a, b| b.score.total_cmp(&a.score));
        topics
    }

    /// The strongest sentences of a topic, in text order.
    fn evidence(&self, weights: &[f64]) -> Vec<String> {
        let mut best: Vec<usize> = (0..weights.len())
            .filter(|&s| weights[s] >= MIN_EVIDENCE_WEIGHT)
            .collect();
        best.sort_by(|&a, &b| weights[b].min(1.0).total_cmp(&weights[a].min(1.0)));
        best.truncate(MAX_EVIDENCE);
        best.sort_unstable();
        best.into_iter().map(|s| self.sentence_text(s)).collect()
    }

    fn sentence_text(&self, s: usize) -> String {
        let (a, b) = self.range(s);
        let sentence = self.written(a, b).trim();
        if sentence.len() <= MAX_EVIDENCE_CHARS {
            return sentence.to_string();
        }
        match sentence.char_indices().nth(MAX_EVIDENCE_CHARS) {
            Some((cut, _)) => format!("{}…", sentence[..cut].trim_end()),
            None => sentence.to_string(),
        }
    }
}

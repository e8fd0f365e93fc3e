//! Topics: cue weights per topic and sentence, topic scores, and the
//! sentences shown as evidence.

use super::patterns::LAYER_TOPICS;
use super::relevance::Sentences;
use super::round3;
use super::scan::Scan;
use super::tagger::Tagger;
use super::taxonomy::{Topic, TopicModel};
use super::text::{Clauses, preceded_by};
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
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    pub(super) fn new(t: &Topic) -> TopicInfo {
        TopicInfo {
            id: t.id.clone(),
            label: t.label.clone(),
            threshold: t.threshold,
        }
    }
}

/// What the topic model reads of a topic's cues in an article, in this
/// order:
/// - `cues`: the cue score, 1 - e^-(sum of the sentences' capped weights);
/// - `naming`, `touching`: ln(1 + n) of the sentences holding a cue that
///   names the topic, and of those only touching it;
/// - `headline`: 1 when the headline has a cue of the topic;
/// - `lead`: 1 when one of the first [`LEAD_SENTENCES`] sentences after
///   the headline names the topic;
/// - `share`: the share of the article's sentences that have its cues;
/// - `relative`: its cue sum over that of the article's strongest topic;
/// - `spread`: how far apart its first and last sentence are, as a share
///   of the article;
/// - `first`, `second`: what its strongest and second strongest sentence
///   weigh for it (at most 1);
/// - `own`: the share of its sentences in which no other topic weighs more
///   (a topic named inside a sentence about another is named in passing);
/// - `framed`: ln(1 + n) of the sentences where one of its cues stands a
///   few words after a stance word of its clause ("called for tougher
///   sanctions"), outside asides (see [`Clauses`]);
/// - `aside`: the share of the sentences naming it where every naming cue
///   is in an aside ("weeks after new sanctions took effect").
pub const TOPIC_FEATURES: [&str; 13] = [
    "cues", "naming", "touching", "headline", "lead", "share", "relative", "spread", "first",
    "second", "own", "framed", "aside",
];

/// The sentences after the headline that make an article's lead.
const LEAD_SENTENCES: usize = 3;

/// The compiled [`TopicModel`]: weights in `TOPIC_FEATURES` order.
pub(super) struct Model {
    intercept: f64,
    weights: [f64; TOPIC_FEATURES.len()],
}

impl Model {
    pub(super) fn new(m: &TopicModel) -> Model {
        let mut weights = [0.0; TOPIC_FEATURES.len()];
        for (w, name) in weights.iter_mut().zip(TOPIC_FEATURES) {
            *w = m.weights.get(name).copied().unwrap_or(0.0);
        }
        Model {
            intercept: m.intercept,
            weights,
        }
    }

    fn score(&self, features: &Features) -> f64 {
        let sum: f64 = self.intercept
            + self
                .weights
                .iter()
                .zip(features)
                .map(|(w, x)| w * x)
                .sum::<f64>();
        1.0 / (1.0 + (-sum).exp())
    }
}

/// One topic's [`TOPIC_FEATURES`] in one article.
pub type Features = [f64; TOPIC_FEATURES.len()];

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
    /// Per topic and sentence: a cue outside asides names the topic.
    named: Vec<bool>,
    /// Per topic and sentence: a cue outside asides is framed by a stance
    /// word.
    framed: Vec<bool>,
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
        let mut named = vec![false; n * t.topics.len()];
        let mut framed = vec![false; n * t.topics.len()];
        let mut peace = vec![0.0f64; n];
        let mut seen = Vec::new();
        let mut clauses = Clauses::new(self.folded, &t.clause_words);
        for ti in 0..t.topics.len() {
            let row = ti * n..(ti + 1) * n;
            let (row, top, named, framed) = (
                &mut weights[row.clone()],
                &mut strongest[row.clone()],
                &mut named[row.clone()],
                &mut framed[row],
            );
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
                let f = clauses.framing(self.range(s).0, h.start);
                if !f.aside {
                    named[s] |= weight >= NAMING_CUE;
                    framed[s] |= f.framed;
                }
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
            named,
            framed,
            peace,
        }
    }

    /// The [`TOPIC_FEATURES`] of every topic with a cue in the article.
    pub(super) fn topic_features(&self, cues: &TopicCues) -> Vec<Option<Features>> {
        let topics = cues.weights.len() / cues.n.max(1);
        let capped: Vec<Vec<f64>> = (0..topics).map(|ti| cues.capped(ti).collect()).collect();
        let raws: Vec<f64> = capped.iter().map(|c| c.iter().sum()).collect();
        let strongest_raw = raws.iter().copied().fold(0.0, f64::max);
        // What the sentence's leading topic weighs in it.
        let leading: Vec<f64> = (0..cues.n)
            .map(|s| capped.iter().map(|c| c[s]).fold(0.0, f64::max))
            .collect();
        let body = self.title_sentences..cues.n;
        let body_sentences = (body.clone().filter(|&s| self.has_words(s)).count()).max(1);
        raws.iter()
            .enumerate()
            .map(|(ti, &raw)| {
                if raw == 0.0 {
                    return None;
                }
                let row = &capped[ti];
                let top = &cues.strongest[ti * cues.n..(ti + 1) * cues.n];
                let with_cue: Vec<usize> = (0..cues.n).filter(|&s| row[s] > 0.0).collect();
                let naming = with_cue.iter().filter(|&&s| top[s] >= NAMING_CUE).count();
                let named = &cues.named[ti * cues.n..(ti + 1) * cues.n];
                let asides = with_cue
                    .iter()
                    .filter(|&&s| top[s] >= NAMING_CUE && !named[s])
                    .count();
                let framed = &cues.framed[ti * cues.n..(ti + 1) * cues.n];
                let framed = with_cue.iter().filter(|&&s| framed[s]).count();
                let in_body = with_cue.iter().filter(|&&s| body.contains(&s)).count();
                let lead = body.start..(body.start + LEAD_SENTENCES).min(cues.n);
                let (first, last) = (with_cue[0], with_cue[with_cue.len() - 1]);
                let own = with_cue.iter().filter(|&&s| row[s] >= leading[s]).count();
                let mut by_weight: Vec<f64> = with_cue.iter().map(|&s| row[s]).collect();
                by_weight.sort_by(|a, b| b.total_cmp(a));
                Some([
                    1.0 - (-raw).exp(),
                    (naming as f64).ln_1p(),
                    ((with_cue.len() - naming) as f64).ln_1p(),
                    f64::from(u8::from(first < self.title_sentences)),
                    f64::from(u8::from(lead.clone().any(|s| top[s] >= NAMING_CUE))),
                    in_body as f64 / body_sentences as f64,
                    raw / strongest_raw,
                    (last - first) as f64 / cues.n as f64,
                    by_weight[0],
                    by_weight.get(1).copied().unwrap_or(0.0),
                    own as f64 / with_cue.len() as f64,
                    (framed as f64).ln_1p(),
                    asides as f64 / naming.max(1) as f64,
                ])
            })
            .collect()
    }

    /// The topics scoring at least their threshold, best first, each with
    /// its strongest sentences as evidence. The score is the topic model's
    /// when the taxonomy has one, the cue score otherwise.
    pub(super) fn topic_tags(&self, t: &Tagger, cues: &TopicCues) -> Vec<TopicTag> {
        let mut topics = Vec::new();
        let features = self.topic_features(cues);
        for ((ti, info), features) in t.topics.iter().enumerate().zip(features) {
            let Some(features) = features else {
                continue;
            };
            let weights = cues.row(ti);
            let score = round3(match &t.topic_model {
                Some(model) => model.score(&features),
                None => features[0],
            });
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

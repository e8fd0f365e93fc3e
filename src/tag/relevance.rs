//! Relevance: which sentences are about this war, and how much the article
//! as a whole is about its peace process.

use super::actors::Mention;
use super::patterns::{LAYER_ANCHORS, LAYER_FOREIGN, LAYER_RELCUES};
use super::round3;
use super::scan::Scan;
use super::tagger::Tagger;

/// Per sentence, what it is about.
pub(super) struct Sentences {
    /// Names this war: an anchor actor or an anchor term.
    anchored: Vec<bool>,
    /// Names this war for sure: a required actor or an anchor term.
    firm: Vec<bool>,
    /// Names a conflict elsewhere.
    foreign: Vec<bool>,
}

impl Sentences {
    /// Whether the sentence's cues count: it is not about another conflict,
    /// or it is about this war all the same.
    pub(super) fn counts(&self, s: usize) -> bool {
        self.anchored[s] || !self.foreign[s]
    }
}

impl Scan<'_> {
    /// Anchoring of every sentence, from actor mentions and anchor and
    /// foreign terms.
    pub(super) fn sentences(&self, t: &Tagger, mentions: &[Mention]) -> Sentences {
        let n = self.sentence_count();
        let mut anchored = vec![false; n];
        let mut firm = vec![false; n];
        for m in mentions {
            let info = &t.actors[m.actor];
            anchored[m.sentence] |= info.anchor;
            firm[m.sentence] |= info.required;
        }
        for h in self.layer(LAYER_ANCHORS) {
            let s = self.sentence_of(h.start);
            anchored[s] = true;
            firm[s] = true;
        }
        let mut foreign = vec![false; n];
        for h in self.layer(LAYER_FOREIGN) {
            foreign[self.sentence_of(h.start)] = true;
        }
        // "Russia" next to "Syria" is about Syria.
        for s in 0..n {
            anchored[s] &= firm[s] || !foreign[s];
        }
        Sentences {
            anchored,
            firm,
            foreign,
        }
    }

    /// Adds the relevance cues ("talks", "ceasefire") to each sentence's
    /// peace weight, each distinct cue once.
    pub(super) fn add_relevance_cues(&self, sentences: &Sentences, peace: &mut [f64]) {
        let mut seen = Vec::new();
        let counts = |s| sentences.counts(s);
        self.distinct_cues(LAYER_RELCUES, counts, &mut seen, |s, _, weight| {
            peace[s] += weight;
        });
    }

    /// Relevance in [0, 1]: the peace weight of the anchored sentences
    /// (each at most 1, the headline weighted), saturating, times the share
    /// of the text that is anchored, and less without a firm anchor.
    pub(super) fn relevance(&self, t: &Tagger, sentences: &Sentences, peace: &[f64]) -> f64 {
        let r = &t.relevance;
        let (mut total, mut anchor_share, mut anchored_peace) = (0.0, 0.0, 0.0);
        for (s, peace) in peace.iter().enumerate() {
            if !self.has_words(s) {
                continue;
            }
            let w = if s < self.title_sentences {
                r.title_weight
            } else {
                1.0
            };
            total += w;
            if sentences.anchored[s] {
                anchor_share += w;
                anchored_peace += w * peace.min(1.0);
            }
        }
        let focus = if total > 0.0 {
            (anchor_share / total / r.focus_full).min(1.0)
        } else {
            0.0
        };
        let confirmed = r.required.is_empty() || sentences.firm.iter().any(|&f| f);
        let factor = if confirmed { 1.0 } else { r.unconfirmed_factor };
        round3((1.0 - (-anchored_peace / r.peace_scale).exp()) * focus * factor)
    }
}

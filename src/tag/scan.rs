//! The pass over an article: the automaton run from every word start, the
//! matches kept per layer, the vetoes, and the sentence geometry the later
//! steps read from.

use aho_corasick::Anchored;
use aho_corasick::automaton::Automaton;

use super::patterns::{Form, LAYER_TOPICS, Target};
use super::tagger::Tagger;
use super::text::{Folded, ends_on_boundary, sentence_starts};

/// A match kept after boundary and case checks.
#[derive(Clone, Copy)]
pub(super) struct Hit {
    pub(super) layer: usize,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) target: Target,
    pub(super) pattern: u32,
}

/// One article after the automaton pass.
pub(super) struct Scan<'a> {
    /// The article as written, headline first.
    pub(super) original: &'a str,
    pub(super) folded: &'a Folded,
    /// Where each sentence starts in the folded text.
    pub(super) starts: Vec<usize>,
    /// Sentences before this index are the headline.
    pub(super) title_sentences: usize,
    /// Kept hits sorted by layer, then position.
    pub(super) hits: Vec<Hit>,
    /// `hits[layer_starts[l]..layer_starts[l + 1]]` are layer `l`'s hits.
    layer_starts: Vec<usize>,
    /// (actor, sentence) pairs where a veto phrase rules the actor out.
    pub(super) vetoes: Vec<(u32, usize)>,
}

impl<'a> Scan<'a> {
    /// `title_end`: where the headline ends in the folded text.
    /// `starts` and `hits` are buffers to fill (their contents are dropped).
    pub(super) fn new(
        t: &Tagger,
        original: &'a str,
        folded: &'a Folded,
        title_end: usize,
        mut starts: Vec<usize>,
        mut hits: Vec<Hit>,
    ) -> Scan<'a> {
        let text = folded.text.as_str();
        sentence_starts(folded, &mut starts);
        let title_sentences = starts.partition_point(|&s| s < title_end);
        hits.clear();
        let mut vetoes = Vec::new();
        t.for_each_match(folded, |start, end, pattern| {
            if !t.targets.is_stem(pattern) && !ends_on_boundary(text, start, end) {
                return;
            }
            for &target in t.targets.of(pattern) {
                if !cased_as_configured(t, original, folded, target, (start, end)) {
                    continue;
                }
                match target.layer() {
                    Some(layer) => hits.push(Hit {
                        layer,
                        start,
                        end,
                        target,
                        pattern,
                    }),
                    None => {
                        if let Target::Veto { actor } = target {
                            vetoes.push((actor, sentence_of(&starts, start)));
                        }
                    }
                }
            }
        });
        leftmost_longest(&mut hits);
        vetoes.sort_unstable();
        vetoes.dedup();
        let layer_starts = (0..=LAYER_TOPICS + t.topics.len())
            .map(|l| hits.partition_point(|h| h.layer < l))
            .collect();
        Scan {
            original,
            folded,
            starts,
            title_sentences,
            hits,
            layer_starts,
            vetoes,
        }
    }

    /// The kept hits of layer `l`, in text order.
    pub(super) fn layer(&self, l: usize) -> &[Hit] {
        match (self.layer_starts.get(l), self.layer_starts.get(l + 1)) {
            (Some(&a), Some(&b)) => &self.hits[a..b],
            _ => &[],
        }
    }

    pub(super) fn sentence_count(&self) -> usize {
        self.starts.len()
    }

    /// The sentence holding folded offset `pos`.
    pub(super) fn sentence_of(&self, pos: usize) -> usize {
        sentence_of(&self.starts, pos)
    }

    /// Folded offsets of sentence `s`.
    pub(super) fn range(&self, s: usize) -> (usize, usize) {
        let start = self.starts[s];
        let end = self
            .starts
            .get(s + 1)
            .copied()
            .unwrap_or(self.folded.text.len());
        (start, end)
    }

    pub(super) fn has_words(&self, s: usize) -> bool {
        let (a, b) = self.range(s);
        let words = &self.folded.words;
        let first = words.partition_point(|&w| (w as usize) < a);
        words.get(first).is_some_and(|&w| (w as usize) < b)
    }

    /// The text as written between folded offsets `start` and `end`.
    pub(super) fn written(&self, start: usize, end: usize) -> &'a str {
        let (s, e) = self.folded.original(self.original, start, end);
        self.original.get(s..e).unwrap_or_default()
    }

    /// Calls `f(sentence, hit, weight)` for the cue hits of layer `l` in
    /// the sentences that `counts`, each distinct cue once per sentence.
    /// `seen` is scratch.
    pub(super) fn distinct_cues(
        &self,
        l: usize,
        counts: impl Fn(usize) -> bool,
        seen: &mut Vec<u32>,
        mut f: impl FnMut(usize, &Hit, f64),
    ) {
        // Hits come in text order, so `seen` only holds the current
        // sentence's cues.
        let mut current = usize::MAX;
        for h in self.layer(l) {
            let (Target::Cue { weight, .. } | Target::RelCue { weight }) = h.target else {
                continue;
            };
            let s = self.sentence_of(h.start);
            if s != current {
                current = s;
                seen.clear();
            }
            if !counts(s) || seen.contains(&h.pattern) {
                continue;
            }
            seen.push(h.pattern);
            f(s, h, weight);
        }
    }
}

impl Tagger {
    /// Calls `f(start, end, pattern)` for every pattern occurrence that
    /// starts a word, overlapping ones included. Every pattern starts with a
    /// word character (checked by `problems`), so the automaton runs anchored
    /// from word starts only: per word it walks a few trie states near the
    /// root, which stay in cache, and stops at the first dead end. (An
    /// unanchored scan of every byte measured slower: its failure
    /// transitions roam the whole automaton. The contiguous NFA beat the DFA
    /// here for the same reason: it is a tenth of the size.)
    fn for_each_match(&self, folded: &Folded, mut f: impl FnMut(usize, usize, u32)) {
        let nfa = &self.automaton;
        let Ok(root) = nfa.start_state(Anchored::Yes) else {
            return;
        };
        let bytes = folded.text.as_bytes();
        for &i in &folded.words {
            let i = i as usize;
            if !self.openings.may_start(bytes.get(i..).unwrap_or_default()) {
                continue;
            }
            let mut sid = root;
            for (j, &b) in bytes.get(i..).unwrap_or_default().iter().enumerate() {
                sid = nfa.next_state(Anchored::Yes, sid, b);
                if nfa.is_dead(sid) {
                    break;
                }
                if nfa.is_match(sid) {
                    for k in 0..nfa.match_len(sid) {
                        // A match state also lists the patterns that end
                        // the text matched so far ("guarantees" after
                        // "security guarantees"): those are found from
                        // their own word start.
                        let pattern = nfa.match_pattern(sid, k);
                        if nfa.pattern_len(pattern) == j + 1 {
                            f(i, i + j + 1, pattern.as_u32());
                        }
                    }
                }
            }
        }
    }
}

/// A cased name counts only written exactly as configured; every other
/// target matches in any case.
fn cased_as_configured(
    t: &Tagger,
    original: &str,
    folded: &Folded,
    target: Target,
    (start, end): (usize, usize),
) -> bool {
    let Target::Actor {
        form: Form::Cased,
        cased,
        ..
    } = target
    else {
        return true;
    };
    let (s, e) = folded.original(original, start, end);
    original.get(s..e) == Some(t.targets.cased(cased))
}

/// The sentence holding folded offset `pos`.
fn sentence_of(starts: &[usize], pos: usize) -> usize {
    starts.partition_point(|&s| s <= pos).saturating_sub(1)
}

/// Keeps, among overlapping hits of a layer, the leftmost and then the
/// longest; sorts by layer, then position.
fn leftmost_longest(hits: &mut Vec<Hit>) {
    hits.sort_unstable_by(|a, b| (a.layer, a.start, b.end).cmp(&(b.layer, b.start, a.end)));
    let (mut layer, mut last_end) = (usize::MAX, 0);
    hits.retain(|h| {
        if h.layer != layer {
            (layer, last_end) = (h.layer, 0);
        }
        if h.start >= last_end {
            last_end = h.end;
            true
        } else {
            false
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tag::Taxonomy;

    #[test]
    fn a_match_starts_where_its_pattern_does() {
        // The automaton's match states also list the patterns that end
        // the matched text ("guarantees" in "security guarantees"): taken
        // at the longer match's start, they would tie with it, and which
        // of the two was kept depended on how the hits happened to sort.
        let t = Tagger::new(&Taxonomy::embedded()).unwrap();
        let mut folded = Folded::default();
        folded.push(
            "Talks on security guarantees and the Soviet Union's peace plan.",
            0,
        );
        let mut matches = Vec::new();
        t.for_each_match(&folded, |start, end, pattern| {
            matches.push((start, end, pattern))
        });
        assert!(!matches.is_empty());
        for (start, end, pattern) in matches {
            assert_eq!(
                end - start,
                t.automaton
                    .pattern_len(aho_corasick::PatternID::must(pattern as usize)),
                "{:?}",
                &folded.text[start..end]
            );
        }
    }
}

//! Tagging: is an article about the Russia-Ukraine peace process, which of
//! its topics does it discuss, and who acts in it.
//!
//! Everything the tagger knows comes from a [`Taxonomy`] (by default the
//! embedded `config/taxonomy.toml`). [`Tagger::new`] folds every pattern and
//! compiles them into one Aho-Corasick automaton; [`Tagger::tag`] folds the
//! article the same way (see [`text`]), runs the automaton from each word
//! start in one pass, and reads actors, topics and relevance off the
//! matches, sentence by sentence.

mod taxonomy;
mod text;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write;

use aho_corasick::Anchored;
use aho_corasick::automaton::Automaton;
use aho_corasick::nfa::contiguous;

use crate::record::{ActorKind, ActorTag, Tags, TopicTag};
use text::{Folded, ends_on_boundary, normalize_pattern, sentence_starts};

pub use taxonomy::{Actor, Passing, PlaceContext, Relevance, Taxonomy, TaxonomyError, Topic};

/// Articles are cut here: offsets are kept as u32, and no real article
/// comes near this size.
const MAX_BYTES: usize = 64 << 20;
/// Scratch buffers above this many bytes are freed after the article rather
/// than kept for the next: one huge article should not pin its memory.
const MAX_KEPT_SCRATCH: usize = 4 << 20;
/// Evidence sentences kept per topic.
const MAX_EVIDENCE: usize = 3;
/// Sentences weaker than this are not shown as evidence.
const MIN_EVIDENCE_WEIGHT: f64 = 0.5;
/// Evidence longer than this many characters is cut (a "sentence" can be a
/// whole paragraph without punctuation).
const MAX_EVIDENCE_CHARS: usize = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Alias,
    Cased,
    Surname,
    Seat,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Actor { actor: u32, form: Form, cased: u32 },
    Exclude,
    Veto { actor: u32 },
    Cue { topic: u32, weight: f64 },
    CueExclude { topic: u32 },
    Anchor,
    Foreign,
    RelCue { weight: f64 },
}

/// Matches compete for text only within a layer: an actor alias never hides
/// a topic cue, but "Donald Trump Jr." hides "Donald Trump".
const LAYER_ACTORS: usize = 0;
const LAYER_ANCHORS: usize = 1;
const LAYER_FOREIGN: usize = 2;
const LAYER_RELCUES: usize = 3;
const LAYER_TOPICS: usize = 4;

impl Target {
    fn layer(self) -> Option<usize> {
        match self {
            Target::Actor { .. } | Target::Exclude => Some(LAYER_ACTORS),
            Target::Veto { .. } => None,
            Target::Anchor => Some(LAYER_ANCHORS),
            Target::Foreign => Some(LAYER_FOREIGN),
            Target::RelCue { .. } => Some(LAYER_RELCUES),
            Target::Cue { topic, .. } | Target::CueExclude { topic } => {
                Some(LAYER_TOPICS + topic as usize)
            }
        }
    }
}

struct ActorInfo {
    id: String,
    name: String,
    kind: ActorKind,
    anchor: bool,
    required: bool,
}

struct TopicInfo {
    id: String,
    label: String,
    threshold: f64,
}

/// A compiled taxonomy. Build it once; `tag` takes `&self` and the tagger is
/// `Send + Sync`, so one instance serves every worker.
pub struct Tagger {
    automaton: contiguous::NFA,
    openings: Openings,
    /// For each automaton pattern, its range in `targets`.
    pattern_targets: Vec<(u32, u32)>,
    targets: Vec<Target>,
    /// Cased names exactly as configured, indexed by `Target::Actor::cased`.
    cased: Vec<String>,
    actors: Vec<ActorInfo>,
    topics: Vec<TopicInfo>,
    relevance: Relevance,
    place_before: Vec<String>,
    place_after: Vec<String>,
    passing_before: Vec<String>,
    passing_factor: f64,
    titles: Vec<String>,
}

#[derive(Default)]
struct Builder {
    index: HashMap<String, usize>,
    per_pattern: Vec<Vec<Target>>,
}

impl Builder {
    fn add(&mut self, raw: &str, target: Target) {
        let norm = normalize_pattern(raw);
        if norm.is_empty() {
            return;
        }
        let next = self.per_pattern.len();
        let i = *self.index.entry(norm).or_insert(next);
        if i == next {
            self.per_pattern.push(Vec::new());
        }
        self.per_pattern[i].push(target);
    }
}

impl Tagger {
    /// Compiles `taxonomy`; refuses one with problems (see
    /// [`Taxonomy::problems`]).
    pub fn new(taxonomy: &Taxonomy) -> Result<Tagger, TaxonomyError> {
        let problems = taxonomy.problems();
        if !problems.is_empty() {
            return Err(TaxonomyError::Invalid(problems));
        }
        let mut b = Builder::default();
        let mut cased = Vec::new();
        for (i, a) in taxonomy.actors.iter().enumerate() {
            let actor = i as u32;
            for (list, form) in [
                (&a.aliases, Form::Alias),
                (&a.surnames, Form::Surname),
                (&a.seats, Form::Seat),
            ] {
                for raw in list {
                    b.add(
                        raw,
                        Target::Actor {
                            actor,
                            form,
                            cased: 0,
                        },
                    );
                }
            }
            for raw in &a.cased {
                let target = Target::Actor {
                    actor,
                    form: Form::Cased,
                    cased: cased.len() as u32,
                };
                cased.push(raw.trim().to_string());
                b.add(raw, target);
            }
            for raw in &a.exclude {
                b.add(raw, Target::Exclude);
            }
            for raw in &a.veto {
                b.add(raw, Target::Veto { actor });
            }
        }
        for (i, t) in taxonomy.topics.iter().enumerate() {
            let topic = i as u32;
            for (raw, &weight) in &t.cues {
                b.add(raw, Target::Cue { topic, weight });
            }
            for raw in &t.exclude {
                b.add(raw, Target::CueExclude { topic });
            }
        }
        let r = &taxonomy.relevance;
        for raw in &r.anchor_terms {
            b.add(raw, Target::Anchor);
        }
        for raw in &r.foreign {
            b.add(raw, Target::Foreign);
        }
        for (raw, &weight) in &r.cues {
            b.add(raw, Target::RelCue { weight });
        }

        let mut patterns = vec![String::new(); b.per_pattern.len()];
        for (norm, i) in b.index {
            patterns[i] = norm;
        }
        let openings = Openings::new(&patterns);
        let automaton = contiguous::NFA::builder()
            .build(&patterns)
            .map_err(TaxonomyError::Automaton)?;
        let mut targets = Vec::new();
        let mut pattern_targets = Vec::with_capacity(patterns.len());
        for list in b.per_pattern {
            let from = targets.len() as u32;
            targets.extend(list);
            pattern_targets.push((from, targets.len() as u32));
        }
        let actors = taxonomy
            .actors
            .iter()
            .map(|a| ActorInfo {
                id: a.id.clone(),
                name: a.name.clone(),
                kind: a.kind,
                anchor: r.anchors.contains(&a.id),
                required: r.required.contains(&a.id),
            })
            .collect();
        let topics = taxonomy
            .topics
            .iter()
            .map(|t| TopicInfo {
                id: t.id.clone(),
                label: t.label.clone(),
                threshold: t.threshold,
            })
            .collect();
        let fold_all = |list: &[String]| list.iter().map(|p| normalize_pattern(p)).collect();
        Ok(Tagger {
            automaton,
            openings,
            pattern_targets,
            targets,
            cased,
            actors,
            topics,
            relevance: r.clone(),
            place_before: fold_all(&taxonomy.place_context.before),
            place_after: fold_all(&taxonomy.place_context.after),
            passing_before: fold_all(&taxonomy.passing.before),
            passing_factor: taxonomy.passing.factor,
            titles: fold_all(&taxonomy.titles),
        })
    }

    /// Tags one article. `title` may be empty; it counts as its own
    /// sentence(s), weighted for relevance by `relevance.title_weight`.
    pub fn tag(&self, title: &str, text: &str) -> Tags {
        // The per-article buffers are as large as the article; allocating
        // them afresh costs more than tagging a short one, so each thread
        // keeps its own set.
        thread_local! {
            static SCRATCH: RefCell<Scratch> = RefCell::default();
        }
        SCRATCH
            .try_with(|cell| match cell.try_borrow_mut() {
                Ok(mut scratch) => self.tag_with(&mut scratch, title, text),
                Err(_) => self.tag_with(&mut Scratch::default(), title, text),
            })
            .unwrap_or_else(|_| self.tag_with(&mut Scratch::default(), title, text))
    }

    fn tag_with(&self, scratch: &mut Scratch, title: &str, text: &str) -> Tags {
        let title = cut(title, MAX_BYTES / 2);
        let text = cut(text, MAX_BYTES / 2);
        let Scratch {
            original,
            folded,
            starts,
            hits,
        } = scratch;
        original.clear();
        // Writing to a String cannot fail.
        let _ = write!(original, "{title}\n\n{text}");
        folded.clear();
        folded.reserve(original.len());
        folded.push(title, 0);
        let title_end = folded.text.len();
        // The newlines keep the headline a sentence of its own.
        folded.push(&original[title.len()..], title.len() as u32);
        let doc = Doc::new(
            self,
            original,
            folded,
            title_end,
            std::mem::take(starts),
            std::mem::take(hits),
        );
        let tags = doc.tags(self);
        (*starts, *hits) = (doc.starts, doc.hits);
        if scratch.capacity() > MAX_KEPT_SCRATCH {
            *scratch = Scratch::default();
        }
        tags
    }

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
                        f(i, i + j + 1, nfa.match_pattern(sid, k).as_u32());
                    }
                }
            }
        }
    }

    fn seat_is_place(&self, text: &str, start: usize, end: usize) -> bool {
        if preceded_by(text, start, &self.place_before) {
            return true;
        }
        let tail = text.get(end..).unwrap_or("");
        let tail = tail.strip_prefix("'s").unwrap_or(tail);
        let Some(tail) = tail.strip_prefix(' ') else {
            return false;
        };
        let first = tail.as_bytes().first();
        self.place_after.iter().any(|p| {
            p.as_bytes().first() == first
                && tail
                    .strip_prefix(p.as_str())
                    .is_some_and(|rest| !rest.chars().next().is_some_and(text::is_word))
        })
    }
}

/// The first bytes of the patterns, to turn away before the automaton is
/// entered the words that start none (over half of them: the walk from a
/// word start is a chain of dependent loads through the automaton, and the
/// bulk of `tag`'s time).
struct Openings {
    /// Bit `a << 8 | b` for the patterns of one or two bytes `a b` (for
    /// every `b` after a one-byte `a`).
    short: Box<[u64; 1024]>,
    /// A Bloom filter of the first four bytes of the longer patterns (of a
    /// three-byte one, followed by any byte): 128K bits, 16 KiB, so that it
    /// stays in the L1 cache and turns away most words.
    long: Box<[u64; 2048]>,
}

impl Openings {
    fn new(patterns: &[String]) -> Openings {
        let mut short = Box::new([0u64; 1024]);
        let mut long = Box::new([0u64; 2048]);
        for p in patterns {
            match *p.as_bytes() {
                [] => {}
                [a] => (0..=u8::MAX).for_each(|b| set(&mut short[..], short_bit(a, b))),
                [a, b] => set(&mut short[..], short_bit(a, b)),
                [a, b, c] => (0..=u8::MAX).for_each(|d| set(&mut long[..], long_bit(a, b, c, d))),
                [a, b, c, d, ..] => set(&mut long[..], long_bit(a, b, c, d)),
            }
        }
        Openings { short, long }
    }

    /// Whether a pattern may start `text`.
    fn may_start(&self, text: &[u8]) -> bool {
        match *text {
            [a, b, c, d, ..] => {
                get(&self.short[..], short_bit(a, b)) || get(&self.long[..], long_bit(a, b, c, d))
            }
            _ => true,
        }
    }
}

fn short_bit(a: u8, b: u8) -> usize {
    usize::from(a) << 8 | usize::from(b)
}

fn long_bit(a: u8, b: u8, c: u8, d: u8) -> usize {
    // Fibonacci hashing: the top 17 bits of the product mix all four bytes.
    (u32::from_le_bytes([a, b, c, d]).wrapping_mul(0x9E37_79B1) >> 15) as usize
}

fn set(bits: &mut [u64], bit: usize) {
    if let Some(w) = bits.get_mut(bit >> 6) {
        *w |= 1 << (bit & 63);
    }
}

fn get(bits: &[u64], bit: usize) -> bool {
    bits.get(bit >> 6)
        .is_some_and(|w| w & (1 << (bit & 63)) != 0)
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Whether one of `phrases` (folded) ends, on a word boundary, one space
/// before `start`.
fn preceded_by(text: &str, start: usize, phrases: &[String]) -> bool {
    let head = text.get(..start).unwrap_or("");
    let head = head.strip_suffix([' ', '\n']).unwrap_or("");
    let last = head.as_bytes().last();
    // Most phrases already differ in their last byte, which is cheaper to
    // compare than the whole phrase.
    phrases.iter().any(|p| {
        p.as_bytes().last() == last
            && head
                .strip_suffix(p.as_str())
                .is_some_and(|rest| !rest.chars().next_back().is_some_and(text::is_word))
    })
}

/// Buffers reused from one article to the next.
#[derive(Default)]
struct Scratch {
    /// Headline and body, as one text.
    original: String,
    folded: Folded,
    starts: Vec<usize>,
    hits: Vec<Hit>,
}

impl Scratch {
    fn capacity(&self) -> usize {
        self.original.capacity()
            + self.folded.capacity()
            + size_of::<usize>() * self.starts.capacity()
            + size_of::<Hit>() * self.hits.capacity()
    }
}

/// A match kept after boundary and case checks.
#[derive(Clone, Copy)]
struct Hit {
    layer: usize,
    start: usize,
    end: usize,
    target: Target,
    pattern: u32,
}

/// One article under analysis.
struct Doc<'a> {
    original: &'a str,
    folded: &'a Folded,
    starts: Vec<usize>,
    /// Sentences before this index are the headline.
    title_sentences: usize,
    /// Kept hits sorted by layer, then position.
    hits: Vec<Hit>,
    /// `hits[layer_starts[l]..layer_starts[l + 1]]` are layer `l`'s hits.
    layer_starts: Vec<usize>,
    vetoes: Vec<(u32, usize)>,
}

impl<'a> Doc<'a> {
    /// `title_end`: where the headline ends in the folded text.
    /// `starts` and `hits` are buffers to fill (their contents are dropped).
    fn new(
        t: &Tagger,
        original: &'a str,
        folded: &'a Folded,
        title_end: usize,
        mut starts: Vec<usize>,
        mut hits: Vec<Hit>,
    ) -> Doc<'a> {
        let text = folded.text.as_str();
        sentence_starts(folded, &mut starts);
        let title_sentences = starts.partition_point(|&s| s < title_end);
        let layer_count = LAYER_TOPICS + t.topics.len();
        hits.clear();
        let mut vetoes = Vec::new();
        t.for_each_match(folded, |start, end, pattern| {
            if !ends_on_boundary(text, start, end) {
                return;
            }
            let (from, to) = t.pattern_targets[pattern as usize];
            for &target in &t.targets[from as usize..to as usize] {
                if let Target::Actor {
                    form: Form::Cased,
                    cased,
                    ..
                } = target
                {
                    let (s, e) = folded.original(original, start, end);
                    if original.get(s..e) != Some(t.cased[cased as usize].as_str()) {
                        continue;
                    }
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
        let layer_starts = (0..=layer_count)
            .map(|l| hits.partition_point(|h| h.layer < l))
            .collect();
        Doc {
            original,
            folded,
            starts,
            title_sentences,
            hits,
            layer_starts,
            vetoes,
        }
    }

    fn layer(&self, l: usize) -> &[Hit] {
        match (self.layer_starts.get(l), self.layer_starts.get(l + 1)) {
            (Some(&a), Some(&b)) => &self.hits[a..b],
            _ => &[],
        }
    }

    fn sentence_of(&self, pos: usize) -> usize {
        sentence_of(&self.starts, pos)
    }

    fn tags(&self, t: &Tagger) -> Tags {
        let n = self.starts.len();
        let text = self.folded.text.as_str();

        // Actors.
        let mut mentions = Vec::with_capacity(self.layer(LAYER_ACTORS).len());
        for h in self.layer(LAYER_ACTORS) {
            let Target::Actor { actor, form, .. } = h.target else {
                continue;
            };
            let sentence = self.sentence_of(h.start);
            let vetoed =
                form != Form::Alias && self.vetoes.binary_search(&(actor, sentence)).is_ok();
            if vetoed || (form == Form::Seat && self.seat_is_place(t, h.start, h.end)) {
                continue;
            }
            mentions.push(Mention {
                actor: actor as usize,
                form,
                sentence,
                start: h.start,
                end: h.end,
            });
        }
        let mut confirmed = vec![false; t.actors.len()];
        for m in &mentions {
            if matches!(m.form, Form::Alias | Form::Cased)
                || (m.form == Form::Surname && preceded_by(text, m.start, &t.titles))
            {
                confirmed[m.actor] = true;
            }
        }
        mentions.retain(|m| m.form != Form::Surname || confirmed[m.actor]);

        // A sentence is anchored by an anchor actor; it is firmly anchored by
        // a required actor or an anchor term, which names this war for sure.
        let mut anchored = vec![false; n];
        let mut firm = vec![false; n];
        for m in &mentions {
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
        let counts = |s: usize| anchored[s] || !foreign[s];

        // Topic cue weight per topic and sentence, each distinct cue once.
        // Hits come in text order, so `seen` only holds the current
        // sentence's cues.
        // One row of `n` per topic.
        let mut topic_weight = vec![0.0f64; n * t.topics.len()];
        let mut peace = vec![0.0f64; n];
        let mut seen: Vec<u32> = Vec::new();
        for (ti, weights) in topic_weight.chunks_exact_mut(n.max(1)).enumerate() {
            let mut current = usize::MAX;
            for h in self.layer(LAYER_TOPICS + ti) {
                let Target::Cue { mut weight, .. } = h.target else {
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
                if preceded_by(text, h.start, &t.passing_before) {
                    weight *= t.passing_factor;
                }
                weights[s] += weight;
                peace[s] += weight;
            }
        }
        let mut current = usize::MAX;
        for h in self.layer(LAYER_RELCUES) {
            let Target::RelCue { weight } = h.target else {
                continue;
            };
            let s = self.sentence_of(h.start);
            if s != current {
                current = s;
                seen.clear();
            }
            if counts(s) && !seen.contains(&h.pattern) {
                seen.push(h.pattern);
                peace[s] += weight;
            }
        }

        // Relevance.
        let r = &t.relevance;
        let (mut total, mut anchor_share, mut anchored_peace) = (0.0, 0.0, 0.0);
        for s in 0..n {
            if !self.has_words(s) {
                continue;
            }
            let w = if s < self.title_sentences {
                r.title_weight
            } else {
                1.0
            };
            total += w;
            if anchored[s] {
                anchor_share += w;
                anchored_peace += w * peace[s].min(1.0);
            }
        }
        let focus = if total > 0.0 {
            (anchor_share / total / r.focus_full).min(1.0)
        } else {
            0.0
        };
        let confirmed = r.required.is_empty() || firm.iter().any(|&f| f);
        let factor = if confirmed { 1.0 } else { r.unconfirmed_factor };
        let relevance = round3((1.0 - (-anchored_peace / r.peace_scale).exp()) * focus * factor);
        let relevant = relevance >= r.threshold;

        let mut topics = Vec::new();
        if relevant {
            for (ti, info) in t.topics.iter().enumerate() {
                let weights = &topic_weight[ti * n..(ti + 1) * n];
                let raw: f64 = weights.iter().map(|w| w.min(1.0)).sum();
                let score = round3(1.0 - (-raw).exp());
                if score < info.threshold || score == 0.0 {
                    continue;
                }
                let mut best: Vec<usize> = (0..n)
                    .filter(|&s| weights[s] >= MIN_EVIDENCE_WEIGHT)
                    .collect();
                best.sort_by(|&a, &b| weights[b].min(1.0).total_cmp(&weights[a].min(1.0)));
                best.truncate(MAX_EVIDENCE);
                best.sort_unstable();
                topics.push(TopicTag {
                    id: info.id.clone(),
                    label: info.label.clone(),
                    score,
                    evidence: best.into_iter().map(|s| self.sentence_text(s)).collect(),
                });
            }
            topics.sort_by(|a, b| b.score.total_cmp(&a.score));
        }

        Tags {
            relevant,
            relevance,
            topics,
            actors: self.actor_tags(t, &mentions),
        }
    }

    fn actor_tags(&self, t: &Tagger, mentions: &[Mention]) -> Vec<ActorTag> {
        // Per actor, its place in `out` (in order of first mention), so that
        // no tag is built for the many actors an article does not name.
        let mut slot = vec![u32::MAX; t.actors.len()];
        let mut out: Vec<ActorTag> = Vec::new();
        for m in mentions {
            let actor = m.actor;
            let (s, e) = self.folded.original(self.original, m.start, m.end);
            let spelling = self.original.get(s..e).unwrap_or_default().trim();
            let i = match slot.get(actor) {
                Some(&i) if i != u32::MAX => i as usize,
                _ => {
                    let info = &t.actors[actor];
                    slot[actor] = out.len() as u32;
                    out.push(ActorTag {
                        id: info.id.clone(),
                        name: info.name.clone(),
                        kind: info.kind,
                        mentions: 0,
                        spellings: Vec::new(),
                    });
                    out.len() - 1
                }
            };
            let tag = &mut out[i];
            tag.mentions += 1;
            if !spelling.is_empty() && !tag.spellings.iter().any(|x| x == spelling) {
                tag.spellings.push(spelling.to_string());
            }
        }
        // Stable: equal counts keep the order of first mention.
        out.sort_by_key(|a| std::cmp::Reverse(a.mentions));
        out
    }

    /// A seat is a place when the words around it say so, or when it is
    /// written in capitals: a dateline ("KYIV, Ukraine (Reuters) -").
    fn seat_is_place(&self, t: &Tagger, start: usize, end: usize) -> bool {
        let (s, e) = self.folded.original(self.original, start, end);
        let written = self.original.get(s..e).unwrap_or_default();
        let dateline = written.chars().filter(|c| c.is_alphabetic()).count() > 1
            && !written.chars().any(char::is_lowercase);
        dateline || t.seat_is_place(&self.folded.text, start, end)
    }

    fn range(&self, s: usize) -> (usize, usize) {
        let start = self.starts[s];
        let end = self
            .starts
            .get(s + 1)
            .copied()
            .unwrap_or(self.folded.text.len());
        (start, end)
    }

    fn has_words(&self, s: usize) -> bool {
        let (a, b) = self.range(s);
        let words = &self.folded.words;
        let first = words.partition_point(|&w| (w as usize) < a);
        words.get(first).is_some_and(|&w| (w as usize) < b)
    }

    fn sentence_text(&self, s: usize) -> String {
        let (a, b) = self.range(s);
        let (from, to) = self.folded.original(self.original, a, b);
        let sentence = self.original.get(from..to).unwrap_or_default().trim();
        if sentence.len() <= MAX_EVIDENCE_CHARS {
            return sentence.to_string();
        }
        match sentence.char_indices().nth(MAX_EVIDENCE_CHARS) {
            Some((cut, _)) => format!("{}…", sentence[..cut].trim_end()),
            None => sentence.to_string(),
        }
    }
}

/// An actor mention that counts.
struct Mention {
    actor: usize,
    form: Form,
    sentence: usize,
    start: usize,
    end: usize,
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

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openings_let_through_every_pattern_start_however_short() {
        let patterns = ["a", "eu", "nato", "un"].map(String::from);
        let o = Openings::new(&patterns);
        for text in ["a bc", "ab c", "eu summit", "nato's", "un c", "unit"] {
            assert!(o.may_start(text.as_bytes()), "{text}");
        }
        // Too short to test: walked.
        assert!(o.may_start(b"xyz"));
        assert!(!o.may_start(b"the talks"));
    }

    #[test]
    fn embedded_taxonomy_has_no_problems() {
        let problems = Taxonomy::embedded().problems();
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

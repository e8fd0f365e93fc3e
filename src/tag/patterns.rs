//! The taxonomy as patterns: every alias, name, cue and anchor term folded,
//! deduplicated, and tied to what it stands for (its targets).

use std::collections::HashMap;

use super::taxonomy::{Actor, Relevance, Taxonomy, Topic};
use super::text::{STEM_MARK, normalize_pattern};

/// How an actor is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    Alias,
    Cased,
    Surname,
    Seat,
}

/// What a pattern stands for. One pattern may stand for several things.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target {
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
pub(super) const LAYER_ACTORS: usize = 0;
pub(super) const LAYER_ANCHORS: usize = 1;
pub(super) const LAYER_FOREIGN: usize = 2;
pub(super) const LAYER_RELCUES: usize = 3;
pub(super) const LAYER_TOPICS: usize = 4;

impl Target {
    /// The layer whose text the match takes; `None` for a veto, which
    /// takes no text.
    pub(super) fn layer(self) -> Option<usize> {
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

/// The targets of every pattern, by automaton pattern id.
pub(super) struct Targets {
    /// For each pattern, its range in `list`.
    ranges: Vec<(u32, u32)>,
    list: Vec<Target>,
    /// Cased names exactly as configured, indexed by `Target::Actor::cased`.
    cased: Vec<String>,
    /// For each pattern, whether it is a stem (`"переговор*"`): it matches
    /// any word it starts, so one entry covers every inflected form.
    stems: Vec<bool>,
}

impl Targets {
    pub(super) fn of(&self, pattern: u32) -> &[Target] {
        let (from, to) = self.ranges[pattern as usize];
        &self.list[from as usize..to as usize]
    }

    /// Whether `pattern` is a stem, matched without a word boundary at its
    /// end.
    pub(super) fn is_stem(&self, pattern: u32) -> bool {
        self.stems[pattern as usize]
    }

    /// The configured spelling of cased name `i`.
    pub(super) fn cased(&self, i: u32) -> &str {
        self.cased[i as usize].as_str()
    }
}

/// The folded patterns of `taxonomy`, in automaton order, and their targets.
pub(super) fn compile(taxonomy: &Taxonomy) -> (Vec<String>, Targets) {
    let mut b = Builder::default();
    for (i, a) in taxonomy.actors.iter().enumerate() {
        b.add_actor(i as u32, a);
    }
    for (i, t) in taxonomy.topics.iter().enumerate() {
        b.add_topic(i as u32, t);
    }
    b.add_relevance(&taxonomy.relevance);
    b.finish()
}

#[derive(Default)]
struct Builder {
    /// Folded pattern and whether it is a stem: "россия" and "россия*"
    /// are two patterns.
    index: HashMap<(String, bool), usize>,
    per_pattern: Vec<Vec<Target>>,
    cased: Vec<String>,
}

impl Builder {
    fn add(&mut self, raw: &str, target: Target) {
        let (raw, stem) = match raw.trim_end().strip_suffix(STEM_MARK) {
            Some(head) => (head, true),
            None => (raw, false),
        };
        let norm = normalize_pattern(raw);
        if norm.is_empty() {
            return;
        }
        let next = self.per_pattern.len();
        let i = *self.index.entry((norm, stem)).or_insert(next);
        if i == next {
            self.per_pattern.push(Vec::new());
        }
        self.per_pattern[i].push(target);
    }

    fn add_actor(&mut self, actor: u32, a: &Actor) {
        for (list, form) in [
            (&a.aliases, Form::Alias),
            (&a.surnames, Form::Surname),
            (&a.seats, Form::Seat),
        ] {
            for raw in list {
                let cased = 0;
                self.add(raw, Target::Actor { actor, form, cased });
            }
        }
        for raw in &a.cased {
            let target = Target::Actor {
                actor,
                form: Form::Cased,
                cased: self.cased.len() as u32,
            };
            self.cased.push(raw.trim().to_string());
            self.add(raw, target);
        }
        for raw in &a.exclude {
            self.add(raw, Target::Exclude);
        }
        for raw in &a.veto {
            self.add(raw, Target::Veto { actor });
        }
    }

    fn add_topic(&mut self, topic: u32, t: &Topic) {
        for (raw, &weight) in &t.cues {
            self.add(raw, Target::Cue { topic, weight });
        }
        for raw in &t.exclude {
            self.add(raw, Target::CueExclude { topic });
        }
    }

    fn add_relevance(&mut self, r: &Relevance) {
        for raw in &r.anchor_terms {
            self.add(raw, Target::Anchor);
        }
        for raw in &r.foreign {
            self.add(raw, Target::Foreign);
        }
        for (raw, &weight) in &r.cues {
            self.add(raw, Target::RelCue { weight });
        }
    }

    fn finish(self) -> (Vec<String>, Targets) {
        let mut patterns = vec![String::new(); self.per_pattern.len()];
        let mut stems = vec![false; self.per_pattern.len()];
        for ((norm, stem), i) in self.index {
            patterns[i] = norm;
            stems[i] = stem;
        }
        let mut list = Vec::new();
        let mut ranges = Vec::with_capacity(patterns.len());
        for targets in self.per_pattern {
            let from = list.len() as u32;
            list.extend(targets);
            ranges.push((from, list.len() as u32));
        }
        let cased = self.cased;
        let targets = Targets {
            ranges,
            list,
            cased,
            stems,
        };
        (patterns, targets)
    }
}

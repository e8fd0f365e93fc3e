//! The taxonomy as data: what `config/taxonomy.toml` may say, and every check
//! that can be made on it before a single article is tagged.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::settings::Problem;

use super::text::{STEM_MARK, is_word, normalize_pattern};
use super::topics::TOPIC_FEATURES;
use crate::record::ActorKind;

/// A taxonomy that cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum TaxonomyError {
    #[error("cannot read taxonomy {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax, a wrong type or an unknown key; `path` is the key path
    /// (`actors[3].aliasez`), empty when the error is not at a key.
    #[error("taxonomy{}: {message}", at_key(.path))]
    Parse { path: String, message: String },
    /// Semantic problems, one line each, every one found.
    #[error("taxonomy has {} problem(s): {}", .0.len(), .0.join("; "))]
    Invalid(Vec<String>),
    #[error("taxonomy patterns do not compile")]
    Automaton(#[source] aho_corasick::BuildError),
}

/// The whole taxonomy: actors, topics, and the rule that decides relevance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Taxonomy {
    pub relevance: Relevance,
    /// Words around a seat of government that make it a mere place.
    #[serde(default)]
    pub place_context: PlaceContext,
    /// Words before a topic cue that make it a mention in passing.
    #[serde(default)]
    pub passing: Passing,
    /// Words that show how a topic cue stands in its clause.
    #[serde(default)]
    pub clauses: Clauses,
    /// Offices ("President", "Chancellor") that, right before a surname,
    /// identify the person as well as a full name does.
    #[serde(default)]
    pub titles: Vec<String>,
    #[serde(default)]
    pub actors: Vec<Actor>,
    #[serde(default)]
    pub topics: Vec<Topic>,
    /// How a topic's cues in an article become its score; without one the
    /// score is the cue score alone (see [`TopicModel`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_model: Option<TopicModel>,
}

/// A logistic model over what the cues of a topic show in an article
/// (`TOPIC_FEATURES`: how strongly, in how many sentences, in the headline
/// or the lead, against the article's main topic): score = 1 / (1 +
/// e^-(intercept + sum of weight x feature)). It tells a
/// topic the article discusses from one it names in passing, which the cue
/// weights alone cannot. Fitted on the labelled dev split by `cargo run
/// --release --example topic_train`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicModel {
    pub intercept: f64,
    /// Feature name (one of `TOPIC_FEATURES`) -> weight; a feature left out
    /// weighs 0.
    pub weights: BTreeMap<String, f64>,
}

/// A person, state or organisation and every way of naming it.
///
/// Matching ignores case, diacritics and typographic variants unless said
/// otherwise; every pattern must sit on word boundaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub id: String,
    pub name: String,
    pub kind: ActorKind,
    /// Names that identify the actor on their own, anywhere.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Names that count only with exactly this case ("US", not "us").
    #[serde(default)]
    pub cased: Vec<String>,
    /// Short names (a surname) that count only in a document that also
    /// names the actor by an alias or a cased name, or by the surname right
    /// after one of `titles`.
    #[serde(default)]
    pub surnames: Vec<String>,
    /// Seats of government ("Kyiv"), which count unless the words around
    /// them make them a place (see `place_context`).
    #[serde(default)]
    pub seats: Vec<String>,
    /// Longer names that contain a name of this actor but are someone or
    /// something else ("Donald Trump Jr.", "French fries"): they count for
    /// nobody.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Words that, in the same sentence, cancel the weak names (cased,
    /// surnames, seats): "Thanksgiving" near "Turkey".
    #[serde(default)]
    pub veto: Vec<String>,
}

/// A topic, tagged on relevant articles whose sentences discuss it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub id: String,
    pub label: String,
    /// Minimum score, in (0, 1], for the topic to be tagged.
    pub threshold: f64,
    /// Cue phrase -> weight in (0, 1]. A sentence weighs the sum of its
    /// distinct cues, at most 1; one sentence of weight 1 is a discussion.
    pub cues: BTreeMap<String, f64>,
    /// Phrases that contain a cue but say nothing about the topic
    /// ("no guarantee", "under sanctions").
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// The relevance rule: is the article about the peace process of this war?
///
/// A sentence is anchored when it names one of the `anchors` actors or an
/// `anchor_terms` place; its peace weight is the sum of topic cues and
/// `cues` in it (at most 1). Sentences that name a `foreign` conflict and no
/// anchor carry no weight. relevance = (1 - e^(-anchored weight /
/// `peace_scale`)) * min(1, anchored share / `focus_full`), where the
/// headline counts `title_weight` times (and see `required`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relevance {
    /// Minimum relevance, in (0, 1], for `relevant`.
    pub threshold: f64,
    pub peace_scale: f64,
    pub focus_full: f64,
    pub title_weight: f64,
    /// Actor ids whose mention anchors a sentence in this war.
    pub anchors: Vec<String>,
    /// Actor ids that name this war for sure (Ukraine's side). A sentence
    /// that names a `foreign` conflict is anchored only by one of these or an
    /// anchor term; an article that names none of them, nor an anchor term,
    /// has its relevance multiplied by `unconfirmed_factor`.
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(default = "one")]
    pub unconfirmed_factor: f64,
    #[serde(default)]
    pub anchor_terms: Vec<String>,
    #[serde(default)]
    pub foreign: Vec<String>,
    /// Extra peace-process cues that weigh for relevance but make no topic.
    #[serde(default)]
    pub cues: BTreeMap<String, f64>,
}

/// Phrases right before or after a seat of government that make it a place.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceContext {
    #[serde(default)]
    pub before: Vec<String>,
    /// Checked after the seat and after the seat's possessive ("Kyiv's mayor").
    #[serde(default)]
    pub after: Vec<String>,
}

/// A topic cue right after one of `before` ("after any peace deal", "once a
/// ceasefire is in place") names the topic without discussing it: its weight
/// is multiplied by `factor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Passing {
    pub before: Vec<String>,
    pub factor: f64,
}

impl Default for Passing {
    fn default() -> Passing {
        Passing {
            before: Vec::new(),
            factor: 1.0,
        }
    }
}

/// How a topic cue stands in its clause, the text of its sentence since the
/// last comma, semicolon, colon, bracket or dash: what the topic model's
/// `framed` and `aside` features read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clauses {
    /// Words that open a phrase setting the scene ("amid", "after", "who",
    /// "в рамках"): a cue after one in its clause is an aside.
    #[serde(default)]
    pub asides: Vec<String>,
    /// Words that make what follows the matter of the clause ("called
    /// for", "rejected", "обсудили"): a cue a few words after one, in its
    /// clause, is what the sentence is about.
    #[serde(default)]
    pub stances: Vec<String>,
}

static EMBEDDED: LazyLock<Taxonomy> = LazyLock::new(|| {
    // The embedded file is part of the build; tests check that it parses.
    Taxonomy::from_toml(include_str!("../../config/taxonomy.toml"))
        .unwrap_or_else(|e| panic!("embedded config/taxonomy.toml: {e}"))
});

impl Taxonomy {
    /// The default taxonomy shipped in `config/taxonomy.toml`.
    pub fn embedded() -> Taxonomy {
        EMBEDDED.clone()
    }

    /// A short, stable name of what this taxonomy says (12 hex digits): the
    /// SHA-256 of its canonical form, the parsed taxonomy written as JSON.
    /// Comments, spacing, key order and the spelling of TOML values do not
    /// change it; any change to a pattern, weight, threshold, id or label
    /// does, and so does reordering actors or topics (the order tags are
    /// listed in follows it). Records carry it as `taxonomy_version`.
    pub fn version(&self) -> String {
        // Serializing plain data (strings, numbers, maps with string keys)
        // cannot fail.
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(&canonical)
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn from_toml(text: &str) -> Result<Taxonomy, TaxonomyError> {
        let de = toml::Deserializer::parse(text).map_err(|e| TaxonomyError::Parse {
            path: String::new(),
            message: one_line(e.to_string()),
        })?;
        serde_path_to_error::deserialize(de).map_err(|e| TaxonomyError::Parse {
            path: e.path().to_string(),
            message: one_line(e.inner().to_string()),
        })
    }

    pub fn load(path: &Path) -> Result<Taxonomy, TaxonomyError> {
        let text = std::fs::read_to_string(path).map_err(|source| TaxonomyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Taxonomy::from_toml(&text)
    }

    /// Every semantic problem of the taxonomy read from `file`, with its key.
    pub fn problems(&self, file: &str) -> Vec<Problem> {
        self.issues()
            .into_iter()
            .map(|issue| {
                // Every issue is written "key: message" (see `issues`).
                let (key, message) = issue.split_once(": ").unwrap_or(("", &issue));
                Problem {
                    file: file.to_string(),
                    key: key.to_string(),
                    message: message.to_string(),
                    line: None,
                }
            })
            .collect()
    }

    /// Every semantic problem, one line each, `key: message`.
    pub(super) fn issues(&self) -> Vec<String> {
        let mut p = Vec::new();
        self.check_actors(&mut p);
        self.check_topics(&mut p);
        self.check_relevance(&mut p);
        for (key, list) in [
            ("place_context.before", &self.place_context.before),
            ("place_context.after", &self.place_context.after),
            ("passing.before", &self.passing.before),
            ("clauses.asides", &self.clauses.asides),
            ("clauses.stances", &self.clauses.stances),
            ("titles", &self.titles),
        ] {
            check_patterns(&mut p, key, list);
        }
        if !(self.passing.factor >= 0.0 && self.passing.factor <= 1.0) {
            p.push(format!(
                "passing.factor: {} is out of range [0, 1]",
                self.passing.factor
            ));
        }
        p
    }

    fn check_actors(&self, p: &mut Vec<String>) {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        // normalized name -> (key path, actor index, cased text if cased)
        let mut claimed: HashMap<String, (String, usize, Option<&str>)> = HashMap::new();
        for (i, a) in self.actors.iter().enumerate() {
            let at = format!("actors[{i}]");
            check_id(p, &format!("{at}.id"), &a.id);
            if let Some(j) = ids.insert(&a.id, i) {
                p.push(format!(
                    "{at}.id: duplicate id `{}` (also actors[{j}])",
                    a.id
                ));
            }
            if a.name.trim().is_empty() {
                p.push(format!("{at}.name: empty name"));
            }
            if a.aliases.is_empty() && a.cased.is_empty() && a.seats.is_empty() {
                p.push(format!(
                    "{at}: no aliases, cased names or seats: `{}` can never be tagged",
                    a.id
                ));
            }
            if !a.surnames.is_empty() && a.aliases.is_empty() && a.cased.is_empty() {
                p.push(format!(
                    "{at}.surnames: nothing can confirm them without aliases or cased names"
                ));
            }
            for (field, list, cased) in [
                ("aliases", &a.aliases, false),
                ("cased", &a.cased, true),
                ("surnames", &a.surnames, false),
                ("seats", &a.seats, false),
            ] {
                for (j, raw) in list.iter().enumerate() {
                    let key = format!("{at}.{field}[{j}]");
                    let norm = normalize_pattern(raw);
                    if let Some(problem) = pattern_problem(&norm) {
                        p.push(format!("{key}: `{raw}` {problem}"));
                        continue;
                    }
                    let this_case = cased.then_some(raw.trim());
                    match claimed.get(&norm) {
                        // Two cased names that differ in case are different names.
                        Some((_, _, Some(c))) if this_case.is_some_and(|t| t != *c) => {}
                        Some((other, k, _)) if *k == i => {
                            p.push(format!("{key}: `{raw}` repeats {other}"));
                        }
                        Some((other, k, _)) => p.push(format!(
                            "{key}: `{raw}` is also claimed by {other} (`{}`)",
                            self.actors[*k].id
                        )),
                        None => {
                            claimed.insert(norm, (key, i, this_case));
                        }
                    }
                }
            }
            check_patterns(p, &format!("{at}.exclude"), &a.exclude);
            check_patterns(p, &format!("{at}.veto"), &a.veto);
        }
    }

    fn check_topics(&self, p: &mut Vec<String>) {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (i, t) in self.topics.iter().enumerate() {
            let at = format!("topics[{i}]");
            check_id(p, &format!("{at}.id"), &t.id);
            if let Some(j) = ids.insert(&t.id, i) {
                p.push(format!(
                    "{at}.id: duplicate id `{}` (also topics[{j}])",
                    t.id
                ));
            }
            if t.label.trim().is_empty() {
                p.push(format!("{at}.label: empty label"));
            }
            check_unit(p, &format!("{at}.threshold"), t.threshold);
            if t.cues.is_empty() {
                p.push(format!(
                    "{at}.cues: no cues: `{}` can never be tagged",
                    t.id
                ));
            }
            check_cues(p, &format!("{at}.cues"), &t.cues);
            check_patterns(p, &format!("{at}.exclude"), &t.exclude);
        }
        if let Some(m) = &self.topic_model {
            check_finite(p, "topic_model.intercept", m.intercept);
            for (name, w) in &m.weights {
                if !TOPIC_FEATURES.contains(&name.as_str()) {
                    p.push(format!(
                        "topic_model.weights.{name}: unknown feature (known: {})",
                        TOPIC_FEATURES.join(", ")
                    ));
                }
                check_finite(p, &format!("topic_model.weights.{name}"), *w);
            }
        }
    }

    fn check_relevance(&self, p: &mut Vec<String>) {
        let r = &self.relevance;
        check_unit(p, "relevance.threshold", r.threshold);
        check_unit(p, "relevance.focus_full", r.focus_full);
        check_unit(p, "relevance.unconfirmed_factor", r.unconfirmed_factor);
        if !(r.peace_scale.is_finite() && r.peace_scale > 0.0) {
            p.push(format!(
                "relevance.peace_scale: {} must be a positive number",
                r.peace_scale
            ));
        }
        if !(r.title_weight.is_finite() && r.title_weight >= 0.0) {
            p.push(format!(
                "relevance.title_weight: {} must be a number >= 0",
                r.title_weight
            ));
        }
        if r.anchors.is_empty() {
            p.push("relevance.anchors: no anchors: nothing can be relevant".to_string());
        }
        for (field, ids) in [("anchors", &r.anchors), ("required", &r.required)] {
            for (j, id) in ids.iter().enumerate() {
                if !self.actors.iter().any(|a| &a.id == id) {
                    p.push(format!("relevance.{field}[{j}]: unknown actor id `{id}`"));
                }
            }
        }
        check_patterns(p, "relevance.anchor_terms", &r.anchor_terms);
        check_patterns(p, "relevance.foreign", &r.foreign);
        check_cues(p, "relevance.cues", &r.cues);
    }
}

fn at_key(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" {path}")
    }
}

fn one() -> f64 {
    1.0
}

fn one_line(s: String) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Patterns are matched from word starts only (see `Tagger`), so one that
/// begins with anything else could never match.
/// A stem (`"переговор*"`) needs three letters, or it would match half the
/// words of the article.
fn pattern_problem(norm: &str) -> Option<&'static str> {
    let (head, stem) = match norm.strip_suffix(STEM_MARK) {
        Some(head) => (head.trim_end(), true),
        None => (norm, false),
    };
    match head.chars().next() {
        None => Some("is an empty pattern"),
        Some(c) if !is_word(c) => Some("does not start with a letter or digit"),
        Some(_) if head.contains(STEM_MARK) => Some("has `*` before its end"),
        Some(_) if stem && head.chars().count() < 3 => Some("is a stem shorter than 3 letters"),
        Some(_) => None,
    }
}

fn check_id(p: &mut Vec<String>, key: &str, id: &str) {
    let ok = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        p.push(format!(
            "{key}: `{id}` is not an id (lowercase letters, digits, _)"
        ));
    }
}

fn check_unit(p: &mut Vec<String>, key: &str, v: f64) {
    if !(v > 0.0 && v <= 1.0) {
        p.push(format!("{key}: {v} is out of range (0, 1]"));
    }
}

fn check_finite(p: &mut Vec<String>, key: &str, v: f64) {
    if !v.is_finite() {
        p.push(format!("{key}: {v} is not a number"));
    }
}

fn check_patterns(p: &mut Vec<String>, key: &str, list: &[String]) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (j, raw) in list.iter().enumerate() {
        let norm = normalize_pattern(raw);
        if let Some(problem) = pattern_problem(&norm) {
            p.push(format!("{key}[{j}]: `{raw}` {problem}"));
        } else if let Some(k) = seen.insert(norm, j) {
            p.push(format!("{key}[{j}]: `{raw}` repeats {key}[{k}]"));
        }
    }
}

fn check_cues(p: &mut Vec<String>, key: &str, cues: &BTreeMap<String, f64>) {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for (cue, &w) in cues {
        let at = format!("{key}.\"{cue}\"");
        if !(w > 0.0 && w <= 1.0) {
            p.push(format!("{at}: weight {w} is out of range (0, 1]"));
        }
        let norm = normalize_pattern(cue);
        if let Some(problem) = pattern_problem(&norm) {
            p.push(format!("{at}: {problem}"));
        } else if let Some(other) = seen.insert(norm, cue) {
            p.push(format!("{at}: same cue as \"{other}\" once normalized"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_follows_the_content_not_the_layout() {
        let text = include_str!("../../config/taxonomy.toml");
        let embedded = Taxonomy::embedded().version();
        assert_eq!(embedded.len(), 12);
        assert!(embedded.bytes().all(|b| b.is_ascii_hexdigit()));
        // Comments and blank lines added, indentation changed.
        let relaid: String = text
            .lines()
            .map(|l| format!("  {l}   # note\n\n"))
            .collect();
        let relaid = Taxonomy::from_toml(&relaid).unwrap();
        assert_eq!(relaid.version(), embedded);
        // One threshold changed.
        let mut changed = Taxonomy::embedded();
        changed.relevance.threshold /= 2.0;
        assert_ne!(changed.version(), embedded);
        let mut renamed = Taxonomy::embedded();
        renamed.actors[0].name.push('!');
        assert_ne!(renamed.version(), embedded);
    }

    #[test]
    fn embedded_taxonomy_has_no_problems() {
        let problems = Taxonomy::embedded().problems("<embedded taxonomy>");
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

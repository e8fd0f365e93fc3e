//! Stories: records that report the same event, from different outlets,
//! share a `story_id`.
//!
//! The pure core of story assignment: no I/O, no clock. The sink stage,
//! which sees every record once and in one order, asks [`Stories::place`]
//! for each record's story; the state store keeps each placement, and
//! [`Stories::restore`] replays them after a restart.
//!
//! # Method
//! Online clustering, one pass, no look back: a record joins the story it
//! is most like, if that is like enough, else starts its own (named by the
//! record's id, so a story's id is its first record's and never changes).
//!
//! A record is a [`Profile`]: the terms of its headline and text, its
//! actors and topics, and when it was published. Two events are told apart
//! by their distinctive words (a place, a figure, a thing agreed), so terms
//! are weighted by inverse document frequency, learnt from every record
//! placed: words every article uses weigh nothing, and the names of actors
//! are no terms at all, so two events that share a president or a capital
//! share none of their weight through them. Likeness to a story is the
//! cosine between the record's TF-IDF vector and the story's (the sum of
//! its members'), scaled by how many of the record's actors and topics the
//! story has: the tags tip a close call, and cannot make one on their own.
//! A story takes records published within [`Params::window`] of its own.
//!
//! Copies (`duplicate_of`) are not events of their own: they take their
//! original's story and teach nothing.

mod profile;
mod terms;

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};

pub use profile::{PROFILE_VERSION, Profile};

use crate::record::Record;

/// How stories are told apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// The likeness (0..1) from which a record joins a story.
    pub threshold: f64,
    /// How far apart in time a story's reports may be: a record published
    /// more than this before a story's first or after its last report starts
    /// another.
    pub window: Duration,
    /// How much the shared actors and topics scale the likeness: from
    /// `1 - tags` (none shared) to `1 + tags` (all of the record's).
    pub tags: f64,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            threshold: 0.2,
            window: Duration::days(3),
            tags: 0.25,
        }
    }
}

/// Where a record went.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub story: String,
    /// The profile to keep for a restart; `None` for a copy or a record
    /// placed before, which taught nothing.
    pub profile: Option<Profile>,
}

/// One story the index still takes records into.
#[derive(Debug)]
struct Story {
    id: String,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    /// The sum of the members' term weights.
    terms: HashMap<String, f32>,
    /// Actor and topic ids, with how many members have each.
    tags: HashMap<String, u32>,
}

/// The stories of the recent past, and what the index has learnt of words.
#[derive(Debug, Default)]
pub struct Stories {
    params: Params,
    /// Term -> records it occurs in.
    df: HashMap<String, u32>,
    records: u32,
    stories: Vec<Story>,
    /// Record id -> its story, for the members of the stories held.
    members: HashMap<String, String>,
    /// The latest publication time seen: stories that ended a window before
    /// it can take no record of now, and are let go.
    latest: Option<DateTime<Utc>>,
}

impl Stories {
    pub fn new(params: Params) -> Stories {
        Stories {
            params,
            ..Stories::default()
        }
    }

    /// The story of `record`. `known` holds the stories the store already
    /// has for the record and for the original it copies: a record placed
    /// before (and now written to another sink) keeps its story, and a
    /// copy takes its original's.
    pub fn place(&mut self, record: &Record, known: &HashMap<String, String>) -> Placement {
        let story_of = |id: &str| known.get(id).or_else(|| self.members.get(id)).cloned();
        if let Some(story) = story_of(&record.id) {
            return Placement {
                story,
                profile: None,
            };
        }
        if let Some(story) = record.duplicate_of.as_deref().and_then(story_of) {
            self.members.insert(record.id.clone(), story.clone());
            return Placement {
                story,
                profile: None,
            };
        }
        let profile = Profile::of(record);
        let story = self.assign(&record.id, &profile);
        Placement {
            story,
            profile: Some(profile),
        }
    }

    /// Learns a placement made before (read back from the store), in the
    /// order it was made; a profile of another version teaches nothing.
    pub fn restore(&mut self, id: &str, story: &str, profile: Option<&Profile>) {
        match profile.filter(|p| p.version == PROFILE_VERSION) {
            Some(profile) => {
                self.learn(profile);
                self.join(id, story, profile);
            }
            None => {
                if self.stories.iter().any(|s| s.id == story) {
                    self.members.insert(id.to_string(), story.to_string());
                }
            }
        }
    }

    /// How many stories are held (those still taking records).
    pub fn held(&self) -> usize {
        self.stories.len()
    }

    /// The story `profile` joins (or starts, named `id`), learnt.
    fn assign(&mut self, id: &str, profile: &Profile) -> String {
        self.learn(profile);
        let best = self
            .stories
            .iter()
            .filter(|s| self.in_window(s, profile.at))
            .map(|s| (self.likeness(profile, s), s))
            .filter(|(likeness, _)| *likeness >= self.params.threshold)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let story = best.map_or_else(|| id.to_string(), |(_, s)| s.id.clone());
        self.join(id, &story, profile);
        story
    }

    fn learn(&mut self, profile: &Profile) {
        self.records += 1;
        for term in profile.terms.keys() {
            *self.df.entry(term.clone()).or_default() += 1;
        }
    }

    fn idf(&self, term: &str) -> f64 {
        let df = self.df.get(term).copied().unwrap_or(1).max(1);
        (f64::from(self.records) / f64::from(df)).ln_1p()
    }

    fn in_window(&self, story: &Story, at: DateTime<Utc>) -> bool {
        at >= story.first - self.params.window && at <= story.last + self.params.window
    }

    /// 0..(1 + tags): the cosine of the TF-IDF vectors, scaled by the share
    /// of the record's actors and topics the story has.
    fn likeness(&self, profile: &Profile, story: &Story) -> f64 {
        let weigh = |term: &str, w: f32| f64::from(w) * self.idf(term);
        let mut dot = 0.0;
        let mut own = 0.0;
        for (term, &w) in &profile.terms {
            let x = weigh(term, w);
            own += x * x;
            if let Some(&c) = story.terms.get(term) {
                dot += x * weigh(term, c);
            }
        }
        if dot == 0.0 {
            return 0.0;
        }
        let theirs: f64 = story
            .terms
            .iter()
            .map(|(term, &c)| weigh(term, c).powi(2))
            .sum();
        let cosine = dot / (own.sqrt() * theirs.sqrt());
        let shared = match profile.tags.len() {
            0 => 0.0,
            n => profile.tags.iter().filter(|t| story.tags.contains_key(*t)).count() as f64 / n as f64,
        };
        cosine * (1.0 - self.params.tags + 2.0 * self.params.tags * shared)
    }

    /// Adds `profile` to story `story` (a new one when not held).
    fn join(&mut self, id: &str, story: &str, profile: &Profile) {
        let at = profile.at;
        let held = match self.stories.iter().position(|s| s.id == story) {
            Some(i) => &mut self.stories[i],
            None => {
                self.stories.push(Story {
                    id: story.to_string(),
                    first: at,
                    last: at,
                    terms: HashMap::new(),
                    tags: HashMap::new(),
                });
                self.stories.last_mut().expect("just pushed")
            }
        };
        held.first = held.first.min(at);
        held.last = held.last.max(at);
        for (term, &w) in &profile.terms {
            *held.terms.entry(term.clone()).or_default() += w;
        }
        for tag in &profile.tags {
            *held.tags.entry(tag.clone()).or_default() += 1;
        }
        self.members.insert(id.to_string(), story.to_string());
        self.latest = self.latest.max(Some(at));
        self.let_go();
    }

    /// Forgets the stories no record of now can join.
    fn let_go(&mut self) {
        let Some(latest) = self.latest else { return };
        let horizon = latest - self.params.window * 2;
        if self.stories.iter().all(|s| s.last >= horizon) {
            return;
        }
        let gone: BTreeSet<String> = self
            .stories
            .iter()
            .filter(|s| s.last < horizon)
            .map(|s| s.id.clone())
            .collect();
        self.stories.retain(|s| !gone.contains(&s.id));
        self.members.retain(|_, story| !gone.contains(story));
    }
}

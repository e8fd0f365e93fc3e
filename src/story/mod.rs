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
//! A record is compared only with the stories that share one of its 20
//! rarest terms (of those another record has), found through an inverted
//! index, and a story's vector length is kept as of its last member: the
//! cost of a record follows the stories that could take it, not all held.
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
    /// The length of the story's TF-IDF vector, as of its last member: the
    /// document frequencies move slowly, and recomputing it for every story
    /// at every record would cost more than all the rest.
    norm: f64,
    /// Actor and topic ids, with how many members have each.
    tags: HashMap<String, u32>,
}

/// How many of a record's rarest terms (of those seen before) find the
/// stories it is compared with: reports of one event share rare words.
const PROBES: usize = 20;

/// The stories of the recent past, and what the index has learnt of words.
#[derive(Debug, Default)]
pub struct Stories {
    params: Params,
    /// Term -> records it occurs in.
    df: HashMap<String, u32>,
    records: u32,
    /// The stories held, by a key of their own.
    stories: HashMap<u64, Story>,
    next_key: u64,
    /// Story id -> key.
    keys: HashMap<String, u64>,
    /// Term -> the stories that have it.
    postings: HashMap<String, Vec<u64>>,
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
                if self.keys.contains_key(story) {
                    self.members.insert(id.to_string(), story.to_string());
                }
            }
        }
    }

    /// The story `profile` joins (or starts, named `id`), learnt.
    fn assign(&mut self, id: &str, profile: &Profile) -> String {
        self.learn(profile);
        let best = self
            .candidates(profile)
            .into_iter()
            .filter_map(|key| self.stories.get(&key))
            .filter(|s| self.in_window(s, profile.at))
            .map(|s| (self.likeness(profile, s), s))
            .filter(|(likeness, _)| *likeness >= self.params.threshold)
            // Ties go to the older story, whatever the order of the map.
            .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.first.cmp(&a.1.first)));
        let story = best.map_or_else(|| id.to_string(), |(_, s)| s.id.clone());
        self.join(id, &story, profile);
        story
    }

    /// The stories that share one of the record's rarest terms (of those
    /// another record has too).
    fn candidates(&self, profile: &Profile) -> BTreeSet<u64> {
        let mut rare: Vec<(u32, &String)> = profile
            .terms
            .keys()
            .filter_map(|t| self.df.get(t).map(|&df| (df, t)))
            .filter(|(df, _)| *df >= 2)
            .collect();
        rare.sort();
        rare.iter()
            .take(PROBES)
            .filter_map(|(_, t)| self.postings.get(*t))
            .flatten()
            .copied()
            .collect()
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
        let mut dot = 0.0;
        let mut own = 0.0;
        for (term, &w) in &profile.terms {
            let idf = self.idf(term);
            let x = f64::from(w) * idf;
            own += x * x;
            if let Some(&c) = story.terms.get(term) {
                dot += x * f64::from(c) * idf;
            }
        }
        if dot == 0.0 || story.norm == 0.0 {
            return 0.0;
        }
        let cosine = (dot / (own.sqrt() * story.norm)).min(1.0);
        let shared = match profile.tags.len() {
            0 => 0.0,
            n => {
                profile
                    .tags
                    .iter()
                    .filter(|t| story.tags.contains_key(*t))
                    .count() as f64
                    / n as f64
            }
        };
        cosine * (1.0 - self.params.tags + 2.0 * self.params.tags * shared)
    }

    /// Adds `profile` to story `story` (a new one when not held).
    fn join(&mut self, id: &str, story: &str, profile: &Profile) {
        let at = profile.at;
        let key = match self.keys.get(story) {
            Some(&key) => key,
            None => {
                let key = self.next_key;
                self.next_key += 1;
                self.keys.insert(story.to_string(), key);
                self.stories.insert(
                    key,
                    Story {
                        id: story.to_string(),
                        first: at,
                        last: at,
                        terms: HashMap::new(),
                        norm: 0.0,
                        tags: HashMap::new(),
                    },
                );
                key
            }
        };
        let held = self.stories.get_mut(&key).expect("a key of a held story");
        held.first = held.first.min(at);
        held.last = held.last.max(at);
        for (term, &w) in &profile.terms {
            let weight = held.terms.entry(term.clone()).or_default();
            if *weight == 0.0 {
                self.postings.entry(term.clone()).or_default().push(key);
            }
            *weight += w;
        }
        for tag in &profile.tags {
            *held.tags.entry(tag.clone()).or_default() += 1;
        }
        let held = &self.stories[&key];
        let norm = held
            .terms
            .iter()
            .map(|(term, &c)| (f64::from(c) * self.idf(term)).powi(2))
            .sum::<f64>()
            .sqrt();
        self.stories.get_mut(&key).expect("held").norm = norm;
        self.members.insert(id.to_string(), story.to_string());
        self.latest = self.latest.max(Some(at));
        self.let_go();
    }

    /// Forgets the stories no record of now can join.
    fn let_go(&mut self) {
        let Some(latest) = self.latest else { return };
        let horizon = latest - self.params.window * 2;
        let gone: Vec<u64> = self
            .stories
            .iter()
            .filter(|(_, s)| s.last < horizon)
            .map(|(&key, _)| key)
            .collect();
        if gone.is_empty() {
            return;
        }
        let mut ids = BTreeSet::new();
        for key in &gone {
            let story = self.stories.remove(key).expect("held");
            for term in story.terms.keys() {
                if let Some(list) = self.postings.get_mut(term) {
                    list.retain(|k| k != key);
                    if list.is_empty() {
                        self.postings.remove(term);
                    }
                }
            }
            self.keys.remove(&story.id);
            ids.insert(story.id);
        }
        self.members.retain(|_, story| !ids.contains(story));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ActorKind, ActorTag, Article, Extracted, FeedHints, Origin, OriginKind};

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-10-01T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::hours(hours)
    }

    /// A record of `title` and `text` published `hours` in, naming Putin
    /// and Trump (as the tagger would find them).
    fn record(title: &str, text: &str, hours: i64) -> Record {
        let article = Article::new(
            Origin {
                kind: OriginKind::File,
                location: "t.txt".into(),
                name: None,
                tags: Vec::new(),
            },
            None,
            None,
            at(hours),
            FeedHints {
                published_at: Some(at(hours)),
                ..FeedHints::default()
            },
            Extracted {
                title: Some(title.into()),
                text: text.into(),
                ..Extracted::default()
            },
        );
        let mut r = Record::new(article, None, Default::default());
        r.actors = [("putin", "Vladimir Putin"), ("trump", "Donald Trump")]
            .map(|(id, name)| ActorTag {
                id: id.into(),
                name: name.into(),
                kind: ActorKind::Person,
                mentions: 1,
                spellings: vec![name.into(), name.rsplit(' ').next().unwrap().into()],
            })
            .into();
        r
    }

    const CALL: &str = "Vladimir Putin and Donald Trump spoke by phone for 90 minutes and \
                        agreed a 30-day moratorium on strikes against power plants and \
                        substations.";
    const CALL_AGAIN: &str = "In a call with Donald Trump, Vladimir Putin backed a 30-day \
                              moratorium on hitting power plants, his aide said.";
    const SUMMIT: &str = "Donald Trump said he would meet Vladimir Putin at a summit in \
                          Budapest hosted by Viktor Orban, after their phone call.";

    fn place(stories: &mut Stories, r: &Record) -> String {
        stories.place(r, &HashMap::new()).story
    }

    /// An index that has seen a little of the day's other news, as a
    /// running one has: with nothing else seen, every word two reports
    /// share is in every report, and tells nothing.
    fn stories() -> Stories {
        let mut stories = Stories::new(Params::default());
        for (i, text) in [
            "Floods closed three bridges in the south after a week of heavy rain.",
            "The central bank held its key rate and warned of slower growth next year.",
            "A new metro line opened with twelve stations and free rides for a month.",
            "Talks between the two presidents on trade tariffs ended without a deal.",
        ]
        .into_iter()
        .enumerate()
        {
            place(&mut stories, &record(&format!("Other news {i}"), text, -1));
        }
        stories
    }

    #[test]
    fn another_outlet_on_the_same_event_joins_its_story_named_by_the_first() {
        let mut stories = stories();
        let first = record("Energy truce agreed", CALL, 0);
        let second = record("Putin backs power plant pause", CALL_AGAIN, 2);
        assert_eq!(place(&mut stories, &first), first.id);
        assert_eq!(place(&mut stories, &second), first.id);
    }

    #[test]
    fn sharing_the_presidents_does_not_join_two_events() {
        let mut stories = stories();
        let call = record("Energy truce agreed", CALL, 0);
        let summit = record("A summit in Budapest", SUMMIT, 1);
        place(&mut stories, &call);
        assert_eq!(place(&mut stories, &summit), summit.id);
    }

    #[test]
    fn the_same_words_weeks_later_are_another_event() {
        let mut stories = stories();
        let first = record("Energy truce agreed", CALL, 0);
        let later = record("Putin backs power plant pause", CALL_AGAIN, 24 * 21);
        place(&mut stories, &first);
        assert_eq!(place(&mut stories, &later), later.id);
    }

    #[test]
    fn a_copy_takes_its_originals_story_and_a_placed_record_keeps_its_own() {
        let mut stories = stories();
        let first = record("Energy truce agreed", CALL, 0);
        place(&mut stories, &first);
        let mut copy = record("A summit in Budapest", SUMMIT, 1);
        copy.duplicate_of = Some(first.id.clone());
        let placed = stories.place(&copy, &HashMap::new());
        assert_eq!(
            placed,
            Placement {
                story: first.id.clone(),
                profile: None
            }
        );
        let known = HashMap::from([(copy.id.clone(), "earlier".to_string())]);
        assert_eq!(stories.place(&copy, &known).story, "earlier");
    }

    #[test]
    fn a_restart_that_replays_the_placements_places_the_next_record_alike() {
        let first = record("Energy truce agreed", CALL, 0);
        let mut stream = vec![
            record(
                "Floods close bridges",
                "Floods closed three bridges after heavy rain.",
                -2,
            ),
            record(
                "Rates on hold",
                "The central bank held its key rate again.",
                -1,
            ),
            first.clone(),
            record("A summit in Budapest", SUMMIT, 1),
        ];
        let mut live = Stories::new(Params::default());
        let kept: Vec<(String, Placement)> = stream
            .iter()
            .map(|r| (r.id.clone(), live.place(r, &HashMap::new())))
            .collect();
        let mut restarted = Stories::new(Params::default());
        for (id, placed) in &kept {
            let json = serde_json::to_string(placed.profile.as_ref().unwrap()).unwrap();
            let profile: Profile = serde_json::from_str(&json).unwrap();
            restarted.restore(id, &placed.story, Some(&profile));
        }
        stream.push(record("Putin backs power plant pause", CALL_AGAIN, 2));
        let next = stream.last().unwrap();
        assert_eq!(place(&mut restarted, next), first.id);
        assert_eq!(place(&mut live, next), first.id);
    }
}

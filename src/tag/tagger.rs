//! The compiled tagger and its entry point: fold the article, scan it, read
//! the tags off the scan.

use std::cell::RefCell;
use std::fmt::Write;

use aho_corasick::nfa::contiguous;

use super::actors::ActorInfo;
use super::openings::Openings;
use super::patterns::{self, Targets};
use super::scan::{Hit, Scan};
use super::taxonomy::{Relevance, Taxonomy, TaxonomyError};
use super::text::{ASIDE, Folded, STANCE, WordList, normalize_pattern};
use super::topics::{Features, Model, TopicInfo};
use crate::record::Tags;

/// Articles are cut here: offsets are kept as u32, and no real article
/// comes near this size.
const MAX_BYTES: usize = 64 << 20;
/// Scratch buffers above this many bytes are freed after the article rather
/// than kept for the next: one huge article should not pin its memory.
const MAX_KEPT_SCRATCH: usize = 4 << 20;

/// A compiled taxonomy. Build it once; `tag` takes `&self` and the tagger is
/// `Send + Sync`, so one instance serves every worker.
pub struct Tagger {
    pub(super) automaton: contiguous::NFA,
    pub(super) openings: Openings,
    pub(super) targets: Targets,
    pub(super) actors: Vec<ActorInfo>,
    pub(super) topics: Vec<TopicInfo>,
    pub(super) topic_model: Option<Model>,
    pub(super) relevance: Relevance,
    pub(super) place_before: Vec<String>,
    pub(super) place_after: Vec<String>,
    pub(super) passing_before: Vec<String>,
    pub(super) passing_factor: f64,
    /// `[clauses]`: the asides and stances.
    pub(super) clause_words: WordList,
    pub(super) titles: Vec<String>,
    /// [`Taxonomy::version`] of the taxonomy compiled here.
    version: String,
}

impl Tagger {
    /// Compiles `taxonomy`; refuses one with problems (see
    /// [`Taxonomy::problems`]).
    pub fn new(taxonomy: &Taxonomy) -> Result<Tagger, TaxonomyError> {
        let problems = taxonomy.issues();
        if !problems.is_empty() {
            return Err(TaxonomyError::Invalid(problems));
        }
        let (patterns, targets) = patterns::compile(taxonomy);
        let openings = Openings::new(&patterns);
        let automaton = contiguous::NFA::builder()
            .build(&patterns)
            .map_err(TaxonomyError::Automaton)?;
        let r = &taxonomy.relevance;
        let fold_all = |list: &[String]| list.iter().map(|p| normalize_pattern(p)).collect();
        Ok(Tagger {
            automaton,
            openings,
            targets,
            actors: taxonomy
                .actors
                .iter()
                .map(|a| ActorInfo::new(a, r))
                .collect(),
            topics: taxonomy.topics.iter().map(TopicInfo::new).collect(),
            topic_model: taxonomy.topic_model.as_ref().map(Model::new),
            relevance: r.clone(),
            place_before: fold_all(&taxonomy.place_context.before),
            place_after: fold_all(&taxonomy.place_context.after),
            passing_before: fold_all(&taxonomy.passing.before),
            passing_factor: taxonomy.passing.factor,
            clause_words: clause_words(taxonomy),
            titles: fold_all(&taxonomy.titles),
            version: taxonomy.version(),
        })
    }

    /// The version of the taxonomy this tagger applies (the tags'
    /// `taxonomy_version`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Tags one article. `title` may be empty; it counts as its own
    /// sentence(s), weighted for relevance by `relevance.title_weight`.
    pub fn tag(&self, title: &str, text: &str) -> Tags {
        self.scanned(title, text, |scan| self.read(scan))
    }

    /// What the topic model reads of each topic with a cue in the article
    /// (topic id and its [`TOPIC_FEATURES`](super::TOPIC_FEATURES)), for
    /// fitting the model to a labelled set.
    pub fn topic_features(&self, title: &str, text: &str) -> Vec<(String, Features)> {
        self.scanned(title, text, |scan| {
            let mentions = scan.mentions(self);
            let sentences = scan.sentences(self, &mentions);
            let cues = scan.topic_cues(self, &sentences);
            let features = scan.topic_features(&cues);
            self.topics
                .iter()
                .zip(features)
                .filter_map(|(info, f)| Some((info.id().to_string(), f?)))
                .collect()
        })
    }

    /// Scans one article and reads it with `read`.
    fn scanned<T>(&self, title: &str, text: &str, read: impl Fn(&Scan) -> T) -> T {
        // The per-article buffers are as large as the article; allocating
        // them afresh costs more than tagging a short one, so each thread
        // keeps its own set.
        thread_local! {
            static SCRATCH: RefCell<Scratch> = RefCell::default();
        }
        let run = |scratch: &mut Scratch| self.scan_with(scratch, title, text, &read);
        SCRATCH
            .try_with(|cell| match cell.try_borrow_mut() {
                Ok(mut scratch) => run(&mut scratch),
                Err(_) => run(&mut Scratch::default()),
            })
            .unwrap_or_else(|_| run(&mut Scratch::default()))
    }

    fn scan_with<T>(
        &self,
        scratch: &mut Scratch,
        title: &str,
        text: &str,
        read: impl Fn(&Scan) -> T,
    ) -> T {
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
        let scan = Scan::new(
            self,
            original,
            folded,
            title_end,
            std::mem::take(starts),
            std::mem::take(hits),
        );
        let read = read(&scan);
        (*starts, *hits) = (scan.starts, scan.hits);
        if scratch.capacity() > MAX_KEPT_SCRATCH {
            *scratch = Scratch::default();
        }
        read
    }

    /// The tags of a scanned article. Actor mentions come first, since
    /// they anchor sentences; which sentences count then decides which cues
    /// do, and the cues make relevance and topics.
    fn read(&self, scan: &Scan) -> Tags {
        let mentions = scan.mentions(self);
        let sentences = scan.sentences(self, &mentions);
        let mut cues = scan.topic_cues(self, &sentences);
        scan.add_relevance_cues(&sentences, &mut cues.peace);
        let relevance = scan.relevance(self, &sentences, &cues.peace);
        let relevant = relevance >= self.relevance.threshold;
        Tags {
            relevant,
            relevance,
            topics: match relevant {
                true => scan.topic_tags(self, &cues),
                false => Vec::new(),
            },
            actors: scan.actor_tags(self, &mentions),
            taxonomy_version: self.version.clone(),
        }
    }
}

/// The `[clauses]` words of `taxonomy`, folded, by kind.
fn clause_words(taxonomy: &Taxonomy) -> WordList {
    let c = &taxonomy.clauses;
    let kind = |list: &[String], kind| {
        list.iter()
            .map(move |w| (normalize_pattern(w), kind))
            .collect::<Vec<_>>()
    };
    WordList::new(&[kind(&c.asides, ASIDE), kind(&c.stances, STANCE)].concat())
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

/// `s` cut to at most `max` bytes, on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

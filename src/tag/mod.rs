//! Tagging: is an article about the Russia-Ukraine peace process, which of
//! its topics does it discuss, and who acts in it.
//!
//! Everything the tagger knows comes from a [`Taxonomy`] (by default the
//! embedded `config/taxonomy.toml`). [`Tagger::new`] folds every pattern and
//! compiles them into one Aho-Corasick automaton; [`Tagger::tag`] folds the
//! article the same way (see [`text`]), runs the automaton from each word
//! start in one pass, and reads actors, topics and relevance off the
//! matches, sentence by sentence.
//!
//! # Files
//! `patterns` turns the taxonomy into folded patterns and what each stands
//! for, `openings` and `scan` run the automaton over an article and keep
//! its matches, `actors` resolves the mentions of actors, `relevance`
//! decides which sentences are about the war and how relevant the article
//! is, `topics` scores topics and picks their evidence, and `tagger` ties
//! the steps together.

mod actors;
mod openings;
mod patterns;
mod relevance;
mod scan;
mod tagger;
mod taxonomy;
mod text;
mod topics;

pub use tagger::Tagger;
pub use taxonomy::{
    Actor, Passing, PlaceContext, Relevance, Taxonomy, TaxonomyError, Topic, TopicModel,
};
pub use topics::{Features, TOPIC_FEATURES};

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

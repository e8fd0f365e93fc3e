//! What a record is compared on: its terms, its actors and topics, and when
//! the event happened.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::terms::{term, terms};
use crate::record::Record;

/// Bump when the terms of a text change (tokenizing, stemming, weights):
/// profiles of another version are not compared with new ones.
pub const PROFILE_VERSION: u32 = 1;

/// A record as story clustering sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub version: u32,
    /// When the event was reported: the publication time, else when the
    /// record was fetched.
    pub at: DateTime<Utc>,
    /// Term -> weight: how often the term occurs (headline words count
    /// twice), scaled so the weights' squares sum to 1. Actor names are not
    /// terms: sharing a president is no evidence of sharing an event.
    pub terms: BTreeMap<String, f32>,
    /// Actor and topic ids.
    pub tags: BTreeSet<String>,
}

/// How much more a headline word weighs than a word of the body: headlines
/// name the event.
const HEADLINE_WEIGHT: f32 = 2.0;

impl Profile {
    /// The profile of a record.
    pub fn of(record: &Record) -> Profile {
        let at = [record.published_at.as_deref(), Some(&record.fetched_at)]
            .into_iter()
            .flatten()
            .find_map(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
        // Every word of every spelling of an actor found in the text: the
        // surname, the first name, the capital standing for a government.
        let names: BTreeSet<String> = record
            .actors
            .iter()
            .flat_map(|a| a.spellings.iter().chain([&a.name]))
            .flat_map(|s| s.split(|c: char| !c.is_alphanumeric()).filter_map(term))
            .collect();
        let mut counts: BTreeMap<String, f32> = BTreeMap::new();
        for t in terms(&record.title, &names) {
            *counts.entry(t).or_default() += HEADLINE_WEIGHT;
        }
        for t in terms(&record.text, &names) {
            *counts.entry(t).or_default() += 1.0;
        }
        // Sublinear: a word repeated ten times is not ten times the evidence.
        for w in counts.values_mut() {
            *w = 1.0 + w.ln();
        }
        let norm = counts.values().map(|w| w * w).sum::<f32>().sqrt();
        if norm > 0.0 {
            counts.values_mut().for_each(|w| *w /= norm);
        }
        let tags = record
            .actors
            .iter()
            .map(|a| a.id.clone())
            .chain(record.topics.iter().map(|t| t.id.clone()))
            .collect();
        Profile {
            version: PROFILE_VERSION,
            at,
            terms: counts,
            tags,
        }
    }
}

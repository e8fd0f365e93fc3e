//! Duplicate detection against the seed corpus and earlier records.
//! (Foundation version: exact duplicates by URL, guid and text hash; issue 4
//! adds near duplicates.)

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::record::{DupMethod, Duplicate, content_hash};

/// What identifies a document besides its text.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys<'a> {
    pub canonical_url: Option<&'a str>,
    pub guid: Option<&'a str>,
}

/// The part of a document the index compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    hash: String,
}

impl Fingerprint {
    pub fn of(text: &str) -> Fingerprint {
        Fingerprint {
            hash: content_hash(text),
        }
    }

    /// The fingerprint of a text known only by its content hash.
    pub fn from_hash(hash: String) -> Fingerprint {
        Fingerprint { hash }
    }
}

#[derive(Debug, Default)]
pub struct Index {
    seed_hashes: HashMap<String, String>,
    hashes: HashMap<String, String>,
    urls: HashMap<String, String>,
    guids: HashMap<String, String>,
}

impl Index {
    pub fn new() -> Index {
        Index::default()
    }

    /// Seeds come first: a copy of a seed names the seed, even when a record
    /// made from that seed was ingested too.
    pub fn add_seed(&mut self, id: &str, fp: Fingerprint) {
        self.seed_hashes.insert(fp.hash, id.to_string());
    }

    pub fn insert(&mut self, id: &str, keys: &Keys, fp: Fingerprint, _at: DateTime<Utc>) {
        if let Some(u) = keys.canonical_url {
            self.urls
                .entry(u.to_string())
                .or_insert_with(|| id.to_string());
        }
        if let Some(g) = keys.guid {
            self.guids
                .entry(g.to_string())
                .or_insert_with(|| id.to_string());
        }
        self.hashes.entry(fp.hash).or_insert_with(|| id.to_string());
    }

    pub fn check(&self, keys: &Keys, fp: &Fingerprint) -> Option<Duplicate> {
        let exact = |of: &String, method| Duplicate {
            duplicate_of: of.clone(),
            similarity: 1.0,
            method,
        };
        if let Some(seed) = self.seed_hashes.get(&fp.hash) {
            return Some(exact(seed, DupMethod::Hash));
        }
        if let Some(of) = keys.canonical_url.and_then(|u| self.urls.get(u)) {
            return Some(exact(of, DupMethod::Url));
        }
        if let Some(of) = keys.guid.and_then(|g| self.guids.get(g)) {
            return Some(exact(of, DupMethod::Guid));
        }
        self.hashes
            .get(&fp.hash)
            .map(|of| exact(of, DupMethod::Hash))
    }
}

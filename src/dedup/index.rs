//! The index: the documents (seeds first, then records), their ids, their
//! shingles and keys in inverted lists, and their exact identities.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::candidates::Candidate;
use super::fingerprint::Fingerprint;
use super::hash::{hash_bytes, mix64};
use super::multimap::{FREE, MultiMap};
use super::verdict::{Params, Verdict};
use crate::record::{DupMethod, Duplicate};

/// The exact identities of an article, besides its text.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keys<'a> {
    /// Canonicalized again by the index, so any form of the URL will do.
    pub canonical_url: Option<&'a str>,
    pub guid: Option<&'a str>,
}

/// What the index keeps of a document besides its keys.
#[derive(Clone, Copy, Debug)]
pub(super) struct IndexedDoc {
    /// Unix seconds of insertion; seeds are never evicted.
    at: i64,
    /// End of this document's id in `Index::ids`.
    id_end: u32,
    /// Distinct shingles, all of them and those outside quotes (the latter
    /// only kept for seeds). Counts saturate: only texts of 65,000+ words
    /// reach the limit, and their scores are then merely approximate.
    pub(super) shingles: u16,
    pub(super) narration: u16,
    /// Keys per sampling tier, see `fingerprint::in_tier` (records only).
    pub(super) tiers: [u16; 3],
    pub(super) seed: bool,
}

/// Exact and near-duplicate index over seeds and ingested records.
pub struct Index {
    pub(super) params: Params,
    pub(super) docs: Vec<IndexedDoc>,
    /// All ids, concatenated; a `String` per id would cost 24 bytes more each.
    ids: String,
    /// Sampled shingle key -> records.
    pub(super) postings: MultiMap<u32>,
    /// Every shingle -> seeds. Seeds are few and come first, so they are
    /// held whole: a copy is compared with its seed exactly, not through
    /// samples.
    pub(super) seed_postings: MultiMap<u32>,
    /// A seed's shingles outside quotation marks -> seeds.
    pub(super) seed_narration: MultiMap<u32>,
    /// Canonical URL, guid and text hashes (tagged by kind) -> documents.
    exact: MultiMap<[u32; 2]>,
    /// Records inserted before this instant (Unix seconds) are gone even if
    /// not compacted away yet.
    horizon: i64,
    /// Documents below the horizon still occupying memory.
    dead: usize,
    /// Record id -> the root of the copies it is a copy of (see
    /// [`Index::note_copy`]): a copy of a copy names the original.
    roots: HashMap<String, String>,
}

/// Which identity an exact key hashes; mixed into the key so one table
/// holds all three.
#[derive(Clone, Copy)]
enum Identity {
    Url = 1,
    Guid = 2,
    Text = 3,
}

/// The key of an identity in `Index::exact`.
fn identity_key(kind: Identity, h: u64) -> [u32; 2] {
    let h = mix64(h ^ (kind as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    [(h >> 32) as u32, h as u32]
}

/// The hash of a URL's canonical form, or of the URL as given when it has
/// none.
fn url_key(url: &str) -> u64 {
    match crate::url::canonicalize(url) {
        Some(c) => hash_bytes(c.bytes()),
        None => hash_bytes(url.trim().bytes()),
    }
}

impl Index {
    pub fn new(params: Params) -> Index {
        Index {
            params,
            docs: Vec::new(),
            ids: String::new(),
            postings: MultiMap::new(),
            seed_postings: MultiMap::new(),
            seed_narration: MultiMap::new(),
            exact: MultiMap::new(),
            horizon: i64::MIN,
            dead: 0,
            roots: HashMap::new(),
        }
    }

    /// Records that the record `id` (inserted) is a copy of `of`, so that
    /// its own copies are reported as copies of `of`'s root, however long
    /// the chain: the story an analyst groups by is the original's. `of`
    /// is normally a root already (a verdict of this index names one); an
    /// older verdict naming a copy is followed to its root here.
    pub fn note_copy(&mut self, id: &str, of: &str) {
        let root = self
            .roots
            .get(of)
            .cloned()
            .unwrap_or_else(|| of.to_string());
        if root != id {
            self.roots.insert(id.to_string(), root);
        }
    }

    /// Adds a seed, given its text (seeds are held whole, which a
    /// [`Fingerprint`] read back from storage could not provide). Seeds are
    /// never evicted, and a text copying a seed is reported as a copy of the
    /// seed, not of a record that copies it too.
    pub fn add_seed(&mut self, id: &str, text: &str) {
        let fp = Fingerprint::of(text);
        let doc = self.push_doc(id, &fp, i64::MAX, true);
        if let Some(h) = fp.text_hash {
            self.exact
                .insert(identity_key(Identity::Text, h), doc, usize::MAX);
        }
        for &shingle in &fp.shingles {
            self.seed_postings.insert(shingle, doc, usize::MAX);
        }
        for &shingle in &fp.narration {
            self.seed_narration.insert(shingle, doc, usize::MAX);
        }
    }

    /// Adds an ingested record, seen at `at` (the time window counts from
    /// it). Ids are not checked for uniqueness: check before inserting.
    pub fn insert(&mut self, id: &str, keys: &Keys, fp: Fingerprint, at: DateTime<Utc>) {
        let doc = self.push_doc(id, &fp, at.timestamp(), false);
        let identities = [
            keys.canonical_url.map(|u| (Identity::Url, url_key(u))),
            keys.guid.map(|g| (Identity::Guid, hash_bytes(g.bytes()))),
            fp.text_hash.map(|h| (Identity::Text, h)),
        ];
        for (kind, h) in identities.into_iter().flatten() {
            self.exact
                .insert(identity_key(kind, h), doc, self.params.max_postings);
        }
        for &key in &fp.keys {
            self.postings.insert(key, doc, self.params.max_postings);
        }
    }

    /// The duplicate verdict for an article, or `None` if it is new.
    pub fn check(&self, keys: &Keys, fp: &Fingerprint) -> Option<Duplicate> {
        self.assess(keys, fp).duplicate
    }

    /// Best similarity of `fp` to anything indexed, duplicate or not.
    pub fn best_similarity(&self, fp: &Fingerprint) -> f64 {
        self.assess(&Keys::default(), fp).similarity
    }

    /// The verdict plus the best similarity, in one pass over the index.
    ///
    /// Order of precedence: a seed with the same text, a seed near enough,
    /// then the same URL, guid or text among records, then a near record.
    /// Among records the earliest one is named.
    pub fn assess(&self, keys: &Keys, fp: &Fingerprint) -> Verdict {
        let text_holder = fp.text_hash.and_then(|h| self.holder(Identity::Text, h));
        if let Some(d) = text_holder.filter(|&d| self.docs[d as usize].seed) {
            return self.exact_copy(d, DupMethod::Hash);
        }
        let near = self.near(fp);
        if let Some(c) = near.seed.filter(|c| c.score.near) {
            return self.near_copy(c);
        }
        let by_url = keys
            .canonical_url
            .and_then(|u| self.holder(Identity::Url, url_key(u)));
        let by_guid = keys
            .guid
            .and_then(|g| self.holder(Identity::Guid, hash_bytes(g.bytes())));
        for (holder, method) in [
            (by_url, DupMethod::Url),
            (by_guid, DupMethod::Guid),
            (text_holder, DupMethod::Hash),
        ] {
            if let Some(d) = holder {
                return self.exact_copy(d, method);
            }
        }
        match near.record.filter(|c| c.score.near) {
            Some(c) => self.near_copy(c),
            None => Verdict {
                duplicate: None,
                similarity: near.similarity,
            },
        }
    }

    fn exact_copy(&self, doc: u32, method: DupMethod) -> Verdict {
        Verdict {
            duplicate: Some(self.duplicate(doc, 1.0, method)),
            similarity: 1.0,
        }
    }

    fn near_copy(&self, c: Candidate) -> Verdict {
        let similarity = c.score.similarity;
        Verdict {
            duplicate: Some(self.duplicate(c.doc, similarity, DupMethod::Near)),
            similarity,
        }
    }

    /// Forgets records inserted before `t`; seeds stay.
    pub fn evict_before(&mut self, t: DateTime<Utc>) {
        let t = t.timestamp();
        if t <= self.horizon {
            return;
        }
        self.horizon = t;
        self.dead = self.docs.iter().filter(|d| !d.seed && d.at < t).count();
        // Compacting costs a pass over the whole index: do it once a good
        // share is dead, so a caller evicting after every insert pays O(1)
        // amortized. Until then dead documents are skipped by `is_live`.
        if self.dead > 0 && self.dead * 8 >= self.docs.len() {
            self.compact();
        }
    }

    /// Live documents: seeds plus records inside the time window.
    pub fn len(&self) -> usize {
        self.docs.len() - self.dead
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the index holds on the heap (capacity, not just length).
    pub fn heap_bytes(&self) -> usize {
        self.docs.capacity() * std::mem::size_of::<IndexedDoc>()
            + self.ids.capacity()
            + self.postings.heap_bytes()
            + self.seed_postings.heap_bytes()
            + self.seed_narration.heap_bytes()
            + self.exact.heap_bytes()
    }

    pub(super) fn is_live(&self, doc: u32) -> bool {
        let d = &self.docs[doc as usize];
        d.seed || d.at >= self.horizon
    }

    /// The live document holding an identity: a seed if any, else the
    /// earliest.
    fn holder(&self, kind: Identity, h: u64) -> Option<u32> {
        let mut best: Option<u32> = None;
        self.exact.for_each(identity_key(kind, h), |d| {
            if !self.is_live(d) {
                return;
            }
            let rank = |d: u32| (!self.docs[d as usize].seed, d);
            if best.is_none_or(|b| rank(d) < rank(b)) {
                best = Some(d);
            }
        });
        best
    }

    fn push_doc(&mut self, id: &str, fp: &Fingerprint, at: i64, seed: bool) -> u32 {
        let small = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        let (narration, tiers) = match seed {
            true => (small(fp.narration.len()), [0; 3]),
            false => (0, fp.tier_counts().map(|n| small(n as usize))),
        };
        self.ids.push_str(id);
        let doc = self.docs.len() as u32;
        self.docs.push(IndexedDoc {
            at,
            id_end: self.ids.len() as u32,
            shingles: small(fp.shingle_count as usize),
            narration,
            tiers,
            seed,
        });
        if !seed && at < self.horizon {
            self.dead += 1;
        }
        doc
    }

    fn id(&self, doc: u32) -> &str {
        let start = match doc {
            0 => 0,
            d => self.docs[d as usize - 1].id_end as usize,
        };
        &self.ids[start..self.docs[doc as usize].id_end as usize]
    }

    fn duplicate(&self, doc: u32, similarity: f64, method: DupMethod) -> Duplicate {
        let found = self.id(doc);
        match self.roots.get(found) {
            Some(root) => Duplicate {
                duplicate_of: root.clone(),
                via: Some(found.to_string()),
                similarity,
                method,
            },
            None => Duplicate {
                duplicate_of: found.to_string(),
                via: None,
                similarity,
                method,
            },
        }
    }

    /// Drops the documents below the horizon and renumbers the rest.
    fn compact(&mut self) {
        let mut remap = vec![FREE; self.docs.len()];
        let mut docs = Vec::with_capacity(self.docs.len() - self.dead);
        let mut ids = String::with_capacity(self.ids.len());
        for (old, d) in self.docs.iter().enumerate() {
            if d.seed || d.at >= self.horizon {
                ids.push_str(self.id(old as u32));
                remap[old] = docs.len() as u32;
                docs.push(IndexedDoc {
                    id_end: ids.len() as u32,
                    ..*d
                });
            }
        }
        ids.shrink_to_fit();
        // The roots of records gone go too (a root may outlive the window:
        // it is kept as the name of its live copies' story).
        let live: std::collections::HashSet<&str> = (0..docs.len())
            .map(|d| {
                let start = if d == 0 {
                    0
                } else {
                    docs[d - 1].id_end as usize
                };
                &ids[start..docs[d].id_end as usize]
            })
            .collect();
        self.roots.retain(|id, _| live.contains(id.as_str()));
        self.postings.remap(&remap);
        self.seed_postings.remap(&remap);
        self.seed_narration.remap(&remap);
        self.exact.remap(&remap);
        self.docs = docs;
        self.ids = ids;
        self.dead = 0;
    }
}

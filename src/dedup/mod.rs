//! Exact and near-duplicate detection against the seed corpus and the stream.
//!
//! The pure core of the dedup stage: no I/O, no clock. The caller builds a
//! [`Fingerprint`] from an article body, asks [`Index::check`] for a verdict,
//! then [`Index::insert`]s the article so later copies of it are caught.
//!
//! # Method
//! Text is normalized (NFKC, case and punctuation folded, boilerplate lines
//! dropped) and cut into overlapping 5-word shingles, each hashed with a
//! fixed hash (fingerprints are persisted, so it must not change between
//! builds; see [`FINGERPRINT_VERSION`]).
//!
//! *Seeds* are few and matter most, so the index holds every shingle of a
//! seed and compares a query's shingles with it exactly.
//!
//! *Records* (the stream, up to 100,000s) are kept as a sample of their
//! shingles, the *keys*: Broder's MOD-m sampling ("On the resemblance and
//! containment of documents", 1997) rather than a fixed-size MinHash
//! signature, because MinHash cannot estimate containment: a teaser holding
//! 10% of an article shares ~10% of the article's minima, but ~100% of the
//! article's sampled shingles that it could hold. The sample is nested in
//! three tiers: 1 shingle in 16 anywhere (a uniform, position-independent
//! sample), 1 in 4 up to shingle 128 and 1 in 2 up to shingle 48. Teasers are
//! leads, and the dense lead gives a 40-word teaser ~18 keys instead of ~2.
//!
//! Candidates come from inverted indexes (key -> documents; the query
//! touches only the lists of its own keys, so its cost does not grow with
//! the index, and lists of keys shared by very many documents are capped).
//! Verification measures resemblance `|A∩B| / |A∪B|` and containment
//! `|A∩B| / min(|A|, |B|)` (teasers inside articles, articles inside
//! updates), scored as a Wilson lower confidence bound so that a short
//! text's few keys count for what they are worth.
//!
//! # Files
//! `normalize` turns text into word hashes, `fingerprint` cuts them into
//! shingles and samples the keys, `index` holds the documents (in `multimap`
//! tables) and their exact identities, `candidates` gathers the documents
//! that share shingles with a query, and `verdict` decides from what they
//! share whether a text is a copy. `hash` holds the fixed hashes.

mod candidates;
mod fingerprint;
mod hash;
mod index;
mod multimap;
mod normalize;
mod verdict;

pub use fingerprint::{FINGERPRINT_VERSION, Fingerprint};
pub use index::{Index, Keys};
pub use verdict::{Params, Verdict};

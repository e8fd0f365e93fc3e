//! The fixed hashes of dedup.
//!
//! Fingerprints are persisted, so word, shingle and text hashes must not
//! change between builds: changing one means bumping
//! [`FINGERPRINT_VERSION`](super::FINGERPRINT_VERSION).

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// splitmix64 finalizer: FNV alone leaves the low bits, which pick samples,
/// poorly mixed.
pub(super) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hash of a word, a guid or a URL.
pub(super) fn hash_bytes(bytes: impl IntoIterator<Item = u8>) -> u64 {
    mix64(bytes.into_iter().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    }))
}

/// Hash of a shingle from its word hashes.
pub(super) fn shingle_hash(words: &[u64]) -> u64 {
    words
        .iter()
        .fold(0x9e37_79b9_7f4a_7c15, |h, &w| mix64(h.rotate_left(23) ^ w))
}

/// Hash of a whole word sequence; `None` for a text without words.
pub(super) fn text_hash(words: &[u64]) -> Option<u64> {
    words.first().map(|_| {
        words
            .iter()
            .fold(FNV_OFFSET, |h, &w| mix64(h.rotate_left(17) ^ w))
    })
}

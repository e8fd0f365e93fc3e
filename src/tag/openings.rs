//! A prefilter in front of the automaton: the words that start no pattern.

/// The first bytes of the patterns, to turn away before the automaton is
/// entered the words that start none (over half of them: the walk from a
/// word start is a chain of dependent loads through the automaton, and the
/// bulk of `tag`'s time).
pub(super) struct Openings {
    /// Bit `a << 8 | b` for the patterns of one or two bytes `a b` (for
    /// every `b` after a one-byte `a`).
    short: Box<[u64; 1024]>,
    /// A Bloom filter of the first four bytes of the longer patterns (of a
    /// three-byte one, followed by any byte): 128K bits, 16 KiB, so that it
    /// stays in the L1 cache and turns away most words.
    long: Box<[u64; 2048]>,
}

impl Openings {
    pub(super) fn new(patterns: &[String]) -> Openings {
        let mut short = Box::new([0u64; 1024]);
        let mut long = Box::new([0u64; 2048]);
        for p in patterns {
            match *p.as_bytes() {
                [] => {}
                [a] => (0..=u8::MAX).for_each(|b| set(&mut short[..], short_bit(a, b))),
                [a, b] => set(&mut short[..], short_bit(a, b)),
                [a, b, c] => (0..=u8::MAX).for_each(|d| set(&mut long[..], long_bit(a, b, c, d))),
                [a, b, c, d, ..] => set(&mut long[..], long_bit(a, b, c, d)),
            }
        }
        Openings { short, long }
    }

    /// Whether a pattern may start `text`.
    pub(super) fn may_start(&self, text: &[u8]) -> bool {
        match *text {
            [a, b, c, d, ..] => {
                get(&self.short[..], short_bit(a, b)) || get(&self.long[..], long_bit(a, b, c, d))
            }
            _ => true,
        }
    }
}

fn short_bit(a: u8, b: u8) -> usize {
    usize::from(a) << 8 | usize::from(b)
}

fn long_bit(a: u8, b: u8, c: u8, d: u8) -> usize {
    // Fibonacci hashing: the top 17 bits of the product mix all four bytes.
    (u32::from_le_bytes([a, b, c, d]).wrapping_mul(0x9E37_79B1) >> 15) as usize
}

fn set(bits: &mut [u64], bit: usize) {
    if let Some(w) = bits.get_mut(bit >> 6) {
        *w |= 1 << (bit & 63);
    }
}

fn get(bits: &[u64], bit: usize) -> bool {
    bits.get(bit >> 6)
        .is_some_and(|w| w & (1 << (bit & 63)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openings_let_through_every_pattern_start_however_short() {
        let patterns = ["a", "eu", "nato", "un"].map(String::from);
        let o = Openings::new(&patterns);
        for text in ["a bc", "ab c", "eu summit", "nato's", "un c", "unit"] {
            assert!(o.may_start(text.as_bytes()), "{text}");
        }
        // Too short to test: walked.
        assert!(o.may_start(b"xyz"));
        assert!(!o.may_start(b"the talks"));
    }
}

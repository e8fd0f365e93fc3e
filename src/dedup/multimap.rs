//! The hash table behind every index list: an open-addressing multimap
//! from a key to document numbers, 8 or 12 bytes a posting.

/// Marks a free slot in a [`MultiMap`]; document numbers stay below it.
pub(super) const FREE: u32 = u32::MAX;

/// A key of a [`MultiMap`]: already a well-mixed hash.
pub(super) trait SlotKey: Copy + Eq + Default {
    fn spread(self) -> u64;
}

impl SlotKey for u32 {
    fn spread(self) -> u64 {
        u64::from(self).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// A 64-bit hash as two halves, so a slot is 12 bytes rather than 16.
impl SlotKey for [u32; 2] {
    fn spread(self) -> u64 {
        (u64::from(self[0]) << 32 | u64::from(self[1])).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// Open-addressing multimap from key to document numbers, with linear
/// probing; a key shared by several documents occupies several slots.
///
/// Memory is the point: a posting is one `(key, doc)` slot, 8 bytes for a
/// shingle key, with no per-key allocation, and the table grows by a quarter
/// (not double) so its load stays between 0.68 and 0.85.
pub(super) struct MultiMap<K> {
    slots: Vec<(K, u32)>,
    len: usize,
}

impl<K: SlotKey> MultiMap<K> {
    pub(super) fn new() -> MultiMap<K> {
        MultiMap {
            slots: Vec::new(),
            len: 0,
        }
    }

    fn home(&self, key: K) -> usize {
        // Lemire's multiply-shift range reduction: table sizes need not be
        // powers of two.
        ((u128::from(key.spread()) * self.slots.len() as u128) >> 64) as usize
    }

    /// Adds `doc` under `key` unless `cap` documents hold it already.
    pub(super) fn insert(&mut self, key: K, doc: u32, cap: usize) {
        if (self.len + 1) * 20 > self.slots.len() * 17 {
            self.resize(
                ((self.len + 1) * 20 / 17)
                    .max(self.slots.len() * 5 / 4)
                    .max(16),
            );
        }
        let n = self.slots.len();
        let mut i = self.home(key);
        let mut held = 0;
        while self.slots[i].1 != FREE {
            if self.slots[i].0 == key {
                held += 1;
                if held >= cap {
                    return;
                }
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        self.slots[i] = (key, doc);
        self.len += 1;
    }

    /// Calls `f` with every document held under `key`.
    pub(super) fn for_each(&self, key: K, mut f: impl FnMut(u32)) {
        let n = self.slots.len();
        if n == 0 {
            return;
        }
        let mut i = self.home(key);
        while self.slots[i].1 != FREE {
            if self.slots[i].0 == key {
                f(self.slots[i].1);
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
    }

    fn resize(&mut self, size: usize) {
        let old = std::mem::replace(&mut self.slots, vec![(K::default(), FREE); size]);
        self.len = 0;
        for (key, doc) in old.into_iter().filter(|s| s.1 != FREE) {
            self.insert(key, doc, usize::MAX);
        }
    }

    /// Renumbers documents through `remap`, dropping those mapped to
    /// [`FREE`], and resizes to the survivors.
    pub(super) fn remap(&mut self, remap: &[u32]) {
        let live: Vec<(K, u32)> = self
            .slots
            .iter()
            .filter(|s| s.1 != FREE)
            .map(|&(k, d)| (k, remap[d as usize]))
            .filter(|s| s.1 != FREE)
            .collect();
        self.slots = vec![(K::default(), FREE); (live.len() * 10 / 7).max(16)];
        self.len = 0;
        for (key, doc) in live {
            self.insert(key, doc, usize::MAX);
        }
    }

    /// Bytes of the table on the heap.
    pub(super) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<(K, u32)>()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    const ALL: usize = usize::MAX;

    /// The documents held under `key`, sorted.
    fn docs<K: SlotKey>(map: &MultiMap<K>, key: K) -> Vec<u32> {
        let mut out = Vec::new();
        map.for_each(key, |d| out.push(d));
        out.sort_unstable();
        out
    }

    /// At most 0.85 of the slots are taken.
    fn load_is_bounded<K>(map: &MultiMap<K>) -> bool {
        map.len * 20 <= map.slots.len() * 17
    }

    #[test]
    fn an_empty_map_holds_nothing_and_no_memory() {
        let map = MultiMap::<u32>::new();
        assert_eq!(docs(&map, 0), [0u32; 0]);
        assert_eq!(docs(&map, FREE), [0u32; 0]);
        assert_eq!(map.heap_bytes(), 0);
    }

    #[test]
    fn many_keys_keep_their_documents_while_the_table_grows_by_a_quarter() {
        let key = |n: u32| n.wrapping_mul(0x9e37_79b1);
        let mut map = MultiMap::new();
        let mut sizes = vec![0];
        for n in 0..20_000u32 {
            for doc in n..=n + n % 3 {
                map.insert(key(n), doc, ALL);
                assert!(load_is_bounded(&map), "load above 0.85 at key {n}");
            }
            if sizes.last() != Some(&map.slots.len()) {
                sizes.push(map.slots.len());
            }
        }
        for step in sizes.windows(2) {
            assert_eq!(step[1], (step[0] * 5 / 4).max(16), "growth {sizes:?}");
        }
        assert_eq!(map.len, (0..20_000).map(|n| 1 + n % 3).sum::<usize>());
        assert!(map.len * 100 >= map.slots.len() * 68, "load below 0.68");
        for n in 0..20_000u32 {
            let want: Vec<u32> = (n..=n + n % 3).collect();
            assert_eq!(docs(&map, key(n)), want, "key {n}");
        }
        for n in 20_000..21_000 {
            assert_eq!(docs(&map, key(n)), [0u32; 0], "absent key {n}");
        }
        assert_eq!(map.heap_bytes(), map.slots.capacity() * 8);
    }

    #[test]
    fn keys_with_one_home_probe_past_other_keys_and_wrap_around_the_end() {
        let mut map = MultiMap::new();
        // Key 0 spreads to 0: it sits in the first slot of the 16.
        map.insert(0u32, 100, ALL);
        let n = map.slots.len();
        assert_eq!(n, 16);
        let last: Vec<u32> = (1..).filter(|&k| map.home(k) == n - 1).take(6).collect();
        for (doc, &key) in (0..).zip(&last[..5]) {
            map.insert(key, doc, ALL);
        }
        assert_eq!(map.slots.len(), n, "six postings do not grow 16 slots");
        // The chain runs from the last slot over key 0's slot to slot 4.
        assert!(map.slots[..5].iter().all(|s| s.1 != FREE));
        for (doc, &key) in (0..).zip(&last[..5]) {
            assert_eq!(docs(&map, key), [doc], "key {key}");
        }
        assert_eq!(docs(&map, 0), [100]);
        assert_eq!(docs(&map, last[5]), [0u32; 0], "same home, never inserted");
    }

    #[test]
    fn a_document_inserted_twice_under_a_key_is_held_twice() {
        // A multiset: the index never inserts a (key, document) pair twice,
        // since a fingerprint's keys are distinct, so the map does not look.
        let mut map = MultiMap::new();
        map.insert(5u32, 1, ALL);
        map.insert(5, 1, ALL);
        map.insert(5, 2, ALL);
        assert_eq!(docs(&map, 5), [1, 1, 2]);
    }

    #[test]
    fn a_key_takes_no_more_documents_than_the_cap() {
        let mut map = MultiMap::new();
        for doc in 0..10 {
            map.insert(9u32, doc, 3);
        }
        map.insert(10, 0, 3);
        assert_eq!(docs(&map, 9), [0, 1, 2]);
        assert_eq!(docs(&map, 10), [0], "the cap is per key");
        map.insert(9, 10, 4);
        assert_eq!(docs(&map, 9), [0, 1, 2, 10]);
    }

    #[test]
    fn the_free_marker_and_the_filler_of_free_slots_are_ordinary_keys() {
        // Free slots hold (K::default(), FREE): looking up key 0 must not
        // take them for postings, and FREE is free only as a document.
        let mut map = MultiMap::new();
        for k in 1..100u32 {
            map.insert(k, k, ALL);
        }
        assert_eq!(docs(&map, 0), [0u32; 0]);
        assert_eq!(docs(&map, FREE), [0u32; 0]);
        map.insert(0, 7, ALL);
        map.insert(FREE, 8, ALL);
        assert_eq!(docs(&map, 0), [7]);
        assert_eq!(docs(&map, FREE), [8]);

        let mut pairs = MultiMap::new();
        for k in 1..100u32 {
            pairs.insert([k, !k], k, ALL);
        }
        assert_eq!(docs(&pairs, [0, 0]), [0u32; 0]);
        pairs.insert([0, 0], 7, ALL);
        pairs.insert([FREE, FREE], 8, ALL);
        pairs.insert([0, FREE], 9, ALL);
        assert_eq!(docs(&pairs, [0, 0]), [7]);
        assert_eq!(docs(&pairs, [FREE, FREE]), [8]);
        assert_eq!(docs(&pairs, [0, FREE]), [9]);
        assert_eq!(docs(&pairs, [FREE, 0]), [0u32; 0]);
    }

    #[test]
    fn pair_keys_differ_in_either_half() {
        let keys = [[1, 2], [2, 1], [1, 3], [0, 2], [1, 0], [3, 2]];
        let mut map = MultiMap::new();
        for (doc, &key) in (0..).zip(&keys) {
            map.insert(key, doc, ALL);
        }
        for (doc, &key) in (0..).zip(&keys) {
            assert_eq!(docs(&map, key), [doc], "{key:?}");
        }
        assert_eq!(map.heap_bytes(), map.slots.capacity() * 12);
    }

    #[test]
    fn remap_renumbers_the_survivors_drops_the_rest_and_shrinks() {
        let mut map = MultiMap::new();
        for doc in 0..1000u32 {
            for key in doc..doc + 4 {
                map.insert(key, doc, ALL);
            }
        }
        let before = map.slots.len();
        // Even documents stay, renumbered to half; odd ones go.
        let remap: Vec<u32> = (0..1000)
            .map(|d| if d % 2 == 0 { d / 2 } else { FREE })
            .collect();
        map.remap(&remap);
        for key in 0..1003u32 {
            let want: Vec<u32> = (key.saturating_sub(3)..=key.min(999))
                .filter(|d| d % 2 == 0)
                .map(|d| d / 2)
                .collect();
            assert_eq!(docs(&map, key), want, "key {key}");
        }
        assert_eq!(map.len, 2000);
        assert_eq!(map.slots.len(), 2000 * 10 / 7);
        assert!(map.slots.len() < before);
    }

    #[test]
    fn a_map_remapped_to_nothing_is_empty_and_still_usable() {
        let mut map = MultiMap::new();
        for doc in 0..100u32 {
            map.insert(doc % 7, doc, ALL);
        }
        map.remap(&[FREE; 100]);
        assert_eq!(map.len, 0);
        assert_eq!(map.slots.len(), 16);
        assert!((0..7).all(|k| docs(&map, k).is_empty()));
        map.insert(3, 0, ALL);
        assert_eq!(docs(&map, 3), [0]);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert {
            key: u32,
            doc: u32,
            cap: usize,
        },
        /// New number of each of the 50 documents, `None` to drop it.
        Remap(Vec<Option<u32>>),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct keys, so that keys repeat, chains are long and caps
        // bite; the extremes of the key range included.
        let key = prop_oneof![0u32..48, Just(FREE), Just(FREE - 1)];
        let cap = prop_oneof![1usize..5, Just(ALL)];
        prop_oneof![
            20 => (key, 0u32..50, cap).prop_map(|(key, doc, cap)| Op::Insert { key, doc, cap }),
            1 => prop::collection::vec(prop::option::of(0u32..50), 50).prop_map(Op::Remap),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Whatever the inserts, caps and renumberings, the table holds
        /// exactly what a map of lists would.
        #[test]
        fn behaves_like_a_map_of_lists(ops in prop::collection::vec(op(), 1..300)) {
            let mut map = MultiMap::new();
            let mut model: HashMap<u32, Vec<u32>> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert { key, doc, cap } => {
                        map.insert(key, doc, cap);
                        let list = model.entry(key).or_default();
                        if list.len() < cap {
                            list.push(doc);
                        }
                    }
                    Op::Remap(to) => {
                        let table: Vec<u32> = to.iter().map(|d| d.unwrap_or(FREE)).collect();
                        map.remap(&table);
                        for list in model.values_mut() {
                            list.retain_mut(|d| match to[*d as usize] {
                                Some(new) => { *d = new; true }
                                None => false,
                            });
                        }
                    }
                }
                prop_assert!(load_is_bounded(&map));
                prop_assert_eq!(map.len, model.values().map(Vec::len).sum::<usize>());
                for (&key, list) in &model {
                    let mut want = list.clone();
                    want.sort_unstable();
                    prop_assert_eq!(docs(&map, key), want, "key {}", key);
                }
            }
        }
    }
}

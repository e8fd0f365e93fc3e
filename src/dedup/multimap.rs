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

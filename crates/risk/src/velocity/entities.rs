//! One shard's entities: each key beside its state, in one array.

/// A table by keys that are already keyed hashes (an [`EntityKey`]'s), each entry its key
/// and its value side by side, found by probing on from the slot its key falls in. A lookup
/// in a large store reads the entry it wants with its first read from memory, where a table
/// keeping its tags apart from its entries reads the tags, then the entry.
///
/// Kept at most three quarters full (it doubles past that). An entry removed leaves no
/// tombstone: those after it in its run move back (backward shift), so a run only ever holds
/// what is in the table.
///
/// [`EntityKey`]: super::EntityKey
#[derive(Debug)]
pub(super) struct Entities<V> {
    slots: Vec<Option<(u64, V)>>,
    len: usize,
}

impl<V> Default for Entities<V> {
    fn default() -> Self {
        Self { slots: Vec::new(), len: 0 }
    }
}

/// The bits of a key that pick its slot: above those that picked its shard.
pub(super) const SHARD_BITS: u32 = 16;

impl<V> Entities<V> {
    /// The value under `key`.
    pub(super) fn get(&self, key: u64) -> Option<&V> {
        let at = self.find(key)?;
        self.slots.get(at)?.as_ref().map(|(_, v)| v)
    }

    /// The value under `key`, inserting `make()` first if there is none; and whether it was
    /// inserted.
    pub(super) fn get_or_insert_with(
        &mut self,
        key: u64,
        make: impl FnOnce() -> V,
    ) -> Option<(&mut V, bool)> {
        let (at, fresh) = match self.find(key) {
            Some(at) => (at, false),
            None => {
                if self.len.saturating_add(1).saturating_mul(4) > self.slots.len() * 3 {
                    self.grow();
                }
                let at = self.place(key, make())?;
                self.len += 1;
                (at, true)
            }
        };
        let (_, value) = self.slots.get_mut(at)?.as_mut()?;
        Some((value, fresh))
    }

    /// Keeps only the values `keep` says to.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        let mut at = 0;
        while let Some(slot) = self.slots.get(at) {
            if slot.as_ref().is_some_and(|(_, v)| !keep(v)) {
                // What moves back into `at` is looked at next; what wraps past the end into
                // a slot after `at` is looked at again there, which `keep` does not mind.
                self.remove_at(at);
            } else {
                at += 1;
            }
        }
    }

    /// How many entries there are.
    pub(super) const fn len(&self) -> usize {
        self.len
    }

    /// How many entries there is room for, free slots included.
    pub(super) const fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Every value.
    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().flatten().map(|(_, v)| v)
    }

    /// Where `key` falls: its own slot, if there are slots.
    fn home(&self, key: u64) -> Option<usize> {
        let mask = self.slots.len().checked_sub(1)?;
        Some((key >> SHARD_BITS) as usize & mask)
    }

    /// The slot after `at`, the first after the last.
    const fn next(&self, at: usize) -> usize {
        (at + 1) & self.slots.len().wrapping_sub(1)
    }

    /// The slot holding `key`.
    fn find(&self, key: u64) -> Option<usize> {
        let mut at = self.home(key)?;
        for _ in 0..self.slots.len() {
            match self.slots.get(at)? {
                Some((k, _)) if *k == key => return Some(at),
                Some(_) => at = self.next(at),
                None => return None,
            }
        }
        None
    }

    /// Puts `key` and `value` in the first free slot from `key`'s own; where. The caller has
    /// made sure there is a free slot and that `key` is not in the table.
    fn place(&mut self, key: u64, value: V) -> Option<usize> {
        let mut at = self.home(key)?;
        for _ in 0..self.slots.len() {
            let next = self.next(at);
            let slot = self.slots.get_mut(at)?;
            if slot.is_none() {
                *slot = Some((key, value));
                return Some(at);
            }
            at = next;
        }
        None
    }

    /// Takes the entry at `hole` out, moving back each entry after it in its run that may
    /// stand nearer its own slot.
    fn remove_at(&mut self, mut hole: usize) {
        let Some(slot) = self.slots.get_mut(hole) else { return };
        if slot.take().is_none() {
            return;
        }
        self.len -= 1;
        let mask = self.slots.len().wrapping_sub(1);
        let mut at = hole;
        for _ in 0..mask {
            at = self.next(at);
            let Some(Some((key, _))) = self.slots.get(at) else { return };
            let Some(home) = self.home(*key) else { return };
            // It may move back into the hole if the hole lies between its own slot and it.
            if at.wrapping_sub(home) & mask >= at.wrapping_sub(hole) & mask {
                self.slots.swap(hole, at);
                hole = at;
            }
        }
    }

    /// Doubles the slots (from 4), placing every entry again.
    fn grow(&mut self) {
        let slots = self.slots.len().saturating_mul(2).max(4);
        let old = std::mem::replace(&mut self.slots, Vec::with_capacity(slots));
        self.slots.resize_with(slots, || None);
        for (key, value) in old.into_iter().flatten() {
            self.place(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// A key whose slot bits are `slot`, told apart by `n` in the bits above.
    fn crowded(slot: u64, n: u64) -> u64 {
        (n << 40) | (slot << SHARD_BITS)
    }

    #[test]
    fn an_empty_table_finds_nothing_and_retains_nothing() {
        let mut table = Entities::<u32>::default();
        assert_eq!(table.get(7), None);
        table.retain(|_| false);
        assert_eq!((table.len(), table.capacity(), table.values().count()), (0, 0, 0));
    }

    #[test]
    fn a_key_is_inserted_once() {
        let mut table = Entities::default();
        assert_eq!(table.get_or_insert_with(9, || 1).map(|(v, f)| (*v, f)), Some((1, true)));
        let (value, fresh) = table.get_or_insert_with(9, || 2).unwrap();
        assert_eq!((*value, fresh), (1, false), "the first value stays");
        *value = 5;
        assert_eq!(table.get(9), Some(&5));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_run_wrapping_past_the_end_closes_up_when_its_first_goes() {
        // Five keys of the last slot of eight: the run wraps to the first four.
        let mut table = Entities::default();
        for n in 1..=5 {
            table.get_or_insert_with(crowded(7, n), || n).unwrap();
        }
        assert_eq!(table.capacity(), 8, "four slots hold three");
        assert!(table.slots.first().unwrap().is_some(), "the run wraps");
        table.retain(|v| *v != 1);
        for n in 2..=5 {
            assert_eq!(table.get(crowded(7, n)), Some(&n), "{n}");
        }
        assert_eq!(table.get(crowded(7, 1)), None);
        assert!(table.slots.get(3).unwrap().is_none(), "the run is one shorter");
        // A key at home in a slot the run passes stays where it is.
        table.get_or_insert_with(crowded(0, 9), || 9).unwrap();
        table.retain(|v| *v != 2);
        assert_eq!(table.get(crowded(0, 9)), Some(&9));
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn the_table_stays_at_most_three_quarters_full() {
        let mut table = Entities::default();
        for n in 0..10_000_u64 {
            table.get_or_insert_with(n.wrapping_mul(0x9e37_79b9_7f4a_7c15), || n).unwrap();
            assert!(table.len() * 4 <= table.capacity() * 3, "at {n}");
        }
        assert_eq!(table.capacity(), 16_384);
    }

    proptest! {
        #[test]
        fn the_table_answers_as_a_map_does(
            ops in prop::collection::vec((0_u64..64, any::<bool>(), 0_u32..8), 0..400),
        ) {
            // Keys crowd a few slots, so that runs form, wrap and close up.
            let (mut table, mut map) = (Entities::default(), HashMap::new());
            for (i, (k, retain, cut)) in ops.into_iter().enumerate() {
                let key = crowded(k % 16, k);
                if retain {
                    table.retain(|v: &u32| v % 8 != cut);
                    map.retain(|_, v: &mut u32| *v % 8 != cut);
                } else {
                    let value = u32::try_from(i).unwrap();
                    let fresh = !map.contains_key(&key);
                    map.entry(key).or_insert(value);
                    let (got, inserted) = table.get_or_insert_with(key, || value).unwrap();
                    prop_assert_eq!((*got, inserted), (map[&key], fresh));
                }
                prop_assert_eq!(table.len(), map.len());
                prop_assert_eq!(table.values().count(), map.len());
                for k in 0..64 {
                    let key = crowded(k % 16, k);
                    prop_assert_eq!(table.get(key), map.get(&key));
                }
            }
        }
    }
}

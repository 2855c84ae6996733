//! A shard's index of token numbers to their records' slots, each number beside its slot.

use std::hash::BuildHasher;

use cloudcard_core::RandomKeyHasher;

/// Entries a line holds.
const PER_LINE: usize = 5;

/// One cache line of the index: up to five numbers (as [`TokenNumber::key`]) and their slots,
/// filled in order.
///
/// [`TokenNumber::key`]: crate::TokenNumber::key
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line {
    keys: [u64; PER_LINE],
    slots: [u32; PER_LINE],
    len: u8,
}

const _: () = assert!(size_of::<Line>() == 64, "a line of the index is a cache line");

/// The index of a shard's token numbers to their slots. A number is found by reading the
/// line it hashes to, where its slot lies beside it: a lookup in a large vault waits for one
/// read from memory before the record's, where a table keeping its tags apart from its
/// entries waits for two. A line that fills spills into the next.
///
/// Numbers are only ever added: a token's number stays taken after it is deleted, so an
/// entry never leaves and a line never empties. The index doubles when three quarters of its
/// places are taken.
#[derive(Debug, Default)]
pub(super) struct NumberIndex {
    lines: Vec<Line>,
    len: usize,
    hasher: RandomKeyHasher,
}

impl NumberIndex {
    /// The slot of the record numbered `key`.
    pub(super) fn get(&self, key: u64) -> Option<u32> {
        let mut at = self.home(key)?;
        for _ in 0..self.lines.len() {
            let line = self.lines.get(at)?;
            let len = usize::from(line.len);
            let found = line.keys.iter().zip(line.slots).take(len).find(|(k, _)| **k == key);
            if let Some((_, slot)) = found {
                return Some(slot);
            }
            if len < PER_LINE {
                return None;
            }
            at = self.next(at);
        }
        None
    }

    /// Whether a record is numbered `key`.
    pub(super) fn contains(&self, key: u64) -> bool {
        self.get(key).is_some()
    }

    /// Adds `key` at `slot`; `false`, changing nothing, if `key` is in the index already (or,
    /// which three quarters full never lets happen, no line has room).
    pub(super) fn insert(&mut self, key: u64, slot: u32) -> bool {
        if self.contains(key) {
            return false;
        }
        let places = self.lines.len().saturating_mul(PER_LINE);
        if self.len.saturating_add(1).saturating_mul(4) > places.saturating_mul(3) {
            self.grow();
        }
        let placed = self.place(key, slot);
        if placed {
            self.len = self.len.saturating_add(1);
        }
        placed
    }

    /// How many numbers the index holds.
    #[cfg(test)]
    pub(super) const fn len(&self) -> usize {
        self.len
    }

    /// The line `key` hashes to, if there are lines.
    fn home(&self, key: u64) -> Option<usize> {
        let mask = self.lines.len().checked_sub(1)?;
        #[expect(clippy::cast_possible_truncation, reason = "only the low bits are kept")]
        Some(self.hasher.hash_one(key) as usize & mask)
    }

    /// The line after `at`, the first after the last.
    const fn next(&self, at: usize) -> usize {
        (at + 1) & self.lines.len().wrapping_sub(1)
    }

    /// Writes `key` and `slot` in the first line from `key`'s own that has room; whether one
    /// had. The caller has made sure `key` is not there.
    fn place(&mut self, key: u64, slot: u32) -> bool {
        let Some(mut at) = self.home(key) else { return false };
        for _ in 0..self.lines.len() {
            let next = self.next(at);
            let Some(line) = self.lines.get_mut(at) else { return false };
            let len = usize::from(line.len);
            if let (Some(k), Some(s)) = (line.keys.get_mut(len), line.slots.get_mut(len)) {
                (*k, *s) = (key, slot);
                line.len += 1;
                return true;
            }
            at = next;
        }
        false
    }

    /// Doubles the lines (from 4), placing every entry again.
    fn grow(&mut self) {
        let lines = self.lines.len().saturating_mul(2).max(4);
        let old = std::mem::replace(&mut self.lines, vec![Line::default(); lines]);
        for line in old {
            for (&key, &slot) in line.keys.iter().zip(&line.slots).take(usize::from(line.len)) {
                // Twice the lines for the same entries: each has room.
                self.place(key, slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn an_empty_index_finds_nothing() {
        let mut index = NumberIndex::default();
        assert_eq!(index.get(42), None);
        assert!(!index.contains(42));
        assert!(!index.place(42, 0), "no line to place it in");
        assert_eq!(index.len(), 0);
    }

    #[test]
    fn a_number_is_taken_once() {
        let mut index = NumberIndex::default();
        assert!(index.insert(62_5800_0000_0000_0017, 3));
        assert!(!index.insert(62_5800_0000_0000_0017, 9), "a taken number is refused");
        assert_eq!(index.get(62_5800_0000_0000_0017), Some(3), "and keeps its first slot");
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn keys_that_share_a_line_spill_into_the_next_and_are_all_found() {
        // Every key in one line's home, far more than a line holds: the index grows, and
        // those that still share a home spill on, wrapping past the last line.
        let mut index = NumberIndex::default();
        let mut keys = Vec::new();
        let mut candidate = 1_u64;
        while index.lines.is_empty() || keys.len() < 3 * PER_LINE {
            if index.lines.is_empty() || index.home(candidate) == Some(index.lines.len() - 1) {
                let slot = u32::try_from(keys.len()).unwrap();
                assert!(index.insert(candidate, slot));
                keys.push(candidate);
            }
            candidate += 1;
        }
        for (slot, key) in keys.iter().enumerate() {
            assert_eq!(index.get(*key), Some(u32::try_from(slot).unwrap()), "{key}");
        }
        assert!(index.lines.first().is_some_and(|l| l.len > 0), "spilled past the last line");
    }

    #[test]
    fn the_index_stays_at_most_three_quarters_full() {
        let mut index = NumberIndex::default();
        for key in 1..=10_000_u64 {
            assert!(index.insert(key * 7_919, u32::try_from(key).unwrap()));
            assert!(index.len() * 4 <= index.lines.len() * PER_LINE * 3, "at {key}");
        }
        assert_eq!(index.lines.len(), 4_096);
    }

    proptest! {
        #[test]
        fn the_index_answers_as_a_map_does(
            keys in prop::collection::vec(any::<u64>(), 0..600),
            probes in prop::collection::vec(any::<u64>(), 0..50),
        ) {
            let (mut index, mut map) = (NumberIndex::default(), HashMap::new());
            for (slot, key) in keys.iter().enumerate() {
                let slot = u32::try_from(slot).unwrap();
                let fresh = !map.contains_key(key);
                if fresh {
                    map.insert(*key, slot);
                }
                prop_assert_eq!(index.insert(*key, slot), fresh);
            }
            prop_assert_eq!(index.len(), map.len());
            for key in keys.iter().chain(&probes) {
                prop_assert_eq!(index.get(*key), map.get(key).copied());
            }
        }
    }
}

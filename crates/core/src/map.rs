//! Tables by keys that are already random draws or keyed hashes, and the keyed hash of an id
//! anyone can choose.

use std::hash::{BuildHasher, Hasher};

/// The hasher of a [`RandomKeyMap`]: a fast hash seeded per table (foldhash), for keys no one
/// outside can choose.
pub type RandomKeyHasher = foldhash::fast::RandomState;

/// A table by a key that is already a random draw or a keyed hash (a drawn token number, an
/// id's random bits or a SHA-256 digest's, a digest keyed by a secret): no one outside can
/// choose keys that collide, so the table spreads them with a fast seeded hash instead of
/// SipHash. A key anyone can choose (a name, an id as sent) belongs in a `HashMap` with the
/// standard hasher.
///
/// ```
/// use cloudcard_core::RandomKeyMap;
///
/// let mut slots: RandomKeyMap<u64, u32> = RandomKeyMap::default();
/// slots.insert(rand::random(), 7);
/// assert_eq!(slots.len(), 1);
/// ```
pub type RandomKeyMap<K, V> = std::collections::HashMap<K, V, RandomKeyHasher>;

/// `tag` and `id` hashed as the one string `tag || id` under `hasher`'s secret key (SipHash):
/// the key of an id anyone can choose (a name, an id as sent), in a table or a store's index,
/// where a fast seeded hash would let someone choose ids that collide. The tag (one byte, so
/// no two pairs are the same string) keeps kinds of ids apart under one key. SipHash costs by
/// the write about as much as by the byte, so an id's text (at most 64 bytes) goes in as one
/// write; anything longer as two, of the same string.
///
/// ```
/// use cloudcard_core::keyed_hash;
///
/// let key = std::hash::RandomState::new();
/// assert_eq!(keyed_hash(&key, 1, b"dev_1"), keyed_hash(&key, 1, b"dev_1"));
/// assert_ne!(keyed_hash(&key, 1, b"dev_1"), keyed_hash(&key, 2, b"dev_1"));
/// ```
#[must_use]
pub fn keyed_hash(hasher: &std::hash::RandomState, tag: u8, id: &[u8]) -> u64 {
    let mut h = hasher.build_hasher();
    let mut buf = [tag; crate::id::MAX_LEN + 1];
    match buf.get_mut(1..=id.len()) {
        Some(rest) => {
            rest.copy_from_slice(id);
            h.write(buf.get(..=id.len()).unwrap_or_default());
        }
        None => {
            h.write(&[tag]);
            h.write(id);
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hash_is_of_the_tag_then_the_id_whatever_the_length() {
        let hasher = std::hash::RandomState::new();
        let long = [b'x'; 80];
        for len in 0..=long.len() {
            let id = &long[..len];
            // Short ids go in as one write, longer ones as two: both hash the string tag || id.
            let mut h = hasher.build_hasher();
            h.write(&[3]);
            h.write(id);
            assert_eq!(keyed_hash(&hasher, 3, id), h.finish(), "len {len}");
        }
    }
}

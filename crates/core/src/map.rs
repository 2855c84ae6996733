//! Tables by keys that are already random draws or keyed hashes.

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

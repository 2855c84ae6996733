//! The token store port and its in-memory implementation.

use cloudcard_core::sync::{Padded, RwLockExt};
use std::collections::HashMap;
use std::collections::hash_map::{DefaultHasher, Entry};
use std::hash::{Hash, Hasher};
use std::sync::RwLock;

use cloudcard_core::{DeviceId, TokenId};

use crate::cryptogram::ReplayWindow;
use crate::record::{Fingerprint, TokenRecord};
use crate::{StoreError, TokenNumber, TokenStatus};

/// What an accepted cryptogram spends on its token: the replay window with its ATC marked,
/// the key's use after it, and when. Nothing else of the record changes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spend {
    /// The replay window, the cryptogram's ATC marked seen.
    pub replay: ReplayWindow,
    /// Cryptograms accepted under the current key, this one included.
    pub used_count: u32,
    /// Their cumulative amount.
    pub used_amount: cloudcard_core::Amount,
    /// When it was accepted.
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Spend {
    /// `record` with this spend, its version moved on.
    pub(crate) fn apply(self, record: &mut TokenRecord) -> Result<(), StoreError> {
        record.replay = self.replay;
        record.luk.used_count = self.used_count;
        record.luk.used_amount = self.used_amount;
        record.updated_at = self.at;
        record.version = record.version.checked_add(1).ok_or(StoreError::Conflict)?;
        Ok(())
    }
}

/// How many times [`TokenStore::spend_by_number`]'s default rereads a record that changed.
const SPEND_ATTEMPTS: usize = 16;

/// Where token records live. Records go in and come out owned; every update is a
/// compare-and-set on the record's version, so two service nodes sharing one database can
/// never both accept the same ATC: the second write fails with [`StoreError::Conflict`] and
/// that node rereads.
///
/// A token number stays taken after its token is deleted, so numbers are never reused.
pub trait TokenStore: Send + Sync {
    /// Adds a new record.
    ///
    /// # Errors
    ///
    /// [`StoreError::Duplicate`] if the id or the token number is taken.
    fn insert(&self, record: TokenRecord) -> Result<(), StoreError>;

    /// The record with this id.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the store fails.
    fn get(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError>;

    /// Reads the record with this id where it lies: `read` sees it under the store's lock
    /// (the default hands it a copy). Whether there was one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the store fails.
    fn view(&self, id: &TokenId, read: &mut dyn FnMut(&TokenRecord)) -> Result<bool, StoreError> {
        let record = self.get(id)?;
        if let Some(record) = &record {
            read(record);
        }
        Ok(record.is_some())
    }

    /// Reads the record of a token just verified, which both `id` and `number` name: found by
    /// whichever the store finds faster (the default: [`Self::view`] by id). A number that
    /// names another record is not trusted: the record is then found by its id. Whether there
    /// was one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the store fails.
    fn view_token(
        &self,
        id: &TokenId,
        number: &TokenNumber,
        read: &mut dyn FnMut(&TokenRecord),
    ) -> Result<bool, StoreError> {
        let _ = number;
        self.view(id, read)
    }

    /// The record with this token number.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the store fails.
    fn get_by_number(&self, number: &TokenNumber) -> Result<Option<TokenRecord>, StoreError>;

    /// Whether this token number was ever issued.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the store fails.
    fn number_taken(&self, number: &TokenNumber) -> Result<bool, StoreError>;

    /// Every record whose PAN has this fingerprint.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the store fails.
    fn by_fingerprint(&self, fingerprint: &Fingerprint) -> Result<Vec<TokenRecord>, StoreError>;

    /// Every record bound to this device.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the store fails.
    fn by_device(&self, device: &DeviceId) -> Result<Vec<TokenRecord>, StoreError>;

    /// Replaces the stored record with `record` if the stored one is still at
    /// `expected_version`. `record.version` must be `expected_version + 1`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] if the stored version moved on (or `record.version` is not the
    /// next one); [`StoreError::Missing`] if there is no such record.
    fn compare_and_set(&self, expected_version: u64, record: TokenRecord)
    -> Result<(), StoreError>;

    /// Spends a cryptogram on the token with this number, in one atomic step: `decide` reads
    /// the stored record and answers what the cryptogram spends (or `None` to refuse, leaving
    /// the record as it was); the store keeps the spend and moves the version on. The token's
    /// id, or `None` if no token has this number.
    ///
    /// The default reads the record, applies the spend to a copy and compares-and-sets,
    /// rereading on conflict; a store that can change a record under its own lock does so
    /// without copying it. `decide` may run more than once.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] if the record kept changing under it; the backend's error.
    fn spend_by_number(
        &self,
        number: &TokenNumber,
        decide: &mut dyn FnMut(&TokenRecord) -> Option<Spend>,
    ) -> Result<Option<TokenId>, StoreError> {
        for _ in 0..SPEND_ATTEMPTS {
            let Some(mut record) = self.get_by_number(number)? else { return Ok(None) };
            let Some(spend) = decide(&record) else { return Ok(Some(record.id)) };
            let expected = record.version;
            spend.apply(&mut record)?;
            let id = record.id.clone();
            match self.compare_and_set(expected, record) {
                Ok(()) => return Ok(Some(id)),
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    /// Every token id, for batch work such as re-wrapping.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the store fails.
    fn ids(&self) -> Result<Vec<TokenId>, StoreError>;
}

const SHARDS: usize = 16;

/// Where a record lies: its shard and its slot there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    shard: u8,
    at: u32,
}

/// One shard's records, in a slab: a record never moves or leaves (a deleted token keeps its
/// number taken), so its slot names it for good.
#[derive(Debug, Default)]
struct Shard {
    records: Slab<TokenRecord>,
    by_id: HashMap<IdKey, u32>,
}

/// Records in fixed-size chunks: adding one never moves the others (a growing vault does not
/// copy itself over on one unlucky insert).
#[derive(Debug)]
struct Slab<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self { chunks: Vec::new(), len: 0 }
    }
}

const CHUNK: usize = 1_024;

impl<T> Slab<T> {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, at: usize) -> Option<&T> {
        self.chunks.get(at / CHUNK)?.get(at % CHUNK)
    }

    fn get_mut(&mut self, at: usize) -> Option<&mut T> {
        self.chunks.get_mut(at / CHUNK)?.get_mut(at % CHUNK)
    }

    fn push(&mut self, record: T) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(record),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(record);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

/// A token id as an index key: the 128 bits of an id the service drew (`tok_` and 32 hex
/// digits), compared without reaching for the stored text; any other id as its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum IdKey {
    Bits(u128),
    Text(TokenId),
}

impl IdKey {
    fn of(id: &TokenId) -> Self {
        id.bits().map_or_else(|| Self::Text(id.clone()), Self::Bits)
    }
}

impl Shard {
    fn get(&self, id: &TokenId) -> Option<&TokenRecord> {
        self.by_id.get(&IdKey::of(id)).and_then(|&at| self.records.get(at as usize))
    }

    fn get_mut(&mut self, id: &TokenId) -> Option<&mut TokenRecord> {
        let at = *self.by_id.get(&IdKey::of(id))?;
        self.records.get_mut(at as usize)
    }
}

/// The in-memory store: records in slabs of 16 independently locked shards, with indexes by
/// number (the number as an integer, to the record's slot, in 16 shards of its own), by
/// fingerprint and by device. Checking a cryptogram finds its record by number in two probes,
/// with no id hashed or compared; a compare-and-set locks one shard for the moment of the swap.
#[derive(Debug, Default)]
pub struct InMemoryTokenStore {
    shards: [Padded<RwLock<Shard>>; SHARDS],
    by_number: [Padded<RwLock<HashMap<u128, Slot>>>; SHARDS],
    by_fingerprint: RwLock<HashMap<Fingerprint, Vec<TokenId>>>,
    by_device: RwLock<HashMap<DeviceId, Vec<TokenId>>>,
}

impl InMemoryTokenStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read_unpoisoned().records.len()).sum()
    }

    /// Whether it holds none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard_of(id: &TokenId) -> usize {
        let mut h = DefaultHasher::new();
        id.hash(&mut h);
        (h.finish() % SHARDS as u64) as usize
    }

    fn shard(&self, id: &TokenId) -> &RwLock<Shard> {
        #[expect(clippy::indexing_slicing, reason = "shard_of is below SHARDS, the array's length")]
        &self.shards[Self::shard_of(id)].0
    }

    fn numbers(&self, key: u128) -> &RwLock<HashMap<u128, Slot>> {
        // The low digits vary most.
        #[expect(clippy::indexing_slicing, reason = "reduced modulo SHARDS, the array's length")]
        &self.by_number[(key % SHARDS as u128) as usize].0
    }

    /// Where the record with this number lies: its shard's lock and its slot there.
    fn locate(&self, number: &TokenNumber) -> Option<(&RwLock<Shard>, usize)> {
        let key = number.key();
        let slot = *self.numbers(key).read_unpoisoned().get(&key)?;
        Some((&self.shards.get(usize::from(slot.shard))?.0, slot.at as usize))
    }

    fn records(&self, ids: Option<&Vec<TokenId>>) -> Vec<TokenRecord> {
        ids.into_iter()
            .flatten()
            .filter_map(|id| self.shard(id).read_unpoisoned().get(id).cloned())
            .collect()
    }
}

/// Replaces the record in `shard` if it is at `expected_version`; returns the fingerprint it
/// had.
fn swap(
    shard: &RwLock<Shard>,
    expected_version: u64,
    record: TokenRecord,
) -> Result<Fingerprint, StoreError> {
    let mut shard = shard.write_unpoisoned();
    let stored = shard.get_mut(&record.id).ok_or(StoreError::Missing)?;
    if stored.version != expected_version {
        return Err(StoreError::Conflict);
    }
    let old = stored.fingerprint;
    *stored = record;
    Ok(old)
}

impl TokenStore for InMemoryTokenStore {
    fn insert(&self, record: TokenRecord) -> Result<(), StoreError> {
        let key = record.number.key();
        let (fingerprint, device, token) = {
            // Lock order: the number's shard, then the record's.
            let mut numbers = self.numbers(key).write_unpoisoned();
            let Entry::Vacant(number) = numbers.entry(key) else {
                return Err(StoreError::Duplicate);
            };
            let index = Self::shard_of(&record.id);
            let mut shard = self.shard(&record.id).write_unpoisoned();
            let id = IdKey::of(&record.id);
            if shard.by_id.contains_key(&id) {
                return Err(StoreError::Duplicate);
            }
            let at = u32::try_from(shard.records.len()).map_err(|_| StoreError::Conflict)?;
            number.insert(Slot { shard: u8::try_from(index).unwrap_or(0), at });
            shard.by_id.insert(id, at);
            // What the other indexes need, then the record itself moves into its slot.
            let (fingerprint, device, token) =
                (record.fingerprint, record.domain.device.clone(), record.id.clone());
            shard.records.push(record);
            (fingerprint, device, token)
        };
        self.by_fingerprint.write_unpoisoned().entry(fingerprint).or_default().push(token.clone());
        self.by_device.write_unpoisoned().entry(device).or_default().push(token);
        Ok(())
    }

    fn get(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.shard(id).read_unpoisoned().get(id).cloned())
    }

    /// Under the shard's read lock: no copy of the record is made.
    fn view(&self, id: &TokenId, read: &mut dyn FnMut(&TokenRecord)) -> Result<bool, StoreError> {
        let shard = self.shard(id).read_unpoisoned();
        let record = shard.get(id);
        if let Some(record) = record {
            read(record);
        }
        Ok(record.is_some())
    }

    /// By number, straight to the record's slot: no id hashed or compared but the record's own.
    fn view_token(
        &self,
        id: &TokenId,
        number: &TokenNumber,
        read: &mut dyn FnMut(&TokenRecord),
    ) -> Result<bool, StoreError> {
        if let Some((shard, at)) = self.locate(number) {
            let shard = shard.read_unpoisoned();
            if let Some(record) = shard.records.get(at).filter(|r| r.id == *id) {
                read(record);
                return Ok(true);
            }
        }
        self.view(id, read)
    }

    fn get_by_number(&self, number: &TokenNumber) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self
            .locate(number)
            .and_then(|(shard, at)| shard.read_unpoisoned().records.get(at).cloned()))
    }

    /// Under the record's shard lock, in place: no copy of the record is made, no id hashed.
    fn spend_by_number(
        &self,
        number: &TokenNumber,
        decide: &mut dyn FnMut(&TokenRecord) -> Option<Spend>,
    ) -> Result<Option<TokenId>, StoreError> {
        let Some((shard, at)) = self.locate(number) else { return Ok(None) };
        let mut shard = shard.write_unpoisoned();
        let Some(record) = shard.records.get_mut(at) else { return Ok(None) };
        if let Some(spend) = decide(record) {
            spend.apply(record)?;
        }
        Ok(Some(record.id.clone()))
    }

    fn number_taken(&self, number: &TokenNumber) -> Result<bool, StoreError> {
        Ok(self.locate(number).is_some())
    }

    fn by_fingerprint(&self, fingerprint: &Fingerprint) -> Result<Vec<TokenRecord>, StoreError> {
        let ids = self.by_fingerprint.read_unpoisoned().get(fingerprint).cloned();
        Ok(self.records(ids.as_ref()))
    }

    fn by_device(&self, device: &DeviceId) -> Result<Vec<TokenRecord>, StoreError> {
        let ids = self.by_device.read_unpoisoned().get(device).cloned();
        Ok(self.records(ids.as_ref()))
    }

    fn compare_and_set(
        &self,
        expected_version: u64,
        record: TokenRecord,
    ) -> Result<(), StoreError> {
        if expected_version.checked_add(1) != Some(record.version) {
            return Err(StoreError::Conflict);
        }
        if record.status == TokenStatus::Deleted {
            // A deleted token leaves the indexes (lock order: indexes, then shard).
            let mut fingerprints = self.by_fingerprint.write_unpoisoned();
            let mut devices = self.by_device.write_unpoisoned();
            let (id, device) = (record.id.clone(), record.domain.device.clone());
            let old_fingerprint = swap(self.shard(&id), expected_version, record)?;
            for (index, key) in [(&mut *fingerprints, old_fingerprint)] {
                if let Some(ids) = index.get_mut(&key) {
                    ids.retain(|other| *other != id);
                    if ids.is_empty() {
                        index.remove(&key);
                    }
                }
            }
            if let Some(ids) = devices.get_mut(&device) {
                ids.retain(|other| *other != id);
                if ids.is_empty() {
                    devices.remove(&device);
                }
            }
            return Ok(());
        }
        let fingerprint_changes = self
            .shard(&record.id)
            .read_unpoisoned()
            .get(&record.id)
            .is_some_and(|stored| stored.fingerprint != record.fingerprint);
        if !fingerprint_changes {
            // The common case (every cryptogram): one shard locked for the swap, nothing else.
            return swap(self.shard(&record.id), expected_version, record).map(drop);
        }
        // A reissued card: hold the fingerprint index across the swap so that the index always
        // matches the stored records (lock order: index, then shard).
        let mut index = self.by_fingerprint.write_unpoisoned();
        let (id, new_fingerprint) = (record.id.clone(), record.fingerprint);
        let old_fingerprint = swap(self.shard(&id), expected_version, record)?;
        if let Some(ids) = index.get_mut(&old_fingerprint) {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                index.remove(&old_fingerprint);
            }
        }
        index.entry(new_fingerprint).or_default().push(id);
        Ok(())
    }

    fn ids(&self) -> Result<Vec<TokenId>, StoreError> {
        Ok(self
            .shards
            .iter()
            .flat_map(|s| {
                s.read_unpoisoned().records.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
            })
            .collect())
    }
}

impl<S: TokenStore + ?Sized> TokenStore for std::sync::Arc<S> {
    fn insert(&self, record: TokenRecord) -> Result<(), StoreError> {
        (**self).insert(record)
    }
    fn get(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        (**self).get(id)
    }
    fn view(&self, id: &TokenId, read: &mut dyn FnMut(&TokenRecord)) -> Result<bool, StoreError> {
        (**self).view(id, read)
    }
    fn view_token(
        &self,
        id: &TokenId,
        number: &TokenNumber,
        read: &mut dyn FnMut(&TokenRecord),
    ) -> Result<bool, StoreError> {
        (**self).view_token(id, number, read)
    }
    fn get_by_number(&self, number: &TokenNumber) -> Result<Option<TokenRecord>, StoreError> {
        (**self).get_by_number(number)
    }
    fn number_taken(&self, number: &TokenNumber) -> Result<bool, StoreError> {
        (**self).number_taken(number)
    }
    fn by_fingerprint(&self, fingerprint: &Fingerprint) -> Result<Vec<TokenRecord>, StoreError> {
        (**self).by_fingerprint(fingerprint)
    }
    fn by_device(&self, device: &DeviceId) -> Result<Vec<TokenRecord>, StoreError> {
        (**self).by_device(device)
    }
    fn compare_and_set(
        &self,
        expected_version: u64,
        record: TokenRecord,
    ) -> Result<(), StoreError> {
        (**self).compare_and_set(expected_version, record)
    }
    fn spend_by_number(
        &self,
        number: &TokenNumber,
        decide: &mut dyn FnMut(&TokenRecord) -> Option<Spend>,
    ) -> Result<Option<TokenId>, StoreError> {
        (**self).spend_by_number(number, decide)
    }
    fn ids(&self) -> Result<Vec<TokenId>, StoreError> {
        (**self).ids()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slab_keeps_every_record_where_it_put_it_across_chunks() {
        let mut slab = Slab::default();
        for i in 0..(2 * CHUNK + 3) {
            slab.push(i);
        }
        assert_eq!(slab.len(), 2 * CHUNK + 3);
        assert_eq!(slab.chunks.len(), 3);
        assert!(slab.chunks.iter().all(|c| c.capacity() == CHUNK), "no chunk ever regrows");
        for at in [0, CHUNK - 1, CHUNK, 2 * CHUNK + 2] {
            assert_eq!(slab.get(at), Some(&at));
        }
        assert!(slab.get(2 * CHUNK + 3).is_none());
        *slab.get_mut(CHUNK).unwrap() = 7;
        assert_eq!(slab.iter().filter(|&&r| r == 7).count(), 2, "slots 7 and CHUNK");
    }

    #[test]
    fn drawn_ids_are_keyed_by_their_bits_and_others_by_their_text() {
        let drawn = TokenId::from_bits(0xfeed);
        assert_eq!(IdKey::of(&drawn), IdKey::Bits(0xfeed));
        for other in [
            "tok_a",
            "tok_0000000000000000000000000000FEED",
            "tok_00000000000000000000000000000feed0",
        ] {
            let id: TokenId = other.parse().unwrap();
            assert_eq!(IdKey::of(&id), IdKey::Text(id.clone()), "{other}");
        }
        // Upper- and lower-case hex are two ids, and two keys.
        let upper: TokenId = "tok_0000000000000000000000000000FEED".parse().unwrap();
        assert_ne!(IdKey::of(&upper), IdKey::of(&drawn));
    }
}

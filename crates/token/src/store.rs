//! The token store port and its in-memory implementation.

use cloudcard_core::sync::{Padded, RwLockExt};
use std::collections::HashMap;
use std::collections::hash_map::{DefaultHasher, Entry};
use std::hash::{Hash, Hasher, RandomState};
use std::sync::{RwLock, RwLockWriteGuard};

use cloudcard_core::{DeviceId, TokenId};

use chrono::{DateTime, Utc};
use cloudcard_core::{Amount, MerchantId};

use crate::cryptogram::ReplayWindow;
use crate::keys::Sealed;
use crate::luk::{LukState, PreparedLuk};
use crate::record::{Fingerprint, Last4, Par, TokenRecord};
use crate::{ChannelSet, Domain, StoreError, TokenNumber, TokenStatus};

mod numbers;

use numbers::NumberIndex;

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
        let TokenRecord { replay, luk, updated_at, version, .. } = record;
        self.apply_to(replay, luk, updated_at, version)
    }

    /// The spend written into the parts of a record it changes.
    fn apply_to(
        self,
        replay: &mut ReplayWindow,
        luk: &mut LukState,
        updated_at: &mut DateTime<Utc>,
        version: &mut u64,
    ) -> Result<(), StoreError> {
        *version = version.checked_add(1).ok_or(StoreError::Conflict)?;
        *replay = self.replay;
        luk.used_count = self.used_count;
        luk.used_amount = self.used_amount;
        *updated_at = self.at;
        Ok(())
    }
}

/// What a cryptogram's check reads of its token's record, read where the record lies: a store
/// that keeps records in memory hands it out without copying the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendCheck<'a> {
    /// The token.
    pub id: &'a TokenId,
    /// Its status.
    pub status: TokenStatus,
    /// The device it lives on.
    pub device: &'a DeviceId,
    /// The channels it may pay through.
    pub channels: crate::ChannelSet,
    /// The one merchant it may pay, if any.
    pub merchant: Option<&'a MerchantId>,
    /// The most one payment may be.
    pub max_amount: Option<Amount>,
    /// When the token stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// The key in use.
    pub luk: &'a LukState,
    /// The replay window.
    pub replay: ReplayWindow,
}

impl<'a> From<&'a TokenRecord> for SpendCheck<'a> {
    fn from(record: &'a TokenRecord) -> Self {
        let Domain { device, channels, merchant, max_amount, expires_at } = &record.domain;
        Self {
            id: &record.id,
            status: record.status,
            device,
            channels: *channels,
            merchant: merchant.as_ref(),
            max_amount: *max_amount,
            expires_at: *expires_at,
            luk: &record.luk,
            replay: record.replay,
        }
    }
}

/// How many times [`TokenStore::spend_by_number`]'s default rereads a record that changed.
const SPEND_ATTEMPTS: usize = 16;

/// What [`TokenStore::provision`] did with a card's new token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// It went in, under this account reference: that of the card's tokens already vaulted,
    /// or its own if there were none.
    Added(Par),
    /// A live token of the card is on the record's device already: nothing went in.
    OnDevice,
}

impl Admission {
    /// How a card's new token with its own reference `own` is admitted beside the card's
    /// tokens already vaulted, each given as its status, whether it is on the new token's
    /// device, and its reference: kept out if one is live on that device, else added under the
    /// first one's reference, or under `own` if there are none. Every store provisions by this
    /// rule.
    pub(crate) fn beside(
        own: Par,
        siblings: impl IntoIterator<Item = (TokenStatus, bool, Par)>,
    ) -> Self {
        let mut first = None;
        for (status, on_device, par) in siblings {
            if on_device && status != TokenStatus::Deleted {
                return Self::OnDevice;
            }
            first = first.or(Some(par));
        }
        Self::Added(first.unwrap_or(own))
    }

    /// [`Self::beside`] for `record` and its card's tokens as records.
    pub(crate) fn among(record: &TokenRecord, siblings: &[TokenRecord]) -> Self {
        let device = &record.domain.device;
        let siblings = siblings.iter().map(|r| (r.status, r.domain.device == *device, r.par));
        Self::beside(record.par, siblings)
    }
}

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

    /// Adds a card's new token, as provisioning does, in one step. Unless a live token of the
    /// same card (the record's fingerprint) is on the record's device already, the record goes
    /// in under the account reference of the card's tokens (the first's), or under its own if
    /// the card has none; `number` is the fingerprint of the record's number, drawn just now,
    /// made as the records' fingerprints are, and a number that is some vaulted card's is
    /// refused: a token number never doubles as a card number. The default reads the card's
    /// tokens, then inserts; the in-memory store does it under one hold and [`KvTokenStore`]
    /// in one write transaction, so two calls at once never put the same card on one device
    /// twice.
    ///
    /// [`KvTokenStore`]: crate::KvTokenStore
    ///
    /// # Errors
    ///
    /// [`StoreError::Duplicate`] if the id or the number is taken, or is a vaulted card's.
    fn provision(
        &self,
        mut record: TokenRecord,
        number: &Fingerprint,
    ) -> Result<Admission, StoreError> {
        let siblings = self.by_fingerprint(&record.fingerprint)?;
        let Admission::Added(par) = Admission::among(&record, &siblings) else {
            return Ok(Admission::OnDevice);
        };
        if !self.by_fingerprint(number)?.is_empty() {
            return Err(StoreError::Duplicate);
        }
        record.par = par;
        self.insert(record)?;
        Ok(Admission::Added(par))
    }

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

    /// Reads what opening a token just verified takes of its record, its status and its sealed
    /// card, found as [`Self::view_token`] finds it (the default: through it). Whether there
    /// was one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the store fails.
    fn view_sealed(
        &self,
        id: &TokenId,
        number: &TokenNumber,
        read: &mut dyn FnMut(TokenStatus, &Sealed),
    ) -> Result<bool, StoreError> {
        self.view_token(id, number, &mut |record| read(record.status, &record.sealed_pan))
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

    /// [`Self::spend_by_number`], where `decide` reads what a check needs of the record (no
    /// copy of it, where the store can hand that out) and the token's limited-use key prepared
    /// where the store keeps one beside the record: `decide` uses it, or derives the key and
    /// may keep it there for the token's next cryptogram. The default keeps none (a database
    /// row holds no key): `decide` finds it empty on each call.
    ///
    /// # Errors
    ///
    /// As [`Self::spend_by_number`].
    fn spend_by_number_keyed(
        &self,
        number: &TokenNumber,
        decide: &mut dyn FnMut(SpendCheck<'_>, &mut PreparedLuk) -> Option<Spend>,
    ) -> Result<Option<TokenId>, StoreError> {
        let mut prepared = PreparedLuk::default();
        self.spend_by_number(number, &mut |record| decide(record.into(), &mut prepared))
    }

    /// Every token id, for batch work such as re-wrapping.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the store fails.
    fn ids(&self) -> Result<Vec<TokenId>, StoreError>;
}

/// A record as this store keeps it, with its token's limited-use key prepared once a cryptogram
/// was checked under it (88 bytes). A token's limits beyond its device and its channels (one
/// merchant, a most per payment, an expiry) are rare, so they are boxed and take 8 bytes when
/// there are none: 424 bytes a record and its key, where the record alone takes 400.
///
/// Laid out in the order written (`repr(C)`): first what checking a cryptogram reads and
/// writes (the id, the device, the key state and its prepared key, the replay window, the
/// version, the limits, the status and the channels: 255 bytes, four or five cache lines as
/// the record falls), then what it never touches (the sealed card, the number, the
/// fingerprint and the account reference). Left to the compiler, the two were interleaved,
/// and a check in a large vault read all seven of a record's lines from memory.
#[derive(Debug)]
#[repr(C)]
struct Stored {
    // Read and written by a cryptogram's check.
    id: TokenId,
    device: DeviceId,
    luk: LukState,
    prepared: PreparedLuk,
    replay: ReplayWindow,
    version: u64,
    limits: Option<Box<Limits>>,
    updated_at: DateTime<Utc>,
    status: TokenStatus,
    channels: ChannelSet,
    // Not read by a check, in an order that leaves no padding.
    pan_last4: Last4,
    par: Par,
    sealed_pan: Sealed,
    created_at: DateTime<Utc>,
    number: TokenNumber,
    fingerprint: Fingerprint,
}

const _: () = assert!(size_of::<Stored>() <= 424, "a stored record stays 424 bytes");
const _: () = assert!(
    core::mem::offset_of!(Stored, pan_last4) <= 256,
    "what a check reads stays in a record's first 256 bytes"
);

/// A domain's rare limits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Limits {
    merchant: Option<MerchantId>,
    max_amount: Option<Amount>,
    expires_at: Option<DateTime<Utc>>,
}

impl From<TokenRecord> for Stored {
    fn from(record: TokenRecord) -> Self {
        let TokenRecord {
            id,
            number,
            status,
            domain: Domain { device, channels, merchant, max_amount, expires_at },
            fingerprint,
            par,
            sealed_pan,
            pan_last4,
            luk,
            replay,
            created_at,
            updated_at,
            version,
        } = record;
        let limits = Limits { merchant, max_amount, expires_at };
        let none = Limits { merchant: None, max_amount: None, expires_at: None };
        Self {
            id,
            number,
            status,
            device,
            channels,
            limits: (limits != none).then(|| Box::new(limits)),
            fingerprint,
            par,
            sealed_pan,
            pan_last4,
            luk,
            replay,
            created_at,
            updated_at,
            version,
            prepared: PreparedLuk::default(),
        }
    }
}

impl Stored {
    /// The record it keeps.
    fn record(&self) -> TokenRecord {
        let limits = self.limits.as_deref();
        TokenRecord {
            id: self.id.clone(),
            number: self.number.clone(),
            status: self.status,
            domain: Domain {
                device: self.device.clone(),
                channels: self.channels,
                merchant: limits.and_then(|l| l.merchant.clone()),
                max_amount: limits.and_then(|l| l.max_amount),
                expires_at: limits.and_then(|l| l.expires_at),
            },
            fingerprint: self.fingerprint,
            par: self.par,
            sealed_pan: self.sealed_pan.clone(),
            pan_last4: self.pan_last4,
            luk: self.luk,
            replay: self.replay,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        }
    }

    /// What a cryptogram's check reads of it, where it lies, and its prepared key beside it.
    fn check(&mut self) -> (SpendCheck<'_>, &mut PreparedLuk) {
        let Self { id, status, device, channels, limits, luk, replay, prepared, .. } = self;
        let limits = limits.as_deref();
        let check = SpendCheck {
            id,
            status: *status,
            device,
            channels: *channels,
            merchant: limits.and_then(|l| l.merchant.as_ref()),
            max_amount: limits.and_then(|l| l.max_amount),
            expires_at: limits.and_then(|l| l.expires_at),
            luk,
            replay: *replay,
        };
        (check, prepared)
    }

    /// Keeps a spend: the parts of the record it changes, in place.
    fn spend(&mut self, spend: Spend) -> Result<(), StoreError> {
        spend.apply_to(&mut self.replay, &mut self.luk, &mut self.updated_at, &mut self.version)
    }
}

/// Shards of records and of each index, as many as a slot's byte can name. Two threads
/// checking cards take the same lock as often as their cards share a shard: with 64 shards
/// (and two locks a check, the number index's apart from the records'), two threads each
/// checking 64 cache-hot cards of their own did 1.5 times one thread's work; with 256, 1.75
/// times; with 256 and one lock a check, 1.8 times.
const SHARDS: usize = 256;
const _: () = assert!(SHARDS <= 256, "a slot names its shard in a byte");

/// A table by an integer key that is already random or a keyed hash: a drawn token number, an
/// id's random bits, a digest of a fingerprint or of a phone's id.
type IntMap<V> = cloudcard_core::RandomKeyMap<u64, V>;

/// Where a record lies: its shard and its slot there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    shard: u8,
    at: u32,
}

/// One shard's records, in a slab, and the index of their numbers (as integers) to their
/// slots: a record lies in its number's shard, so checking a cryptogram takes one lock. A
/// record never moves or leaves (a deleted token keeps its number taken), so its slot names it
/// for good.
#[derive(Debug, Default)]
struct Shard {
    records: Slab<Stored>,
    numbers: NumberIndex,
}

impl Shard {
    /// The record whose number is `key` (as [`TokenNumber::key`]).
    fn by_number(&self, key: u64) -> Option<&Stored> {
        self.records.get(self.numbers.get(key)? as usize)
    }

    fn by_number_mut(&mut self, key: u64) -> Option<&mut Stored> {
        let at = self.numbers.get(key)?;
        self.records.get_mut(at as usize)
    }

    /// The record at `at`, if it is that of `id`.
    fn holding(&self, at: u32, id: &TokenId) -> Option<&Stored> {
        self.records.get(at as usize).filter(|r| r.id == *id)
    }
}

/// One shard of the index of ids to slots. An id the service drew (`tok_` and 32 hex digits)
/// is found by the low 64 of its bits, with no text hashed or kept twice, and checked against
/// the record found; any other id, and a drawn one whose low bits another took first, by its
/// text.
#[derive(Debug, Default)]
struct IdIndex {
    drawn: IntMap<Slot>,
    named: HashMap<TokenId, Slot>,
}

/// Records in chunks that never move once made: adding one never copies the others (a
/// growing vault does not copy itself over on one unlucky insert). The first chunks are small
/// and each doubles, up to `CHUNK`, so a small vault does not hold room for thousands.
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

/// The first chunk's size, and the largest's.
const FIRST_CHUNK: usize = 16;
const CHUNK: usize = 1_024;
/// How many chunks double before they reach `CHUNK`, and how many slots they hold.
const GROWING: usize = (CHUNK / FIRST_CHUNK).trailing_zeros() as usize;
const IN_GROWING: usize = FIRST_CHUNK * ((1 << GROWING) - 1);

impl<T> Slab<T> {
    fn len(&self) -> usize {
        self.len
    }

    /// The chunk a slot is in, and where in it.
    fn place(at: usize) -> (usize, usize) {
        if at < IN_GROWING {
            // Chunk k starts at FIRST_CHUNK × (2^k − 1).
            let k = (at / FIRST_CHUNK + 1).ilog2() as usize;
            (k, at - FIRST_CHUNK * ((1 << k) - 1))
        } else {
            let past = at - IN_GROWING;
            (GROWING + past / CHUNK, past % CHUNK)
        }
    }

    /// How many slots chunk `k` holds.
    const fn chunk_size(k: usize) -> usize {
        if k < GROWING { FIRST_CHUNK << k } else { CHUNK }
    }

    fn get(&self, at: usize) -> Option<&T> {
        let (chunk, i) = Self::place(at);
        self.chunks.get(chunk)?.get(i)
    }

    fn get_mut(&mut self, at: usize) -> Option<&mut T> {
        let (chunk, i) = Self::place(at);
        self.chunks.get_mut(chunk)?.get_mut(i)
    }

    fn push(&mut self, record: T) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < chunk.capacity() => chunk.push(record),
            _ => {
                let mut chunk = Vec::with_capacity(Self::chunk_size(self.chunks.len()));
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

/// An id as the store finds it, read once: a drawn id by the low 64 of its random bits, any
/// other by its text.
#[derive(Clone, Copy)]
enum IdKey<'a> {
    Drawn(u64, &'a TokenId),
    Named(&'a TokenId),
}

impl<'a> IdKey<'a> {
    #[expect(clippy::cast_possible_truncation, reason = "the low 64 bits, kept on purpose")]
    fn of(id: &'a TokenId) -> Self {
        id.bits().map_or(Self::Named(id), |bits| Self::Drawn(bits as u64, id))
    }

    /// The shard of the id index it falls in.
    fn shard(self) -> u8 {
        let h = match self {
            // Drawn at random: any of its bits will do.
            Self::Drawn(low, _) => low,
            Self::Named(id) => {
                let mut h = DefaultHasher::new();
                id.hash(&mut h);
                h.finish()
            }
        };
        shard_byte(h)
    }
}

impl IdIndex {
    /// Where the record of `key` lies, if it is anywhere: for a drawn id, the slot its low bits
    /// name, which may hold another's record (see [`Self::named`]).
    fn candidate(&self, key: IdKey<'_>) -> Option<Slot> {
        match key {
            IdKey::Drawn(low, _) => self.drawn.get(&low).copied(),
            IdKey::Named(id) => self.named.get(id).copied(),
        }
    }

    /// Where the record of `id` lies if it is kept by its text.
    fn named(&self, id: &TokenId) -> Option<Slot> {
        self.named.get(id).copied()
    }

    /// Whether `key`'s id is free, `holds` telling whether the record in a slot has it (a
    /// drawn id's low bits may be another's, whose record says whose they are).
    fn free(&self, key: IdKey<'_>, holds: impl FnOnce(Slot) -> bool) -> bool {
        match key {
            IdKey::Drawn(low, id) => match self.drawn.get(&low) {
                None => true,
                Some(&taken) => !holds(taken) && !self.named.contains_key(id),
            },
            IdKey::Named(id) => !self.named.contains_key(id),
        }
    }

    /// Gives a free id (as [`Self::free`] found it, under the same lock) the slot `at`.
    fn claim(&mut self, key: IdKey<'_>, at: Slot) {
        match key {
            IdKey::Drawn(low, id) => match self.drawn.entry(low) {
                Entry::Vacant(slot) => {
                    slot.insert(at);
                }
                Entry::Occupied(_) => {
                    self.named.insert(id.clone(), at);
                }
            },
            IdKey::Named(id) => {
                self.named.insert(id.clone(), at);
            }
        }
    }
}

/// A secondary index (by fingerprint, by device): a 64-bit digest of the key to the slots of
/// its records. Two keys may share a digest; a reader keeps only the records that match.
///
/// Most keys (a card, a phone) have one record, so an entry is the digest and one word (16
/// bytes): the slot itself, or, with the top bit set, where in `lists` the slots of a key with
/// several lie. A list left empty is reused by the next key that needs one.
#[derive(Debug, Default)]
struct SlotIndex {
    entries: IntMap<u64>,
    lists: Vec<Vec<Slot>>,
    free: Vec<usize>,
}

/// The top bit of an entry: the rest names a list, not a slot.
const LIST: u64 = 1 << 63;

impl Slot {
    fn word(self) -> u64 {
        (u64::from(self.shard) << 32) | u64::from(self.at)
    }

    #[expect(clippy::cast_possible_truncation, reason = "the byte and the word put in by `word`")]
    const fn of_word(word: u64) -> Self {
        Self { shard: (word >> 32) as u8, at: word as u32 }
    }
}

impl SlotIndex {
    /// What the index holds under `key`: the word that [`Self::add_to`] takes.
    fn entry(&self, key: u64) -> Option<u64> {
        self.entries.get(&key).copied()
    }

    fn add(&mut self, key: u64, slot: Slot) {
        self.add_to(key, self.entry(key), slot);
    }

    /// Adds `slot` under `key`, whose entry was `found` (read under the same lock).
    fn add_to(&mut self, key: u64, found: Option<u64>, slot: Slot) {
        let Some(word) = found else {
            self.entries.insert(key, slot.word());
            return;
        };
        if word & LIST != 0 {
            if let Some(list) =
                usize::try_from(word & !LIST).ok().and_then(|i| self.lists.get_mut(i))
            {
                list.push(slot);
            }
            return;
        }
        let list = vec![Slot::of_word(word), slot];
        let at = match self.free.pop() {
            Some(at) => {
                if let Some(reused) = self.lists.get_mut(at) {
                    *reused = list;
                }
                at
            }
            None => {
                self.lists.push(list);
                self.lists.len() - 1
            }
        };
        self.entries.insert(key, LIST | at as u64);
    }

    fn remove(&mut self, key: u64, slot: Slot) {
        let Some(&word) = self.entries.get(&key) else { return };
        if word & LIST == 0 {
            if word == slot.word() {
                self.entries.remove(&key);
            }
            return;
        }
        let Some((at, list)) =
            usize::try_from(word & !LIST).ok().and_then(|at| Some((at, self.lists.get_mut(at)?)))
        else {
            return;
        };
        list.retain(|s| *s != slot);
        // One slot left goes back into its entry; the list is freed for another key.
        if let [last] = list[..] {
            self.entries.insert(key, last.word());
        } else if !list.is_empty() {
            return;
        } else {
            self.entries.remove(&key);
        }
        *list = Vec::new();
        self.free.push(at);
    }

    fn slots(&self, key: u64) -> Vec<Slot> {
        self.entries.get(&key).map_or_else(Vec::new, |&word| self.slots_in(word).collect())
    }

    /// The slots an entry names (as [`Self::entry`] read it).
    fn slots_in(&self, word: u64) -> impl Iterator<Item = Slot> + '_ {
        let (one, list) = if word & LIST == 0 {
            (Some(Slot::of_word(word)), None)
        } else {
            (None, usize::try_from(word & !LIST).ok().and_then(|at| self.lists.get(at)))
        };
        one.into_iter().chain(list.into_iter().flatten().copied())
    }
}

/// A fingerprint's digest: its first 8 bytes (it is a keyed MAC, so they are as good as any).
fn fingerprint_key(fingerprint: &Fingerprint) -> u64 {
    let [a, b, c, d, e, f, g, h, ..] = fingerprint.0;
    u64::from_le_bytes([a, b, c, d, e, f, g, h])
}

/// A table split into independently locked shards by its integer keys.
type Sharded<T> = [Padded<RwLock<T>>; SHARDS];

/// Where among the shards `key` falls.
#[expect(clippy::cast_possible_truncation, reason = "reduced modulo SHARDS, at most 256")]
const fn shard_index(key: u64) -> usize {
    (key % SHARDS as u64) as usize
}

/// Where among the shards `key` falls, as a slot names it.
#[expect(clippy::cast_possible_truncation, reason = "a shard's index, below SHARDS (256)")]
const fn shard_byte(key: u64) -> u8 {
    shard_index(key) as u8
}

/// The shard of `shards` that `key` falls in.
fn shard_of<T>(shards: &Sharded<T>, key: u64) -> &RwLock<T> {
    #[expect(clippy::indexing_slicing, reason = "reduced modulo SHARDS, the array's length")]
    &shards[shard_index(key)].0
}

/// Write guards on the shards of a sharded index that two keys fall in: one guard when they
/// share a shard, else two, the lower shard's taken first (the lock order among an index's
/// shards).
struct TwoShards<'a> {
    low: RwLockWriteGuard<'a, SlotIndex>,
    high: Option<RwLockWriteGuard<'a, SlotIndex>>,
    low_at: usize,
}

impl<'a> TwoShards<'a> {
    fn lock(shards: &'a Sharded<SlotIndex>, a: u64, b: u64) -> Self {
        let (a_at, b_at) = (shard_index(a), shard_index(b));
        let (low, high) = if a_at <= b_at { (a, b) } else { (b, a) };
        let low_guard = shard_of(shards, low).write_unpoisoned();
        let high = (a_at != b_at).then(|| shard_of(shards, high).write_unpoisoned());
        Self { low: low_guard, high, low_at: a_at.min(b_at) }
    }

    /// The shard `key` falls in (one of the two keys').
    fn get(&self, key: u64) -> &SlotIndex {
        match &self.high {
            Some(high) if shard_index(key) != self.low_at => high,
            _ => &self.low,
        }
    }

    fn get_mut(&mut self, key: u64) -> &mut SlotIndex {
        match &mut self.high {
            Some(high) if shard_index(key) != self.low_at => high,
            _ => &mut self.low,
        }
    }
}

/// The in-memory store: records in slabs of 256 independently locked shards by their numbers,
/// each shard with the index of its records' numbers (as integers) to their slots, and indexes
/// by id, by fingerprint and by device (digests to slots), each in 256 shards of its own.
/// Checking a cryptogram finds its record by number in two probes under its shard's one lock,
/// with no id hashed or compared; a compare-and-set locks one shard for the moment of the swap.
/// No index holds a copy of a drawn id or a key's text, and none is one table: a table that
/// doubles copies a 256th of its index, so a growing vault never holds up a caller for long.
///
/// Lock order: the fingerprint index's shards (the lower first), the device index's, the id
/// index's, then one record shard at a time; no caller holds two record shards.
pub struct InMemoryTokenStore {
    shards: Sharded<Shard>,
    by_id: Sharded<IdIndex>,
    by_fingerprint: Sharded<SlotIndex>,
    by_device: Sharded<SlotIndex>,
    /// Keys the device digests, so that no one can choose device ids that share one.
    devices: RandomState,
}

/// How many records, not what they hold.
impl std::fmt::Debug for InMemoryTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryTokenStore").field("records", &self.len()).finish_non_exhaustive()
    }
}

impl Default for InMemoryTokenStore {
    fn default() -> Self {
        Self {
            shards: std::array::from_fn(|_| Padded::default()),
            by_id: std::array::from_fn(|_| Padded::default()),
            by_fingerprint: std::array::from_fn(|_| Padded::default()),
            by_device: std::array::from_fn(|_| Padded::default()),
            devices: RandomState::new(),
        }
    }
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

    fn shard_at(&self, index: u8) -> Option<&RwLock<Shard>> {
        self.shards.get(usize::from(index)).map(|s| &s.0)
    }

    /// The shard of the id index that `key` falls in.
    fn id_shard(&self, key: IdKey<'_>) -> &RwLock<IdIndex> {
        shard_of(&self.by_id, u64::from(key.shard()))
    }

    /// The shard of the record whose number is `key` (as [`TokenNumber::key`]).
    fn number_shard(&self, key: u64) -> &RwLock<Shard> {
        shard_of(&self.shards, key)
    }

    /// `read` of the record with this id and of its slot, under its shard's read lock (the id
    /// index's lock is let go first: a slot, once found, names its record for good).
    fn read_by_id<R>(&self, id: &TokenId, read: impl FnOnce(Slot, &Stored) -> R) -> Option<R> {
        let key = IdKey::of(id);
        let index = self.id_shard(key);
        let candidate = index.read_unpoisoned().candidate(key)?;
        let shard = self.shard_at(candidate.shard)?.read_unpoisoned();
        if let Some(stored) = shard.holding(candidate.at, id) {
            return Some(read(candidate, stored));
        }
        drop(shard);
        // A drawn id whose low bits another took first is kept by its text.
        let slot = index.read_unpoisoned().named(id).filter(|_| matches!(key, IdKey::Drawn(..)))?;
        let shard = self.shard_at(slot.shard)?.read_unpoisoned();
        shard.holding(slot.at, id).map(|r| read(slot, r))
    }

    /// Whether the record in `slot` is that of `id`.
    fn holds(&self, slot: Slot, id: &TokenId) -> bool {
        self.shard_at(slot.shard)
            .is_some_and(|shard| shard.read_unpoisoned().holding(slot.at, id).is_some())
    }

    /// `read` of the record of a token that both `id` and `number` name, found by number (a
    /// number that names another record is not trusted: the record is then found by its id).
    fn read_token<R>(
        &self,
        id: &TokenId,
        number: &TokenNumber,
        read: impl FnOnce(&Stored) -> R,
    ) -> Option<R> {
        let key = number.key();
        {
            let shard = self.number_shard(key).read_unpoisoned();
            if let Some(stored) = shard.by_number(key).filter(|r| r.id == *id) {
                return Some(read(stored));
            }
        }
        self.read_by_id(id, |_, stored| read(stored))
    }

    /// The slot of the record with this id (for good: records never move).
    fn slot_of(&self, id: &TokenId) -> Option<Slot> {
        self.read_by_id(id, |slot, _| slot)
    }

    fn device_key(&self, device: &DeviceId) -> u64 {
        cloudcard_core::keyed_hash(&self.devices, 0, device.as_bytes())
    }

    /// The records in `slots` that `keep` accepts.
    fn records(&self, slots: Vec<Slot>, keep: impl Fn(&Stored) -> bool) -> Vec<TokenRecord> {
        slots
            .into_iter()
            .filter_map(|slot| {
                let shard = self.shard_at(slot.shard)?.read_unpoisoned();
                shard.records.get(slot.at as usize).filter(|r| keep(r)).map(Stored::record)
            })
            .collect()
    }

    /// Spends on the record with this number under its shard's lock, as `decide` answers
    /// reading it in place; the record's id, or `None` if no token has this number.
    fn spend_in_place(
        &self,
        number: &TokenNumber,
        decide: impl FnOnce(&mut Stored) -> Option<Spend>,
    ) -> Result<Option<TokenId>, StoreError> {
        let key = number.key();
        let mut shard = self.number_shard(key).write_unpoisoned();
        let Some(stored) = shard.by_number_mut(key) else { return Ok(None) };
        if let Some(spend) = decide(stored) {
            stored.spend(spend)?;
        }
        Ok(Some(stored.id.clone()))
    }

    /// Replaces the record in `slot` if it is at `expected_version` and its fingerprint is
    /// `fingerprint`.
    fn swap(
        &self,
        slot: Slot,
        expected_version: u64,
        fingerprint: &Fingerprint,
        record: TokenRecord,
    ) -> Result<(), StoreError> {
        let mut shard = self.shard_at(slot.shard).ok_or(StoreError::Missing)?.write_unpoisoned();
        let stored = shard
            .records
            .get_mut(slot.at as usize)
            .filter(|stored| stored.id == record.id)
            .ok_or(StoreError::Missing)?;
        if stored.version != expected_version || stored.fingerprint != *fingerprint {
            return Err(StoreError::Conflict);
        }
        // The prepared key is a pure function of the token and its sequence: it stays.
        let prepared = core::mem::take(&mut stored.prepared);
        *stored = Stored { prepared, ..Stored::from(record) };
        Ok(())
    }

    /// Adds a new record, unless its id or number is taken. Given `drawn`, the digest of its
    /// number's fingerprint, it is a card's new token: refused if that digest is a vaulted
    /// card's (a digest another fingerprint shares refuses a number that was free: the service
    /// draws another), kept out if a live token of its card is on its device, and given the
    /// account reference of its card's tokens.
    fn add(&self, mut record: TokenRecord, drawn: Option<u64>) -> Result<Admission, StoreError> {
        let key = record.number.key();
        let (fingerprint, device) =
            (fingerprint_key(&record.fingerprint), self.device_key(&record.domain.device));
        let id = IdKey::of(&record.id);
        // The index shards first, in lock order, then every table read before any is written:
        // reads under one hold (`cloudcard_core::sync`).
        let mut fingerprints =
            TwoShards::lock(&self.by_fingerprint, fingerprint, drawn.unwrap_or(fingerprint));
        let mut devices = shard_of(&self.by_device, device).write_unpoisoned();
        let mut ids = self.id_shard(id).write_unpoisoned();
        let a_card_number = drawn.is_some_and(|card| fingerprints.get(card).entry(card).is_some());
        let (by_fingerprint, by_device) =
            (fingerprints.get(fingerprint).entry(fingerprint), devices.entry(device));
        if let (Some(_), Some(word)) = (drawn, by_fingerprint) {
            // The card has tokens (seldom): read them where they lie, one record shard at a
            // time, before the new record's is taken. None can join or leave the card while its
            // fingerprint's shard is held, and what is read of them (the status, live or
            // deleted for good, the device and the reference) does not change under it.
            let siblings = fingerprints.get(fingerprint).slots_in(word).filter_map(|slot| {
                let shard = self.shard_at(slot.shard)?.read_unpoisoned();
                let sibling = shard
                    .records
                    .get(slot.at as usize)
                    .filter(|r| r.fingerprint == record.fingerprint)?;
                Some((sibling.status, sibling.device == record.domain.device, sibling.par))
            });
            match Admission::beside(record.par, siblings) {
                Admission::Added(par) => record.par = par,
                Admission::OnDevice => return Ok(Admission::OnDevice),
            }
        }
        // An id already held is refused, by its low bits or by its text: a record that the low
        // bits name is read (one record shard at a time) before the new record's is taken.
        let id_free = ids.free(id, |slot| self.holds(slot, &record.id));
        let mut shard = self.number_shard(key).write_unpoisoned();
        let at = u32::try_from(shard.records.len()).map_err(|_| StoreError::Conflict)?;
        if a_card_number || !id_free || !shard.numbers.insert(key, at) {
            return Err(StoreError::Duplicate);
        }
        let slot = Slot { shard: shard_byte(key), at };
        let par = record.par;
        ids.claim(id, slot);
        shard.records.push(Stored::from(record));
        fingerprints.get_mut(fingerprint).add_to(fingerprint, by_fingerprint, slot);
        devices.add_to(device, by_device, slot);
        Ok(Admission::Added(par))
    }

    /// The fingerprint of the record in `slot`, as it is now.
    fn fingerprint_at(&self, slot: Slot) -> Option<Fingerprint> {
        let shard = self.shard_at(slot.shard)?.read_unpoisoned();
        shard.records.get(slot.at as usize).map(|stored| stored.fingerprint)
    }
}

impl TokenStore for InMemoryTokenStore {
    fn insert(&self, record: TokenRecord) -> Result<(), StoreError> {
        self.add(record, None).map(drop)
    }

    fn provision(
        &self,
        record: TokenRecord,
        number: &Fingerprint,
    ) -> Result<Admission, StoreError> {
        self.add(record, Some(fingerprint_key(number)))
    }

    fn get(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.read_by_id(id, |_, stored| stored.record()))
    }

    /// Under the shard's read lock: the record is made on the stack, nothing allocated.
    fn view(&self, id: &TokenId, read: &mut dyn FnMut(&TokenRecord)) -> Result<bool, StoreError> {
        Ok(self.read_by_id(id, |_, stored| read(&stored.record())).is_some())
    }

    /// By number, straight to the record's slot: no id hashed or compared but the record's own.
    fn view_token(
        &self,
        id: &TokenId,
        number: &TokenNumber,
        read: &mut dyn FnMut(&TokenRecord),
    ) -> Result<bool, StoreError> {
        Ok(self.read_token(id, number, |stored| read(&stored.record())).is_some())
    }

    /// As [`Self::view_token`], reading the two fields where they lie: nothing is copied.
    fn view_sealed(
        &self,
        id: &TokenId,
        number: &TokenNumber,
        read: &mut dyn FnMut(TokenStatus, &Sealed),
    ) -> Result<bool, StoreError> {
        Ok(self.read_token(id, number, |stored| read(stored.status, &stored.sealed_pan)).is_some())
    }

    fn get_by_number(&self, number: &TokenNumber) -> Result<Option<TokenRecord>, StoreError> {
        let key = number.key();
        Ok(self.number_shard(key).read_unpoisoned().by_number(key).map(Stored::record))
    }

    /// Under the record's shard lock, in place: the record read is made on the stack, the
    /// spend written into the stored one, no id hashed.
    fn spend_by_number(
        &self,
        number: &TokenNumber,
        decide: &mut dyn FnMut(&TokenRecord) -> Option<Spend>,
    ) -> Result<Option<TokenId>, StoreError> {
        self.spend_in_place(number, |stored| decide(&stored.record()))
    }

    /// In place, under the record's shard lock: the check reads the fields it needs where they
    /// lie, and the record is not copied.
    fn spend_by_number_keyed(
        &self,
        number: &TokenNumber,
        decide: &mut dyn FnMut(SpendCheck<'_>, &mut PreparedLuk) -> Option<Spend>,
    ) -> Result<Option<TokenId>, StoreError> {
        self.spend_in_place(number, |stored| {
            let (check, prepared) = stored.check();
            decide(check, prepared)
        })
    }

    fn number_taken(&self, number: &TokenNumber) -> Result<bool, StoreError> {
        let key = number.key();
        Ok(self.number_shard(key).read_unpoisoned().numbers.contains(key))
    }

    fn by_fingerprint(&self, fingerprint: &Fingerprint) -> Result<Vec<TokenRecord>, StoreError> {
        let key = fingerprint_key(fingerprint);
        let slots = shard_of(&self.by_fingerprint, key).read_unpoisoned().slots(key);
        Ok(self.records(slots, |r| r.fingerprint == *fingerprint))
    }

    fn by_device(&self, device: &DeviceId) -> Result<Vec<TokenRecord>, StoreError> {
        let key = self.device_key(device);
        let slots = shard_of(&self.by_device, key).read_unpoisoned().slots(key);
        Ok(self.records(slots, |r| r.device == *device))
    }

    fn compare_and_set(
        &self,
        expected_version: u64,
        record: TokenRecord,
    ) -> Result<(), StoreError> {
        if expected_version.checked_add(1) != Some(record.version) {
            return Err(StoreError::Conflict);
        }
        // Found once: records never move, so the slot holds across the locks taken below.
        let slot = self.slot_of(&record.id).ok_or(StoreError::Missing)?;
        // The fingerprint now, read before the index shards are locked to know which to lock.
        // The swap below refuses a record that changed since (and any change moves its
        // version on, which the swap would refuse too).
        let old = self.fingerprint_at(slot).ok_or(StoreError::Missing)?;
        let old_key = fingerprint_key(&old);
        if record.status == TokenStatus::Deleted {
            // A deleted token leaves the indexes (lock order: indexes, then shard).
            let device = self.device_key(&record.domain.device);
            let mut fingerprints = shard_of(&self.by_fingerprint, old_key).write_unpoisoned();
            let mut devices = shard_of(&self.by_device, device).write_unpoisoned();
            self.swap(slot, expected_version, &old, record)?;
            fingerprints.remove(old_key, slot);
            devices.remove(device, slot);
            return Ok(());
        }
        if old == record.fingerprint {
            // The common case: one shard locked for the swap, nothing else.
            return self.swap(slot, expected_version, &old, record);
        }
        // A reissued card: hold the fingerprint index across the swap so that the index always
        // matches the stored records (lock order: index, then shard).
        let new_key = fingerprint_key(&record.fingerprint);
        let mut index = TwoShards::lock(&self.by_fingerprint, old_key, new_key);
        self.swap(slot, expected_version, &old, record)?;
        index.get_mut(old_key).remove(old_key, slot);
        index.get_mut(new_key).add(new_key, slot);
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
    fn provision(
        &self,
        record: TokenRecord,
        number: &Fingerprint,
    ) -> Result<Admission, StoreError> {
        (**self).provision(record, number)
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
    fn view_sealed(
        &self,
        id: &TokenId,
        number: &TokenNumber,
        read: &mut dyn FnMut(TokenStatus, &Sealed),
    ) -> Result<bool, StoreError> {
        (**self).view_sealed(id, number, read)
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
    fn spend_by_number_keyed(
        &self,
        number: &TokenNumber,
        decide: &mut dyn FnMut(SpendCheck<'_>, &mut PreparedLuk) -> Option<Spend>,
    ) -> Result<Option<TokenId>, StoreError> {
        (**self).spend_by_number_keyed(number, decide)
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
        let n = IN_GROWING + 2 * CHUNK + 3;
        for i in 0..n {
            slab.push(i);
        }
        assert_eq!(slab.len(), n);
        assert_eq!(slab.chunks.len(), GROWING + 3);
        for (k, chunk) in slab.chunks.iter().enumerate() {
            assert_eq!(chunk.capacity(), Slab::<usize>::chunk_size(k), "chunk {k} never regrows");
        }
        assert_eq!(slab.chunks[0].capacity(), FIRST_CHUNK);
        assert_eq!(slab.chunks[GROWING - 1].capacity(), CHUNK / 2);
        // Every slot holds what was put there, across every chunk boundary.
        for at in 0..n {
            assert_eq!(slab.get(at), Some(&at));
        }
        assert!(slab.get(n).is_none());
        *slab.get_mut(CHUNK).unwrap() = 7;
        assert_eq!(slab.iter().filter(|&&r| r == 7).count(), 2, "slots 7 and CHUNK");
        assert!(slab.iter().copied().eq((0..n).map(|i| if i == CHUNK { 7 } else { i })));
    }

    #[test]
    fn index_slots_come_and_go_one_by_one() {
        let (a, b, c) =
            (Slot { shard: 0, at: 1 }, Slot { shard: 3, at: 1 }, Slot { shard: 0, at: 2 });
        let mut index = SlotIndex::default();
        index.add(9, a);
        index.add(9, b);
        index.add(4, c);
        assert_eq!(index.slots(9), [a, b]);
        index.remove(9, a);
        assert_eq!(index.slots(9), [b]);
        index.remove(9, c); // not there: nothing changes
        assert_eq!(index.slots(9), [b]);
        index.remove(9, b);
        assert!(
            index.slots(9).is_empty() && !index.entries.contains_key(&9),
            "an empty key leaves"
        );
        index.remove(4, c);
        assert!(index.entries.is_empty());
        // A list freed is the next one used; one slot left goes back into its entry.
        index.add(5, a);
        index.add(5, b);
        assert_eq!((index.lists.len(), index.free.len()), (1, 0), "the freed list, reused");
        index.add(5, c);
        index.remove(5, b);
        assert_eq!(index.slots(5), [a, c]);
        index.remove(5, a);
        assert_eq!((index.entries.get(&5), index.free.len()), (Some(&c.word()), 1));
        assert_eq!(index.slots(5), [c]);
        let far = Slot { shard: 63, at: u32::MAX };
        assert_eq!(Slot::of_word(far.word()), far, "every slot fits a word, its top bit clear");
        assert_eq!(far.word() & LIST, 0);
    }

    #[test]
    fn drawn_ids_are_keyed_by_their_bits_and_others_by_their_text() {
        let mut index = IdIndex::default();
        let at = |n: u32| Slot { shard: 3, at: n };
        let drawn = TokenId::from_bits(0xfeed);
        assert!(index.free(IdKey::of(&drawn), |_| false));
        index.claim(IdKey::of(&drawn), at(0));
        assert_eq!(index.drawn.get(&0xfeed), Some(&at(0)));
        assert!(!index.free(IdKey::of(&drawn), |slot| slot == at(0)), "its record holds it");
        // Upper-case hex, a short or a long id: each another id, kept by its text.
        for (n, other) in [
            "tok_a",
            "tok_0000000000000000000000000000FEED",
            "tok_00000000000000000000000000000feed0",
        ]
        .into_iter()
        .enumerate()
        {
            let id: TokenId = other.parse().unwrap();
            let n = u32::try_from(n).unwrap() + 1;
            assert!(index.free(IdKey::of(&id), |_| false), "{other}");
            index.claim(IdKey::of(&id), at(n));
            assert_eq!(index.named(&id), Some(at(n)), "{other}");
            assert!(!index.free(IdKey::of(&id), |_| false), "{other} taken once");
        }
        assert_eq!((index.drawn.len(), index.named.len()), (1, 3));
        assert_eq!(index.candidate(IdKey::of(&drawn)), Some(at(0)));
        // A drawn id whose low bits another holds (the record there is not its own): free
        // until it is kept by its text.
        let twin = TokenId::from_bits((1 << 64) | 0xfeed);
        assert!(index.free(IdKey::of(&twin), |_| false));
        index.claim(IdKey::of(&twin), at(9));
        assert_eq!(
            (index.candidate(IdKey::of(&twin)), index.named(&twin)),
            (Some(at(0)), Some(at(9)))
        );
        assert!(!index.free(IdKey::of(&twin), |_| false), "taken by its text");
    }

    #[test]
    fn two_drawn_ids_with_the_same_low_bits_each_reach_their_own_record() {
        let store = InMemoryTokenStore::new();
        let first = a_record(TokenId::from_bits(0xfeed));
        let mut twin = a_record(TokenId::from_bits((7 << 64) | 0xfeed));
        twin.number = TokenNumber::parse("6200000000000013").unwrap();
        store.insert(first.clone()).unwrap();
        store.insert(twin.clone()).unwrap();
        assert_eq!(store.insert(twin.clone()), Err(StoreError::Duplicate), "held by its text");
        let mut again = a_record(TokenId::from_bits(0xfeed));
        again.number = TokenNumber::parse("6200000000000021").unwrap();
        assert_eq!(store.insert(again), Err(StoreError::Duplicate), "held by its bits");
        for record in [&first, &twin] {
            assert_eq!(
                store.get(&record.id).unwrap().map(|r| r.number),
                Some(record.number.clone())
            );
            let mut seen = None;
            assert!(store.view(&record.id, &mut |r| seen = Some(r.id.clone())).unwrap());
            assert_eq!(seen.as_ref(), Some(&record.id));
            let by_number = store.get_by_number(&record.number).unwrap().map(|r| r.id);
            assert_eq!(by_number.as_ref(), Some(&record.id));
        }
        let mut changed = twin.clone();
        changed.version = 1;
        changed.status = TokenStatus::Suspended(crate::Actor::User);
        store.compare_and_set(0, changed).unwrap();
        assert_eq!(
            store.get(&twin.id).unwrap().map(|r| r.status),
            Some(TokenStatus::Suspended(crate::Actor::User))
        );
        assert_eq!(store.get(&first.id).unwrap().map(|r| r.status), Some(TokenStatus::Active));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn a_verified_token_is_opened_from_its_own_record_found_by_number_or_else_by_id() {
        let store = InMemoryTokenStore::new();
        let mut first = a_record(TokenId::from_bits(0xa1));
        first.sealed_pan.nonce = [1; 12];
        let mut second = a_record(TokenId::from_bits(0xb2));
        second.number = TokenNumber::parse("6200000000000013").unwrap();
        second.status = TokenStatus::Suspended(crate::Actor::User);
        second.sealed_pan.nonce = [2; 12];
        store.insert(first.clone()).unwrap();
        store.insert(second.clone()).unwrap();
        let sealed_of = |id: &TokenId, number: &TokenNumber| {
            let mut seen = None;
            let found = store
                .view_sealed(id, number, &mut |status, sealed| seen = Some((status, sealed.nonce)))
                .unwrap();
            assert_eq!(found, seen.is_some());
            seen
        };
        assert_eq!(sealed_of(&first.id, &first.number), Some((TokenStatus::Active, [1; 12])));
        // The other's number is not trusted: the record is found by its id.
        assert_eq!(
            sealed_of(&second.id, &first.number),
            Some((TokenStatus::Suspended(crate::Actor::User), [2; 12]))
        );
        let unknown = TokenNumber::parse("6200000000000021").unwrap();
        assert_eq!(sealed_of(&TokenId::from_bits(0xc3), &unknown), None);
    }

    #[test]
    fn a_prepared_key_stays_with_its_record_through_spends_and_updates() {
        let store = InMemoryTokenStore::new();
        let record = a_record(TokenId::from_bits(0xbeef));
        let (id, number) = (record.id.clone(), record.number.clone());
        store.insert(record).unwrap();
        let master = crate::luk::LukMaster::new(crate::keys::MacKey::new(
            "m",
            &cloudcard_masking::Secret::new([1; 32]),
        ));
        // The sequence kept when a spend began; `keep` asks to keep sequence 1's key.
        let spend = |keep: bool| {
            let mut found = None;
            store
                .spend_by_number_keyed(&number, &mut |r, prepared| {
                    found = Some(prepared.kept_sequence());
                    prepared.with(&master, r.id, 1, keep, |_| ());
                    None
                })
                .unwrap();
            found.flatten()
        };
        assert_eq!(spend(false), None, "nothing kept yet");
        assert_eq!(spend(true), None, "derived, and kept");
        assert_eq!(spend(false), Some(1), "found kept");
        // A status change replaces the record; its key stays.
        let mut changed = store.get(&id).unwrap().unwrap();
        changed.status = TokenStatus::Suspended(crate::Actor::User);
        changed.version += 1;
        store.compare_and_set(0, changed).unwrap();
        assert_eq!(spend(false), Some(1), "kept across the update");
        // Through the plain spend, nothing is kept or lost.
        assert_eq!(store.spend_by_number(&number, &mut |_| None).unwrap(), Some(id));
        assert_eq!(spend(false), Some(1));
    }

    #[test]
    fn two_keys_lock_their_shards_once_each_and_reach_each_its_own() {
        let index: Sharded<SlotIndex> = std::array::from_fn(|_| Padded::default());
        let slot = Slot { shard: 0, at: 7 };
        let free = |at: usize| index[at].0.try_write().is_ok();
        {
            // 3 and SHARDS + 3 share shard 3: one guard, both keys reach it.
            let other = SHARDS as u64 + 3;
            let mut same = TwoShards::lock(&index, other, 3);
            assert!(same.high.is_none());
            same.get_mut(other).add(other, slot);
            assert_eq!(same.get(3).entry(other), Some(slot.word()));
            assert!(!free(3));
        }
        assert!(free(3));
        {
            // 5 and 2: two guards, each key reaching its own shard.
            let mut two = TwoShards::lock(&index, 5, 2);
            two.get_mut(5).add(5, slot);
            two.get_mut(2).add(2, slot);
            assert_eq!((two.get(5).entry(2), two.get(2).entry(5)), (None, None));
            assert!(!free(2) && !free(5));
        }
        assert!(free(2) && free(5));
        assert_eq!(index[5].0.read_unpoisoned().entry(5), Some(slot.word()));
        assert_eq!(index[2].0.read_unpoisoned().entry(2), Some(slot.word()));
    }

    #[test]
    fn a_check_reads_in_place_what_the_record_holds() {
        let store = InMemoryTokenStore::new();
        let plain = a_record(TokenId::from_bits(0xcafe));
        let mut limited = a_record(TokenId::from_bits(0xf00d));
        limited.number = TokenNumber::parse("6200000000000013").unwrap();
        limited.domain.merchant = Some("mch_1".parse().unwrap());
        limited.domain.max_amount = Some(Amount::from_fen(500));
        limited.domain.expires_at = Some(chrono::DateTime::UNIX_EPOCH + chrono::TimeDelta::days(1));
        limited.domain.channels = ChannelSet::NONE.with(crate::Channel::Nfc);
        limited.replay.accept(7).unwrap();
        limited.luk.used_count = 3;
        for record in [plain, limited] {
            store.insert(record.clone()).unwrap();
            let mut seen = None;
            store
                .spend_by_number_keyed(&record.number, &mut |check, _| {
                    seen = Some(check == SpendCheck::from(&record));
                    None
                })
                .unwrap();
            assert_eq!(seen, Some(true), "{:?}", record.domain);
        }
    }

    /// A record of `id`, whatever else it holds.
    fn a_record(id: TokenId) -> TokenRecord {
        let t0 = chrono::DateTime::UNIX_EPOCH;
        TokenRecord {
            id,
            number: TokenNumber::parse("6200000000000005").unwrap(),
            status: TokenStatus::Active,
            domain: Domain {
                device: DeviceId::random(),
                channels: ChannelSet::all(),
                merchant: None,
                max_amount: None,
                expires_at: None,
            },
            fingerprint: Fingerprint([0; 32]),
            par: Par::of_alphabet(*b"CC01ABCDEFGHIJKLMNOPQRSTUVWXY"),
            sealed_pan: Sealed {
                key_version: crate::KeyVersion(1),
                nonce: [0; 12],
                ciphertext: crate::Ciphertext::default(),
            },
            pan_last4: Last4::default(),
            luk: LukState::new(1, t0),
            replay: ReplayWindow::default(),
            created_at: t0,
            updated_at: t0,
            version: 0,
        }
    }
}

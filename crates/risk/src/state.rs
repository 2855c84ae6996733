//! The risk engine's records: status lists, the loss log and claims, behind the
//! [`RiskStore`] port, implemented once over any [`Kv`].

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::store::{self, Kv, Txn, get_json, prefix_end, put_json, time_key};
use cloudcard_core::{CardId, ClaimId, DeviceId, StoreError, TransactionId, UserId, keyed_hash};

use crate::RiskError;
use crate::loss::{
    self, Assessment, Claim, ClaimEvent, ClaimState, Instrument, LoggedTransaction, LossReport,
};
use crate::velocity::{EntityKey, ID_TAG};

/// Where the risk engine keeps what must outlive the process and be shared by every node:
/// the status lists (lost cards and phones, suspended users), the loss log and the claims.
/// Filing and advancing a claim are atomic, so no transaction is claimed twice.
pub trait RiskStore: Send + Sync + fmt::Debug {
    /// Puts an instrument on the lost list (keeps the first report's time).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn mark_lost(&self, instrument: &Instrument, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Takes an instrument off the lost list (a phone found again); whether it was on it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn clear_lost(&self, instrument: &Instrument) -> Result<bool, StoreError>;
    /// Suspends or resumes a user.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn set_suspended(&self, user: &UserId, suspended: bool) -> Result<(), StoreError>;
    /// Which list, if any, holds the card, the device or the user (in that order).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn listed(
        &self,
        card: Option<&CardId>,
        device: Option<&DeviceId>,
        user: Option<&UserId>,
    ) -> Result<Option<Listed>, StoreError>;
    /// Logs a transaction under its card and device, kept for `retention`; an entry of the same
    /// transaction (same id and time) is replaced.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn log(&self, entry: LoggedTransaction, retention: TimeDelta) -> Result<(), StoreError>;
    /// Drops log entries older than their retention, at most `limit`; how many went.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn purge_log(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError>;
    /// The verdict on every logged transaction of the report's instrument.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn assess(&self, report: &LossReport) -> Result<Vec<Assessment>, StoreError>;
    /// Files a claim for the eligible transactions of a loss, marking them claimed, in one
    /// transaction; `None` if none is eligible.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`]; [`StoreError::Corrupt`] if the amounts overflow.
    fn file_claim(
        &self,
        id: &ClaimId,
        report: &LossReport,
        now: DateTime<Utc>,
    ) -> Result<Option<Claim>, StoreError>;
    /// Moves a claim on; a rejected claim frees its transactions.
    ///
    /// # Errors
    ///
    /// [`StoreError::Missing`]; the transition error as `Err(Ok(..))`.
    fn advance_claim(
        &self,
        id: &ClaimId,
        event: ClaimEvent,
        now: DateTime<Utc>,
    ) -> Result<Result<Claim, RiskError>, StoreError>;
    /// A claim.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn claim(&self, id: &ClaimId) -> Result<Option<Claim>, StoreError>;
    /// Turns off `rule` for the entity `key` until `until` (replacing an earlier suppression of
    /// the same rule).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn suppress(&self, key: EntityKey, rule: &str, until: DateTime<Utc>) -> Result<(), StoreError>;
    /// Whether `rule` is turned off at `at` for any of `keys`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn suppressed(
        &self,
        keys: &[EntityKey],
        rule: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Whether any rule may be turned off for any entity: `false` lets a decision whose rules
    /// fire skip [`Self::suppressed`] and the keys it is asked with. By default `true`.
    fn suppresses_any(&self) -> bool {
        true
    }
}

/// Which status list matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// The card was reported lost.
    LostCard,
    /// The device was reported lost.
    LostDevice,
    /// The user is suspended.
    SuspendedUser,
}

const LOST: &str = "risk_status";
const LOG: &str = "risk_log";
const LOG_DUE: &str = "risk_log_due";
const CLAIMS: &str = "risk_claim";
const CLAIMED: &str = "risk_claimed";
const SUPPRESSED: &str = "risk_suppressed";

fn suppression_key(key: EntityKey, rule: &str) -> Vec<u8> {
    let mut k = key.to_bytes().to_vec();
    k.extend_from_slice(rule.as_bytes());
    k
}

/// The risk store over a [`Kv`].
#[derive(Debug, Clone, Default)]
pub struct KvRiskStore<K> {
    kv: K,
}

impl<K: Kv> KvRiskStore<K> {
    /// A risk store over `kv`.
    pub const fn new_in(kv: K) -> Self {
        Self { kv }
    }
}

fn status_key(tag: u8, id: &str) -> Vec<u8> {
    let mut k = vec![tag, 0];
    k.extend_from_slice(id.as_bytes());
    k
}

fn instrument_prefix(instrument: &Instrument) -> Vec<u8> {
    let mut k = match instrument {
        Instrument::Card(c) => status_key(b'c', c.as_str()),
        Instrument::Device(d) => status_key(b'd', d.as_str()),
    };
    k.push(0);
    k
}

fn log_key(instrument: &Instrument, entry: &LoggedTransaction) -> Vec<u8> {
    let mut k = instrument_prefix(instrument);
    k.extend_from_slice(&time_key(entry.at));
    k.extend_from_slice(entry.id.as_bytes());
    k
}

fn assess_in(txn: &mut dyn Txn, report: &LossReport) -> Result<Vec<Assessment>, StoreError> {
    let prefix = instrument_prefix(&report.instrument);
    let mut out = Vec::new();
    for (_, value) in txn.range(LOG, &prefix, &prefix_end(&prefix), usize::MAX)? {
        let t: LoggedTransaction = store::decode(&value)?;
        let claimed = txn.contains(CLAIMED, t.id.as_bytes())?;
        out.push(Assessment { ineligible: loss::verdict(&t, report, claimed), transaction: t });
    }
    Ok(out)
}

impl<K: Kv> RiskStore for KvRiskStore<K> {
    fn mark_lost(&self, instrument: &Instrument, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut key = instrument_prefix(instrument);
        key.pop();
        store::write(&self.kv, |txn| {
            if txn.get(LOST, &key)?.is_none() {
                put_json(txn, LOST, &key, &at)?;
            }
            Ok(())
        })
    }

    fn clear_lost(&self, instrument: &Instrument) -> Result<bool, StoreError> {
        let mut key = instrument_prefix(instrument);
        key.pop();
        store::write(&self.kv, |txn| txn.delete(LOST, &key))
    }

    fn set_suspended(&self, user: &UserId, suspended: bool) -> Result<(), StoreError> {
        let key = status_key(b'u', user.as_str());
        store::write(&self.kv, |txn| {
            if suspended { txn.put(LOST, &key, b"1") } else { txn.delete(LOST, &key).map(drop) }
        })
    }

    fn listed(
        &self,
        card: Option<&CardId>,
        device: Option<&DeviceId>,
        user: Option<&UserId>,
    ) -> Result<Option<Listed>, StoreError> {
        // Checked on every payment: keys are built on the stack, and a miss allocates nothing.
        store::read(&self.kv, |txn| {
            let probes = [
                (b'c', card.map(CardId::as_str), Listed::LostCard),
                (b'd', device.map(DeviceId::as_str), Listed::LostDevice),
                (b'u', user.map(UserId::as_str), Listed::SuspendedUser),
            ];
            for (tag, id, listed) in probes {
                let Some(id) = id else { continue };
                let mut buf = [0u8; 96];
                let hit = match buf.get_mut(..id.len() + 2) {
                    Some(key) => {
                        let (head, rest) = key.split_at_mut(2);
                        head.copy_from_slice(&[tag, 0]);
                        rest.copy_from_slice(id.as_bytes());
                        txn.contains(LOST, key)?
                    }
                    None => txn.contains(LOST, &status_key(tag, id))?,
                };
                if hit {
                    return Ok(Some(listed));
                }
            }
            Ok(None)
        })
    }

    fn log(&self, entry: LoggedTransaction, retention: TimeDelta) -> Result<(), StoreError> {
        let due = entry.at.checked_add_signed(retention).unwrap_or(entry.at);
        let value = store::encode(&entry)?;
        let mut keys = vec![log_key(&Instrument::Card(entry.card.clone()), &entry)];
        if let Some(device) = &entry.device {
            keys.push(log_key(&Instrument::Device(device.clone()), &entry));
        }
        // One due entry per transaction, naming every log entry it made.
        let due_key = store::due_key(due, entry.id.as_bytes());
        let due_value = store::encode_keys(&keys)?;
        store::write(&self.kv, |txn| {
            for key in &keys {
                txn.put(LOG, key, &value)?;
            }
            txn.put(LOG_DUE, &due_key, &due_value)
        })
    }

    fn purge_log(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        store::write(&self.kv, |txn| {
            let mut purged = 0;
            for (_, keys) in store::take_due(txn, LOG_DUE, now, limit)? {
                for key in store::decode_keys(&keys)? {
                    if txn.delete(LOG, &key)? {
                        purged += 1;
                    }
                }
            }
            Ok(purged)
        })
    }

    fn assess(&self, report: &LossReport) -> Result<Vec<Assessment>, StoreError> {
        store::read(&self.kv, |txn| assess_in(txn, report))
    }

    fn file_claim(
        &self,
        id: &ClaimId,
        report: &LossReport,
        now: DateTime<Utc>,
    ) -> Result<Option<Claim>, StoreError> {
        store::write(&self.kv, |txn| {
            let eligible: Vec<LoggedTransaction> = assess_in(txn, report)?
                .into_iter()
                .filter(|a| a.ineligible.is_none())
                .map(|a| a.transaction)
                .collect();
            let Some(claim) = loss::file(id, report, &eligible, now) else { return Ok(None) };
            let claim = claim.map_err(|_| StoreError::Corrupt)?;
            for t in &claim.transactions {
                txn.put(CLAIMED, t.as_bytes(), id.as_bytes())?;
            }
            if txn.get(CLAIMS, id.as_bytes())?.is_some() {
                return Err(StoreError::Duplicate);
            }
            put_json(txn, CLAIMS, id.as_bytes(), &claim)?;
            Ok(Some(claim))
        })
    }

    fn advance_claim(
        &self,
        id: &ClaimId,
        event: ClaimEvent,
        now: DateTime<Utc>,
    ) -> Result<Result<Claim, RiskError>, StoreError> {
        store::write(&self.kv, |txn| {
            let key = id.as_bytes();
            let mut claim: Claim = get_json(txn, CLAIMS, key)?.ok_or(StoreError::Missing)?;
            if let Err(e) = loss::advance(&mut claim, event, now) {
                return Ok(Err(e));
            }
            if claim.state == ClaimState::Rejected {
                for t in &claim.transactions {
                    txn.delete(CLAIMED, t.as_bytes())?;
                }
            }
            put_json(txn, CLAIMS, key, &claim)?;
            Ok(Ok(claim))
        })
    }

    fn claim(&self, id: &ClaimId) -> Result<Option<Claim>, StoreError> {
        store::read(&self.kv, |txn| get_json(txn, CLAIMS, id.as_bytes()))
    }

    fn suppress(&self, key: EntityKey, rule: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| put_json(txn, SUPPRESSED, &suppression_key(key, rule), &until))
    }

    fn suppressed(
        &self,
        keys: &[EntityKey],
        rule: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        store::read(&self.kv, |txn| {
            for key in keys {
                let until: Option<DateTime<Utc>> =
                    get_json(txn, SUPPRESSED, &suppression_key(*key, rule))?;
                if until.is_some_and(|until| at < until) {
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }
}

/// The in-memory risk store: the loss log in many small queues, each holding the entries of
/// the instruments whose keyed hash falls in it, in the order they lapse, each under its own
/// lock and under no other (logging a payment writes no line another payment's logging
/// shares, unless their queues are the same); the claims, under a lock of their own. A claim
/// reads its instrument's queue under that queue's lock, so it sees the queue still. And the
/// lists every decision reads — lost instruments, suspended users, suppressed rules — as an
/// immutable snapshot that deciding threads load without a lock (nothing shared is written to
/// read it). A change copies the lists and swaps the copy in, one change at a time: changes
/// are rare (a report, a reinstatement, an operator's suppression), reads are every payment.
#[derive(Debug, Default)]
pub struct InMemoryRiskStore {
    log: LossLog,
    book: std::sync::RwLock<Book>,
    lists: cloudcard_core::sync::CopyOnWrite<Lists>,
}

#[derive(Debug, Default, Clone)]
struct Lists {
    lost_cards: std::collections::HashMap<CardId, DateTime<Utc>>,
    lost_devices: std::collections::HashMap<DeviceId, DateTime<Utc>>,
    suspended: std::collections::HashSet<UserId>,
    suppressed: std::collections::HashMap<EntityKey, Vec<(String, DateTime<Utc>)>>,
}

/// The claims, and which transaction each claimed.
#[derive(Debug, Default)]
struct Book {
    claims: std::collections::HashMap<ClaimId, Claim>,
    claimed: std::collections::HashMap<TransactionId, ClaimId>,
}

impl InMemoryRiskStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Book> {
        cloudcard_core::sync::RwLockExt::read_unpoisoned(&self.book)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Book> {
        cloudcard_core::sync::RwLockExt::write_unpoisoned(&self.book)
    }
}

/// The loss log: each transaction under its card and under its device, in one of
/// [`LOG_QUEUES`] queues chosen by a keyed hash of the instrument. Logging a payment touches
/// two queues' backs, and no per-instrument table: there is none to find, grow or rehash, so a
/// payment reads no instrument's table from memory and no insert stalls while one doubles. A
/// queue is in order of when its entries lapse, then of the transaction id's hash: payments
/// arrive in time order, so a new entry almost always goes at the back, and one logged again
/// for the same time is found by a binary search. A purge takes from the fronts; a report
/// reads its instrument's queue and keeps the entries filed under that instrument (a tag of
/// its hash passes over the others without reading them).
///
/// Each queue has its own lock: payments on different cards log side by side.
#[derive(Debug)]
struct LossLog {
    queues: Box<[std::sync::Mutex<std::collections::VecDeque<Filed>>]>,
    /// Keys the instruments' and the ids' hashes, so that no one can choose ids that crowd
    /// one queue.
    hasher: std::hash::RandomState,
    /// The queue the next purge starts from, so that a purge cut short by its limit does not
    /// leave the same queues for last every time.
    purge_from: std::sync::atomic::AtomicUsize,
}

/// How many queues: a million cards paying three times a week, each payment filed under its
/// card and its phone, put about 370 entries a week in each.
const LOG_QUEUES: usize = 16_384;

/// One transaction as one instrument's queue holds it (32 bytes).
#[derive(Debug)]
struct Filed {
    due: DateTime<Utc>,
    /// The high half of the instrument's hash, its lowest bit the instrument's kind (0 a
    /// card, 1 a device).
    tag: u32,
    id_hash: u64,
    entry: Arc<LoggedTransaction>,
}

const _: () = assert!(size_of::<Filed>() <= 32, "a filed entry stays 32 bytes");

impl Filed {
    /// Where it stands in its queue: when it lapses, then its transaction id's hash.
    const fn key(&self) -> (DateTime<Utc>, u64) {
        (self.due, self.id_hash)
    }
}

/// Files `entry` into `queue` under `under` (whose entries there carry `tag`), to lapse at
/// `due`; an entry of the same transaction filed under the same instrument for the same time
/// is replaced.
fn file_in(
    queue: &mut std::collections::VecDeque<Filed>,
    under: Under<'_>,
    tag: u32,
    due: DateTime<Utc>,
    id_hash: u64,
    entry: &Arc<LoggedTransaction>,
) {
    let filed = Filed { due, tag, id_hash, entry: entry.clone() };
    let key = (due, id_hash);
    if queue.back().is_none_or(|last| last.key() < key) {
        queue.push_back(filed);
        return;
    }
    let from = queue.partition_point(|f| f.key() < key);
    let to = queue.partition_point(|f| f.key() <= key);
    let same = queue
        .range_mut(from..to.max(from))
        .find(|f| f.tag == tag && f.entry.id == entry.id && under.holds(&f.entry));
    match same {
        Some(same) => same.entry = entry.clone(),
        None => queue.insert(to, filed),
    }
}

/// An instrument of a logged transaction, as its queue finds it.
#[derive(Clone, Copy)]
enum Under<'a> {
    Card(&'a CardId),
    Device(&'a DeviceId),
}

impl Under<'_> {
    fn holds(self, t: &LoggedTransaction) -> bool {
        match self {
            Self::Card(card) => t.card == *card,
            Self::Device(device) => t.device.as_ref() == Some(device),
        }
    }
}

impl<'a> From<&'a Instrument> for Under<'a> {
    fn from(instrument: &'a Instrument) -> Self {
        match instrument {
            Instrument::Card(card) => Self::Card(card),
            Instrument::Device(device) => Self::Device(device),
        }
    }
}

impl Default for LossLog {
    fn default() -> Self {
        Self {
            queues: (0..LOG_QUEUES).map(|_| std::sync::Mutex::default()).collect(),
            hasher: std::hash::RandomState::new(),
            purge_from: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl LossLog {
    /// The queue of `under` and the tag of its entries there.
    #[expect(clippy::cast_possible_truncation, reason = "the high half and a queue's index")]
    fn place(&self, under: Under<'_>) -> (usize, u32) {
        let (hash, kind) = match under {
            Under::Card(card) => (keyed_hash(&self.hasher, 0, card.as_bytes()), 0),
            Under::Device(device) => (keyed_hash(&self.hasher, 1, device.as_bytes()), 1),
        };
        ((hash % LOG_QUEUES as u64) as usize, ((hash >> 32) as u32 & !1) | kind)
    }

    /// Files `entry` under its card and its device, to lapse at `due`; an entry of the same
    /// transaction filed under the same instrument for the same time is replaced.
    ///
    /// The two queues are locked together (in queue order), then filed into, so that the
    /// misses on their backs overlap (see [`cloudcard_core::sync`]).
    fn file(&self, due: DateTime<Utc>, entry: &Arc<LoggedTransaction>) {
        let id_hash = keyed_hash(&self.hasher, ID_TAG, entry.id.as_bytes());
        let card = Under::Card(&entry.card);
        let (card_at, card_tag) = self.place(card);
        let Some(device) = entry.device.as_ref().map(Under::Device) else {
            if let Some(mut queue) = self.queue(card_at) {
                file_in(&mut queue, card, card_tag, due, id_hash, entry);
            }
            return;
        };
        let (device_at, device_tag) = self.place(device);
        let (first, second) = (card_at.min(device_at), card_at.max(device_at));
        let Some(mut low) = self.queue(first) else { return };
        let mut high = if second == first { None } else { self.queue(second) };
        for (under, at, tag) in [(card, card_at, card_tag), (device, device_at, device_tag)] {
            let queue = if at == first {
                &mut *low
            } else {
                let Some(high) = high.as_deref_mut() else { continue };
                high
            };
            file_in(queue, under, tag, due, id_hash, entry);
        }
    }

    /// Queue `at`, locked; `None` past the last.
    fn queue(
        &self,
        at: usize,
    ) -> Option<std::sync::MutexGuard<'_, std::collections::VecDeque<Filed>>> {
        self.queues.get(at).map(cloudcard_core::sync::MutexExt::lock_unpoisoned)
    }

    /// The transactions filed under `instrument`, in the order they lapse, each as `f` maps it.
    fn of<T>(&self, instrument: &Instrument, f: impl FnMut(&LoggedTransaction) -> T) -> Vec<T> {
        let under = Under::from(instrument);
        let (at, tag) = self.place(under);
        let Some(queue) = self.queue(at) else { return Vec::new() };
        queue
            .iter()
            .filter(|q| q.tag == tag && under.holds(&q.entry))
            .map(|q| &*q.entry)
            .map(f)
            .collect()
    }

    /// Drops at most `limit` entries lapsed at `now`, from the queue after the last purge's
    /// first on; how many.
    fn purge(&self, now: DateTime<Utc>, limit: usize) -> usize {
        let start = self.purge_from.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut purged = 0;
        for k in 0..LOG_QUEUES {
            if purged >= limit {
                break;
            }
            let Some(mut queue) = self.queue(start.wrapping_add(k) % LOG_QUEUES) else { break };
            while purged < limit && queue.front().is_some_and(|f| f.due <= now) {
                queue.pop_front();
                purged += 1;
            }
        }
        purged
    }
}

impl Book {
    /// The verdict on every transaction of the report's instrument in `log`.
    fn assess(&self, log: &LossLog, report: &LossReport) -> Vec<Assessment> {
        log.of(&report.instrument, |t| Assessment {
            ineligible: loss::verdict(t, report, self.claimed.contains_key(&t.id)),
            transaction: t.clone(),
        })
    }
}

impl RiskStore for InMemoryRiskStore {
    fn mark_lost(&self, instrument: &Instrument, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.lists.change(|lists| {
            match instrument {
                Instrument::Card(c) => lists.lost_cards.entry(c.clone()).or_insert(at),
                Instrument::Device(d) => lists.lost_devices.entry(d.clone()).or_insert(at),
            };
        });
        Ok(())
    }

    fn clear_lost(&self, instrument: &Instrument) -> Result<bool, StoreError> {
        Ok(self.lists.change(|lists| match instrument {
            Instrument::Card(c) => lists.lost_cards.remove(c).is_some(),
            Instrument::Device(d) => lists.lost_devices.remove(d).is_some(),
        }))
    }

    fn set_suspended(&self, user: &UserId, suspended: bool) -> Result<(), StoreError> {
        self.lists.change(|lists| {
            if suspended {
                lists.suspended.insert(user.clone());
            } else {
                lists.suspended.remove(user);
            }
        });
        Ok(())
    }

    fn listed(
        &self,
        card: Option<&CardId>,
        device: Option<&DeviceId>,
        user: Option<&UserId>,
    ) -> Result<Option<Listed>, StoreError> {
        let lists = self.lists.load();
        Ok(if card.is_some_and(|c| lists.lost_cards.contains_key(c)) {
            Some(Listed::LostCard)
        } else if device.is_some_and(|d| lists.lost_devices.contains_key(d)) {
            Some(Listed::LostDevice)
        } else if user.is_some_and(|u| lists.suspended.contains(u)) {
            Some(Listed::SuspendedUser)
        } else {
            None
        })
    }

    fn log(&self, entry: LoggedTransaction, retention: TimeDelta) -> Result<(), StoreError> {
        let due = entry.at.checked_add_signed(retention).unwrap_or(entry.at);
        let entry = Arc::new(entry);
        // Under the two queues' locks alone.
        self.log.file(due, &entry);
        Ok(())
    }

    fn purge_log(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        Ok(self.log.purge(now, limit))
    }

    fn assess(&self, report: &LossReport) -> Result<Vec<Assessment>, StoreError> {
        Ok(self.read().assess(&self.log, report))
    }

    fn file_claim(
        &self,
        id: &ClaimId,
        report: &LossReport,
        now: DateTime<Utc>,
    ) -> Result<Option<Claim>, StoreError> {
        let mut book = self.write();
        let eligible: Vec<LoggedTransaction> = book
            .assess(&self.log, report)
            .into_iter()
            .filter(|a| a.ineligible.is_none())
            .map(|a| a.transaction)
            .collect();
        let Some(claim) = loss::file(id, report, &eligible, now) else { return Ok(None) };
        let claim = claim.map_err(|_| StoreError::Corrupt)?;
        if book.claims.contains_key(id) {
            return Err(StoreError::Duplicate);
        }
        for t in &claim.transactions {
            book.claimed.insert(t.clone(), id.clone());
        }
        book.claims.insert(id.clone(), claim.clone());
        Ok(Some(claim))
    }

    fn advance_claim(
        &self,
        id: &ClaimId,
        event: ClaimEvent,
        now: DateTime<Utc>,
    ) -> Result<Result<Claim, RiskError>, StoreError> {
        let mut book = self.write();
        let claim = book.claims.get_mut(id).ok_or(StoreError::Missing)?;
        if let Err(e) = loss::advance(claim, event, now) {
            return Ok(Err(e));
        }
        let claim = claim.clone();
        if claim.state == ClaimState::Rejected {
            for t in &claim.transactions {
                book.claimed.remove(t);
            }
        }
        Ok(Ok(claim))
    }

    fn claim(&self, id: &ClaimId) -> Result<Option<Claim>, StoreError> {
        Ok(self.read().claims.get(id).cloned())
    }

    fn suppress(&self, key: EntityKey, rule: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.lists.change(|lists| {
            let list = lists.suppressed.entry(key).or_default();
            list.retain(|(r, _)| r != rule);
            list.push((rule.to_owned(), until));
        });
        Ok(())
    }

    fn suppressed(
        &self,
        keys: &[EntityKey],
        rule: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let lists = self.lists.load();
        Ok(!lists.suppressed.is_empty()
            && keys.iter().any(|key| {
                lists
                    .suppressed
                    .get(key)
                    .is_some_and(|list| list.iter().any(|(r, until)| r == rule && at < *until))
            }))
    }

    fn suppresses_any(&self) -> bool {
        !self.lists.load().suppressed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cloudcard_core::Amount;

    use super::*;
    use crate::Authentication;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
    }

    fn paid(card: &CardId, device: Option<&DeviceId>, at: DateTime<Utc>) -> LoggedTransaction {
        LoggedTransaction {
            id: TransactionId::random(),
            card: card.clone(),
            device: device.cloned(),
            amount: Amount::from_fen(100),
            at,
            auth: Authentication::None,
            approved: true,
        }
    }

    fn report(instrument: Instrument) -> LossReport {
        LossReport { instrument, user: UserId::random(), reported_at: t0() }
    }

    fn ids(store: &InMemoryRiskStore, instrument: Instrument) -> Vec<TransactionId> {
        store.assess(&report(instrument)).unwrap().into_iter().map(|a| a.transaction.id).collect()
    }

    #[test]
    fn a_store_that_never_turned_a_rule_off_says_so() {
        let store = InMemoryRiskStore::new();
        assert!(!store.suppresses_any());
        store.suppress(EntityKey::default(), "burst", t0()).unwrap();
        assert!(store.suppresses_any(), "even once the suppression has lapsed");
    }

    #[test]
    fn a_card_and_its_phone_in_one_queue_each_see_the_payment_once() {
        let store = InMemoryRiskStore::new();
        let card = CardId::random();
        let queue = store.log.place(Under::Card(&card)).0;
        // A phone whose queue is the card's (one in 16,384).
        let device = std::iter::repeat_with(DeviceId::random)
            .find(|d| store.log.place(Under::Device(d)).0 == queue)
            .unwrap();
        let t = paid(&card, Some(&device), t0());
        store.log(t.clone(), TimeDelta::days(7)).unwrap();
        store.log(t.clone(), TimeDelta::days(7)).unwrap(); // logged again: replaced
        assert_eq!(ids(&store, Instrument::Card(card.clone())), vec![t.id.clone()]);
        assert_eq!(ids(&store, Instrument::Device(device)), vec![t.id.clone()]);
        assert_eq!(ids(&store, Instrument::Card(CardId::random())), Vec::<TransactionId>::new());
        assert_eq!(store.purge_log(t0() + TimeDelta::days(7), 10).unwrap(), 2, "two entries");
        assert_eq!(ids(&store, Instrument::Card(card)), Vec::<TransactionId>::new());
    }

    /// Two threads log side by side (each queue locked alone) while a third files claims:
    /// every payment is logged once under its card and its phone, and a claim takes exactly
    /// the payments logged before it.
    #[test]
    fn payments_logged_on_two_threads_while_claims_are_filed_are_all_there() {
        let store = InMemoryRiskStore::new();
        let phones = [DeviceId::random(), DeviceId::random()];
        let cards: Vec<Vec<CardId>> =
            (0..2).map(|_| std::iter::repeat_with(CardId::random).take(500).collect()).collect();
        std::thread::scope(|s| {
            for (cards, phone) in cards.iter().zip(&phones) {
                let store = &store;
                s.spawn(move || {
                    for card in cards {
                        store.log(paid(card, Some(phone), t0()), TimeDelta::days(7)).unwrap();
                    }
                });
            }
            let store = &store;
            let claimant = &cards[0];
            s.spawn(move || {
                for card in claimant.iter().step_by(50) {
                    let report = report(Instrument::Card(card.clone()));
                    let claim = store.file_claim(&ClaimId::random(), &report, t0()).unwrap();
                    // Claimed while its payment was being logged, or not yet logged.
                    assert!(claim.is_none_or(|c| c.transactions.len() == 1));
                }
            });
        });
        for (cards, phone) in cards.iter().zip(&phones) {
            assert_eq!(ids(&store, Instrument::Device(phone.clone())).len(), 500);
            assert!(cards.iter().all(|c| ids(&store, Instrument::Card(c.clone())).len() == 1));
        }
        assert_eq!(store.purge_log(t0() + TimeDelta::days(7), usize::MAX).unwrap(), 2_000);
    }

    #[test]
    fn a_transaction_logged_again_under_another_card_stays_under_the_first() {
        let store = InMemoryRiskStore::new();
        let (first, second) = (CardId::random(), CardId::random());
        let t = paid(&first, None, t0());
        store.log(t.clone(), TimeDelta::days(7)).unwrap();
        store
            .log(LoggedTransaction { card: second.clone(), ..t.clone() }, TimeDelta::days(7))
            .unwrap();
        // Each instrument's log is its own, as in a shared store (keyed by instrument).
        assert_eq!(ids(&store, Instrument::Card(first)), vec![t.id.clone()]);
        assert_eq!(ids(&store, Instrument::Card(second)), vec![t.id]);
    }

    #[test]
    fn late_arrivals_lapse_in_time_order() {
        let store = InMemoryRiskStore::new();
        let (card, device) = (CardId::random(), DeviceId::random());
        let (new, old) = (
            paid(&card, Some(&device), t0()),
            paid(&card, Some(&device), t0() - TimeDelta::hours(5)),
        );
        store.log(new.clone(), TimeDelta::days(1)).unwrap();
        store.log(old.clone(), TimeDelta::days(1)).unwrap(); // arrives late
        assert_eq!(
            ids(&store, Instrument::Card(card.clone())),
            vec![old.id.clone(), new.id.clone()]
        );
        // Between the two lapses: only the older goes, from the card's and the phone's logs.
        assert_eq!(store.purge_log(t0() + TimeDelta::hours(20), 100).unwrap(), 2);
        assert_eq!(ids(&store, Instrument::Card(card)), vec![new.id.clone()]);
        assert_eq!(ids(&store, Instrument::Device(device)), vec![new.id]);
    }

    #[test]
    fn a_purge_stops_at_its_limit_and_the_next_goes_on() {
        let store = InMemoryRiskStore::new();
        for _ in 0..10 {
            store.log(paid(&CardId::random(), None, t0()), TimeDelta::hours(1)).unwrap();
        }
        let later = t0() + TimeDelta::hours(1);
        assert_eq!(store.purge_log(later, 4).unwrap(), 4);
        assert_eq!(store.purge_log(later, 4).unwrap(), 4);
        assert_eq!(store.purge_log(later, 4).unwrap(), 2);
        assert_eq!(store.purge_log(later, 4).unwrap(), 0);
    }
}

//! The risk engine's records: status lists, the loss log and claims, behind the
//! [`RiskStore`] port, implemented once over any [`Kv`].

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::store::{self, Kv, Txn, get_json, prefix_end, put_json, time_key};
use cloudcard_core::{CardId, ClaimId, DeviceId, StoreError, TransactionId, UserId};

use crate::RiskError;
use crate::loss::{
    self, Assessment, Claim, ClaimEvent, ClaimState, Instrument, LoggedTransaction, LossReport,
};
use crate::velocity::EntityKey;

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

/// The in-memory risk store: each instrument's log in a queue, a time-ordered index of what
/// lapses, the claims, under one lock held for a few map operations; and the lists every
/// decision reads — lost instruments, suspended users, suppressed rules — as an immutable
/// snapshot that deciding threads load without a lock (nothing shared is written to read it).
/// A change copies the lists and swaps the copy in, one change at a time: changes are rare
/// (a report, a reinstatement, an operator's suppression), reads are every payment.
#[derive(Debug, Default)]
pub struct InMemoryRiskStore {
    book: std::sync::RwLock<Book>,
    lists: arc_swap::ArcSwap<Lists>,
    changing: std::sync::Mutex<()>,
}

#[derive(Debug, Default, Clone)]
struct Lists {
    lost_cards: std::collections::HashMap<CardId, DateTime<Utc>>,
    lost_devices: std::collections::HashMap<DeviceId, DateTime<Utc>>,
    suspended: std::collections::HashSet<UserId>,
    suppressed: std::collections::HashMap<EntityKey, Vec<(String, DateTime<Utc>)>>,
}

#[derive(Debug, Default)]
struct Book {
    by_card: Spread<CardId, Log>,
    by_device: Spread<DeviceId, Log>,
    due: DueQueues,
    /// The queue the next purge starts from, so that a purge cut short by its limit does not
    /// leave the same queues for last every time.
    purge_from: usize,
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

    /// Changes the lists: a copy, changed by `change`, swapped in; what `change` answers.
    fn change_lists<T>(&self, change: impl FnOnce(&mut Lists) -> T) -> T {
        let _one_at_a_time = cloudcard_core::sync::MutexExt::lock_unpoisoned(&self.changing);
        let mut lists = Lists::clone(&self.lists.load());
        let answer = change(&mut lists);
        self.lists.store(Arc::new(lists));
        answer
    }
}

/// A map kept in many small tables: growing never rehashes more than one small table's worth,
/// so no single insert stalls while the whole map doubles.
#[derive(Debug)]
struct Spread<K, V>(Vec<std::collections::HashMap<K, V>>);

const SPREAD: usize = 4_096;

impl<K, V> Default for Spread<K, V> {
    fn default() -> Self {
        Self((0..SPREAD).map(|_| std::collections::HashMap::new()).collect())
    }
}

/// The hash that spreads `key` over tables or queues.
fn spread_hash<K: std::hash::Hash>(key: &K) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(key)
}

impl<K: std::hash::Hash + Eq, V> Spread<K, V> {
    fn at(key: &K) -> usize {
        (spread_hash(key) % SPREAD as u64) as usize
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.0.get(Self::at(key))?.get(key)
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.0.get_mut(Self::at(key))?.get_mut(key)
    }

    fn insert(&mut self, key: K, value: V) {
        if let Some(table) = self.0.get_mut(Self::at(&key)) {
            table.insert(key, value);
        }
    }

    fn remove(&mut self, key: &K) {
        if let Some(table) = self.0.get_mut(Self::at(key)) {
            table.remove(key);
        }
    }
}

/// What lapses when: each logged transaction under the time it lapses, in one of many queues
/// (by a hash of its id), so that no queue grows large enough for its doubling to hold a
/// payment up. A queue is in order of time and then of id hash: payments arrive in time order,
/// so a new entry almost always goes at the back, and one logged again for the same time is
/// found by a binary search, never by reading the entries it passes. A purge takes from the
/// fronts.
#[derive(Debug)]
struct DueQueues(Vec<std::collections::VecDeque<Due>>);

/// One queued entry.
#[derive(Debug)]
struct Due {
    at: DateTime<Utc>,
    id_hash: u64,
    entry: Arc<LoggedTransaction>,
}

impl Due {
    const fn key(&self) -> (DateTime<Utc>, u64) {
        (self.at, self.id_hash)
    }
}

impl Default for DueQueues {
    fn default() -> Self {
        Self((0..SPREAD).map(|_| std::collections::VecDeque::new()).collect())
    }
}

impl DueQueues {
    /// Queues `entry` to lapse at `at`; the entry it replaces, if the same transaction was
    /// queued for the same time.
    fn insert(
        &mut self,
        at: DateTime<Utc>,
        entry: Arc<LoggedTransaction>,
    ) -> Option<Arc<LoggedTransaction>> {
        let id_hash = spread_hash(&entry.id);
        let key = (at, id_hash);
        let queue = self.0.get_mut((id_hash % SPREAD as u64) as usize)?;
        if queue.back().is_none_or(|last| last.key() < key) {
            queue.push_back(Due { at, id_hash, entry });
            return None;
        }
        let (from, to) =
            (queue.partition_point(|d| d.key() < key), queue.partition_point(|d| d.key() <= key));
        if let Some(same) = queue.range_mut(from..to.max(from)).find(|d| d.entry.id == entry.id) {
            return Some(std::mem::replace(&mut same.entry, entry));
        }
        queue.insert(to, Due { at, id_hash, entry });
        None
    }
}

/// One instrument's log, oldest first (payments arrive in time order, so what lapses first is
/// at the front).
type Log = std::collections::VecDeque<Arc<LoggedTransaction>>;

impl Book {
    fn log_of(&self, instrument: &Instrument) -> impl Iterator<Item = &LoggedTransaction> {
        let log = match instrument {
            Instrument::Card(c) => self.by_card.get(c),
            Instrument::Device(d) => self.by_device.get(d),
        };
        log.into_iter().flatten().map(|t| &**t)
    }

    fn assess(&self, report: &LossReport) -> Vec<Assessment> {
        self.log_of(&report.instrument)
            .map(|t| Assessment {
                ineligible: loss::verdict(t, report, self.claimed.contains_key(&t.id)),
                transaction: t.clone(),
            })
            .collect()
    }
}

/// Removes one transaction from a log: from the front in the usual case, by search otherwise.
fn forget(log: Option<&mut Log>, id: &TransactionId) -> usize {
    let Some(log) = log else { return 0 };
    if log.front().is_some_and(|t| t.id == *id) {
        log.pop_front();
        return 1;
    }
    let before = log.len();
    log.retain(|t| t.id != *id);
    before - log.len()
}

impl RiskStore for InMemoryRiskStore {
    fn mark_lost(&self, instrument: &Instrument, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.change_lists(|lists| {
            match instrument {
                Instrument::Card(c) => lists.lost_cards.entry(c.clone()).or_insert(at),
                Instrument::Device(d) => lists.lost_devices.entry(d.clone()).or_insert(at),
            };
        });
        Ok(())
    }

    fn clear_lost(&self, instrument: &Instrument) -> Result<bool, StoreError> {
        Ok(self.change_lists(|lists| match instrument {
            Instrument::Card(c) => lists.lost_cards.remove(c).is_some(),
            Instrument::Device(d) => lists.lost_devices.remove(d).is_some(),
        }))
    }

    fn set_suspended(&self, user: &UserId, suspended: bool) -> Result<(), StoreError> {
        self.change_lists(|lists| {
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
        let shared = Arc::new(entry);
        let entry = &*shared;
        let mut book = self.write();
        if let Some(earlier) = book.due.insert(due, shared.clone()) {
            forget(book.by_card.get_mut(&earlier.card), &earlier.id);
            if let Some(device) = &earlier.device {
                forget(book.by_device.get_mut(device), &earlier.id);
            }
        }
        // An instrument that paid before keeps its log: no id cloned for a key.
        match book.by_card.get_mut(&entry.card) {
            Some(log) => log.push_back(shared.clone()),
            None => {
                book.by_card.insert(entry.card.clone(), Log::from([shared.clone()]));
            }
        }
        if let Some(device) = &entry.device {
            match book.by_device.get_mut(device) {
                Some(log) => log.push_back(shared),
                None => {
                    book.by_device.insert(device.clone(), Log::from([shared]));
                }
            }
        }
        Ok(())
    }

    fn purge_log(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        let mut book = self.write();
        let Book { by_card, by_device, due, purge_from, .. } = &mut *book;
        let start = *purge_from;
        *purge_from = start.wrapping_add(1);
        let (mut taken, mut purged) = (0, 0);
        for k in 0..SPREAD {
            if taken >= limit {
                break;
            }
            let Some(queue) = due.0.get_mut(start.wrapping_add(k) % SPREAD) else { break };
            while taken < limit && queue.front().is_some_and(|d| d.at <= now) {
                let Some(Due { entry: t, .. }) = queue.pop_front() else { break };
                taken += 1;
                purged += forget(by_card.get_mut(&t.card), &t.id);
                if by_card.get(&t.card).is_some_and(Log::is_empty) {
                    by_card.remove(&t.card);
                }
                if let Some(device) = &t.device {
                    purged += forget(by_device.get_mut(device), &t.id);
                    if by_device.get(device).is_some_and(Log::is_empty) {
                        by_device.remove(device);
                    }
                }
            }
        }
        Ok(purged)
    }

    fn assess(&self, report: &LossReport) -> Result<Vec<Assessment>, StoreError> {
        Ok(self.read().assess(report))
    }

    fn file_claim(
        &self,
        id: &ClaimId,
        report: &LossReport,
        now: DateTime<Utc>,
    ) -> Result<Option<Claim>, StoreError> {
        let mut book = self.write();
        let eligible: Vec<LoggedTransaction> = book
            .assess(report)
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
        self.change_lists(|lists| {
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
}

//! Velocity windows: per-entity counts and sums in fixed buckets.

use cloudcard_core::sync::{MutexExt, Padded};
use std::hash::{Hash, RandomState};
use std::sync::{Mutex, MutexGuard};

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::store::{self, Kv};
use cloudcard_core::{StoreError, keyed_hash};
use serde::{Deserialize, Serialize};

use crate::RiskError;

mod entities;

use entities::Entities;

/// The most windows a [`WindowSet`] may hold.
pub const MAX_WINDOWS: usize = 8;
/// How many recent transaction ids an entity keeping buckets remembers, so a retry is not
/// counted twice. (An entity keeping a log remembers the id of every transaction in it: each
/// within the longest window.)
pub const RECENT_IDS: usize = 16;
const SHARDS: usize = 4_096;
const _: () =
    assert!(SHARDS <= 1 << entities::SHARD_BITS, "a key's shard bits lie below its slot bits");
const _: () = assert!(size_of::<Option<(u64, EntityState)>>() == 48, "an entry is 48 bytes");
/// New entities between two automatic sweeps of a shard.
const SWEEP_EVERY: u64 = 64;

/// What velocity is tracked per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A funding card.
    Card,
    /// A payment token.
    Token,
    /// A device.
    Device,
    /// A user.
    User,
    /// Card-binding attempts by a user.
    BindUser,
    /// Card-binding attempts on a device.
    BindDevice,
}

impl EntityKind {
    /// Every kind, in index order.
    pub const ALL: [Self; 6] =
        [Self::Card, Self::Token, Self::Device, Self::User, Self::BindUser, Self::BindDevice];

    /// The name used in feature names (`card`, `bind.user`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Card => "card",
            Self::Token => "token",
            Self::Device => "device",
            Self::User => "user",
            Self::BindUser => "bind.user",
            Self::BindDevice => "bind.device",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// The byte that leads the kind's ids into a hash (see [`keyed_hash`]).
    const fn tag(self) -> u8 {
        self as u8
    }
}

/// One velocity window: a length cut into equal buckets.
///
/// A window counts the bucket `now` falls in and the `buckets - 1` before it, so a transaction
/// leaves a window between `length - width` and `length` after it happened, where `width` is
/// `length / buckets`: the price of bounded memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    label: String,
    width_secs: i64,
    buckets: u16,
}

impl Window {
    /// A window named `label` (as rules name it: `10m`, `24h`) of `length`, in `buckets`.
    ///
    /// # Errors
    ///
    /// [`RiskError::Windows`] unless `buckets` is 1–64 and divides `length` into whole seconds.
    pub fn new(label: &str, length: TimeDelta, buckets: u16) -> Result<Self, RiskError> {
        let secs = length.num_seconds();
        let ok = (1..=64).contains(&buckets)
            && secs > 0
            && secs % i64::from(buckets) == 0
            && !label.is_empty()
            && label.chars().all(|c| c.is_ascii_alphanumeric());
        if !ok {
            return Err(RiskError::Windows(
                "each window needs a name and 1 to 64 buckets of whole seconds",
            ));
        }
        Ok(Self { label: label.to_owned(), width_secs: secs / i64::from(buckets), buckets })
    }

    /// The name rules use.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The window's length.
    #[must_use]
    pub fn length(&self) -> TimeDelta {
        TimeDelta::seconds(self.width_secs * i64::from(self.buckets))
    }
}

/// The windows every entity is tracked over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSet {
    windows: Vec<Window>,
}

impl WindowSet {
    /// A set of 1 to 8 windows with distinct labels.
    ///
    /// # Errors
    ///
    /// [`RiskError::Windows`] for no window, more than 8, or a repeated label.
    pub fn new(windows: Vec<Window>) -> Result<Self, RiskError> {
        if windows.is_empty() || windows.len() > MAX_WINDOWS {
            return Err(RiskError::Windows("between 1 and 8 windows"));
        }
        for (i, w) in windows.iter().enumerate() {
            if windows.iter().skip(i + 1).any(|o| o.label == w.label) {
                return Err(RiskError::Windows("window labels must be distinct"));
            }
        }
        Ok(Self { windows })
    }

    /// The windows.
    #[must_use]
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// The index of the window labelled `label`.
    #[must_use]
    pub fn position(&self, label: &str) -> Option<usize> {
        self.windows.iter().position(|w| w.label == label)
    }

    /// The longest window: entities idle for longer are evicted.
    #[must_use]
    pub fn longest(&self) -> TimeDelta {
        self.windows.iter().map(Window::length).max().unwrap_or_default()
    }

    fn total_buckets(&self) -> usize {
        self.windows.iter().map(|w| usize::from(w.buckets)).sum()
    }
}

impl Default for WindowSet {
    /// 10 minutes in 1-minute buckets, 1 hour in 5-minute buckets, 24 hours in hourly buckets
    /// and 7 days in daily buckets: 53 buckets for an entity that keeps them.
    fn default() -> Self {
        let w = |label, length, buckets| Window {
            label: String::from(label),
            width_secs: length / i64::from(buckets),
            buckets,
        };
        Self {
            windows: vec![
                w("10m", 600, 10),
                w("1h", 3_600, 12),
                w("24h", 86_400, 24),
                w("7d", 604_800, 7),
            ],
        }
    }
}

/// Counts and sums in one window, approved and declined apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Aggregate {
    /// Approved transactions.
    pub approved_count: u64,
    /// Their amount in fen.
    pub approved_sum: u64,
    /// Declined transactions.
    pub declined_count: u64,
    /// Their amount in fen.
    pub declined_sum: u64,
}

impl Aggregate {
    /// No transaction.
    const ZERO: Self =
        Self { approved_count: 0, approved_sum: 0, declined_count: 0, declined_sum: 0 };

    /// All transactions, approved and declined.
    #[must_use]
    pub const fn count(&self) -> u64 {
        self.approved_count.saturating_add(self.declined_count)
    }

    /// All amounts, approved and declined.
    #[must_use]
    pub const fn sum(&self) -> u64 {
        self.approved_sum.saturating_add(self.declined_sum)
    }
}

/// One entity's windows at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Per window, in [`WindowSet`] order.
    pub windows: [Aggregate; MAX_WINDOWS],
    /// When the entity was first seen (Unix seconds).
    pub first_seen: i64,
}

impl Snapshot {
    /// No transaction in any window, first seen at the epoch.
    pub(crate) const EMPTY: Self = Self { windows: [Aggregate::ZERO; MAX_WINDOWS], first_seen: 0 };
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    index: u32,
    approved_count: u32,
    declined_count: u32,
    approved_sum: u64,
    declined_sum: u64,
}

/// The most transactions an entity keeps one by one; with more inside its longest window it
/// keeps buckets instead. 64 transactions take 1 KiB, about half of an entity's buckets.
const LOG_MAX: usize = 64;
/// An [`Event`]'s amount bit saying the transaction was approved.
const APPROVED: u32 = 1 << 31;

/// One transaction as an entity's log keeps it, in 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Event {
    /// The transaction id's hash.
    id: u64,
    /// When it happened, in seconds before the entity's `last_seen`.
    back: u32,
    /// The amount in fen (under 2^31), with [`APPROVED`] set if it was approved.
    amount: u32,
}

impl Event {
    /// The event, if its age and amount fit.
    fn new(id: u64, back: i64, amount: u64, approved: bool) -> Option<Self> {
        let back = u32::try_from(back).ok()?;
        let amount = u32::try_from(amount).ok().filter(|a| a & APPROVED == 0)?;
        Some(Self { id, back, amount: if approved { amount | APPROVED } else { amount } })
    }

    const fn at(self, last_seen: i64) -> i64 {
        last_seen.saturating_sub(self.back as i64)
    }

    const fn approved(self) -> bool {
        self.amount & APPROVED != 0
    }

    const fn fen(self) -> u64 {
        (self.amount & !APPROVED) as u64
    }

    /// The event as stored: id, age and amount, little-endian.
    fn to_le_bytes(self) -> [u8; 16] {
        let mut out = [0; 16];
        let (id, rest) = out.split_at_mut(8);
        let (back, amount) = rest.split_at_mut(4);
        id.copy_from_slice(&self.id.to_le_bytes());
        back.copy_from_slice(&self.back.to_le_bytes());
        amount.copy_from_slice(&self.amount.to_le_bytes());
        out
    }

    fn from_le_bytes(bytes: &[u8; 16]) -> Option<Self> {
        let mut r = Reader(bytes);
        Some(Self {
            id: u64::from_le_bytes(r.take()?),
            back: u32::from_le_bytes(r.take()?),
            amount: u32::from_le_bytes(r.take()?),
        })
    }
}

/// What an entity remembers of its transactions.
#[derive(Debug)]
enum History {
    /// One transaction, held inline: most cards pay a few times a week, so most entities need
    /// no allocation of their own.
    One(Event),
    /// Every transaction within the longest window (none, or two to [`LOG_MAX`]), in the order
    /// they were counted.
    Log(Box<[Event]>),
    /// Buckets, for an entity busier than a log holds (or paying amounts a log cannot hold).
    Buckets(Box<Buckets>),
}

impl History {
    fn events(&self) -> &[Event] {
        match self {
            Self::One(event) => std::slice::from_ref(event),
            Self::Log(events) => events,
            Self::Buckets(_) => &[],
        }
    }

    fn from_events(events: Vec<Event>) -> Self {
        match events.as_slice() {
            [one] => Self::One(*one),
            _ => Self::Log(events.into_boxed_slice()),
        }
    }
}

/// A busy entity's velocity: each window's buckets, and the last [`RECENT_IDS`] transaction
/// ids (which catch retries).
#[derive(Debug)]
struct Buckets {
    recent: [u64; RECENT_IDS],
    next_recent: u8,
    buckets: Box<[Bucket]>,
}

impl Buckets {
    /// Buckets holding the transactions of a log whose newest was at `last_seen`. In any
    /// order: a ring slot refuses a transaction only for a newer one a whole window later, and
    /// then no window that holds the newer one reaches the older.
    fn of_log(windows: &WindowSet, events: &[Event], last_seen: i64) -> Self {
        let mut buckets = Self::new(windows);
        for &e in events {
            buckets.count(windows, e.id, e.at(last_seen), e.fen(), e.approved());
        }
        buckets
    }

    fn new(windows: &WindowSet) -> Self {
        Self {
            recent: [0; RECENT_IDS],
            next_recent: 0,
            buckets: vec![Bucket::default(); windows.total_buckets()].into_boxed_slice(),
        }
    }

    fn sum(&self, windows: &WindowSet, now: i64, read: u8, out: &mut [Aggregate; MAX_WINDOWS]) {
        let mut offset = 0;
        for (i, (w, agg)) in windows.windows.iter().zip(out.iter_mut()).enumerate() {
            let n = usize::from(w.buckets);
            if read & (1 << i) == 0 {
                offset += n;
                continue;
            }
            let current = now.div_euclid(w.width_secs);
            let oldest = current - i64::from(w.buckets) + 1;
            for b in self.buckets.iter().skip(offset).take(n) {
                let index = i64::from(b.index);
                if b.approved_count + b.declined_count > 0 && (oldest..=current).contains(&index) {
                    agg.approved_count += u64::from(b.approved_count);
                    agg.approved_sum = agg.approved_sum.saturating_add(b.approved_sum);
                    agg.declined_count += u64::from(b.declined_count);
                    agg.declined_sum = agg.declined_sum.saturating_add(b.declined_sum);
                }
            }
            offset += n;
        }
    }

    /// Counts one transaction whose id was not counted before.
    fn count(&mut self, windows: &WindowSet, id_hash: u64, at: i64, amount: u64, approved: bool) {
        if let Some(slot) = self.recent.get_mut(usize::from(self.next_recent) % RECENT_IDS) {
            *slot = id_hash;
        }
        self.next_recent = self.next_recent.wrapping_add(1) % RECENT_IDS as u8;
        let mut offset = 0;
        for w in &windows.windows {
            let n = usize::from(w.buckets);
            let index = at.div_euclid(w.width_secs);
            let slot = usize::try_from(index.rem_euclid(i64::from(w.buckets))).unwrap_or(0);
            let index = u32::try_from(index).unwrap_or(0);
            if let Some(b) = self.buckets.get_mut(offset + slot) {
                if b.index != index {
                    if b.index > index && b.approved_count + b.declined_count > 0 {
                        offset += n;
                        continue; // older than this window reaches: nothing to count here
                    }
                    *b = Bucket { index, ..Bucket::default() };
                }
                if approved {
                    b.approved_count = b.approved_count.saturating_add(1);
                    b.approved_sum = b.approved_sum.saturating_add(amount);
                } else {
                    b.declined_count = b.declined_count.saturating_add(1);
                    b.declined_sum = b.declined_sum.saturating_add(amount);
                }
            }
            offset += n;
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.next_recent);
        for id in &self.recent {
            out.extend_from_slice(&id.to_le_bytes());
        }
        for b in &self.buckets {
            out.extend_from_slice(&b.index.to_le_bytes());
            out.extend_from_slice(&b.approved_count.to_le_bytes());
            out.extend_from_slice(&b.declined_count.to_le_bytes());
            out.extend_from_slice(&b.approved_sum.to_le_bytes());
            out.extend_from_slice(&b.declined_sum.to_le_bytes());
        }
    }

    fn decode(windows: &WindowSet, r: &mut Reader<'_>) -> Option<Self> {
        let [next_recent] = r.take()?;
        let mut recent = [0; RECENT_IDS];
        for id in &mut recent {
            *id = u64::from_le_bytes(r.take()?);
        }
        let mut buckets = vec![Bucket::default(); windows.total_buckets()].into_boxed_slice();
        for b in &mut buckets {
            *b = Bucket {
                index: u32::from_le_bytes(r.take()?),
                approved_count: u32::from_le_bytes(r.take()?),
                declined_count: u32::from_le_bytes(r.take()?),
                approved_sum: u64::from_le_bytes(r.take()?),
                declined_sum: u64::from_le_bytes(r.take()?),
            };
        }
        Some(Self { recent, next_recent, buckets })
    }

    /// The encoded length, after the times.
    fn encoded_len(windows: &WindowSet) -> usize {
        1 + 8 * RECENT_IDS + 28 * windows.total_buckets()
    }
}

/// The first byte of an encoded entity keeping a log.
const ENCODED_LOG: u8 = 1;
/// The first byte of an encoded entity keeping buckets.
const ENCODED_BUCKETS: u8 = 2;

/// One entity's state: two times and its history, 40 bytes inline. An entity remembers each
/// transaction within its longest window one by one until it has more than [`LOG_MAX`] of
/// them, then switches to buckets for good (until it idles out). Both give the same sums: a
/// transaction counts in a window while the bucket it falls in is the current one or one of
/// the `buckets - 1` before it, whether that bucket is kept or computed from the time.
#[derive(Debug)]
struct EntityState {
    first_seen: i64,
    last_seen: i64,
    history: History,
}

impl EntityState {
    fn new(at: i64) -> Self {
        Self { first_seen: at, last_seen: at, history: History::Log(Box::new([])) }
    }

    /// Whether transaction `id_hash` was counted already (and is still remembered).
    fn counted(&self, id_hash: u64) -> bool {
        match &self.history {
            History::Buckets(b) => b.recent.contains(&id_hash),
            history => history.events().iter().any(|e| e.id == id_hash),
        }
    }

    /// The windows whose bit is set in `read` summed at `now`; the others read zero.
    fn snapshot(&self, windows: &WindowSet, now: i64, read: u8) -> Snapshot {
        let mut snapshot = Snapshot::EMPTY;
        self.snapshot_into(windows, now, read, &mut snapshot);
        snapshot
    }

    /// [`Self::snapshot`], summed into `snapshot` (empty), where it lies: a snapshot is 264
    /// bytes, which a decision need not copy on its way.
    fn snapshot_into(&self, windows: &WindowSet, now: i64, read: u8, snapshot: &mut Snapshot) {
        let Snapshot { windows: out, first_seen } = snapshot;
        *first_seen = self.first_seen;
        match &self.history {
            History::Buckets(b) => b.sum(windows, now, read, out),
            history => {
                let events = history.events();
                for (i, (w, agg)) in windows.windows.iter().zip(out.iter_mut()).enumerate() {
                    if read & (1 << i) == 0 || events.is_empty() {
                        continue;
                    }
                    // The window's buckets, as a span of time: [from, to).
                    let current = now.div_euclid(w.width_secs);
                    let from = (current - i64::from(w.buckets) + 1).saturating_mul(w.width_secs);
                    let to = current.saturating_add(1).saturating_mul(w.width_secs);
                    for e in events {
                        let at = e.at(self.last_seen);
                        if from <= at && at < to {
                            if e.approved() {
                                agg.approved_count += 1;
                                agg.approved_sum += e.fen();
                            } else {
                                agg.declined_count += 1;
                                agg.declined_sum += e.fen();
                            }
                        }
                    }
                }
            }
        }
    }

    /// Counts one transaction; `false` (counting nothing) for an id counted already.
    fn count(
        &mut self,
        windows: &WindowSet,
        id_hash: u64,
        at: i64,
        amount: u64,
        approved: bool,
    ) -> bool {
        if self.counted(id_hash) {
            return false;
        }
        self.first_seen = self.first_seen.min(at);
        if !self.log(windows, id_hash, at, amount, approved) {
            match &mut self.history {
                History::Buckets(b) => b.count(windows, id_hash, at, amount, approved),
                history => {
                    // Switching for good: the logged transactions go into the buckets first.
                    let mut b = Buckets::of_log(windows, history.events(), self.last_seen);
                    b.count(windows, id_hash, at, amount, approved);
                    *history = History::Buckets(Box::new(b));
                }
            }
        }
        self.last_seen = self.last_seen.max(at);
        true
    }

    /// Adds a transaction to the log, dropping those no window reaches any more; `false`,
    /// changing nothing, if the entity keeps buckets or its log cannot hold the transaction
    /// (too many, or an amount of 2^31 fen or more).
    fn log(&mut self, windows: &WindowSet, id: u64, at: i64, amount: u64, approved: bool) -> bool {
        if matches!(self.history, History::Buckets(_)) {
            return false;
        }
        let last = self.last_seen.max(at);
        let shift = last - self.last_seen;
        let keep = windows.longest().num_seconds();
        // Kept when within the longest window of the newest transaction; a transaction older
        // than that counts in no window, now or later.
        let moved = |e: &Event| {
            let back = i64::from(e.back).checked_add(shift).filter(|&b| b <= keep)?;
            Some(Event { back: u32::try_from(back).ok()?, ..*e })
        };
        // The new one likewise: older than that, it is counted nowhere and not kept.
        let new = match (last - at <= keep).then(|| Event::new(id, last - at, amount, approved)) {
            Some(None) => return false, // an amount or an age a log cannot hold
            new => new.flatten(),
        };
        let kept = self.history.events().iter().filter(|e| moved(e).is_some()).count();
        let len = kept + usize::from(new.is_some());
        if len > LOG_MAX {
            return false;
        }
        // A busy entity's log often keeps its length (a transaction in, one past the longest
        // window out): then it is rewritten where it lies, the kept ones moved up in order and
        // the new one last, and nothing is allocated or freed. Otherwise it is made once, at
        // its size.
        if let History::Log(events) = &mut self.history
            && events.len() == len
        {
            let mut to = 0;
            for from in 0..events.len() {
                if let Some(e) = events.get(from).and_then(moved) {
                    if let Some(slot) = events.get_mut(to) {
                        *slot = e;
                    }
                    to += 1;
                }
            }
            if let (Some(e), Some(slot)) = (new, events.get_mut(to)) {
                *slot = e;
            }
            return true;
        }
        let mut events = Vec::with_capacity(len);
        events.extend(self.history.events().iter().filter_map(moved).chain(new));
        self.history = History::from_events(events);
        true
    }

    /// The heap bytes the history takes beyond the inline state (the allocator's rounding aside).
    fn heap_bytes(&self) -> usize {
        match &self.history {
            History::One(_) => 0,
            History::Log(events) => size_of_val::<[Event]>(events),
            History::Buckets(b) => size_of::<Buckets>() + size_of_val::<[Bucket]>(&b.buckets),
        }
    }

    /// The state as bytes for a durable store: a byte saying which history it keeps, the two
    /// times, then the logged transactions or the buckets, all little-endian.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17 + 16 * self.history.events().len());
        let tag =
            if matches!(self.history, History::Buckets(_)) { ENCODED_BUCKETS } else { ENCODED_LOG };
        out.push(tag);
        out.extend_from_slice(&self.first_seen.to_le_bytes());
        out.extend_from_slice(&self.last_seen.to_le_bytes());
        match &self.history {
            History::Buckets(b) => b.encode(&mut out),
            history => {
                for e in history.events() {
                    out.extend_from_slice(&e.to_le_bytes());
                }
            }
        }
        out
    }

    /// The state back from [`Self::encode`]'s bytes, if they fit `windows`. Bytes of the
    /// earlier layout (the two times and the buckets, with no first byte) are read too: their
    /// length tells them apart, odd where a log's is even and one short of the buckets'.
    fn decode(windows: &WindowSet, bytes: &[u8]) -> Option<Self> {
        let (tag, body) = if bytes.len() == 16 + Buckets::encoded_len(windows) {
            (ENCODED_BUCKETS, bytes) // the earlier layout
        } else {
            let (&tag, body) = bytes.split_first()?;
            (tag, body)
        };
        let mut r = Reader(body);
        let first_seen = i64::from_le_bytes(r.take()?);
        let last_seen = i64::from_le_bytes(r.take()?);
        let history = match tag {
            ENCODED_BUCKETS => {
                let buckets = Buckets::decode(windows, &mut r)?;
                r.0.is_empty().then(|| History::Buckets(Box::new(buckets)))?
            }
            ENCODED_LOG => {
                let (events, rest) = r.0.as_chunks::<16>();
                if !rest.is_empty() || events.len() > LOG_MAX {
                    return None;
                }
                History::from_events(
                    events.iter().map(Event::from_le_bytes).collect::<Option<_>>()?,
                )
            }
            _ => return None,
        };
        Some(Self { first_seen, last_seen, history })
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
}

/// What counting one transaction did.
struct Counted {
    /// Whether it was counted (not a repeat).
    fresh: bool,
    /// A shard due for an idle sweep.
    sweep: Option<usize>,
}

/// Where velocity is kept: the port the risk engine reads windows from and counts payments
/// into. [`VelocityStore`] keeps it in this process; [`KvVelocityStore`] in a shared store, so
/// that every node counts into the same windows.
pub trait VelocityPort: Send + Sync + fmt::Debug {
    /// The windows tracked.
    fn windows(&self) -> &WindowSet;
    /// The key of entity `id` of `kind`.
    fn key(&self, kind: EntityKind, id: &[u8]) -> EntityKey;
    /// Hashes a transaction id for duplicate detection (never 0).
    fn id_hash(&self, id: &[u8]) -> u64;
    /// The entity's windows at `now`, or `None` if it was never seen.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store fails.
    fn snapshot(&self, key: EntityKey, now: DateTime<Utc>) -> Result<Option<Snapshot>, StoreError>;
    /// The entity's windows at `now` as [`Self::snapshot`], of which only those whose bit is set
    /// in `windows` need be summed (the others may read zero): a decision sums what its rules
    /// read. By default the whole snapshot.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store fails.
    fn snapshot_windows(
        &self,
        key: EntityKey,
        now: DateTime<Utc>,
        windows: u8,
    ) -> Result<Option<Snapshot>, StoreError> {
        let _ = windows;
        self.snapshot(key, now)
    }
    /// The windows of each entity of `reads` (a key and the windows to sum) at `now`, as
    /// [`Self::snapshot_windows`] reads one, into `out`, in order. By default one after
    /// another.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store fails.
    fn snapshots(
        &self,
        reads: &[(EntityKey, u8)],
        now: DateTime<Utc>,
        out: &mut [Option<Snapshot>],
    ) -> Result<(), StoreError> {
        for (&(key, windows), out) in reads.iter().zip(out) {
            *out = self.snapshot_windows(key, now, windows)?;
        }
        Ok(())
    }
    /// Counts one transaction for every entity in `keys`, together. Returns `false`, counting
    /// nothing, if the first entity already counted that transaction id (a retry).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store fails; nothing is counted then.
    fn record(
        &self,
        keys: &[EntityKey],
        id_hash: u64,
        at: DateTime<Utc>,
        amount: u64,
        approved: bool,
    ) -> Result<bool, StoreError>;
    /// Drops entities idle for longer than the longest window; how many.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store fails.
    fn evict_idle(&self, now: DateTime<Utc>) -> Result<usize, StoreError>;
    /// How many entities are tracked.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store fails.
    fn tracked(&self) -> Result<usize, StoreError>;
}

impl VelocityPort for VelocityStore {
    fn windows(&self) -> &WindowSet {
        &self.windows
    }
    fn key(&self, kind: EntityKind, id: &[u8]) -> EntityKey {
        Self::key(self, kind, id)
    }
    fn id_hash(&self, id: &[u8]) -> u64 {
        Self::id_hash(self, id)
    }
    fn snapshot(&self, key: EntityKey, now: DateTime<Utc>) -> Result<Option<Snapshot>, StoreError> {
        Ok(Self::snapshot(self, key, now))
    }
    fn snapshot_windows(
        &self,
        key: EntityKey,
        now: DateTime<Utc>,
        windows: u8,
    ) -> Result<Option<Snapshot>, StoreError> {
        Ok(Self::snapshot_windows(self, key, now, windows))
    }
    fn snapshots(
        &self,
        reads: &[(EntityKey, u8)],
        now: DateTime<Utc>,
        out: &mut [Option<Snapshot>],
    ) -> Result<(), StoreError> {
        Self::snapshots(self, reads, now, out);
        Ok(())
    }
    fn record(
        &self,
        keys: &[EntityKey],
        id_hash: u64,
        at: DateTime<Utc>,
        amount: u64,
        approved: bool,
    ) -> Result<bool, StoreError> {
        let Some((first, rest)) = keys.split_first() else { return Ok(false) };
        if !Self::record(self, *first, id_hash, at, amount, approved) {
            return Ok(false);
        }
        for key in rest {
            Self::record(self, *key, id_hash, at, amount, approved);
        }
        Ok(true)
    }
    fn evict_idle(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        Ok(Self::evict_idle(self, now))
    }
    fn tracked(&self) -> Result<usize, StoreError> {
        Ok(self.len())
    }
}

/// One entity's velocity as a shared backend keeps it: bytes in, bytes out. The logic of
/// counting and windowing stays here; a backend (a [`Kv`], Redis) only stores the bytes and
/// makes the read-count-write of one payment atomic.
#[derive(Debug)]
pub struct SharedRecord<'w> {
    windows: &'w WindowSet,
    state: EntityState,
}

impl<'w> SharedRecord<'w> {
    /// The record from its stored bytes, or a new one first seen at `at` if nothing is stored.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] if the bytes do not fit `windows`.
    pub fn load(
        windows: &'w WindowSet,
        stored: Option<&[u8]>,
        at: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let state = match stored {
            Some(bytes) => EntityState::decode(windows, bytes).ok_or(StoreError::Corrupt)?,
            None => EntityState::new(at.timestamp()),
        };
        Ok(Self { windows, state })
    }

    /// Counts one transaction; `false` (nothing counted) if this record already counted
    /// `id_hash` (a retry).
    pub fn count(&mut self, id_hash: u64, at: DateTime<Utc>, amount: u64, approved: bool) -> bool {
        self.state.count(self.windows, id_hash, at.timestamp(), amount, approved)
    }

    /// The windows at `now`.
    #[must_use]
    pub fn snapshot(&self, now: DateTime<Utc>) -> Snapshot {
        self.state.snapshot(self.windows, now.timestamp(), u8::MAX)
    }

    /// Whether nothing was counted within the longest window before `now`.
    #[must_use]
    pub fn idle_at(&self, now: DateTime<Utc>) -> bool {
        self.state.last_seen < now.timestamp() - self.windows.longest().num_seconds()
    }

    /// The bytes to store.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        self.state.encode()
    }
}

/// A snapshot from an entity's stored bytes, for a shared backend.
///
/// # Errors
///
/// [`StoreError::Corrupt`] if the bytes do not fit `windows`.
pub fn shared_snapshot(
    windows: &WindowSet,
    stored: &[u8],
    now: DateTime<Utc>,
) -> Result<Snapshot, StoreError> {
    SharedRecord::load(windows, Some(stored), now).map(|r| r.snapshot(now))
}

/// Counts one transaction into all of a payment's entities, from their stored bytes (in the
/// order of the payment's keys, `None` for an entity never seen): the bytes to store back for
/// each entity that counted it (`None` for one that had it already), or `None` for the whole
/// payment if its first entity already counted this transaction (a retry: store nothing).
///
/// # Errors
///
/// [`StoreError::Corrupt`] if stored bytes do not fit `windows`.
pub fn count_payment(
    windows: &WindowSet,
    stored: &[Option<&[u8]>],
    id_hash: u64,
    at: DateTime<Utc>,
    amount: u64,
    approved: bool,
) -> Result<Option<Vec<Option<Vec<u8>>>>, StoreError> {
    let mut out = Vec::with_capacity(stored.len());
    for (i, bytes) in stored.iter().enumerate() {
        let mut record = SharedRecord::load(windows, *bytes, at)?;
        let fresh = record.count(id_hash, at, amount, approved);
        if !fresh && i == 0 {
            return Ok(None);
        }
        out.push(fresh.then(|| record.encode()));
    }
    Ok(Some(out))
}

/// The key of entity `id` of `kind` for a shared backend: a hash that is the same on every
/// node and after every restart.
#[must_use]
pub fn shared_entity_key(kind: EntityKind, id: &[u8]) -> EntityKey {
    EntityKey(stable_hash(&[b"cloudcard/velocity-entity/v1", &[kind as u8], id]))
}

/// A transaction id's hash for duplicate detection in a shared backend (never 0).
#[must_use]
pub fn shared_id_hash(id: &[u8]) -> u64 {
    stable_hash(&[b"cloudcard/velocity-txn/v1", id]) | 1
}

const VELOCITY: &str = "risk_velocity";

/// Velocity over a [`Kv`]: each entity's buckets in one record, keyed by a stable hash of its
/// kind and id (the same on every node and after every restart), all of one payment's entities
/// counted in one transaction. Idle entities are not swept here; a backend with expiry (Redis)
/// or a periodic job drops them.
#[derive(Debug)]
pub struct KvVelocityStore<K> {
    kv: K,
    windows: WindowSet,
}

impl<K: Kv> KvVelocityStore<K> {
    /// Velocity over `kv` in `windows`.
    pub const fn new(kv: K, windows: WindowSet) -> Self {
        Self { kv, windows }
    }
}

fn stable_hash(parts: &[&[u8]]) -> u64 {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in parts {
        h.update(u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        h.update(part);
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
    u64::from_be_bytes(first)
}

impl<K: Kv> VelocityPort for KvVelocityStore<K> {
    fn windows(&self) -> &WindowSet {
        &self.windows
    }
    fn key(&self, kind: EntityKind, id: &[u8]) -> EntityKey {
        shared_entity_key(kind, id)
    }
    fn id_hash(&self, id: &[u8]) -> u64 {
        shared_id_hash(id)
    }
    fn snapshot(&self, key: EntityKey, now: DateTime<Utc>) -> Result<Option<Snapshot>, StoreError> {
        let bytes = store::read(&self.kv, |txn| txn.get(VELOCITY, &key.0.to_be_bytes()))?;
        bytes.map(|b| shared_snapshot(&self.windows, &b, now)).transpose()
    }
    fn record(
        &self,
        keys: &[EntityKey],
        id_hash: u64,
        at: DateTime<Utc>,
        amount: u64,
        approved: bool,
    ) -> Result<bool, StoreError> {
        store::write(&self.kv, |txn| {
            let mut stored = Vec::with_capacity(keys.len());
            for key in keys {
                stored.push(txn.get(VELOCITY, &key.0.to_be_bytes())?);
            }
            let stored: Vec<Option<&[u8]>> = stored.iter().map(Option::as_deref).collect();
            let Some(counted) =
                count_payment(&self.windows, &stored, id_hash, at, amount, approved)?
            else {
                return Ok(false);
            };
            for (key, bytes) in keys.iter().zip(counted) {
                if let Some(bytes) = bytes {
                    txn.put(VELOCITY, &key.0.to_be_bytes(), &bytes)?;
                }
            }
            Ok(true)
        })
    }
    fn evict_idle(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        store::write(&self.kv, |txn| {
            let mut evicted = 0;
            for (k, v) in txn.range(VELOCITY, &[], &[u8::MAX], usize::MAX)? {
                let idle = SharedRecord::load(&self.windows, Some(&v), now)
                    .map_or(true, |r| r.idle_at(now));
                if idle && txn.delete(VELOCITY, &k)? {
                    evicted += 1;
                }
            }
            Ok(evicted)
        })
    }
    fn tracked(&self) -> Result<usize, StoreError> {
        store::read(&self.kv, |txn| Ok(txn.range(VELOCITY, &[], &[u8::MAX], usize::MAX)?.len()))
    }
}

/// Per-entity velocity, in 4,096 independently locked shards: each small, so that growing one
/// (a table doubling, its fresh memory faulted in) or sweeping it never holds its lock for long,
/// even past a million entities. Updates to one entity are serialized by its shard's lock;
/// reads copy aggregates out without allocating.
#[derive(Debug)]
pub struct VelocityStore {
    windows: WindowSet,
    shards: Box<[Padded<Mutex<Entities<EntityState>>>]>,
    hasher: RandomState,
    inserts: std::sync::atomic::AtomicU64,
}

/// What leads a transaction id into [`keyed_hash`]: no entity kind's tag.
pub(crate) const ID_TAG: u8 = u8::MAX;

/// An entity's key: a keyed 64-bit hash of its kind and id, so that lookups allocate nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EntityKey(u64);

impl EntityKey {
    /// The key as 8 bytes, for a store's keys.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
}

impl VelocityStore {
    /// An empty store over `windows`.
    #[must_use]
    pub fn new(windows: WindowSet) -> Self {
        Self {
            windows,
            shards: (0..SHARDS).map(|_| Padded(Mutex::new(Entities::default()))).collect(),
            hasher: RandomState::new(),
            inserts: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The windows tracked.
    #[must_use]
    pub const fn windows(&self) -> &WindowSet {
        &self.windows
    }

    /// The key of entity `id` of `kind`.
    #[must_use]
    pub fn key(&self, kind: EntityKind, id: &[u8]) -> EntityKey {
        EntityKey(keyed_hash(&self.hasher, kind.tag(), id))
    }

    /// Hashes a transaction id for duplicate detection.
    #[must_use]
    pub fn id_hash(&self, id: &[u8]) -> u64 {
        keyed_hash(&self.hasher, ID_TAG, id) | 1 // never 0, the empty slot
    }

    /// The entity's windows at `now`, or `None` if it was never seen.
    #[must_use]
    pub fn snapshot(&self, key: EntityKey, now: DateTime<Utc>) -> Option<Snapshot> {
        self.snapshot_windows(key, now, u8::MAX)
    }

    /// The entity's windows at `now`, summing only those whose bit is set in `windows` (the
    /// others read zero), or `None` if it was never seen.
    #[must_use]
    pub fn snapshot_windows(
        &self,
        key: EntityKey,
        now: DateTime<Utc>,
        windows: u8,
    ) -> Option<Snapshot> {
        let shard = self.shard(key);
        Some(shard.get(key.0)?.snapshot(&self.windows, now.timestamp(), windows))
    }

    /// The windows of each entity of `reads` (a key and the windows to sum) at `now`, as
    /// [`Self::snapshot_windows`] reads one, into `out`, in order.
    ///
    /// Up to four are read under one hold of their shards' locks, taken in shard order, so that
    /// their misses overlap (see [`cloudcard_core::sync`]). More are read one after another.
    pub fn snapshots(
        &self,
        reads: &[(EntityKey, u8)],
        now: DateTime<Utc>,
        out: &mut [Option<Snapshot>],
    ) {
        const TOGETHER: usize = 4;
        if reads.len() > TOGETHER {
            for (&(key, windows), out) in reads.iter().zip(out) {
                *out = self.snapshot_windows(key, now, windows);
            }
            return;
        }
        let mut order = [usize::MAX; TOGETHER];
        for (i, &(key, _)) in order.iter_mut().zip(reads) {
            *i = Self::shard_index(key);
        }
        order.sort_unstable();
        let mut locked: [Option<(usize, MutexGuard<'_, Entities<EntityState>>)>; TOGETHER] =
            Default::default();
        let mut last = None;
        for (guard, &i) in locked.iter_mut().zip(&order).take(reads.len()) {
            if last != Some(i) {
                last = Some(i);
                *guard = self.shards.get(i).map(|shard| (i, shard.lock_unpoisoned()));
            }
        }
        // Every entity found before any is summed, so that their misses overlap.
        let mut found: [Option<&EntityState>; TOGETHER] = [None; TOGETHER];
        for (found, &(key, _)) in found.iter_mut().zip(reads) {
            let i = Self::shard_index(key);
            *found = locked.iter().flatten().find(|(j, _)| *j == i).and_then(|(_, g)| g.get(key.0));
        }
        let now = now.timestamp();
        for ((found, &(_, windows)), out) in found.iter().zip(reads).zip(out) {
            match found {
                Some(state) => {
                    state.snapshot_into(&self.windows, now, windows, out.insert(Snapshot::EMPTY));
                }
                None => *out = None,
            }
        }
    }

    /// Counts one transaction `id_hash` of `amount` fen at `at` for the entity. Returns
    /// `false`, counting nothing, if the entity already counted that transaction id.
    pub fn record(
        &self,
        key: EntityKey,
        id_hash: u64,
        at: DateTime<Utc>,
        amount: u64,
        approved: bool,
    ) -> bool {
        let at = at.timestamp();
        let counted = self.count(key, id_hash, at, amount, approved);
        if let Some(index) = counted.sweep {
            // Every so often a new entity sweeps one shard (in turn) of idle entities, so memory
            // stays bounded without anyone calling `evict_idle`: amortized, a few entries per new
            // entity. Done after the entity's own shard is unlocked, so no two locks are held.
            let cutoff = at - self.windows.longest().num_seconds();
            if let Some(shard) = self.shards.get(index) {
                shard.lock_unpoisoned().retain(|s| s.last_seen >= cutoff);
            }
        }
        counted.fresh
    }

    fn count(&self, key: EntityKey, id_hash: u64, at: i64, amount: u64, approved: bool) -> Counted {
        let mut shard = self.shard(key);
        let Some((state, new)) = shard.get_or_insert_with(key.0, || EntityState::new(at)) else {
            return Counted { fresh: false, sweep: None };
        };
        let fresh = state.count(&self.windows, id_hash, at, amount, approved);
        let mut sweep = None;
        if new {
            let n = self.inserts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n % SWEEP_EVERY == SWEEP_EVERY - 1 {
                sweep = Some(((n / SWEEP_EVERY) % SHARDS as u64) as usize);
            }
        }
        Counted { fresh, sweep }
    }

    /// Drops every entity not seen for longer than the longest window; returns how many. (New
    /// entities also sweep their shard now and then, so this is for callers that want memory back
    /// at once.)
    pub fn evict_idle(&self, now: DateTime<Utc>) -> usize {
        let cutoff = now.timestamp() - self.windows.longest().num_seconds();
        let mut evicted = 0;
        for shard in &self.shards {
            let mut shard = shard.lock_unpoisoned();
            let before = shard.len();
            shard.retain(|s| s.last_seen >= cutoff);
            evicted += before - shard.len();
        }
        evicted
    }

    /// How many entities are tracked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock_unpoisoned().len()).sum()
    }

    /// Whether none is.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The heap bytes a tracked entity takes on average: its share of its shard's table (spare
    /// capacity included) and its history's own allocation, the allocator's rounding aside.
    /// An entity with one transaction in its longest window takes its table entry only; one
    /// with more than 64 keeps buckets, about 1.8 KB with the default windows.
    #[must_use]
    pub fn bytes_per_entity(&self) -> usize {
        let (mut bytes, mut entities) = (0, 0);
        for shard in &self.shards {
            let shard = shard.lock_unpoisoned();
            bytes += shard.capacity() * size_of::<Option<(u64, EntityState)>>();
            bytes += shard.values().map(EntityState::heap_bytes).sum::<usize>();
            entities += shard.len();
        }
        bytes.checked_div(entities).unwrap_or(0)
    }

    /// The shard an entity is kept in.
    #[expect(clippy::cast_possible_truncation, reason = "reduced modulo SHARDS")]
    const fn shard_index(key: EntityKey) -> usize {
        (key.0 % SHARDS as u64) as usize
    }

    fn shard(&self, key: EntityKey) -> MutexGuard<'_, Entities<EntityState>> {
        let i = Self::shard_index(key);
        #[expect(clippy::indexing_slicing, reason = "i < SHARDS, the number of shards made in new")]
        self.shards[i].lock_unpoisoned()
    }
}

#[cfg(test)]
mod tests;

//! The lookup store port: query records, sealed report content, per-query keys, time-ordered
//! queues and the audit trail.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use cloudcard_core::store::{self, Kv, get_json, put_json, time_key};
use cloudcard_core::{Bank, MemoryKv, QueryId, RequestId, StoreError, UserId};
use cloudcard_masking::Secret;
use serde::{Deserialize, Serialize};

use crate::model::{BankStatus, PendingAnswer, ReportCard};

/// Where a query is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryState {
    /// Applied for; awaiting consent and verification.
    Draft,
    /// Accepted; banks are being asked.
    Accepted,
    /// The report is ready to view.
    Generated,
    /// The report's content is deleted; the record remains.
    Expired,
}

/// One bank's part of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankEntry {
    /// Where it stands.
    pub status: BankStatus,
    /// How many times it was asked.
    pub attempts: u32,
}

/// A query as the store keeps it. It holds no card number, and no card at all: cards found are
/// kept apart, masked, until the report is sealed ([`LookupStore::add_found`]), then only in the
/// sealed report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryRecord {
    /// Its id.
    pub id: QueryId,
    /// Whose it is.
    pub user: UserId,
    /// The client's request id (idempotency).
    pub request: RequestId,
    /// The banks chosen this time.
    pub banks: BTreeSet<Bank>,
    /// Where it is.
    pub state: QueryState,
    /// When applied for.
    pub created_at: DateTime<Utc>,
    /// The agreement version accepted.
    pub agreement_version: Option<String>,
    /// When accepted.
    pub accepted_at: Option<DateTime<Utc>>,
    /// When the report was generated.
    pub generated_at: Option<DateTime<Utc>>,
    /// When its content is deleted.
    pub expires_at: Option<DateTime<Utc>>,
    /// Each bank's part.
    pub bank_entries: BTreeMap<Bank, BankEntry>,
}

/// A sealed report: AES-256-GCM under the query's own key, the query id as associated data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedReport {
    /// The nonce.
    pub nonce: [u8; 12],
    /// Ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

/// A per-query content key. Never printed; zeroized when dropped.
pub type ContentKey = Secret<[u8; 32]>;

/// The time-ordered queues the service keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Queue {
    /// Answer deadlines (24 hours after acceptance).
    Deadline,
    /// Content expiries (the midnight ending the 7th natural day).
    Expiry,
    /// "Report ready" messages still to send (retried until sent).
    Notice,
}

/// What the audit trail records. Never card data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum AuditEvent {
    /// Consent given: the agreement version and the banks chosen.
    Consent {
        /// Agreement version.
        agreement_version: String,
        /// Banks chosen.
        banks: Vec<Bank>,
    },
    /// Verification results.
    Verification {
        /// The face check passed.
        face: bool,
        /// The SMS code passed.
        otp: bool,
    },
    /// A bank was asked.
    Dispatched {
        /// The bank.
        bank: Bank,
        /// Which attempt.
        attempt: u32,
    },
    /// A bank answered.
    BankAnswered {
        /// The bank.
        bank: Bank,
        /// Its status after the answer (counts only).
        status: BankStatus,
    },
    /// The report was generated.
    Generated {
        /// How many cards it lists.
        cards: u32,
    },
    /// The "report ready" notification was issued.
    Notified,
    /// The report was viewed.
    Viewed,
    /// A view was refused.
    ViewRefused {
        /// Why.
        reason: String,
    },
    /// The content and key were deleted.
    Deleted,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Which query.
    pub query: QueryId,
    /// Who acted (the owner, or whoever tried to view).
    pub actor: UserId,
    /// What happened.
    pub event: AuditEvent,
}

/// Where the lookup keeps its state. Owned records in and out; every method can fail.
pub trait LookupStore: Send + Sync {
    /// The query with this id.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn get(&self, id: &QueryId) -> Result<Option<QueryRecord>, StoreError>;
    /// Inserts or replaces a query record (and its request-id index).
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn put(&self, record: &QueryRecord) -> Result<(), StoreError>;
    /// The query a user's request id made, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn by_request(&self, user: &UserId, request: &RequestId)
    -> Result<Option<QueryId>, StoreError>;
    /// The user's query still open (applied for or accepted, not yet generated), if any.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn open_query(&self, user: &UserId) -> Result<Option<QueryId>, StoreError>;
    /// When the user's last report was generated.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn last_generated(&self, user: &UserId) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Records when the user's last report was generated.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn set_last_generated(&self, user: &UserId, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Adds masked cards a bank found, until the report is generated.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn add_found(&self, id: &QueryId, cards: Vec<ReportCard>) -> Result<(), StoreError>;
    /// Every card found for a query so far.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn found(&self, id: &QueryId) -> Result<Vec<ReportCard>, StoreError>;
    /// Stores a report's sealed content and its key together, and drops the cards found that
    /// it now holds: all or nothing, so a failure leaves the cards for the next try.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn put_sealed(
        &self,
        id: &QueryId,
        sealed: &SealedReport,
        key: &ContentKey,
    ) -> Result<(), StoreError>;
    /// Sealed content.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn sealed(&self, id: &QueryId) -> Result<Option<SealedReport>, StoreError>;
    /// A query's content key.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn key(&self, id: &QueryId) -> Result<Option<ContentKey>, StoreError>;
    /// Destroys a query's content key and deletes its sealed content, together.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn destroy(&self, id: &QueryId) -> Result<(), StoreError>;
    /// Schedules `id` on `queue` at `at`.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn schedule(&self, queue: Queue, at: DateTime<Utc>, id: &QueryId) -> Result<(), StoreError>;
    /// Takes every id on `queue` due at or before `now`, in time order, at most `limit`: of
    /// two callers, each id goes to one. Costs in proportion to what is due.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn take_due(
        &self,
        queue: Queue,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueryId>, StoreError>;
    /// Takes the lease named `name` until `until`, unless another holder's lease on it runs
    /// past `now`; whether it was taken. Of two nodes asking at once, one gets it.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn try_lease(
        &self,
        name: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Gives the lease named `name` back.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn release_lease(&self, name: &str) -> Result<(), StoreError>;
    /// Holds a bank's answer until `at`.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn hold_answer(&self, at: DateTime<Utc>, answer: &PendingAnswer) -> Result<(), StoreError>;
    /// Takes the answers held until `now` or before, in time order, at most `limit`: of two
    /// callers, each answer goes to one.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn take_answers(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PendingAnswer>, StoreError>;
    /// Appends to the audit trail.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// A query's audit trail, in order.
    ///
    /// # Errors
    ///
    /// [`StoreError`].
    fn audit_of(&self, id: &QueryId) -> Result<Vec<AuditEntry>, StoreError>;
}

const QUERIES: &str = "lookup_query";
const REQUESTS: &str = "lookup_request";
const LAST: &str = "lookup_last_generated";
const OPEN: &str = "lookup_open";
const FOUND: &str = "lookup_found";
const SEALED: &str = "lookup_sealed";
const KEYS: &str = "lookup_key";
const DEADLINES: &str = "lookup_deadline";
const EXPIRIES: &str = "lookup_expiry";
const NOTICES: &str = "lookup_notice";
const AUDIT: &str = "lookup_audit";
const ANSWERS: &str = "lookup_answer";
const LEASES: &str = "lookup_lease";

/// The lookup store over a [`Kv`].
#[derive(Debug, Clone, Default)]
pub struct KvLookupStore<K> {
    kv: K,
}

/// The in-memory lookup store.
pub type InMemoryLookupStore = KvLookupStore<MemoryKv>;

impl<K: Kv> KvLookupStore<K> {
    /// A lookup store over `kv`.
    pub const fn new_in(kv: K) -> Self {
        Self { kv }
    }
}

impl InMemoryLookupStore {
    /// An empty in-memory store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

fn id(q: &QueryId) -> &[u8] {
    q.as_bytes()
}

const fn queue_table(queue: Queue) -> &'static str {
    match queue {
        Queue::Deadline => DEADLINES,
        Queue::Expiry => EXPIRIES,
        Queue::Notice => NOTICES,
    }
}

#[derive(Serialize, Deserialize)]
struct KeyRow([u8; 32]);

/// The first instant after `now`: the queues take what is due at `now` too.
fn through(now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_add_signed(chrono::TimeDelta::milliseconds(1)).unwrap_or(now)
}

impl<K: Kv> LookupStore for KvLookupStore<K> {
    fn get(&self, q: &QueryId) -> Result<Option<QueryRecord>, StoreError> {
        store::read(&self.kv, |txn| get_json(txn, QUERIES, id(q)))
    }

    fn put(&self, record: &QueryRecord) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| {
            let request = store::key(&[record.user.as_bytes(), record.request.as_bytes()]);
            txn.put(REQUESTS, &request, id(&record.id))?;
            let user = record.user.as_bytes();
            match record.state {
                QueryState::Draft | QueryState::Accepted => txn.put(OPEN, user, id(&record.id))?,
                QueryState::Generated | QueryState::Expired => {
                    if txn.get(OPEN, user)?.as_deref() == Some(id(&record.id)) {
                        txn.delete(OPEN, user)?;
                    }
                }
            }
            put_json(txn, QUERIES, id(&record.id), record)
        })
    }

    fn by_request(
        &self,
        user: &UserId,
        request: &RequestId,
    ) -> Result<Option<QueryId>, StoreError> {
        let key = store::key(&[user.as_bytes(), request.as_bytes()]);
        store::read(&self.kv, |txn| {
            txn.get(REQUESTS, &key)?.map(|bytes| store::decode_id(&bytes)).transpose()
        })
    }

    fn open_query(&self, user: &UserId) -> Result<Option<QueryId>, StoreError> {
        store::read(&self.kv, |txn| {
            txn.get(OPEN, user.as_bytes())?.map(|bytes| store::decode_id(&bytes)).transpose()
        })
    }

    fn last_generated(&self, user: &UserId) -> Result<Option<DateTime<Utc>>, StoreError> {
        store::read(&self.kv, |txn| get_json(txn, LAST, user.as_bytes()))
    }

    fn set_last_generated(&self, user: &UserId, at: DateTime<Utc>) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| put_json(txn, LAST, user.as_bytes(), &at))
    }

    fn add_found(&self, q: &QueryId, cards: Vec<ReportCard>) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| {
            let mut found: Vec<ReportCard> = get_json(txn, FOUND, id(q))?.unwrap_or_default();
            found.extend(cards.iter().cloned());
            put_json(txn, FOUND, id(q), &found)
        })
    }

    fn found(&self, q: &QueryId) -> Result<Vec<ReportCard>, StoreError> {
        store::read(&self.kv, |txn| Ok(get_json(txn, FOUND, id(q))?.unwrap_or_default()))
    }

    fn put_sealed(
        &self,
        q: &QueryId,
        sealed: &SealedReport,
        key: &ContentKey,
    ) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| {
            put_json(txn, KEYS, id(q), &KeyRow(*key.expose_secret()))?;
            put_json(txn, SEALED, id(q), sealed)?;
            txn.delete(FOUND, id(q)).map(drop)
        })
    }

    fn sealed(&self, q: &QueryId) -> Result<Option<SealedReport>, StoreError> {
        store::read(&self.kv, |txn| get_json(txn, SEALED, id(q)))
    }

    fn key(&self, q: &QueryId) -> Result<Option<ContentKey>, StoreError> {
        store::read(&self.kv, |txn| {
            Ok(get_json::<KeyRow>(txn, KEYS, id(q))?.map(|row| Secret::new(row.0)))
        })
    }

    fn destroy(&self, q: &QueryId) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| {
            txn.delete(KEYS, id(q))?;
            txn.delete(SEALED, id(q)).map(drop)
        })
    }

    fn schedule(&self, queue: Queue, at: DateTime<Utc>, q: &QueryId) -> Result<(), StoreError> {
        let key = store::due_key(at, id(q));
        store::write(&self.kv, |txn| txn.put(queue_table(queue), &key, id(q)))
    }

    fn take_due(
        &self,
        queue: Queue,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueryId>, StoreError> {
        store::write(&self.kv, |txn| {
            let due = store::take_due(txn, queue_table(queue), through(now), limit)?;
            due.iter().map(|(_, id)| store::decode_id(id)).collect()
        })
    }

    fn try_lease(
        &self,
        name: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        store::write(&self.kv, |txn| {
            if let Some(held) = txn.get(LEASES, name.as_bytes())?
                && held.as_slice() > time_key(now).as_slice()
            {
                return Ok(false);
            }
            txn.put(LEASES, name.as_bytes(), &time_key(until))?;
            Ok(true)
        })
    }

    fn release_lease(&self, name: &str) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| txn.delete(LEASES, name.as_bytes()).map(drop))
    }

    fn hold_answer(&self, at: DateTime<Utc>, answer: &PendingAnswer) -> Result<(), StoreError> {
        // Time, then a random tag: answers due at one instant each keep their own entry.
        let key = store::due_key(at, &rand::random::<u64>().to_be_bytes());
        let value = store::encode(answer)?;
        store::write(&self.kv, |txn| txn.put(ANSWERS, &key, &value))
    }

    fn take_answers(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PendingAnswer>, StoreError> {
        store::write(&self.kv, |txn| {
            let due = store::take_due(txn, ANSWERS, through(now), limit)?;
            due.iter().map(|(_, answer)| store::decode(answer)).collect()
        })
    }

    fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| {
            let prefix = store::key(&[id(&entry.query), b""]);
            let end = cloudcard_core::store::prefix_end(&prefix);
            let count = txn.range(AUDIT, &prefix, &end, usize::MAX)?.len();
            let mut key = prefix.clone();
            key.extend_from_slice(&u32::try_from(count).unwrap_or(u32::MAX).to_be_bytes());
            put_json(txn, AUDIT, &key, entry)
        })
    }

    fn audit_of(&self, q: &QueryId) -> Result<Vec<AuditEntry>, StoreError> {
        let prefix = store::key(&[id(q), b""]);
        let end = cloudcard_core::store::prefix_end(&prefix);
        store::read(&self.kv, |txn| {
            txn.range(AUDIT, &prefix, &end, usize::MAX)?
                .into_iter()
                .map(|(_, v)| store::decode(&v))
                .collect()
        })
    }
}

impl<T: LookupStore + ?Sized> LookupStore for std::sync::Arc<T> {
    fn get(&self, id: &QueryId) -> Result<Option<QueryRecord>, StoreError> {
        (**self).get(id)
    }
    fn put(&self, record: &QueryRecord) -> Result<(), StoreError> {
        (**self).put(record)
    }
    fn by_request(
        &self,
        user: &UserId,
        request: &RequestId,
    ) -> Result<Option<QueryId>, StoreError> {
        (**self).by_request(user, request)
    }
    fn last_generated(&self, user: &UserId) -> Result<Option<DateTime<Utc>>, StoreError> {
        (**self).last_generated(user)
    }
    fn open_query(&self, user: &UserId) -> Result<Option<QueryId>, StoreError> {
        (**self).open_query(user)
    }
    fn set_last_generated(&self, user: &UserId, at: DateTime<Utc>) -> Result<(), StoreError> {
        (**self).set_last_generated(user, at)
    }
    fn add_found(&self, id: &QueryId, cards: Vec<ReportCard>) -> Result<(), StoreError> {
        (**self).add_found(id, cards)
    }
    fn found(&self, id: &QueryId) -> Result<Vec<ReportCard>, StoreError> {
        (**self).found(id)
    }
    fn put_sealed(
        &self,
        id: &QueryId,
        sealed: &SealedReport,
        key: &ContentKey,
    ) -> Result<(), StoreError> {
        (**self).put_sealed(id, sealed, key)
    }
    fn sealed(&self, id: &QueryId) -> Result<Option<SealedReport>, StoreError> {
        (**self).sealed(id)
    }
    fn key(&self, id: &QueryId) -> Result<Option<ContentKey>, StoreError> {
        (**self).key(id)
    }
    fn destroy(&self, id: &QueryId) -> Result<(), StoreError> {
        (**self).destroy(id)
    }
    fn schedule(&self, queue: Queue, at: DateTime<Utc>, id: &QueryId) -> Result<(), StoreError> {
        (**self).schedule(queue, at, id)
    }
    fn take_due(
        &self,
        queue: Queue,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueryId>, StoreError> {
        (**self).take_due(queue, now, limit)
    }
    fn try_lease(
        &self,
        name: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        (**self).try_lease(name, now, until)
    }
    fn release_lease(&self, name: &str) -> Result<(), StoreError> {
        (**self).release_lease(name)
    }
    fn hold_answer(&self, at: DateTime<Utc>, answer: &PendingAnswer) -> Result<(), StoreError> {
        (**self).hold_answer(at, answer)
    }
    fn take_answers(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PendingAnswer>, StoreError> {
        (**self).take_answers(now, limit)
    }
    fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        (**self).audit(entry)
    }
    fn audit_of(&self, id: &QueryId) -> Result<Vec<AuditEntry>, StoreError> {
        (**self).audit_of(id)
    }
}

impl std::fmt::Display for QueryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Draft => "awaiting consent",
            Self::Accepted => "asking the banks",
            Self::Generated => "ready",
            Self::Expired => "expired",
        })
    }
}

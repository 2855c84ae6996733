//! The lookup store port: query records, sealed report content, per-query keys, time-ordered
//! queues and the audit trail.

use cloudcard_core::sync::MutexExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use cloudcard_core::{Bank, QueryId, RequestId, UserId};
use cloudcard_masking::Secret;
use serde::{Deserialize, Serialize};

use crate::model::{BankStatus, ReportCard};

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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Where the lookup keeps its state. Owned records in and out; `Send + Sync`.
pub trait LookupStore: Send + Sync {
    /// The query with this id.
    fn get(&self, id: &QueryId) -> Option<QueryRecord>;
    /// Inserts or replaces a query record.
    fn put(&self, record: QueryRecord);
    /// The query a user's request id made, if any.
    fn by_request(&self, user: &UserId, request: &RequestId) -> Option<QueryId>;
    /// When the user's last report was generated.
    fn last_generated(&self, user: &UserId) -> Option<DateTime<Utc>>;
    /// Records when the user's last report was generated.
    fn set_last_generated(&self, user: &UserId, at: DateTime<Utc>);
    /// Adds masked cards a bank found, until the report is generated.
    fn add_found(&self, id: &QueryId, cards: Vec<ReportCard>);
    /// Takes every card found for a query.
    fn take_found(&self, id: &QueryId) -> Vec<ReportCard>;
    /// Stores sealed content.
    fn put_sealed(&self, id: &QueryId, sealed: SealedReport);
    /// Sealed content.
    fn sealed(&self, id: &QueryId) -> Option<SealedReport>;
    /// Deletes sealed content.
    fn delete_sealed(&self, id: &QueryId);
    /// Stores a query's content key.
    fn put_key(&self, id: &QueryId, key: ContentKey);
    /// A query's content key.
    fn key(&self, id: &QueryId) -> Option<ContentKey>;
    /// Destroys a query's content key.
    fn destroy_key(&self, id: &QueryId);
    /// Schedules `id` on `queue` at `at`.
    fn schedule(&self, queue: Queue, at: DateTime<Utc>, id: &QueryId);
    /// Takes every id on `queue` due at or before `now`, in time order; costs in proportion to
    /// what is due.
    fn take_due(&self, queue: Queue, now: DateTime<Utc>) -> Vec<QueryId>;
    /// Appends to the audit trail.
    fn audit(&self, entry: AuditEntry);
    /// A query's audit trail.
    fn audit_of(&self, id: &QueryId) -> Vec<AuditEntry>;
    /// How many sealed reports are stored.
    fn sealed_count(&self) -> usize;
}

#[derive(Debug, Default)]
struct Inner {
    queries: HashMap<QueryId, QueryRecord>,
    requests: HashMap<(UserId, RequestId), QueryId>,
    last_generated: HashMap<UserId, DateTime<Utc>>,
    found: HashMap<QueryId, Vec<ReportCard>>,
    sealed: HashMap<QueryId, SealedReport>,
    keys: HashMap<QueryId, ContentKey>,
    deadlines: BTreeSet<(DateTime<Utc>, QueryId)>,
    expiries: BTreeSet<(DateTime<Utc>, QueryId)>,
    audit: HashMap<QueryId, Vec<AuditEntry>>,
}

impl Inner {
    fn queue(&mut self, queue: Queue) -> &mut BTreeSet<(DateTime<Utc>, QueryId)> {
        match queue {
            Queue::Deadline => &mut self.deadlines,
            Queue::Expiry => &mut self.expiries,
        }
    }
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct InMemoryLookupStore {
    inner: Mutex<Inner>,
}

impl InMemoryLookupStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock_unpoisoned()
    }
}

impl LookupStore for InMemoryLookupStore {
    fn get(&self, id: &QueryId) -> Option<QueryRecord> {
        self.lock().queries.get(id).cloned()
    }
    fn put(&self, record: QueryRecord) {
        let mut inner = self.lock();
        inner.requests.insert((record.user.clone(), record.request.clone()), record.id.clone());
        inner.queries.insert(record.id.clone(), record);
    }
    fn by_request(&self, user: &UserId, request: &RequestId) -> Option<QueryId> {
        self.lock().requests.get(&(user.clone(), request.clone())).cloned()
    }
    fn last_generated(&self, user: &UserId) -> Option<DateTime<Utc>> {
        self.lock().last_generated.get(user).copied()
    }
    fn set_last_generated(&self, user: &UserId, at: DateTime<Utc>) {
        self.lock().last_generated.insert(user.clone(), at);
    }
    fn add_found(&self, id: &QueryId, cards: Vec<ReportCard>) {
        self.lock().found.entry(id.clone()).or_default().extend(cards);
    }
    fn take_found(&self, id: &QueryId) -> Vec<ReportCard> {
        self.lock().found.remove(id).unwrap_or_default()
    }
    fn put_sealed(&self, id: &QueryId, sealed: SealedReport) {
        self.lock().sealed.insert(id.clone(), sealed);
    }
    fn sealed(&self, id: &QueryId) -> Option<SealedReport> {
        self.lock().sealed.get(id).cloned()
    }
    fn delete_sealed(&self, id: &QueryId) {
        self.lock().sealed.remove(id);
    }
    fn put_key(&self, id: &QueryId, key: ContentKey) {
        self.lock().keys.insert(id.clone(), key);
    }
    fn key(&self, id: &QueryId) -> Option<ContentKey> {
        self.lock().keys.get(id).cloned()
    }
    fn destroy_key(&self, id: &QueryId) {
        // Dropping the key zeroizes it.
        self.lock().keys.remove(id);
    }
    fn schedule(&self, queue: Queue, at: DateTime<Utc>, id: &QueryId) {
        let mut inner = self.lock();
        inner.queue(queue).insert((at, id.clone()));
    }
    fn take_due(&self, queue: Queue, now: DateTime<Utc>) -> Vec<QueryId> {
        let mut inner = self.lock();
        let set = inner.queue(queue);
        let mut due = Vec::new();
        while set.first().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, id)) = set.pop_first() {
                due.push(id);
            }
        }
        due
    }
    fn audit(&self, entry: AuditEntry) {
        self.lock().audit.entry(entry.query.clone()).or_default().push(entry);
    }
    fn audit_of(&self, id: &QueryId) -> Vec<AuditEntry> {
        self.lock().audit.get(id).cloned().unwrap_or_default()
    }
    fn sealed_count(&self) -> usize {
        self.lock().sealed.len()
    }
}

impl<T: LookupStore + ?Sized> LookupStore for std::sync::Arc<T> {
    fn get(&self, id: &QueryId) -> Option<QueryRecord> {
        (**self).get(id)
    }
    fn put(&self, record: QueryRecord) {
        (**self).put(record)
    }
    fn by_request(&self, user: &UserId, request: &RequestId) -> Option<QueryId> {
        (**self).by_request(user, request)
    }
    fn last_generated(&self, user: &UserId) -> Option<DateTime<Utc>> {
        (**self).last_generated(user)
    }
    fn set_last_generated(&self, user: &UserId, at: DateTime<Utc>) {
        (**self).set_last_generated(user, at)
    }
    fn add_found(&self, id: &QueryId, cards: Vec<ReportCard>) {
        (**self).add_found(id, cards)
    }
    fn take_found(&self, id: &QueryId) -> Vec<ReportCard> {
        (**self).take_found(id)
    }
    fn put_sealed(&self, id: &QueryId, sealed: SealedReport) {
        (**self).put_sealed(id, sealed)
    }
    fn sealed(&self, id: &QueryId) -> Option<SealedReport> {
        (**self).sealed(id)
    }
    fn delete_sealed(&self, id: &QueryId) {
        (**self).delete_sealed(id)
    }
    fn put_key(&self, id: &QueryId, key: ContentKey) {
        (**self).put_key(id, key)
    }
    fn key(&self, id: &QueryId) -> Option<ContentKey> {
        (**self).key(id)
    }
    fn destroy_key(&self, id: &QueryId) {
        (**self).destroy_key(id)
    }
    fn schedule(&self, queue: Queue, at: DateTime<Utc>, id: &QueryId) {
        (**self).schedule(queue, at, id)
    }
    fn take_due(&self, queue: Queue, now: DateTime<Utc>) -> Vec<QueryId> {
        (**self).take_due(queue, now)
    }
    fn audit(&self, entry: AuditEntry) {
        (**self).audit(entry)
    }
    fn audit_of(&self, id: &QueryId) -> Vec<AuditEntry> {
        (**self).audit_of(id)
    }
    fn sealed_count(&self) -> usize {
        (**self).sealed_count()
    }
}

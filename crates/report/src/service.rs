//! The lookup service: a sans-IO state machine over a [`LookupStore`].

use std::collections::{BTreeMap, BTreeSet};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use chrono::{DateTime, Utc};
use cloudcard_core::messages::Messages;
use cloudcard_core::{Bank, QueryId, RequestId, UserId, beijing_date, beijing_day_start};
use cloudcard_masking::Secret;
use rand::Rng;

use crate::LookupError;
use crate::config::{LookupConfig, Region, RequestChannel};
use crate::evidence::{Evidence, Face, Otp, Password, Verifier};
use crate::model::{BankAnswer, BankStatus, HeldAnswer, PendingAnswer, Report};
use crate::store::{
    AuditEntry, AuditEvent, BankEntry, InMemoryLookupStore, LookupStore, QueryRecord, QueryState,
    Queue, SealedReport,
};

/// Who is applying, as the wallet knows them. The lookup never takes a name, ID number, card
/// number or mobile typed by the user: the wallet vouches for the real-name status and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applicant {
    /// The user.
    pub user: UserId,
    /// Whether the user passed real-name verification.
    pub real_name_verified: bool,
    /// The user's region.
    pub region: Region,
}

/// An application for a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// Who applies.
    pub applicant: Applicant,
    /// Through which channel.
    pub channel: RequestChannel,
    /// The client's request id: applying twice with one id returns the same query.
    pub request: RequestId,
    /// The participating banks chosen this time.
    pub banks: BTreeSet<Bank>,
}

/// Consent and verification for one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authorization {
    /// The agreement version the user read and accepted.
    pub(crate) agreement_version: String,
    /// The face check.
    pub(crate) face: Evidence<Face>,
    /// The SMS code to the registered mobile.
    pub(crate) otp: Evidence<Otp>,
}

/// The user's consent to one query: the agreement version they accepted, and the credentials
/// the lookup's [`Verifier`] checks (a live face sample, the SMS code). Never printed.
#[derive(Debug)]
pub struct Consent {
    /// The agreement version the user read and accepted.
    pub agreement_version: String,
    /// The app's face sample.
    pub face: Secret<String>,
    /// The SMS code sent for the lookup.
    pub code: Secret<String>,
}

/// Work for the caller: the service does no I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupEvent {
    /// Ask `bank` about `user` for `query` (attempt `attempt`, from 1).
    Dispatch {
        /// The query.
        query: QueryId,
        /// Whose cards.
        user: UserId,
        /// The bank to ask.
        bank: Bank,
        /// Which attempt.
        attempt: u32,
    },
    /// Tell `user` by SMS that the report is ready.
    ReportReady {
        /// The query.
        query: QueryId,
        /// Whom to tell.
        user: UserId,
    },
}

/// A query as its owner sees it, without the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryView {
    /// Where it is.
    pub state: QueryState,
    /// Each bank's part.
    pub banks: BTreeMap<Bank, BankStatus>,
    /// Once accepted: the latest the report will be ready (24 hours after acceptance, banks
    /// that have not answered by then marked as no answer). It is often ready sooner.
    pub ready_by: Option<DateTime<Utc>>,
    /// When generated.
    pub generated_at: Option<DateTime<Utc>>,
    /// When its content goes.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The one-click card lookup.
///
/// Each change of a query (and each application of a user) holds a lease on it in the store, so
/// one change at a time reads and writes it, on this node or any other that shares the store:
/// lookups are rare (a user may query once a week) and each step is short, so correctness wins
/// over concurrency here. A lease lapses after 30 seconds, should its holder stop.
#[derive(Debug)]
pub struct LookupService<S = InMemoryLookupStore> {
    config: LookupConfig,
    store: S,
    verifier: Option<std::sync::Arc<dyn Verifier>>,
    messages: Messages,
}

/// How long a lease on a query holds if its holder never gives it back.
const LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// How long a change waits for another holder's lease before failing.
const LEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A lease on one query or user, given back when dropped.
struct Lease<'a, S: LookupStore> {
    store: &'a S,
    name: String,
}

impl<S: LookupStore> Drop for Lease<'_, S> {
    fn drop(&mut self) {
        // If this fails the lease lapses on its own.
        let _ = self.store.release_lease(&self.name);
    }
}

impl<S: LookupStore> LookupService<S> {
    /// A service over `store`. Until a [`Verifier`] is set every check fails, closed.
    #[must_use]
    pub fn new(config: LookupConfig, store: S) -> Self {
        Self { config, store, verifier: None, messages: Messages::default() }
    }

    /// Words the reports' notes and advice with `messages` (default: Chinese).
    #[must_use]
    pub fn with_messages(mut self, messages: Messages) -> Self {
        self.messages = messages;
        self
    }

    /// The service that checks users' faces, codes and payment passwords.
    #[must_use]
    pub fn with_verifier(mut self, verifier: std::sync::Arc<dyn Verifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    fn verifier(&self) -> Result<&dyn Verifier, LookupError> {
        self.verifier.as_deref().ok_or(LookupError::VerificationFailed("no verifier is set"))
    }

    /// Rule 2 and rule 3: the user's consent and real-person check for a query. The face sample
    /// and the SMS code are checked by the [`Verifier`] for the query's owner, here; the
    /// evidence they yield is the lookup's own. On success the query is accepted and every
    /// chosen bank gets a dispatch.
    ///
    /// # Errors
    ///
    /// As the evidence-level submit: [`LookupError::QueryNotFound`],
    /// [`LookupError::AgreementVersion`], [`LookupError::VerificationFailed`].
    pub fn submit(
        &self,
        query: &QueryId,
        consent: &Consent,
        now: DateTime<Utc>,
    ) -> Result<Vec<LookupEvent>, LookupError> {
        let owner = self.store.get(query)?.ok_or(LookupError::QueryNotFound)?.user;
        let verifier = self.verifier()?;
        let face = verifier.face(&owner, &consent.face)?;
        let code = verifier.code(&owner, &consent.code)?;
        let auth = Authorization {
            agreement_version: consent.agreement_version.clone(),
            face: Evidence::new(owner.clone(), query.clone(), now, face),
            otp: Evidence::new(owner, query.clone(), now, code),
        };
        self.submit_evidence(query, &auth, now)
    }

    /// Rule 5: the report, for its owner, after the [`Verifier`] checks the payment password,
    /// every time. Every view and refusal is audited.
    ///
    /// # Errors
    ///
    /// [`LookupError::VerificationFailed`], [`LookupError::NotOwner`],
    /// [`LookupError::ReportNotReady`], [`LookupError::ReportExpired`],
    /// [`LookupError::QueryNotFound`].
    pub fn view(
        &self,
        query: &QueryId,
        viewer: &UserId,
        password: &Secret<String>,
        now: DateTime<Utc>,
    ) -> Result<Report, LookupError> {
        let passed = self.verifier()?.password(viewer, password)?;
        let evidence = Evidence::new(viewer.clone(), query.clone(), now, passed);
        self.view_evidence(query, viewer, &evidence, now)
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &LookupConfig {
        &self.config
    }

    /// The store.
    pub const fn store(&self) -> &S {
        &self.store
    }

    /// Rule 1 and rule 7: applies for a lookup. Only a real-name verified user in a
    /// participating region, through the app, choosing participating banks, at least
    /// `requery_after` since the last report. Idempotent by request id.
    ///
    /// # Errors
    ///
    /// [`LookupError::ChannelNotServed`], [`LookupError::NotRealNameVerified`],
    /// [`LookupError::RegionNotParticipating`], [`LookupError::NoBankChosen`],
    /// [`LookupError::BankNotParticipating`], [`LookupError::RequeryTooSoon`],
    /// [`LookupError::QueryOpen`].
    pub fn apply(
        &self,
        application: &Application,
        now: DateTime<Utc>,
    ) -> Result<QueryId, LookupError> {
        let _lease = self.lease(format!("user/{}", application.applicant.user.as_str()), now)?;
        let a = &application.applicant;
        // The channel first: a request id replayed from outside the app learns nothing.
        if application.channel != RequestChannel::App {
            return Err(LookupError::ChannelNotServed);
        }
        if let Some(existing) = self.store.by_request(&a.user, &application.request)? {
            return Ok(existing);
        }
        // One query open at a time; a draft abandoned before consent does not block.
        if let Some(open) = self.store.open_query(&a.user)?
            && let Some(q) = self.store.get(&open)?
        {
            let abandoned =
                q.state == QueryState::Draft && now - q.created_at > chrono::TimeDelta::minutes(30);
            if !abandoned {
                return Err(LookupError::QueryOpen);
            }
        }
        if !a.real_name_verified {
            return Err(LookupError::NotRealNameVerified);
        }
        if !self.config.regions.contains(&a.region) {
            return Err(LookupError::RegionNotParticipating);
        }
        if application.banks.is_empty() {
            return Err(LookupError::NoBankChosen);
        }
        if let Some(bank) = application.banks.iter().find(|b| !self.config.banks.contains(b)) {
            return Err(LookupError::BankNotParticipating(*bank));
        }
        if let Some(last) = self.store.last_generated(&a.user)? {
            let earliest = last.checked_add_signed(self.config.requery_after).unwrap_or(last);
            if now < earliest {
                return Err(LookupError::RequeryTooSoon { earliest });
            }
        }
        let id = QueryId::random();
        self.store.put(&QueryRecord {
            id: id.clone(),
            user: a.user.clone(),
            request: application.request.clone(),
            banks: application.banks.clone(),
            state: QueryState::Draft,
            created_at: now,
            agreement_version: None,
            accepted_at: None,
            generated_at: None,
            expires_at: None,
            bank_entries: BTreeMap::new(),
        })?;
        Ok(id)
    }

    /// Rule 2 and rule 3: records consent (agreement version, banks) and the face and OTP
    /// results; on success the query is accepted and every chosen bank gets a pending entry and
    /// a dispatch. Submitting an accepted query again dispatches nothing new.
    ///
    /// # Errors
    ///
    /// [`LookupError::QueryNotFound`], [`LookupError::AgreementVersion`], or an evidence error
    /// (another user's or query's, older than 5 minutes, or failed).
    pub(crate) fn submit_evidence(
        &self,
        query: &QueryId,
        auth: &Authorization,
        now: DateTime<Utc>,
    ) -> Result<Vec<LookupEvent>, LookupError> {
        let _lease = self.lease(format!("query/{}", query.as_str()), now)?;
        let mut q = self.store.get(query)?.ok_or(LookupError::QueryNotFound)?;
        if q.state != QueryState::Draft {
            return Ok(Vec::new());
        }
        if auth.agreement_version != self.config.agreement_version {
            return Err(LookupError::AgreementVersion);
        }
        let max_age = self.config.evidence_max_age;
        let face = auth.face.check(&q.user, &q.id, now, max_age, "face check");
        let otp = auth.otp.check(&q.user, &q.id, now, max_age, "sms code");
        self.audit(
            &q,
            &q.user,
            now,
            AuditEvent::Verification { face: face.is_ok(), otp: otp.is_ok() },
        )?;
        face?;
        otp?;
        self.audit(
            &q,
            &q.user,
            now,
            AuditEvent::Consent {
                agreement_version: auth.agreement_version.clone(),
                banks: q.banks.iter().copied().collect(),
            },
        )?;
        q.state = QueryState::Accepted;
        q.agreement_version = Some(auth.agreement_version.clone());
        q.accepted_at = Some(now);
        let mut events = Vec::new();
        for bank in &q.banks {
            q.bank_entries.insert(*bank, BankEntry { status: BankStatus::Pending, attempts: 1 });
            self.audit(&q, &q.user, now, AuditEvent::Dispatched { bank: *bank, attempt: 1 })?;
            events.push(LookupEvent::Dispatch {
                query: q.id.clone(),
                user: q.user.clone(),
                bank: *bank,
                attempt: 1,
            });
        }
        let deadline = now.checked_add_signed(self.config.answer_deadline).unwrap_or(now);
        self.store.schedule(Queue::Deadline, deadline, &q.id)?;
        self.store.put(&q)?;
        Ok(events)
    }

    /// Rule 3 and rule 4: records a bank's answer. A retryable failure is asked again (up to
    /// `max_retries` times, before the deadline); when every bank is final the report is
    /// generated and a `ReportReady` event issued. Answers after that are ignored.
    ///
    /// # Errors
    ///
    /// [`LookupError::QueryNotFound`], [`LookupError::UnknownBank`] for a bank not asked.
    pub fn record_answer(
        &self,
        query: &QueryId,
        bank: Bank,
        answer: BankAnswer,
        now: DateTime<Utc>,
    ) -> Result<Vec<LookupEvent>, LookupError> {
        self.record_held(query, bank, HeldAnswer::of(bank, &answer), now)
    }

    /// As [`Self::record_answer`], for an answer held until now (its numbers already cut).
    ///
    /// # Errors
    ///
    /// As [`Self::record_answer`].
    pub fn record_held(
        &self,
        query: &QueryId,
        bank: Bank,
        answer: HeldAnswer,
        now: DateTime<Utc>,
    ) -> Result<Vec<LookupEvent>, LookupError> {
        let _lease = self.lease(format!("query/{}", query.as_str()), now)?;
        let mut q = self.store.get(query)?.ok_or(LookupError::QueryNotFound)?;
        if q.state != QueryState::Accepted {
            return Ok(Vec::new());
        }
        let deadline =
            q.accepted_at.and_then(|a| a.checked_add_signed(self.config.answer_deadline));
        let max_retries = self.config.max_retries;
        let entry = q.bank_entries.get_mut(&bank).ok_or(LookupError::UnknownBank)?;
        if entry.status.is_final() {
            return Ok(Vec::new());
        }
        let mut events = Vec::new();
        let mut found = Vec::new();
        entry.status = match answer {
            HeldAnswer::Cards(cards) => {
                let n = u32::try_from(cards.len()).unwrap_or(u32::MAX);
                found = cards;
                BankStatus::CardsFound(n)
            }
            HeldAnswer::NoneFound => BankStatus::NoneFound,
            HeldAnswer::NotSupported => BankStatus::NotCovered,
            HeldAnswer::FailedTerminal => BankStatus::Failed,
            HeldAnswer::FailedRetryable => {
                if entry.attempts <= max_retries && deadline.is_some_and(|d| now < d) {
                    entry.attempts += 1;
                    events.push(LookupEvent::Dispatch {
                        query: q.id.clone(),
                        user: q.user.clone(),
                        bank,
                        attempt: entry.attempts,
                    });
                    BankStatus::Pending
                } else {
                    BankStatus::Failed
                }
            }
        };
        let (status, attempts) = (entry.status, entry.attempts);
        if !found.is_empty() {
            self.store.add_found(&q.id, found)?;
        }
        self.audit(&q, &q.user, now, AuditEvent::BankAnswered { bank, status })?;
        if status == BankStatus::Pending {
            self.audit(&q, &q.user, now, AuditEvent::Dispatched { bank, attempt: attempts })?;
        }
        if q.bank_entries.values().all(|e| e.status.is_final()) {
            events.push(self.generate(&mut q, now)?);
        }
        self.store.put(&q)?;
        Ok(events)
    }

    /// Keeps a bank's answer in the store until `at`, when [`Self::take_answers`] hands it out.
    ///
    /// # Errors
    ///
    /// [`LookupError::Store`].
    pub fn hold_answer(
        &self,
        at: DateTime<Utc>,
        answer: &PendingAnswer,
    ) -> Result<(), LookupError> {
        Ok(self.store.hold_answer(at, answer)?)
    }

    /// Takes the held answers due by `now`, at most `limit`: of two nodes asking at once, each
    /// answer goes to one.
    ///
    /// # Errors
    ///
    /// [`LookupError::Store`].
    pub fn take_answers(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PendingAnswer>, LookupError> {
        Ok(self.store.take_answers(now, limit)?)
    }

    /// Rule 4: generates the report of every accepted query whose 24 hours have passed, banks
    /// still open marked as no answer. Costs in proportion to the queries due.
    ///
    /// # Errors
    ///
    /// [`LookupError::Crypto`] if sealing fails.
    pub fn tick(&self, now: DateTime<Utc>) -> Result<Vec<LookupEvent>, LookupError> {
        let mut events = Vec::new();
        let mut failed = None;
        for id in self.store.take_due(Queue::Deadline, now, usize::MAX)? {
            // One query that cannot be generated now goes back on the queue; the rest go on.
            match self.generate_due(&id, now) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => {}
                Err(e) => {
                    self.store.schedule(Queue::Deadline, now, &id)?;
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) if events.is_empty() => Err(e),
            _ => Ok(events),
        }
    }

    fn generate_due(
        &self,
        id: &QueryId,
        now: DateTime<Utc>,
    ) -> Result<Option<LookupEvent>, LookupError> {
        let _lease = self.lease(format!("query/{}", id.as_str()), now)?;
        let Some(mut q) = self.store.get(id)? else { return Ok(None) };
        if q.state != QueryState::Accepted {
            return Ok(None);
        }
        for entry in q.bank_entries.values_mut().filter(|e| !e.status.is_final()) {
            entry.status = BankStatus::NoAnswer;
        }
        let event = self.generate(&mut q, now)?;
        self.store.put(&q)?;
        Ok(Some(event))
    }

    /// Rule 5: the report, for its owner, with a passed payment-password check for this query
    /// made within 5 minutes. Every view and every refusal is audited.
    ///
    /// # Errors
    ///
    /// [`LookupError::NotOwner`], an evidence error, [`LookupError::ReportNotReady`],
    /// [`LookupError::ReportExpired`], [`LookupError::QueryNotFound`].
    pub(crate) fn view_evidence(
        &self,
        query: &QueryId,
        viewer: &UserId,
        password: &Evidence<Password>,
        now: DateTime<Utc>,
    ) -> Result<Report, LookupError> {
        let q = self.store.get(query)?.ok_or(LookupError::QueryNotFound)?;
        let result = self.open(&q, viewer, password, now);
        let event = match &result {
            Ok(_) => AuditEvent::Viewed,
            Err(e) => AuditEvent::ViewRefused { reason: e.to_string() },
        };
        self.audit(&q, viewer, now, event)?;
        result
    }

    fn open(
        &self,
        q: &QueryRecord,
        viewer: &UserId,
        password: &Evidence<Password>,
        now: DateTime<Utc>,
    ) -> Result<Report, LookupError> {
        if *viewer != q.user {
            return Err(LookupError::NotOwner);
        }
        password.check(&q.user, &q.id, now, self.config.evidence_max_age, "payment password")?;
        match q.state {
            QueryState::Draft | QueryState::Accepted => return Err(LookupError::ReportNotReady),
            QueryState::Expired => return Err(LookupError::ReportExpired),
            QueryState::Generated => {}
        }
        if q.expires_at.is_some_and(|at| now >= at) {
            return Err(LookupError::ReportExpired);
        }
        let key = self.store.key(&q.id)?.ok_or(LookupError::ReportExpired)?;
        let sealed = self.store.sealed(&q.id)?.ok_or(LookupError::ReportExpired)?;
        let plain = zeroize::Zeroizing::new(
            cipher(&key)
                .decrypt(
                    &sealed.nonce.into(),
                    Payload { msg: &sealed.ciphertext, aad: q.id.as_bytes() },
                )
                .map_err(|_| LookupError::Crypto)?,
        );
        serde_json::from_slice(&plain).map_err(|_| LookupError::Crypto)
    }

    /// Rule 6: deletes the content and destroys the key of every report whose retention ended
    /// at or before `now`; their records stay and read as expired. Costs in proportion to what
    /// expires. Returns how many expired.
    ///
    /// # Errors
    ///
    /// [`LookupError::Store`].
    pub fn purge_expired(&self, now: DateTime<Utc>) -> Result<usize, LookupError> {
        let mut purged = 0;
        let mut failed = None;
        for id in self.store.take_due(Queue::Expiry, now, usize::MAX)? {
            // One report that cannot be purged now goes back on the queue; the rest go on.
            match self.purge_one(&id, now) {
                Ok(()) => purged += 1,
                Err(e) => {
                    self.store.schedule(Queue::Expiry, now, &id)?;
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) if purged == 0 => Err(e),
            _ => Ok(purged),
        }
    }

    fn purge_one(&self, id: &QueryId, now: DateTime<Utc>) -> Result<(), LookupError> {
        let _lease = self.lease(format!("query/{}", id.as_str()), now)?;
        self.store.destroy(id)?;
        if let Some(mut q) = self.store.get(id)? {
            q.state = QueryState::Expired;
            self.audit(&q, &q.user, now, AuditEvent::Deleted)?;
            self.store.put(&q)?;
        }
        Ok(())
    }

    /// Takes up to `limit` "report ready" messages due by `now`: the query and whom to tell.
    /// Whoever takes one sends it, or puts it back with [`Self::notice_later`].
    ///
    /// # Errors
    ///
    /// [`LookupError::Store`].
    pub fn take_notices(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(QueryId, UserId)>, LookupError> {
        let mut out = Vec::new();
        for id in self.store.take_due(Queue::Notice, now, limit)? {
            if let Some(q) = self.store.get(&id)?
                && q.state == QueryState::Generated
            {
                out.push((id, q.user));
            }
        }
        Ok(out)
    }

    /// Puts a "report ready" message back, to be sent at `at`.
    ///
    /// # Errors
    ///
    /// [`LookupError::Store`].
    pub fn notice_later(&self, query: &QueryId, at: DateTime<Utc>) -> Result<(), LookupError> {
        Ok(self.store.schedule(Queue::Notice, at, query)?)
    }

    /// Where a query stands, for its owner.
    ///
    /// # Errors
    ///
    /// [`LookupError::QueryNotFound`], or [`LookupError::NotOwner`].
    pub fn query(&self, query: &QueryId, viewer: &UserId) -> Result<QueryView, LookupError> {
        let q = self.store.get(query)?.ok_or(LookupError::QueryNotFound)?;
        if *viewer != q.user {
            return Err(LookupError::NotOwner);
        }
        Ok(QueryView {
            state: q.state,
            banks: q.bank_entries.iter().map(|(b, e)| (*b, e.status)).collect(),
            ready_by: q.accepted_at.and_then(|a| a.checked_add_signed(self.config.answer_deadline)),
            generated_at: q.generated_at,
            expires_at: q.expires_at,
        })
    }

    /// A query's audit trail.
    ///
    /// # Errors
    ///
    /// [`LookupError::Store`].
    pub fn audit_trail(&self, query: &QueryId) -> Result<Vec<AuditEntry>, LookupError> {
        Ok(self.store.audit_of(query)?)
    }

    /// When the report of a query generated at `at` expires: the Beijing midnight that ends
    /// the `retention_days`-th natural day, the generation day counting as day 1.
    #[must_use]
    pub fn expiry_for(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let end_day = beijing_date(at)
            .checked_add_days(chrono::Days::new(u64::from(self.config.retention_days)));
        end_day.and_then(beijing_day_start).unwrap_or(at)
    }

    /// Seals the report under a fresh per-query key and schedules its expiry.
    fn generate(
        &self,
        q: &mut QueryRecord,
        now: DateTime<Utc>,
    ) -> Result<LookupEvent, LookupError> {
        let expires_at = self.expiry_for(now);
        let statuses = q.bank_entries.iter().map(|(b, e)| (*b, e.status)).collect();
        let found = self.store.found(&q.id)?;
        let report =
            Report::build(q.id.clone(), (now, expires_at), found, statuses, &self.messages);
        let plain =
            zeroize::Zeroizing::new(serde_json::to_vec(&report).map_err(|_| LookupError::Crypto)?);
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let key = Secret::new(key);
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = cipher(&key)
            .encrypt(&nonce.into(), Payload { msg: &plain, aad: q.id.as_bytes() })
            .map_err(|_| LookupError::Crypto)?;
        self.store.put_sealed(&q.id, &SealedReport { nonce, ciphertext }, &key)?;
        self.store.schedule(Queue::Expiry, expires_at, &q.id)?;
        // The "report ready" message waits on its own queue until someone sends it.
        self.store.schedule(Queue::Notice, now, &q.id)?;
        self.store.set_last_generated(&q.user, now)?;
        q.state = QueryState::Generated;
        q.generated_at = Some(now);
        q.expires_at = Some(expires_at);
        self.audit(q, &q.user, now, AuditEvent::Generated { cards: report.totals.total() })?;
        self.audit(q, &q.user, now, AuditEvent::Notified)?;
        Ok(LookupEvent::ReportReady { query: q.id.clone(), user: q.user.clone() })
    }

    fn audit(
        &self,
        q: &QueryRecord,
        actor: &UserId,
        at: DateTime<Utc>,
        event: AuditEvent,
    ) -> Result<(), LookupError> {
        let entry = AuditEntry { at, query: q.id.clone(), actor: actor.clone(), event };
        Ok(self.store.audit(&entry)?)
    }

    /// Takes the lease `name` (`query/<id>` or `user/<id>`), waiting while another holds it.
    /// `now` is the caller's time, which decides when a lease lapses; the wait is real time.
    fn lease(&self, name: String, now: DateTime<Utc>) -> Result<Lease<'_, S>, LookupError> {
        let until = now.checked_add_signed(LEASE).unwrap_or(now);
        let started = std::time::Instant::now();
        loop {
            if self.store.try_lease(&name, now, until)? {
                return Ok(Lease { store: &self.store, name });
            }
            if started.elapsed() > LEASE_WAIT {
                return Err(cloudcard_core::StoreError::Conflict.into());
            }
            std::thread::sleep(std::time::Duration::from_millis(rand::random_range(1..=5)));
        }
    }
}

fn cipher(key: &crate::store::ContentKey) -> Aes256Gcm {
    Aes256Gcm::new(key.expose_secret().into())
}

#[cfg(test)]
mod tests;

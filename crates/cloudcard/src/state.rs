//! What only the facade knows, kept in the store like every other record: which wallet card
//! each token serves, payments waiting for a step-up, and the journal of cross-crate flows that
//! [`CloudCard::run_due`](crate::CloudCard::run_due) finishes or undoes after a crash.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cloudcard_core::store::{self, Kv, Txn, due_key, get_json, prefix_end, put_json};
use cloudcard_core::sync::RwLockExt;
use cloudcard_core::text::CompactText;
use cloudcard_core::{
    CardId, ChallengeId, ClaimId, DeviceId, StoreError, TokenId, TransactionId, UserId,
};
use cloudcard_risk::{ChallengeMethod, Transaction};
use cloudcard_token::HeldCryptogram;
use serde::{Deserialize, Serialize};

const CARD_TOKENS: &str = "cc_card_tokens";
const TOKEN_CARD: &str = "cc_token_card";
const CHALLENGES: &str = "cc_challenge";
const CHALLENGES_DUE: &str = "cc_challenge_due";
const FLOWS: &str = "cc_flow";
const REVIEWS: &str = "cc_review";
const OUTCOMES: &str = "cc_outcome";
const OUTCOMES_DUE: &str = "cc_outcome_due";
const REVIEWS_DUE: &str = "cc_review_due";

/// A payment waiting for its step-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingPayment {
    pub(crate) user: UserId,
    pub(crate) held: HeldCryptogram,
    pub(crate) txn: Transaction,
    pub(crate) method: ChallengeMethod,
    pub(crate) expires_at: DateTime<Utc>,
}

/// A payment held for an operator's review.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingReview {
    pub(crate) held: HeldCryptogram,
    pub(crate) txn: Transaction,
    pub(crate) expires_at: DateTime<Utc>,
}

/// A cross-crate flow under way. Written before its first step and deleted after its last, so
/// recovery knows what a crash interrupted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "flow")]
pub(crate) enum Flow {
    /// Binding: a token was (being) provisioned; the wallet card is added last. Without the
    /// card, recovery deletes the token; with it, recovery completes the link.
    Bind {
        user: UserId,
        card: CardId,
        token: TokenId,
        /// When the phone was registered, kept in the link (absent in older entries).
        #[serde(default)]
        device_registered_at: Option<DateTime<Utc>>,
    },
    /// Unbinding confirmed: tokens, then the wallet card. Recovery carries it forward.
    Unbind { user: UserId, card: CardId },
    /// A lost phone or card: status list, tokens, claim. Recovery carries it forward.
    Loss { user: UserId, lost: Lost, claim: ClaimId, reported_at: DateTime<Utc> },
    /// A payment sent to the issuer. Closed once its answer is recorded; if the service stopped
    /// before that, the payer never had an answer, so recovery reverses it at the issuer and
    /// logs it as not approved.
    Pay { txn: Box<Transaction> },
}

/// A journal entry: the flow and when it began. Recovery leaves a flow alone for
/// [`FLOW_LEASE`] after it began, so one node never undoes what another is still doing.
#[derive(Debug, Serialize, Deserialize)]
struct Journaled {
    /// Absent in entries written before the lease existed: those are recovered at once.
    #[serde(default)]
    began: Option<DateTime<Utc>>,
    #[serde(flatten)]
    flow: Flow,
}

/// How long a flow may run before recovery takes it over: far longer than any flow's own
/// steps (store writes and one issuer round trip, which times out well within it).
pub(crate) const FLOW_LEASE: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// Which answer to a payment request is kept.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answer {
    /// The first, with the digest of the request it answers, kept until `until`.
    First { request_digest: [u8; 32], until: DateTime<Utc> },
    /// A later one (a challenge answered, a review decided), replacing the first and keeping
    /// its digest and time.
    Later,
}

/// What a payment reads first: whether its transaction id was answered before and, if not,
/// the link of the token it pays with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FirstReads {
    /// An answer is kept under the transaction id already.
    Answered,
    /// None is; the token's link, if it has one.
    Unanswered(Option<Link>),
}

/// What a token's link says: whose card it serves, and when its phone was registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) user: UserId,
    pub(crate) card: CardId,
    pub(crate) device_registered_at: Option<DateTime<Utc>>,
}

/// What was lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Lost {
    Device(DeviceId),
    Card(CardId),
}

impl Flow {
    fn key(&self) -> Vec<u8> {
        match self {
            Self::Bind { token, .. } => store::key(&[b"bind", token.as_bytes()]),
            Self::Unbind { card, .. } => store::key(&[b"unbind", card.as_bytes()]),
            Self::Loss { claim, .. } => store::key(&[b"loss", claim.as_bytes()]),
            Self::Pay { txn } => pay_key(&txn.id),
        }
    }
}

fn pay_key(id: &TransactionId) -> Vec<u8> {
    store::key(&[b"pay", id.as_bytes()])
}

/// The facade's records over the shared [`Kv`].
#[derive(Debug, Clone)]
pub(crate) struct FacadeState {
    kv: Arc<dyn Kv>,
    /// Whether payments are journaled: not on a private in-memory store, which nothing
    /// outlives (no restart or other node can find the entry) and which cannot fail a write.
    journal_payments: bool,
    /// The records every payment reads or writes: token links and the answers kept for
    /// terminals' retries.
    hot: Arc<dyn HotRecords>,
}

/// Where the records every payment reads or writes are kept — token links and the answers kept
/// for terminals' retries: as records in the shared [`Kv`] like the rest ([`KvRecords`]), or,
/// on a private in-memory store, as typed maps ([`MemoryRecords`]), as the token and risk
/// stores are then.
trait HotRecords: Send + Sync + std::fmt::Debug {
    /// Links a token to the wallet card it serves, with its phone's registration time (to the
    /// millisecond).
    fn link(
        &self,
        user: &UserId,
        card: &CardId,
        token: &TokenId,
        device_registered_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;
    /// Removes every link of a card.
    fn unlink_card(&self, card: &CardId) -> Result<(), StoreError>;
    /// Removes one token's link.
    fn unlink_token(&self, card: &CardId, token: &TokenId) -> Result<(), StoreError>;
    /// The tokens of a wallet card.
    fn tokens_of(&self, card: &CardId) -> Result<Vec<TokenId>, StoreError>;
    /// Whose wallet card a token serves.
    fn card_of(&self, token: &TokenId) -> Result<Option<Link>, StoreError>;
    /// Keeps a payment's answer (and with `close_pay` closes its journal entry in the same
    /// write, where payments are journaled).
    fn keep_outcome(
        &self,
        id: &TransactionId,
        answer: Answer,
        outcome: &crate::model::PaymentOutcome,
        close_pay: bool,
    ) -> Result<(), StoreError>;
    /// Whether an answer is kept under `id`.
    fn has_outcome(&self, id: &TransactionId) -> Result<bool, StoreError>;
    /// What a payment under `id` by `token` reads first. By default [`Self::has_outcome`],
    /// then [`Self::card_of`].
    fn payment_records(
        &self,
        id: &TransactionId,
        token: &TokenId,
    ) -> Result<FirstReads, StoreError> {
        if self.has_outcome(id)? {
            return Ok(FirstReads::Answered);
        }
        Ok(FirstReads::Unanswered(self.card_of(token)?))
    }
    /// A kept answer and the digest of the request that made it.
    fn outcome(
        &self,
        id: &TransactionId,
    ) -> Result<Option<([u8; 32], crate::model::PaymentOutcome)>, StoreError>;
    /// Deletes answers kept past their time, at most `limit`.
    fn purge_outcomes(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError>;
}

/// Links and answers as records in the shared [`Kv`].
#[derive(Debug)]
struct KvRecords {
    kv: Arc<dyn Kv>,
    journal_payments: bool,
}

/// Links and answers in memory. Answers are kept by transaction id with the request digest,
/// and a time index so that expiry costs what expires, in 4,096 independently locked shards:
/// a day of payments is kept, and no shard grows large enough for its table's doubling to hold
/// a payment up, nor do two payments often wait on one lock.
#[derive(Debug)]
pub(crate) struct MemoryRecords {
    answers: Box<[cloudcard_core::sync::Padded<std::sync::Mutex<AnswerBook>>]>,
    /// Where answers are spread: a keyed hash of the answer's key.
    spread: cloudcard_core::RandomKeyHasher,
    /// The shard the next purge starts from, so that a purge cut short by its limit does not
    /// leave the same shards for last every time.
    purge_from: std::sync::atomic::AtomicUsize,
    /// Token links by [`link_key`], in 1,024 shards: every payment reads one, and readers of
    /// one lock write its word, so two threads paying with different tokens must not share
    /// it; and a shard's doubling copies a thousandth of the links, so it holds no enrollment
    /// up for long.
    by_token: Box<[cloudcard_core::sync::Padded<std::sync::RwLock<Links>>]>,
    /// Each card's tokens, in shards by a keyed hash of the card's id, so that no one table
    /// holds every card and its doubling an enrollment up. Lock order: a card's shard, then a
    /// token's.
    by_card: Box<[cloudcard_core::sync::Padded<std::sync::RwLock<CardTokens>>]>,
}

const ANSWER_SHARDS: usize = 4_096;
/// A million cardholders put about a thousand links, and a thousand cards, in each shard.
const LINK_SHARDS: usize = 1_024;

/// One shard of token links, by [`link_key`].
type Links = cloudcard_core::RandomKeyMap<u128, Link>;

/// One shard of cards' tokens.
type CardTokens = std::collections::HashMap<CardId, Vec<TokenId>>;

impl Default for MemoryRecords {
    fn default() -> Self {
        Self {
            answers: (0..ANSWER_SHARDS).map(|_| Default::default()).collect(),
            spread: cloudcard_core::RandomKeyHasher::default(),
            purge_from: std::sync::atomic::AtomicUsize::new(0),
            by_token: (0..LINK_SHARDS).map(|_| Default::default()).collect(),
            by_card: (0..LINK_SHARDS).map(|_| Default::default()).collect(),
        }
    }
}

/// What an answer is kept under: the 128 bits a transaction id names. Every id a payment gets
/// is of the random shape, its bits the first half of a SHA-256 digest of the merchant and the
/// terminal's id, so the key is the id itself (and nobody outside chooses it). Any other id is
/// keyed by the first half of its own SHA-256 digest: two ids then share a key only as two
/// payments could share an id.
fn answer_key(id: &TransactionId) -> u128 {
    id.bits().unwrap_or_else(|| digest_key(b"cloudcard/answer-key/v1", id.as_bytes()))
}

/// What a token's link is kept under, as an answer is: the 128 bits of an id the token
/// service drew, or the first half of any other id's SHA-256 digest.
fn link_key(token: &TokenId) -> u128 {
    token.bits().unwrap_or_else(|| digest_key(b"cloudcard/link-key/v1", token.as_bytes()))
}

/// The first 128 bits of the SHA-256 digest of `domain` and `bytes`.
fn digest_key(domain: &[u8], bytes: &[u8]) -> u128 {
    use sha2::Digest;
    first_bits(sha2::Sha256::new_with_prefix(domain).chain_update(bytes))
}

/// The first 128 bits of the digest `h` makes, big-endian.
pub(crate) fn first_bits(h: sha2::Sha256) -> u128 {
    use sha2::Digest;
    let digest: [u8; 32] = h.finalize().into();
    digest.first_chunk::<16>().map_or(0, |first| u128::from_be_bytes(*first))
}

/// A shard of answers, each kept in place under its 16-byte key (a kept answer allocates
/// nothing unless an issuer's decline gives its reason as text or its authorization code is
/// long). What lapses is queued in time order: answers are kept as payments arrive, so a new
/// one almost always goes at the back, and a purge takes from the front.
#[derive(Debug, Default)]
struct AnswerBook {
    by_key: cloudcard_core::RandomKeyMap<u128, Kept>,
    /// When each answer lapses (microseconds since the epoch) and its key, in time order; 24
    /// bytes an answer.
    due: std::collections::VecDeque<(i64, [u64; 2])>,
}

/// A kept answer: the request's digest, until when it is kept (microseconds since the epoch),
/// and the outcome without the transaction id it is kept under.
#[derive(Debug)]
struct Kept {
    digest: [u8; 32],
    until: i64,
    outcome: Answered,
}

/// A payment's outcome as kept, without its transaction id (the key says it).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answered {
    /// The authorization code inline when short (six characters, as issuers give them).
    Approved {
        auth_code: CompactText<22>,
        card: CardId,
        amount: cloudcard_core::Amount,
    },
    Declined(crate::model::DeclineReason),
    ChallengeRequired {
        challenge: ChallengeId,
        method: ChallengeMethod,
    },
    HeldForReview {
        review_by: DateTime<Utc>,
    },
}

impl Answered {
    fn of(outcome: &crate::model::PaymentOutcome) -> Self {
        use crate::model::PaymentOutcome as O;
        match outcome {
            O::Approved { auth_code, card, amount, .. } => Self::Approved {
                auth_code: CompactText::new(auth_code),
                card: card.clone(),
                amount: *amount,
            },
            O::Declined { reason, .. } => Self::Declined(reason.clone()),
            O::ChallengeRequired { challenge, method, .. } => {
                Self::ChallengeRequired { challenge: challenge.clone(), method: *method }
            }
            O::HeldForReview { review_by, .. } => Self::HeldForReview { review_by: *review_by },
        }
    }

    fn outcome(&self, transaction: &TransactionId) -> crate::model::PaymentOutcome {
        use crate::model::PaymentOutcome as O;
        let transaction = transaction.clone();
        match self {
            Self::Approved { auth_code, card, amount } => O::Approved {
                transaction,
                auth_code: auth_code.as_str().to_owned(),
                card: card.clone(),
                amount: *amount,
            },
            Self::Declined(reason) => O::Declined { transaction, reason: reason.clone() },
            Self::ChallengeRequired { challenge, method } => {
                O::ChallengeRequired { transaction, challenge: challenge.clone(), method: *method }
            }
            Self::HeldForReview { review_by } => {
                O::HeldForReview { transaction, review_by: *review_by }
            }
        }
    }
}

/// A key as the due queue holds it: two words, so that an entry is 24 bytes, not 32.
const fn split(key: u128) -> [u64; 2] {
    [(key >> 64) as u64, key as u64]
}

const fn join([high, low]: [u64; 2]) -> u128 {
    (high as u128) << 64 | low as u128
}

impl AnswerBook {
    /// Queues `key` to lapse at `until`, in time order.
    fn due_at(&mut self, until: i64, key: u128) {
        let entry = (until, split(key));
        if self.due.back().is_none_or(|(last, _)| *last <= until) {
            self.due.push_back(entry);
        } else {
            let at = self.due.partition_point(|(t, _)| *t <= until);
            self.due.insert(at, entry);
        }
    }
}

impl MemoryRecords {
    /// The shard keeping the answer under `key`, locked.
    fn answers(&self, key: u128) -> std::sync::MutexGuard<'_, AnswerBook> {
        self.shard(std::hash::BuildHasher::hash_one(&self.spread, key) as usize)
    }

    /// Shard `at` (modulo their number), locked.
    fn shard(&self, at: usize) -> std::sync::MutexGuard<'_, AnswerBook> {
        #[expect(clippy::indexing_slicing, reason = "reduced modulo ANSWER_SHARDS, the length")]
        cloudcard_core::sync::MutexExt::lock_unpoisoned(&self.answers[at % ANSWER_SHARDS].0)
    }

    /// The shard of links holding `key` (a [`link_key`]: random bits or a digest's).
    fn links(&self, key: u128) -> &std::sync::RwLock<Links> {
        #[expect(clippy::indexing_slicing, reason = "reduced modulo LINK_SHARDS, the length")]
        &self.by_token[key as usize % LINK_SHARDS].0
    }

    /// The shard of cards' tokens holding `card`'s.
    fn cards(&self, card: &CardId) -> &std::sync::RwLock<CardTokens> {
        use std::hash::BuildHasher;
        let at = self.spread.hash_one(card) as usize % LINK_SHARDS;
        #[expect(clippy::indexing_slicing, reason = "reduced modulo LINK_SHARDS, the length")]
        &self.by_card[at].0
    }
}

impl HotRecords for MemoryRecords {
    fn link(
        &self,
        user: &UserId,
        card: &CardId,
        token: &TokenId,
        device_registered_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        // Kept to the millisecond, as the stored link keeps it.
        let device_registered_at = device_registered_at
            .and_then(|at| DateTime::from_timestamp_millis(at.timestamp_millis()));
        let link = Link { user: user.clone(), card: card.clone(), device_registered_at };
        let key = link_key(token);
        let mut by_card = self.cards(card).write_unpoisoned();
        let tokens = by_card.entry(card.clone()).or_default();
        if !tokens.contains(token) {
            tokens.push(token.clone());
        }
        self.links(key).write_unpoisoned().insert(key, link);
        Ok(())
    }

    fn unlink_card(&self, card: &CardId) -> Result<(), StoreError> {
        let mut by_card = self.cards(card).write_unpoisoned();
        for token in by_card.remove(card).unwrap_or_default() {
            let key = link_key(&token);
            self.links(key).write_unpoisoned().remove(&key);
        }
        Ok(())
    }

    fn unlink_token(&self, card: &CardId, token: &TokenId) -> Result<(), StoreError> {
        let mut by_card = self.cards(card).write_unpoisoned();
        if let Some(tokens) = by_card.get_mut(card) {
            tokens.retain(|t| t != token);
            if tokens.is_empty() {
                by_card.remove(card);
            }
        }
        let key = link_key(token);
        self.links(key).write_unpoisoned().remove(&key);
        Ok(())
    }

    fn tokens_of(&self, card: &CardId) -> Result<Vec<TokenId>, StoreError> {
        Ok(self.cards(card).read_unpoisoned().get(card).cloned().unwrap_or_default())
    }

    fn card_of(&self, token: &TokenId) -> Result<Option<Link>, StoreError> {
        let key = link_key(token);
        Ok(self.links(key).read_unpoisoned().get(&key).cloned())
    }

    /// A private store journals no payment: nothing to close.
    fn keep_outcome(
        &self,
        id: &TransactionId,
        answer: Answer,
        outcome: &crate::model::PaymentOutcome,
        _close_pay: bool,
    ) -> Result<(), StoreError> {
        let key = answer_key(id);
        let mut book = self.answers(key);
        match answer {
            Answer::First { request_digest, until } => {
                let until = until.timestamp_micros();
                let kept = Kept { digest: request_digest, until, outcome: Answered::of(outcome) };
                book.by_key.insert(key, kept);
                book.due_at(until, key);
            }
            Answer::Later => {
                if let Some(kept) = book.by_key.get_mut(&key) {
                    kept.outcome = Answered::of(outcome);
                }
            }
        }
        Ok(())
    }

    fn has_outcome(&self, id: &TransactionId) -> Result<bool, StoreError> {
        let key = answer_key(id);
        Ok(self.answers(key).by_key.contains_key(&key))
    }

    /// Both read under one hold of the answers' shard and the token's shard of links (nothing
    /// holds one and waits for the other), so that their misses overlap (see
    /// [`cloudcard_core::sync`]).
    fn payment_records(
        &self,
        id: &TransactionId,
        token: &TokenId,
    ) -> Result<FirstReads, StoreError> {
        let (key, link) = (answer_key(id), link_key(token));
        let (answers, links) = (self.answers(key), self.links(link).read_unpoisoned());
        let (answered, link) = (answers.by_key.contains_key(&key), links.get(&link));
        Ok(if answered { FirstReads::Answered } else { FirstReads::Unanswered(link.cloned()) })
    }

    fn outcome(
        &self,
        id: &TransactionId,
    ) -> Result<Option<([u8; 32], crate::model::PaymentOutcome)>, StoreError> {
        let key = answer_key(id);
        Ok(self.answers(key).by_key.get(&key).map(|kept| (kept.digest, kept.outcome.outcome(id))))
    }

    fn purge_outcomes(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        let now = now.timestamp_micros();
        let start = self.purge_from.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut purged = 0;
        for k in 0..ANSWER_SHARDS {
            if purged >= limit {
                break;
            }
            let mut book = self.shard(start.wrapping_add(k));
            while purged < limit && book.due.front().is_some_and(|(at, _)| *at < now) {
                let Some((at, key)) = book.due.pop_front() else { break };
                let key = join(key);
                // Kept again since with a later time, it stays until then.
                if book.by_key.get(&key).is_some_and(|kept| kept.until == at) {
                    book.by_key.remove(&key);
                    purged += 1;
                }
            }
        }
        Ok(purged)
    }
}

impl HotRecords for KvRecords {
    /// Links a token to the wallet card it serves, with its phone's registration time (read
    /// by every payment's risk decision, so kept here rather than looked up each time).
    fn link(
        &self,
        user: &UserId,
        card: &CardId,
        token: &TokenId,
        device_registered_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut link = store::key(&[user.as_bytes(), card.as_bytes()]);
        if let Some(at) = device_registered_at {
            link.push(0);
            link.extend_from_slice(&at.timestamp_millis().to_be_bytes());
        }
        store::write(&*self.kv, |txn| {
            let mut tokens: Vec<TokenId> =
                get_json(txn, CARD_TOKENS, ids_key(card.as_str()))?.unwrap_or_default();
            if !tokens.contains(token) {
                tokens.push(token.clone());
            }
            put_json(txn, CARD_TOKENS, ids_key(card.as_str()), &tokens)?;
            txn.put(TOKEN_CARD, ids_key(token.as_str()), &link)
        })
    }

    /// Removes every link of a card.
    fn unlink_card(&self, card: &CardId) -> Result<(), StoreError> {
        store::write(&*self.kv, |txn| unlink_card(txn, card))
    }

    /// Removes one token's link.
    fn unlink_token(&self, card: &CardId, token: &TokenId) -> Result<(), StoreError> {
        store::write(&*self.kv, |txn| {
            let mut tokens: Vec<TokenId> =
                get_json(txn, CARD_TOKENS, ids_key(card.as_str()))?.unwrap_or_default();
            tokens.retain(|t| t != token);
            if tokens.is_empty() {
                txn.delete(CARD_TOKENS, ids_key(card.as_str()))?;
            } else {
                put_json(txn, CARD_TOKENS, ids_key(card.as_str()), &tokens)?;
            }
            txn.delete(TOKEN_CARD, ids_key(token.as_str())).map(drop)
        })
    }

    /// The tokens of a wallet card.
    fn tokens_of(&self, card: &CardId) -> Result<Vec<TokenId>, StoreError> {
        store::read(&*self.kv, |txn| {
            Ok(get_json(txn, CARD_TOKENS, ids_key(card.as_str()))?.unwrap_or_default())
        })
    }

    /// The user and wallet card a token serves, and its phone's registration time if the link
    /// keeps it. Read on every payment: the link is stored as `user \0 card [\0 millis]`, no
    /// JSON.
    fn card_of(&self, token: &TokenId) -> Result<Option<Link>, StoreError> {
        let Some(bytes) =
            store::read(&*self.kv, |txn| txn.get(TOKEN_CARD, ids_key(token.as_str())))?
        else {
            return Ok(None);
        };
        let at = bytes.iter().position(|b| *b == 0).ok_or(StoreError::Corrupt)?;
        let (user, rest) = bytes.split_at(at);
        let rest = rest.get(1..).ok_or(StoreError::Corrupt)?;
        let (card, registered) = match rest.iter().position(|b| *b == 0) {
            Some(end) => {
                let (card, time) = rest.split_at(end);
                let millis: [u8; 8] =
                    time.get(1..).and_then(|t| t.try_into().ok()).ok_or(StoreError::Corrupt)?;
                let at = DateTime::from_timestamp_millis(i64::from_be_bytes(millis))
                    .ok_or(StoreError::Corrupt)?;
                (card, Some(at))
            }
            None => (rest, None),
        };
        Ok(Some(Link {
            user: store::decode_id(user)?,
            card: store::decode_id(card)?,
            device_registered_at: registered,
        }))
    }

    /// Keeps a payment's outcome for the terminal's retries — the first answer under its
    /// transaction id until `until` with the digest of the request that made it, or a later
    /// one in place of the first (nothing if none is kept) — and, with `close_pay`, closes the
    /// payment's journal entry in the same write.
    fn keep_outcome(
        &self,
        id: &TransactionId,
        answer: Answer,
        outcome: &crate::model::PaymentOutcome,
        close_pay: bool,
    ) -> Result<(), StoreError> {
        let key = id.as_bytes();
        let close = close_pay.then(|| pay_key(id)).filter(|_| self.journal_payments);
        match answer {
            Answer::First { request_digest, until } => {
                let mut head = Vec::with_capacity(160);
                head.extend_from_slice(&request_digest);
                let value = store::encode_after(head, outcome)?;
                let due = due_key(until, key);
                store::write(&*self.kv, |txn| {
                    txn.put(OUTCOMES, key, &value)?;
                    txn.put(OUTCOMES_DUE, &due, key)?;
                    close.as_ref().map_or(Ok(()), |pay| txn.delete(FLOWS, pay).map(drop))
                })
            }
            Answer::Later => {
                let encoded = store::encode(outcome)?;
                store::write(&*self.kv, |txn| {
                    if let Some(value) = txn.get(OUTCOMES, key)? {
                        let (digest, _) =
                            value.split_first_chunk::<32>().ok_or(StoreError::Corrupt)?;
                        let mut value = digest.to_vec();
                        value.extend_from_slice(&encoded);
                        txn.put(OUTCOMES, key, &value)?;
                    }
                    close.as_ref().map_or(Ok(()), |pay| txn.delete(FLOWS, pay).map(drop))
                })
            }
        }
    }

    /// Whether an outcome is kept under `id`.
    fn has_outcome(&self, id: &TransactionId) -> Result<bool, StoreError> {
        store::read(&*self.kv, |txn| txn.contains(OUTCOMES, id.as_bytes()))
    }

    /// A kept outcome and the digest of the request that made it.
    fn outcome(
        &self,
        id: &TransactionId,
    ) -> Result<Option<([u8; 32], crate::model::PaymentOutcome)>, StoreError> {
        let Some(value) = store::read(&*self.kv, |txn| txn.get(OUTCOMES, id.as_bytes()))? else {
            return Ok(None);
        };
        let (digest, outcome) = value.split_first_chunk::<32>().ok_or(StoreError::Corrupt)?;
        Ok(Some((*digest, store::decode(outcome)?)))
    }

    /// Deletes outcomes kept past their time, at most `limit`.
    fn purge_outcomes(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        purge_due(&*self.kv, OUTCOMES_DUE, OUTCOMES, now, limit)
    }
}

fn ids_key(id: &str) -> &[u8] {
    id.as_bytes()
}

impl FacadeState {
    pub(crate) fn new(kv: Arc<dyn Kv>, shared: bool) -> Self {
        let hot: Arc<dyn HotRecords> = if shared {
            Arc::new(KvRecords { kv: kv.clone(), journal_payments: shared })
        } else {
            Arc::new(MemoryRecords::default())
        };
        Self { kv, journal_payments: shared, hot }
    }

    /// Links a token to the wallet card it serves, with its phone's registration time (read
    /// by every payment's risk decision, so kept here rather than looked up each time).
    pub(crate) fn link(
        &self,
        user: &UserId,
        card: &CardId,
        token: &TokenId,
        device_registered_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.hot.link(user, card, token, device_registered_at)
    }

    /// Removes every link of a card.
    pub(crate) fn unlink_card(&self, card: &CardId) -> Result<(), StoreError> {
        self.hot.unlink_card(card)
    }

    /// Removes one token's link.
    pub(crate) fn unlink_token(&self, card: &CardId, token: &TokenId) -> Result<(), StoreError> {
        self.hot.unlink_token(card, token)
    }

    /// The tokens of a wallet card.
    pub(crate) fn tokens_of(&self, card: &CardId) -> Result<Vec<TokenId>, StoreError> {
        self.hot.tokens_of(card)
    }

    /// The user and wallet card a token serves, and its phone's registration time if the link
    /// keeps it.
    pub(crate) fn card_of(&self, token: &TokenId) -> Result<Option<Link>, StoreError> {
        self.hot.card_of(token)
    }

    /// Keeps a payment's answer for the terminal's retries and, with `close_pay`, closes the
    /// payment's journal entry in the same write.
    pub(crate) fn keep_outcome(
        &self,
        id: &TransactionId,
        answer: Answer,
        outcome: &crate::model::PaymentOutcome,
        close_pay: bool,
    ) -> Result<(), StoreError> {
        self.hot.keep_outcome(id, answer, outcome, close_pay)
    }

    /// Whether an answer is kept under `id`.
    #[cfg(test)]
    pub(crate) fn has_outcome(&self, id: &TransactionId) -> Result<bool, StoreError> {
        self.hot.has_outcome(id)
    }

    /// What a payment under `id` by `token` reads first.
    pub(crate) fn payment_records(
        &self,
        id: &TransactionId,
        token: &TokenId,
    ) -> Result<FirstReads, StoreError> {
        self.hot.payment_records(id, token)
    }

    /// A kept answer and the digest of the request that made it.
    pub(crate) fn outcome(
        &self,
        id: &TransactionId,
    ) -> Result<Option<([u8; 32], crate::model::PaymentOutcome)>, StoreError> {
        self.hot.outcome(id)
    }

    /// Deletes answers kept past their time, at most `limit`.
    pub(crate) fn purge_outcomes(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<usize, StoreError> {
        self.hot.purge_outcomes(now, limit)
    }

    /// Stores a payment challenge.
    pub(crate) fn put_challenge(
        &self,
        id: &ChallengeId,
        pending: &PendingPayment,
    ) -> Result<(), StoreError> {
        store::write(&*self.kv, |txn| {
            if txn.get(CHALLENGES, id.as_bytes())?.is_some() {
                return Err(StoreError::Duplicate);
            }
            put_json(txn, CHALLENGES, id.as_bytes(), pending)?;
            let due = due_key(pending.expires_at, id.as_bytes());
            txn.put(CHALLENGES_DUE, &due, id.as_bytes())
        })
    }

    /// Takes a challenge: of two answers racing, one gets it.
    pub(crate) fn take_challenge(
        &self,
        id: &ChallengeId,
    ) -> Result<Option<PendingPayment>, StoreError> {
        store::write(&*self.kv, |txn| {
            let found: Option<PendingPayment> = get_json(txn, CHALLENGES, id.as_bytes())?;
            if found.is_some() {
                txn.delete(CHALLENGES, id.as_bytes())?;
            }
            Ok(found)
        })
    }

    /// Puts back a challenge after a wrong answer, unless it lapsed meanwhile.
    pub(crate) fn restore_challenge(
        &self,
        id: &ChallengeId,
        pending: &PendingPayment,
    ) -> Result<(), StoreError> {
        store::write(&*self.kv, |txn| put_json(txn, CHALLENGES, id.as_bytes(), pending))
    }

    /// Deletes challenges that lapsed before `now`, at most `limit`.
    pub(crate) fn purge_challenges(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<usize, StoreError> {
        purge_due(&*self.kv, CHALLENGES_DUE, CHALLENGES, now, limit)
    }

    /// Holds a payment for review, under its transaction id.
    pub(crate) fn put_review(&self, review: &PendingReview) -> Result<(), StoreError> {
        let id = review.txn.id.as_bytes();
        let value = store::encode(review)?;
        let due = due_key(review.expires_at, id);
        store::write(&*self.kv, |txn| {
            txn.put(REVIEWS, id, &value)?;
            txn.put(REVIEWS_DUE, &due, id)
        })
    }

    /// Takes a held payment: of two operators deciding at once, one gets it.
    pub(crate) fn take_review(
        &self,
        id: &TransactionId,
    ) -> Result<Option<PendingReview>, StoreError> {
        store::write(&*self.kv, |txn| {
            let found: Option<PendingReview> = get_json(txn, REVIEWS, id.as_bytes())?;
            if let Some(review) = &found {
                txn.delete(REVIEWS, id.as_bytes())?;
                txn.delete(REVIEWS_DUE, &due_key(review.expires_at, id.as_bytes()))?;
            }
            Ok(found)
        })
    }

    /// Payments waiting for review, oldest deadline first, at most `limit`.
    pub(crate) fn reviews(&self, limit: usize) -> Result<Vec<PendingReview>, StoreError> {
        store::read(&*self.kv, |txn| {
            let mut out = Vec::new();
            for (_, id) in txn.range(REVIEWS_DUE, &[], &prefix_end(&[]), limit)? {
                if let Some(review) = get_json(txn, REVIEWS, &id)? {
                    out.push(review);
                }
            }
            Ok(out)
        })
    }

    /// Takes the held payments whose review lapsed before `now`, at most `limit`.
    pub(crate) fn take_lapsed_reviews(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PendingReview>, StoreError> {
        store::write(&*self.kv, |txn| {
            let mut out = Vec::new();
            for (_, id) in store::take_due(txn, REVIEWS_DUE, now, limit)? {
                if let Some(review) = get_json(txn, REVIEWS, &id)? {
                    txn.delete(REVIEWS, &id)?;
                    out.push(review);
                }
            }
            Ok(out)
        })
    }

    /// Journals a flow before its first step.
    pub(crate) fn begin(&self, flow: &Flow, now: DateTime<Utc>) -> Result<(), StoreError> {
        let entry = store::encode(&Journaled { began: Some(now), flow: flow.clone() })?;
        store::write(&*self.kv, |txn| txn.put(FLOWS, &flow.key(), &entry))
    }

    /// Journals a payment before it goes to the issuer, as [`Flow::Pay`], without copying it.
    pub(crate) fn begin_pay(
        &self,
        txn: &Transaction,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        /// Serializes as the journal entry of a [`Flow::Pay`].
        #[derive(Serialize)]
        #[serde(tag = "flow", rename = "pay")]
        struct PayEntry<'a> {
            began: Option<DateTime<Utc>>,
            txn: &'a Transaction,
        }
        if !self.journal_payments {
            return Ok(());
        }
        let entry = store::encode(&PayEntry { began: Some(now), txn })?;
        store::write(&*self.kv, |t| t.put(FLOWS, &pay_key(&txn.id), &entry))
    }

    /// Closes a flow after its last step.
    pub(crate) fn end(&self, flow: &Flow) -> Result<(), StoreError> {
        store::write(&*self.kv, |txn| txn.delete(FLOWS, &flow.key()).map(drop))
    }

    /// Flows begun before `before` and still open, at most `limit`.
    pub(crate) fn open_flows(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Flow>, StoreError> {
        let entries =
            store::read(&*self.kv, |txn| txn.range(FLOWS, &[], &prefix_end(&[]), usize::MAX))?;
        let mut flows = Vec::new();
        for (_, value) in entries {
            let entry: Journaled = store::decode(&value)?;
            if entry.began.is_none_or(|at| at < before) && flows.len() < limit {
                flows.push(entry.flow);
            }
        }
        Ok(flows)
    }
}

/// Deletes the records of `table` named by the entries of its due index `index` that fell due
/// before `now`, at most `limit`; how many went.
fn purge_due(
    kv: &dyn Kv,
    index: store::Table,
    table: store::Table,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<usize, StoreError> {
    store::write(kv, |txn| {
        let mut purged = 0;
        for (_, id) in store::take_due(txn, index, now, limit)? {
            if txn.delete(table, &id)? {
                purged += 1;
            }
        }
        Ok(purged)
    })
}

fn unlink_card(txn: &mut dyn Txn, card: &CardId) -> Result<(), StoreError> {
    let tokens: Vec<TokenId> =
        get_json(txn, CARD_TOKENS, ids_key(card.as_str()))?.unwrap_or_default();
    for token in &tokens {
        txn.delete(TOKEN_CARD, ids_key(token.as_str()))?;
    }
    txn.delete(CARD_TOKENS, ids_key(card.as_str())).map(drop)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};
    use cloudcard_core::Amount;
    use cloudcard_core::store::MemoryKv;

    use super::*;
    use crate::model::{DeclineReason, PaymentOutcome};

    /// Every outcome comes back from the in-memory answers as it was kept, under an id of the
    /// random shape or any other: a long authorization code, an issuer's reason as text, a
    /// challenge, a hold.
    #[test]
    fn a_kept_answer_is_the_outcome_it_was_given() {
        let records = MemoryRecords::default();
        let until = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
        let outcomes = |transaction: &TransactionId| {
            let transaction = transaction.clone();
            [
                PaymentOutcome::Approved {
                    transaction: transaction.clone(),
                    auth_code: "123456".into(),
                    card: CardId::random(),
                    amount: Amount::from_fen(1_999),
                },
                PaymentOutcome::Approved {
                    transaction: transaction.clone(),
                    auth_code: "授权码-an authorization code longer than most".into(),
                    card: CardId::random(),
                    amount: Amount::from_fen(1),
                },
                PaymentOutcome::Declined {
                    transaction: transaction.clone(),
                    reason: DeclineReason::Issuer("insufficient funds".into()),
                },
                PaymentOutcome::ChallengeRequired {
                    transaction: transaction.clone(),
                    challenge: ChallengeId::random(),
                    method: ChallengeMethod::Otp,
                },
                PaymentOutcome::HeldForReview { transaction, review_by: until },
            ]
        };
        let ids = [TransactionId::random(), "pos-0001-000042".parse().unwrap()];
        for (i, id) in ids.iter().enumerate() {
            for (j, outcome) in outcomes(id).into_iter().enumerate() {
                let digest = [u8::try_from(i * 8 + j).unwrap(); 32];
                let answer = Answer::First { request_digest: digest, until };
                records.keep_outcome(id, answer, &outcome, false).unwrap();
                assert_eq!(records.outcome(id).unwrap(), Some((digest, outcome.clone())));
            }
        }
        // Kept in place: key and answer in 128 bytes a slot, 24 a due entry.
        assert!(size_of::<(u128, Kept)>() <= 128, "{}", size_of::<(u128, Kept)>());
        assert_eq!(size_of::<(i64, [u64; 2])>(), 24);
    }

    /// Answers behave alike as typed maps (a private in-memory store) and as records (a shared
    /// store): kept with their digest, replaced keeping it, expired oldest first within a limit.
    #[test]
    fn answers_are_kept_replaced_and_expired_alike_on_either_store() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        for shared in [false, true] {
            let state = FacadeState::new(Arc::new(MemoryKv::new()), shared);
            assert_eq!(format!("{:?}", state.hot).starts_with("MemoryRecords"), !shared);
            let ids: Vec<TransactionId> = (0..3).map(|_| TransactionId::random()).collect();
            let approved = |i: usize| PaymentOutcome::Approved {
                transaction: ids[i].clone(),
                auth_code: format!("00000{i}"),
                card: "card_1".parse().unwrap(),
                amount: Amount::from_fen(100),
            };
            for (i, id) in ids.iter().enumerate() {
                let until = t0 + TimeDelta::minutes(i64::try_from(i).unwrap());
                let digest = [u8::try_from(i).unwrap(); 32];
                let first = Answer::First { request_digest: digest, until };
                state.keep_outcome(id, first, &approved(i), true).unwrap();
            }
            assert!(state.has_outcome(&ids[1]).unwrap(), "shared: {shared}");
            assert!(!state.has_outcome(&TransactionId::random()).unwrap());
            assert_eq!(state.outcome(&ids[1]).unwrap(), Some(([1; 32], approved(1))));
            // A later answer replaces the first and keeps its digest; for an unknown id, nothing.
            let declined = PaymentOutcome::Declined {
                transaction: ids[1].clone(),
                reason: DeclineReason::Review,
            };
            state.keep_outcome(&ids[1], Answer::Later, &declined, false).unwrap();
            assert_eq!(state.outcome(&ids[1]).unwrap(), Some(([1; 32], declined)));
            let stranger = TransactionId::random();
            state.keep_outcome(&stranger, Answer::Later, &approved(0), false).unwrap();
            assert!(!state.has_outcome(&stranger).unwrap());
            // Due strictly before `now`, at most `limit`: oldest first in the shared store, in
            // the typed maps oldest first within each shard.
            assert_eq!(state.purge_outcomes(t0, 10).unwrap(), 0, "shared: {shared}");
            let later = t0 + TimeDelta::minutes(5);
            assert_eq!(state.purge_outcomes(later, 1).unwrap(), 1);
            let kept = ids.iter().filter(|id| state.has_outcome(id).unwrap()).count();
            assert_eq!(kept, 2);
            if shared {
                assert!(!state.has_outcome(&ids[0]).unwrap());
            }
            assert_eq!(state.purge_outcomes(later, 10).unwrap(), 2);
            assert!(ids.iter().all(|id| !state.has_outcome(id).unwrap()));
        }
    }

    /// Answers spread over the typed maps' shards expire from all of them: a purge takes at
    /// most its limit, starting each time from another shard, and takes nothing not yet due.
    #[test]
    fn answers_expire_from_every_shard() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let records = MemoryRecords::default();
        let outcome = |id: &TransactionId| PaymentOutcome::Declined {
            transaction: id.clone(),
            reason: DeclineReason::Review,
        };
        let ids: Vec<TransactionId> = (0..10_000).map(|_| TransactionId::random()).collect();
        for (i, id) in ids.iter().enumerate() {
            // Every tenth is due only later.
            let until = if i % 10 == 0 { t0 + TimeDelta::hours(1) } else { t0 };
            let first = Answer::First { request_digest: [0; 32], until };
            records.keep_outcome(id, first, &outcome(id), false).unwrap();
        }
        let now = t0 + TimeDelta::minutes(1);
        let mut purged = 0;
        for _ in 0..3 {
            let n = records.purge_outcomes(now, 2_500).unwrap();
            assert_eq!(n, 2_500);
            purged += n;
        }
        purged += records.purge_outcomes(now, 2_500).unwrap();
        assert_eq!(purged, 9_000);
        assert_eq!(records.purge_outcomes(now, 2_500).unwrap(), 0);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(records.has_outcome(id).unwrap(), i % 10 == 0, "{i}");
        }
    }

    /// An answer kept again with a later time stays until then: its first time lapsing takes
    /// nothing; answers lapse in time order whatever order they were kept in.
    #[test]
    fn an_answer_kept_again_stays_until_its_later_time() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let records = MemoryRecords::default();
        let id = TransactionId::random();
        let outcome =
            PaymentOutcome::Declined { transaction: id.clone(), reason: DeclineReason::Review };
        for until in [t0, t0 + TimeDelta::hours(2), t0 + TimeDelta::hours(1)] {
            let first = Answer::First { request_digest: [7; 32], until };
            records.keep_outcome(&id, first, &outcome, false).unwrap();
        }
        // Kept last until t0 + 1h: the entries due at t0 and at t0 + 2h name an older keeping.
        assert_eq!(records.purge_outcomes(t0 + TimeDelta::minutes(1), 10).unwrap(), 0);
        assert_eq!(records.outcome(&id).unwrap(), Some(([7; 32], outcome)));
        assert_eq!(records.purge_outcomes(t0 + TimeDelta::minutes(61), 10).unwrap(), 1);
        assert!(!records.has_outcome(&id).unwrap());
        assert_eq!(records.purge_outcomes(t0 + TimeDelta::hours(3), 10).unwrap(), 0);
        let book = records.answers(answer_key(&id));
        assert!(book.due.is_empty() && book.by_key.is_empty(), "nothing left behind");
    }

    /// Token links behave alike as typed maps and as records: a link names its user, card and
    /// phone time (to the millisecond), a card lists its tokens once, unlinking one token or
    /// a whole card leaves the rest.
    #[test]
    fn links_are_kept_and_removed_alike_on_either_store() {
        let at =
            Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap() + TimeDelta::microseconds(1_500);
        let millis = DateTime::from_timestamp_millis(at.timestamp_millis());
        for shared in [false, true] {
            let state = FacadeState::new(Arc::new(MemoryKv::new()), shared);
            let user: UserId = "usr_1".parse().unwrap();
            let (a, b): (CardId, CardId) = ("card_a".parse().unwrap(), "card_b".parse().unwrap());
            let mut tokens: Vec<TokenId> =
                (0..3).map(|i| format!("tok_{i}").parse().unwrap()).collect();
            // And one the token service drew, kept by its bits in the typed maps.
            tokens.push(TokenId::random());
            state.link(&user, &b, &tokens[3], None).unwrap();
            let drawn = Link { user: user.clone(), card: b.clone(), device_registered_at: None };
            assert_eq!(state.card_of(&tokens[3]).unwrap().as_ref(), Some(&drawn));
            // What a payment reads first: the link, unless its id was answered before.
            let (paid, fresh) = (TransactionId::random(), TransactionId::random());
            let answer = Answer::First { request_digest: [0; 32], until: at };
            let declined = PaymentOutcome::Declined {
                transaction: paid.clone(),
                reason: DeclineReason::Review,
            };
            state.keep_outcome(&paid, answer, &declined, true).unwrap();
            let first = |id, token| state.payment_records(id, token).unwrap();
            assert_eq!(first(&paid, &tokens[3]), FirstReads::Answered);
            assert_eq!(first(&fresh, &tokens[3]), FirstReads::Unanswered(Some(drawn)));
            assert_eq!(first(&fresh, &TokenId::random()), FirstReads::Unanswered(None));
            state.link(&user, &a, &tokens[0], Some(at)).unwrap();
            state.link(&user, &a, &tokens[0], Some(at)).unwrap();
            state.link(&user, &a, &tokens[1], None).unwrap();
            state.link(&user, &b, &tokens[2], None).unwrap();
            let link = state.card_of(&tokens[0]).unwrap().unwrap();
            assert_eq!(
                link,
                Link { user: user.clone(), card: a.clone(), device_registered_at: millis },
                "shared: {shared}"
            );
            assert_eq!(state.card_of(&tokens[1]).unwrap().unwrap().device_registered_at, None);
            assert_eq!(state.tokens_of(&a).unwrap(), tokens[..2].to_vec());
            state.unlink_token(&a, &tokens[0]).unwrap();
            assert_eq!(state.card_of(&tokens[0]).unwrap(), None);
            assert_eq!(state.tokens_of(&a).unwrap(), tokens[1..2].to_vec());
            state.unlink_card(&a).unwrap();
            assert!(state.tokens_of(&a).unwrap().is_empty());
            assert_eq!(state.card_of(&tokens[1]).unwrap(), None);
            assert_eq!(state.card_of(&tokens[2]).unwrap().unwrap().card, b, "the other card");
            state.unlink_token(&b, &tokens[2]).unwrap();
            assert!(
                state.tokens_of(&b).unwrap() == tokens[3..]
                    && state.card_of(&tokens[2]).unwrap().is_none()
            );
            state.unlink_card(&b).unwrap();
            assert_eq!(state.card_of(&tokens[3]).unwrap(), None);
        }
    }
}

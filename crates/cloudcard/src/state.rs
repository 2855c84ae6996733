//! What only the facade knows, kept in the store like every other record: which wallet card
//! each token serves, payments waiting for a step-up, and the journal of cross-crate flows that
//! [`CloudCard::run_due`](crate::CloudCard::run_due) finishes or undoes after a crash.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cloudcard_core::store::{self, Kv, Txn, get_json, prefix_end, put_json, time_key};
use cloudcard_core::{CardId, ClaimId, DeviceId, StoreError, TokenId, UserId};
use cloudcard_risk::{ChallengeMethod, Transaction};
use cloudcard_token::HeldCryptogram;
use serde::{Deserialize, Serialize};

const CARD_TOKENS: &str = "cc_card_tokens";
const TOKEN_CARD: &str = "cc_token_card";
const CHALLENGES: &str = "cc_challenge";
const CHALLENGES_DUE: &str = "cc_challenge_due";
const FLOWS: &str = "cc_flow";

/// A payment waiting for its step-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingPayment {
    pub(crate) user: UserId,
    pub(crate) held: HeldCryptogram,
    pub(crate) txn: Transaction,
    pub(crate) method: ChallengeMethod,
    pub(crate) expires_at: DateTime<Utc>,
}

/// A cross-crate flow under way. Written before its first step and deleted after its last, so
/// recovery knows what a crash interrupted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "flow")]
pub(crate) enum Flow {
    /// Binding: a token was (being) provisioned; the wallet card is added last. Without the
    /// card, recovery deletes the token; with it, recovery completes the link.
    Bind { user: UserId, card: CardId, token: TokenId },
    /// Unbinding confirmed: tokens, then the wallet card. Recovery carries it forward.
    Unbind { user: UserId, card: CardId },
    /// A lost phone or card: status list, tokens, claim. Recovery carries it forward.
    Loss { user: UserId, lost: Lost, claim: ClaimId, reported_at: DateTime<Utc> },
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
            Self::Bind { token, .. } => store::key(&[b"bind", token.as_str().as_bytes()]),
            Self::Unbind { card, .. } => store::key(&[b"unbind", card.as_str().as_bytes()]),
            Self::Loss { claim, .. } => store::key(&[b"loss", claim.as_str().as_bytes()]),
        }
    }
}

/// The facade's records over the shared [`Kv`].
#[derive(Debug, Clone)]
pub(crate) struct FacadeState {
    kv: Arc<dyn Kv>,
}

fn ids_key(id: &str) -> &[u8] {
    id.as_bytes()
}

impl FacadeState {
    pub(crate) fn new(kv: Arc<dyn Kv>) -> Self {
        Self { kv }
    }

    /// Links a token to the wallet card it serves.
    pub(crate) fn link(
        &self,
        user: &UserId,
        card: &CardId,
        token: &TokenId,
    ) -> Result<(), StoreError> {
        store::write(&*self.kv, |txn| {
            let mut tokens: Vec<TokenId> =
                get_json(txn, CARD_TOKENS, ids_key(card.as_str()))?.unwrap_or_default();
            if !tokens.contains(token) {
                tokens.push(token.clone());
            }
            put_json(txn, CARD_TOKENS, ids_key(card.as_str()), &tokens)?;
            txn.put(
                TOKEN_CARD,
                ids_key(token.as_str()),
                &store::key(&[user.as_str().as_bytes(), card.as_str().as_bytes()]),
            )
        })
    }

    /// Removes every link of a card.
    pub(crate) fn unlink_card(&self, card: &CardId) -> Result<(), StoreError> {
        store::write(&*self.kv, |txn| unlink_card(txn, card))
    }

    /// Removes one token's link.
    pub(crate) fn unlink_token(&self, card: &CardId, token: &TokenId) -> Result<(), StoreError> {
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
    pub(crate) fn tokens_of(&self, card: &CardId) -> Result<Vec<TokenId>, StoreError> {
        store::read(&*self.kv, |txn| {
            Ok(get_json(txn, CARD_TOKENS, ids_key(card.as_str()))?.unwrap_or_default())
        })
    }

    /// The user and wallet card a token serves.
    /// Read on every payment: the link is stored as `user \0 card`, no JSON.
    pub(crate) fn card_of(&self, token: &TokenId) -> Result<Option<(UserId, CardId)>, StoreError> {
        let Some(bytes) =
            store::read(&*self.kv, |txn| txn.get(TOKEN_CARD, ids_key(token.as_str())))?
        else {
            return Ok(None);
        };
        let at = bytes.iter().position(|b| *b == 0).ok_or(StoreError::Corrupt)?;
        let (user, card) = bytes.split_at(at);
        let card = card.get(1..).ok_or(StoreError::Corrupt)?;
        Ok(Some((store::decode_id(user)?, store::decode_id(card)?)))
    }

    /// Stores a payment challenge.
    pub(crate) fn put_challenge(
        &self,
        id: &str,
        pending: &PendingPayment,
    ) -> Result<(), StoreError> {
        store::write(&*self.kv, |txn| {
            if txn.get(CHALLENGES, id.as_bytes())?.is_some() {
                return Err(StoreError::Duplicate);
            }
            put_json(txn, CHALLENGES, id.as_bytes(), pending)?;
            let mut due = time_key(pending.expires_at).to_vec();
            due.extend_from_slice(id.as_bytes());
            txn.put(CHALLENGES_DUE, &due, id.as_bytes())
        })
    }

    /// Takes a challenge: of two answers racing, one gets it.
    pub(crate) fn take_challenge(&self, id: &str) -> Result<Option<PendingPayment>, StoreError> {
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
        id: &str,
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
        store::write(&*self.kv, |txn| {
            let due = txn.range(CHALLENGES_DUE, &[], &time_key(now), limit)?;
            let mut purged = 0;
            for (key, id) in &due {
                txn.delete(CHALLENGES_DUE, key)?;
                if txn.delete(CHALLENGES, id)? {
                    purged += 1;
                }
            }
            Ok(purged)
        })
    }

    /// Journals a flow before its first step.
    pub(crate) fn begin(&self, flow: &Flow) -> Result<(), StoreError> {
        store::write(&*self.kv, |txn| put_json(txn, FLOWS, &flow.key(), flow))
    }

    /// Closes a flow after its last step.
    pub(crate) fn end(&self, flow: &Flow) -> Result<(), StoreError> {
        store::write(&*self.kv, |txn| txn.delete(FLOWS, &flow.key()).map(drop))
    }

    /// Flows left open, at most `limit`.
    pub(crate) fn open_flows(&self, limit: usize) -> Result<Vec<Flow>, StoreError> {
        store::read(&*self.kv, |txn| {
            txn.range(FLOWS, &[], &prefix_end(&[]), limit)?
                .into_iter()
                .map(|(_, v)| store::decode(&v))
                .collect()
        })
    }
}

fn unlink_card(txn: &mut dyn Txn, card: &CardId) -> Result<(), StoreError> {
    let tokens: Vec<TokenId> =
        get_json(txn, CARD_TOKENS, ids_key(card.as_str()))?.unwrap_or_default();
    for token in &tokens {
        txn.delete(TOKEN_CARD, ids_key(token.as_str()))?;
    }
    txn.delete(CARD_TOKENS, ids_key(card.as_str())).map(drop)
}

//! Ports of the facade: the issuer's authorization, and a lookup connector backed by the
//! simulated banks.

use std::fmt;
use std::sync::Arc;

use cloudcard_core::{
    Amount, Bank, CardExpiry, MerchantId, Pan, ResidentId, TransactionId, UserId,
};
use cloudcard_report::{BankAnswer, BankQuery, FoundCard, LookupConnector, Reply};
use cloudcard_wallet::SimulatedCard;
use rand::RngExt;

use crate::Error;

/// What the issuer is asked to authorize: the real card number, only after a verified
/// cryptogram and a risk approval.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// The transaction.
    pub transaction: TransactionId,
    /// The card (prints masked).
    pub pan: Pan,
    /// Its expiry, if known.
    pub expiry: Option<CardExpiry>,
    /// The amount.
    pub amount: Amount,
    /// The merchant.
    pub merchant: MerchantId,
}

/// The issuer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerDecision {
    /// Approved, with an authorization code.
    Approved {
        /// The six-character authorization code.
        auth_code: String,
    },
    /// Declined by the issuer.
    Declined {
        /// The issuer's reason (no card data).
        reason: String,
    },
}

/// The card issuer's authorization system.
pub trait IssuerAuthorizer: Send + Sync + fmt::Debug {
    /// Authorizes a payment.
    ///
    /// # Errors
    ///
    /// [`Error::PortUnavailable`] if the issuer cannot be reached.
    fn authorize(&self, request: &AuthorizationRequest) -> Result<IssuerDecision, Error>;

    /// Reverses an authorization whose answer never reached the payer (the service stopped
    /// after asking): the issuer releases any hold it placed. Reversing a transaction the
    /// issuer never saw, or one already reversed, does nothing and succeeds.
    ///
    /// # Errors
    ///
    /// [`Error::PortUnavailable`] if the issuer cannot be reached; the reversal is retried by
    /// the next [`CloudCard::run_due`](crate::CloudCard::run_due).
    fn reverse(&self, transaction: &TransactionId) -> Result<(), Error>;
}

/// A simulated issuer for tests and examples: approves any payment up to a per-payment limit.
/// It is a simulator, not an issuer.
#[derive(Debug, Clone, Copy)]
pub struct SimulatedIssuer {
    limit: Amount,
}

impl SimulatedIssuer {
    /// An issuer approving payments up to `limit`.
    #[must_use]
    pub const fn new(limit: Amount) -> Self {
        Self { limit }
    }
}

impl Default for SimulatedIssuer {
    /// Approves up to ¥50,000 a payment.
    fn default() -> Self {
        Self::new(Amount::from_fen(5_000_000))
    }
}

impl IssuerAuthorizer for SimulatedIssuer {
    fn authorize(&self, request: &AuthorizationRequest) -> Result<IssuerDecision, Error> {
        if request.amount > self.limit {
            return Ok(IssuerDecision::Declined { reason: "exceeds the card's limit".into() });
        }
        Ok(IssuerDecision::Approved {
            auth_code: format!("{:06}", rand::rng().random_range(0..1_000_000u32)),
        })
    }

    /// The simulator places no holds, so a reversal has nothing to release.
    fn reverse(&self, _: &TransactionId) -> Result<(), Error> {
        Ok(())
    }
}

/// Finds the resident ID behind a wallet user, so a bank can answer the lookup for the person.
pub(crate) type IdentityResolver = dyn Fn(&UserId) -> Option<ResidentId> + Send + Sync;

/// A lookup connector answering from the simulated banks' cards: the cards of `bank` held by the
/// person behind the user. A simulator, for tests and examples.
pub(crate) struct SimulatedLookupBank {
    pub(crate) bank: Bank,
    pub(crate) cards: Vec<SimulatedCard>,
    pub(crate) resolve: Arc<IdentityResolver>,
}

impl fmt::Debug for SimulatedLookupBank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedLookupBank").field("bank", &self.bank).finish_non_exhaustive()
    }
}

impl LookupConnector for SimulatedLookupBank {
    fn bank(&self) -> Bank {
        self.bank
    }

    fn ask(&self, query: &BankQuery) -> Reply {
        let cards: Vec<FoundCard> = (self.resolve)(&query.user)
            .map(|id| {
                self.cards
                    .iter()
                    .filter(|c| c.bank == self.bank && c.id == id)
                    .map(|c| FoundCard { pan: c.pan.clone(), kind: c.kind, usage: None })
                    .collect()
            })
            .unwrap_or_default();
        let answer =
            if cards.is_empty() { BankAnswer::NoneFound } else { BankAnswer::Cards(cards) };
        Reply::Answer { after: chrono::TimeDelta::zero(), answer }
    }
}

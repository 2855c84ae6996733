//! The simulators a demo service is filled with (feature `demo`), and the data they hold:
//! three people, their cards at five of the national banks, their face samples, an issuer
//! that approves, and banks that answer lookups. For examples and tests; never production.

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

use cloudcard_core::{Amount, Bank, ResidentId, TransactionId};
use cloudcard_report::{BankAnswer, BankQuery, FoundCard, IdType, LookupConnector, Reply};
use cloudcard_wallet::FaceSample;
use rand::RngExt;

use crate::Error;
use crate::ports::{AuthorizationRequest, IssuerAuthorizer, IssuerDecision};

pub use cloudcard_wallet::{DEMO_PEOPLE, SimulatedCard, demo_cards};

/// The face sample the demo face service accepts for the person with `id`.
#[must_use]
pub fn face_of(id: &ResidentId) -> FaceSample {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    FaceSample(format!("demo-face-{:016x}", h.finish()))
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

/// A lookup connector answering from the simulated banks' cards: the cards of `bank` in the
/// name of the query's identity document. A simulator, for tests and examples.
pub(crate) struct SimulatedLookupBank {
    pub(crate) bank: Bank,
    pub(crate) cards: Vec<SimulatedCard>,
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
        let cards: Vec<FoundCard> = match query.document.kind {
            IdType::ResidentIdCard => self
                .cards
                .iter()
                .filter(|c| c.bank == self.bank && c.id == query.document.number)
                .map(|c| FoundCard { pan: c.pan.clone(), kind: c.kind, usage: None })
                .collect(),
            // A document kind these simulated banks do not hold cards under.
            _ => Vec::new(),
        };
        let answer =
            if cards.is_empty() { BankAnswer::NoneFound } else { BankAnswer::Cards(cards) };
        Reply::Answer { after: chrono::TimeDelta::zero(), answer }
    }
}

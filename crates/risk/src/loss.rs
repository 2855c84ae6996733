//! Loss reports and 72-hour loss protection (72小时失卡保障).

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::{Amount, CardId, ClaimId, DeviceId, TransactionId, UserId};
use serde::{Deserialize, Serialize};

use crate::RiskError;
use crate::txn::{Authentication, Transaction};

/// How far back from a loss report protection reaches.
pub const PROTECTION_WINDOW: TimeDelta = TimeDelta::hours(72);

/// What was lost.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Instrument {
    /// A bank card.
    Card(CardId),
    /// A phone holding cloud cards.
    Device(DeviceId),
}

/// A user's report that a card or phone is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossReport {
    /// What was lost.
    pub instrument: Instrument,
    /// Who reported it.
    pub user: UserId,
    /// When.
    pub reported_at: DateTime<Utc>,
}

/// A transaction as the loss log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedTransaction {
    /// Its id.
    pub id: TransactionId,
    /// The card.
    pub card: CardId,
    /// The device, if any.
    pub device: Option<DeviceId>,
    /// The amount.
    pub amount: Amount,
    /// When.
    pub at: DateTime<Utc>,
    /// How it was authenticated.
    pub auth: Authentication,
    /// Whether it was approved.
    pub approved: bool,
}

/// Why a transaction is not covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ineligible {
    /// It was declined: no money moved.
    Declined,
    /// It is outside the 72 hours before the report.
    OutsideWindow,
    /// The cardholder's fingerprint or payment password authenticated it.
    CardholderVerified,
    /// It is already in a claim.
    AlreadyClaimed,
}

/// The verdict on one transaction of a lost instrument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// The transaction.
    pub transaction: LoggedTransaction,
    /// `None` if eligible; otherwise why not.
    pub ineligible: Option<Ineligible>,
}

/// Where a claim is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    /// Opened with the eligible transactions.
    Filed,
    /// Checked by the operator.
    Assessed,
    /// The eligible amount was advanced to the user (先行垫付).
    AdvancePaid,
    /// Closed with the money recovered or written off. Terminal.
    Settled,
    /// Refused. Terminal; its transactions may be claimed again.
    Rejected,
}

/// What happens to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimEvent {
    /// The operator checked it.
    Assess,
    /// The eligible amount was paid in advance.
    AdvancePay,
    /// The case is closed.
    Settle,
    /// The claim is refused.
    Reject,
}

/// Decides a claim's next state: Filed → Assessed → AdvancePaid → Settled, with Rejected
/// reachable before any money moved.
///
/// # Errors
///
/// [`RiskError::ClaimTransition`] for any other move.
pub const fn claim_transition(
    state: ClaimState,
    event: ClaimEvent,
) -> Result<ClaimState, RiskError> {
    use ClaimEvent as E;
    use ClaimState as S;
    match (state, event) {
        (S::Filed, E::Assess) => Ok(S::Assessed),
        (S::Assessed, E::AdvancePay) => Ok(S::AdvancePaid),
        (S::AdvancePaid, E::Settle) => Ok(S::Settled),
        (S::Filed | S::Assessed, E::Reject) => Ok(S::Rejected),
        _ => Err(RiskError::ClaimTransition { from: state_name(state), event: event_name(event) }),
    }
}

const fn state_name(s: ClaimState) -> &'static str {
    match s {
        ClaimState::Filed => "filed",
        ClaimState::Assessed => "assessed",
        ClaimState::AdvancePaid => "advance paid",
        ClaimState::Settled => "settled",
        ClaimState::Rejected => "rejected",
    }
}

const fn event_name(e: ClaimEvent) -> &'static str {
    match e {
        ClaimEvent::Assess => "assess",
        ClaimEvent::AdvancePay => "advance pay",
        ClaimEvent::Settle => "settle",
        ClaimEvent::Reject => "reject",
    }
}

/// A loss-protection claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// Its id.
    pub id: ClaimId,
    /// The loss it covers.
    pub report: LossReport,
    /// The eligible transactions.
    pub transactions: Vec<TransactionId>,
    /// Their total.
    pub eligible_amount: Amount,
    /// Where it is.
    pub state: ClaimState,
    /// Every state it has been in, with when.
    pub history: Vec<(ClaimState, DateTime<Utc>)>,
}

/// The transaction log of instruments, and the claims.
#[derive(Debug, Default)]
pub(crate) struct LossBook {
    by_card: HashMap<CardId, VecDeque<LoggedTransaction>>,
    by_device: HashMap<DeviceId, VecDeque<LoggedTransaction>>,
    claims: HashMap<ClaimId, Claim>,
    claimed: HashSet<TransactionId>,
}

impl LossBook {
    pub(crate) fn log(&mut self, txn: &Transaction, approved: bool, retention: TimeDelta) {
        let entry = LoggedTransaction {
            id: txn.id.clone(),
            card: txn.card.clone(),
            device: txn.device.clone(),
            amount: txn.amount,
            at: txn.at,
            auth: txn.auth,
            approved,
        };
        let push = |log: &mut VecDeque<LoggedTransaction>, entry: LoggedTransaction| {
            let cutoff = entry.at.checked_sub_signed(retention).unwrap_or(entry.at);
            log.push_back(entry);
            while log.front().is_some_and(|t| t.at < cutoff) {
                log.pop_front();
            }
        };
        if let Some(device) = &txn.device {
            push(self.by_device.entry(device.clone()).or_default(), entry.clone());
        }
        push(self.by_card.entry(txn.card.clone()).or_default(), entry);
    }

    pub(crate) fn assess(&self, report: &LossReport) -> Vec<Assessment> {
        let log = match &report.instrument {
            Instrument::Card(card) => self.by_card.get(card),
            Instrument::Device(device) => self.by_device.get(device),
        };
        let start =
            report.reported_at.checked_sub_signed(PROTECTION_WINDOW).unwrap_or(report.reported_at);
        log.into_iter()
            .flatten()
            .map(|t| {
                let ineligible = if !t.approved {
                    Some(Ineligible::Declined)
                } else if t.at < start || t.at > report.reported_at {
                    Some(Ineligible::OutsideWindow)
                } else if t.auth.proves_cardholder() {
                    Some(Ineligible::CardholderVerified)
                } else if self.claimed.contains(&t.id) {
                    Some(Ineligible::AlreadyClaimed)
                } else {
                    None
                };
                Assessment { transaction: t.clone(), ineligible }
            })
            .collect()
    }

    pub(crate) fn file(
        &mut self,
        report: &LossReport,
        now: DateTime<Utc>,
    ) -> Result<Claim, RiskError> {
        let eligible: Vec<LoggedTransaction> = self
            .assess(report)
            .into_iter()
            .filter(|a| a.ineligible.is_none())
            .map(|a| a.transaction)
            .collect();
        if eligible.is_empty() {
            return Err(RiskError::NothingEligible);
        }
        let eligible_amount =
            Amount::checked_sum(eligible.iter().map(|t| t.amount)).ok_or(RiskError::Overflow)?;
        let transactions: Vec<TransactionId> = eligible.into_iter().map(|t| t.id).collect();
        self.claimed.extend(transactions.iter().cloned());
        let claim = Claim {
            id: ClaimId::random(),
            report: report.clone(),
            transactions,
            eligible_amount,
            state: ClaimState::Filed,
            history: vec![(ClaimState::Filed, now)],
        };
        self.claims.insert(claim.id.clone(), claim.clone());
        Ok(claim)
    }

    pub(crate) fn advance(
        &mut self,
        id: &ClaimId,
        event: ClaimEvent,
        now: DateTime<Utc>,
    ) -> Result<Claim, RiskError> {
        let claim = self.claims.get_mut(id).ok_or(RiskError::ClaimNotFound)?;
        claim.state = claim_transition(claim.state, event)?;
        claim.history.push((claim.state, now));
        if claim.state == ClaimState::Rejected {
            for t in &claim.transactions {
                self.claimed.remove(t);
            }
        }
        Ok(claim.clone())
    }

    pub(crate) fn claim(&self, id: &ClaimId) -> Option<Claim> {
        self.claims.get(id).cloned()
    }
}

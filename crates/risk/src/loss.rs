//! Loss reports and 72-hour loss protection (72小时失卡保障).

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::{Amount, CardId, ClaimId, DeviceId, TransactionId, UserId};
use serde::{Deserialize, Serialize};

use crate::RiskError;
use crate::txn::{Authentication, Transaction};

impl LoggedTransaction {
    /// The log entry of a transaction.
    #[must_use]
    pub fn of(txn: &Transaction, approved: bool) -> Self {
        Self {
            id: txn.id.clone(),
            card: txn.card.clone(),
            device: txn.device.clone(),
            amount: txn.amount,
            at: txn.at,
            auth: txn.auth,
            approved,
        }
    }
}

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

/// The verdict on one logged transaction of a lost instrument (`claimed`: already in a claim):
/// eligible for 72-hour protection when approved, made within the 72 hours up to and including
/// the report, not verified by the cardholder's fingerprint or payment password.
pub(crate) fn verdict(
    t: &LoggedTransaction,
    report: &LossReport,
    claimed: bool,
) -> Option<Ineligible> {
    let start =
        report.reported_at.checked_sub_signed(PROTECTION_WINDOW).unwrap_or(report.reported_at);
    if !t.approved {
        Some(Ineligible::Declined)
    } else if t.at < start || t.at > report.reported_at {
        Some(Ineligible::OutsideWindow)
    } else if t.auth.proves_cardholder() {
        Some(Ineligible::CardholderVerified)
    } else if claimed {
        Some(Ineligible::AlreadyClaimed)
    } else {
        None
    }
}

/// A filed claim for the eligible transactions of a loss; `None` if there is none.
pub(crate) fn file(
    id: &ClaimId,
    report: &LossReport,
    eligible: &[LoggedTransaction],
    now: DateTime<Utc>,
) -> Option<Result<Claim, RiskError>> {
    if eligible.is_empty() {
        return None;
    }
    let Some(eligible_amount) = Amount::checked_sum(eligible.iter().map(|t| t.amount)) else {
        return Some(Err(RiskError::Overflow));
    };
    Some(Ok(Claim {
        id: id.clone(),
        report: report.clone(),
        transactions: eligible.iter().map(|t| t.id.clone()).collect(),
        eligible_amount,
        state: ClaimState::Filed,
        history: vec![(ClaimState::Filed, now)],
    }))
}

/// Moves a claim on by `event`, recording when.
pub(crate) fn advance(
    claim: &mut Claim,
    event: ClaimEvent,
    now: DateTime<Utc>,
) -> Result<(), RiskError> {
    claim.state = claim_transition(claim.state, event)?;
    claim.history.push((claim.state, now));
    Ok(())
}

impl std::fmt::Display for ClaimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Filed => "filed",
            Self::Assessed => "assessed",
            Self::AdvancePaid => "advance paid",
            Self::Settled => "settled",
            Self::Rejected => "rejected",
        })
    }
}

impl std::fmt::Display for Ineligible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Declined => "not covered: declined",
            Self::OutsideWindow => "not covered: before the 72 hours",
            Self::CardholderVerified => "not covered: verified by the cardholder",
            Self::AlreadyClaimed => "not covered: already claimed",
        })
    }
}

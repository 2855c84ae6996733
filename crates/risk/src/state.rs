//! The risk engine's records: status lists, the loss log and claims, behind the
//! [`RiskStore`] port, implemented once over any [`Kv`].

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::store::{self, Kv, Txn, get_json, prefix_end, put_json, time_key};
use cloudcard_core::{
    Amount, CardId, ClaimId, DeviceId, MemoryKv, StoreError, TransactionId, UserId,
};

use crate::RiskError;
use crate::loss::{
    Assessment, Claim, ClaimEvent, ClaimState, Ineligible, Instrument, LoggedTransaction,
    LossReport, PROTECTION_WINDOW, claim_transition,
};

/// Where the risk engine keeps what must outlive the process and be shared by every node:
/// the status lists (lost cards and phones, suspended users), the loss log and the claims.
/// Filing and advancing a claim are atomic, so no transaction is claimed twice.
pub trait RiskStore: Send + Sync + fmt::Debug {
    /// Puts an instrument on the lost list (keeps the first report's time).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn mark_lost(&self, instrument: &Instrument, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Suspends or resumes a user.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn set_suspended(&self, user: &UserId, suspended: bool) -> Result<(), StoreError>;
    /// Which list, if any, holds the card, the device or the user (in that order).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn listed(
        &self,
        card: Option<&CardId>,
        device: Option<&DeviceId>,
        user: Option<&UserId>,
    ) -> Result<Option<Listed>, StoreError>;
    /// Logs a transaction under its card and device, kept for `retention`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn log(&self, entry: &LoggedTransaction, retention: TimeDelta) -> Result<(), StoreError>;
    /// Drops log entries older than their retention, at most `limit`; how many went.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn purge_log(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError>;
    /// The verdict on every logged transaction of the report's instrument.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn assess(&self, report: &LossReport) -> Result<Vec<Assessment>, StoreError>;
    /// Files a claim for the eligible transactions of a loss, marking them claimed, in one
    /// transaction; `None` if none is eligible.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`]; [`StoreError::Corrupt`] if the amounts overflow.
    fn file_claim(
        &self,
        id: &ClaimId,
        report: &LossReport,
        now: DateTime<Utc>,
    ) -> Result<Option<Claim>, StoreError>;
    /// Moves a claim on; a rejected claim frees its transactions.
    ///
    /// # Errors
    ///
    /// [`StoreError::Missing`]; the transition error as `Err(Ok(..))`.
    fn advance_claim(
        &self,
        id: &ClaimId,
        event: ClaimEvent,
        now: DateTime<Utc>,
    ) -> Result<Result<Claim, RiskError>, StoreError>;
    /// A claim.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn claim(&self, id: &ClaimId) -> Result<Option<Claim>, StoreError>;
}

/// Which status list matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// The card was reported lost.
    LostCard,
    /// The device was reported lost.
    LostDevice,
    /// The user is suspended.
    SuspendedUser,
}

const LOST: &str = "risk_status";
const LOG: &str = "risk_log";
const LOG_DUE: &str = "risk_log_due";
const CLAIMS: &str = "risk_claim";
const CLAIMED: &str = "risk_claimed";

/// The risk store over a [`Kv`].
#[derive(Debug, Clone, Default)]
pub struct KvRiskStore<K> {
    kv: K,
}

/// The in-memory risk store.
pub type InMemoryRiskStore = KvRiskStore<MemoryKv>;

impl<K: Kv> KvRiskStore<K> {
    /// A risk store over `kv`.
    pub const fn new_in(kv: K) -> Self {
        Self { kv }
    }
}

impl InMemoryRiskStore {
    /// An empty in-memory store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

fn status_key(tag: u8, id: &str) -> Vec<u8> {
    let mut k = vec![tag, 0];
    k.extend_from_slice(id.as_bytes());
    k
}

fn instrument_prefix(instrument: &Instrument) -> Vec<u8> {
    let mut k = match instrument {
        Instrument::Card(c) => status_key(b'c', c.as_str()),
        Instrument::Device(d) => status_key(b'd', d.as_str()),
    };
    k.push(0);
    k
}

fn log_key(instrument: &Instrument, entry: &LoggedTransaction) -> Vec<u8> {
    let mut k = instrument_prefix(instrument);
    k.extend_from_slice(&time_key(entry.at));
    k.extend_from_slice(entry.id.as_str().as_bytes());
    k
}

fn assess_in(txn: &mut dyn Txn, report: &LossReport) -> Result<Vec<Assessment>, StoreError> {
    let start =
        report.reported_at.checked_sub_signed(PROTECTION_WINDOW).unwrap_or(report.reported_at);
    let prefix = instrument_prefix(&report.instrument);
    let mut out = Vec::new();
    for (_, value) in txn.range(LOG, &prefix, &prefix_end(&prefix), usize::MAX)? {
        let t: LoggedTransaction = store::decode(&value)?;
        let ineligible = if !t.approved {
            Some(Ineligible::Declined)
        } else if t.at < start || t.at > report.reported_at {
            Some(Ineligible::OutsideWindow)
        } else if t.auth.proves_cardholder() {
            Some(Ineligible::CardholderVerified)
        } else if txn.get(CLAIMED, t.id.as_str().as_bytes())?.is_some() {
            Some(Ineligible::AlreadyClaimed)
        } else {
            None
        };
        out.push(Assessment { transaction: t, ineligible });
    }
    Ok(out)
}

impl<K: Kv> RiskStore for KvRiskStore<K> {
    fn mark_lost(&self, instrument: &Instrument, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut key = instrument_prefix(instrument);
        key.pop();
        store::write(&self.kv, |txn| {
            if txn.get(LOST, &key)?.is_none() {
                put_json(txn, LOST, &key, &at)?;
            }
            Ok(())
        })
    }

    fn set_suspended(&self, user: &UserId, suspended: bool) -> Result<(), StoreError> {
        let key = status_key(b'u', user.as_str());
        store::write(&self.kv, |txn| {
            if suspended { txn.put(LOST, &key, b"1") } else { txn.delete(LOST, &key).map(drop) }
        })
    }

    fn listed(
        &self,
        card: Option<&CardId>,
        device: Option<&DeviceId>,
        user: Option<&UserId>,
    ) -> Result<Option<Listed>, StoreError> {
        // Checked on every payment: keys are built on the stack, and a miss allocates nothing.
        store::read(&self.kv, |txn| {
            let probes = [
                (b'c', card.map(CardId::as_str), Listed::LostCard),
                (b'd', device.map(DeviceId::as_str), Listed::LostDevice),
                (b'u', user.map(UserId::as_str), Listed::SuspendedUser),
            ];
            for (tag, id, listed) in probes {
                let Some(id) = id else { continue };
                let mut buf = [0u8; 96];
                let hit = match buf.get_mut(..id.len() + 2) {
                    Some(key) => {
                        let (head, rest) = key.split_at_mut(2);
                        head.copy_from_slice(&[tag, 0]);
                        rest.copy_from_slice(id.as_bytes());
                        txn.contains(LOST, key)?
                    }
                    None => txn.contains(LOST, &status_key(tag, id))?,
                };
                if hit {
                    return Ok(Some(listed));
                }
            }
            Ok(None)
        })
    }

    fn log(&self, entry: &LoggedTransaction, retention: TimeDelta) -> Result<(), StoreError> {
        let due = entry.at.checked_add_signed(retention).unwrap_or(entry.at);
        store::write(&self.kv, |txn| {
            let mut instruments = vec![Instrument::Card(entry.card.clone())];
            if let Some(device) = &entry.device {
                instruments.push(Instrument::Device(device.clone()));
            }
            for instrument in &instruments {
                let key = log_key(instrument, entry);
                put_json(txn, LOG, &key, entry)?;
                let mut due_key = time_key(due).to_vec();
                due_key.extend_from_slice(&key);
                txn.put(LOG_DUE, &due_key, &key)?;
            }
            Ok(())
        })
    }

    fn purge_log(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        store::write(&self.kv, |txn| {
            let due = txn.range(LOG_DUE, &[], &time_key(now), limit)?;
            for (due_key, key) in &due {
                txn.delete(LOG_DUE, due_key)?;
                txn.delete(LOG, key)?;
            }
            Ok(due.len())
        })
    }

    fn assess(&self, report: &LossReport) -> Result<Vec<Assessment>, StoreError> {
        store::read(&self.kv, |txn| assess_in(txn, report))
    }

    fn file_claim(
        &self,
        id: &ClaimId,
        report: &LossReport,
        now: DateTime<Utc>,
    ) -> Result<Option<Claim>, StoreError> {
        store::write(&self.kv, |txn| {
            let eligible: Vec<LoggedTransaction> = assess_in(txn, report)?
                .into_iter()
                .filter(|a| a.ineligible.is_none())
                .map(|a| a.transaction)
                .collect();
            if eligible.is_empty() {
                return Ok(None);
            }
            let eligible_amount = Amount::checked_sum(eligible.iter().map(|t| t.amount))
                .ok_or(StoreError::Corrupt)?;
            let transactions: Vec<TransactionId> = eligible.into_iter().map(|t| t.id).collect();
            for t in &transactions {
                txn.put(CLAIMED, t.as_str().as_bytes(), id.as_str().as_bytes())?;
            }
            let claim = Claim {
                id: id.clone(),
                report: report.clone(),
                transactions,
                eligible_amount,
                state: ClaimState::Filed,
                history: vec![(ClaimState::Filed, now)],
            };
            if txn.get(CLAIMS, id.as_str().as_bytes())?.is_some() {
                return Err(StoreError::Duplicate);
            }
            put_json(txn, CLAIMS, id.as_str().as_bytes(), &claim)?;
            Ok(Some(claim))
        })
    }

    fn advance_claim(
        &self,
        id: &ClaimId,
        event: ClaimEvent,
        now: DateTime<Utc>,
    ) -> Result<Result<Claim, RiskError>, StoreError> {
        store::write(&self.kv, |txn| {
            let key = id.as_str().as_bytes();
            let mut claim: Claim = get_json(txn, CLAIMS, key)?.ok_or(StoreError::Missing)?;
            claim.state = match claim_transition(claim.state, event) {
                Ok(state) => state,
                Err(e) => return Ok(Err(e)),
            };
            claim.history.push((claim.state, now));
            if claim.state == ClaimState::Rejected {
                for t in &claim.transactions {
                    txn.delete(CLAIMED, t.as_str().as_bytes())?;
                }
            }
            put_json(txn, CLAIMS, key, &claim)?;
            Ok(Ok(claim))
        })
    }

    fn claim(&self, id: &ClaimId) -> Result<Option<Claim>, StoreError> {
        store::read(&self.kv, |txn| get_json(txn, CLAIMS, id.as_str().as_bytes()))
    }
}

//! The risk engine from an attacker's side: what it must not let through when its stores fail
//! or a transaction is replayed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use cloudcard_core::store::{Kv, TxnFn};
use cloudcard_core::{Amount, Channel, ManualClock, MemoryKv, StoreError};
use cloudcard_risk::{
    Authentication, Instrument, KvRiskStore, Mcc, Outcome, Reason, RiskConfig, RiskEngine,
    RiskError, RuleSet, Transaction, VelocityStore,
};

/// A store that is down.
#[derive(Debug)]
struct Down;

#[derive(Debug)]
struct Outage;
impl std::fmt::Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("store down")
    }
}
impl std::error::Error for Outage {}

impl Kv for Down {
    fn read(&self, _: &mut TxnFn<'_>) -> Result<(), StoreError> {
        Err(StoreError::backend(Outage))
    }
    fn write(&self, _: &mut TxnFn<'_>) -> Result<(), StoreError> {
        Err(StoreError::backend(Outage))
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

fn payment(fen: u64) -> Transaction {
    Transaction {
        id: "txn_1".parse().unwrap(),
        card: "card_1".parse().unwrap(),
        token: Some("tok_1".parse().unwrap()),
        device: Some("dev_1".parse().unwrap()),
        user: "usr_1".parse().unwrap(),
        amount: Amount::from_fen(fen),
        merchant: "mch_1".parse().unwrap(),
        mcc: Mcc(5411),
        channel: Channel::Nfc,
        at: t0(),
        auth: Authentication::None,
        device_registered_at: Some(t0() - TimeDelta::days(30)),
    }
}

fn engine(kv: Arc<dyn Kv>) -> RiskEngine {
    let config = RiskConfig::default();
    let rules = RuleSet::default_rules(&config.windows).unwrap();
    let velocity = Arc::new(VelocityStore::new(config.windows.clone()));
    let clock = Arc::new(ManualClock::new(t0()));
    RiskEngine::with_store(config, rules, clock, Arc::new(KvRiskStore::new_in(kv)), velocity)
        .unwrap()
}

#[test]
fn status_lists_that_cannot_be_read_fail_closed() {
    let down = engine(Arc::new(Down));
    let mut buf = down.buffer();
    let decision = down.decide(&payment(100), &mut buf);
    assert_eq!(
        decision.outcome,
        Outcome::Decline,
        "a lost card must not pay while the list is down"
    );
    assert_eq!(decision.reason, Reason::Unavailable);
    assert!(matches!(down.record(&payment(100), true), Err(RiskError::Store(_))));
}

#[test]
fn a_transaction_is_claimed_once_however_often_the_loss_is_reported() {
    let risk = engine(Arc::new(MemoryKv::new()));
    let mut t = payment(2_000);
    t.at = t0() - TimeDelta::hours(1);
    assert!(risk.record(&t, true).unwrap());
    assert!(!risk.record(&t, true).unwrap(), "a replayed transaction id is counted once");
    let report = risk.report_loss(Instrument::Card(t.card.clone()), &t.user, t0()).unwrap();
    let claim = risk.file_claim(&report).unwrap();
    assert_eq!(claim.transactions, vec![t.id.clone()]);
    assert_eq!(risk.file_claim(&report), Err(RiskError::NothingEligible));
    let again = risk.report_loss(Instrument::Card(t.card.clone()), &t.user, t0()).unwrap();
    assert_eq!(risk.file_claim(&again), Err(RiskError::NothingEligible));
}

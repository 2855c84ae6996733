//! The risk engine as an embedding service uses it: a custom rule file, decisions, a loss claim.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard_core::{Amount, Channel, Clock, ManualClock};
use cloudcard_risk::{
    Authentication, ChallengeMethod, ClaimEvent, ClaimState, Instrument, Mcc, Outcome, RiskConfig,
    RiskEngine, RiskError, RuleSet, Transaction,
};

const RULES: &str = r#"{
  "version": "merchant-2026-12",
  "rules": [
    { "id": "gambling", "description": "gambling merchants",
      "when": { "mcc_in": [7995] }, "action": "decline" },
    { "id": "online-large", "when": { "all": [
        { "channel_in": ["online"] },
        { "compare": { "feature": "amount", "op": ">=", "value": 300000 } } ] },
      "action": { "challenge": "payment_password" } }
  ]
}"#;

fn payment(clock: &ManualClock, id: &str, fen: u64) -> Transaction {
    Transaction {
        id: id.parse().unwrap(),
        card: "card_a".parse().unwrap(),
        token: None,
        device: Some("dev_a".parse().unwrap()),
        user: "usr_a".parse().unwrap(),
        amount: Amount::from_fen(fen),
        merchant: "mch_shop".parse().unwrap(),
        mcc: Mcc(5311),
        channel: Channel::Online,
        at: clock.now(),
        auth: Authentication::Otp,
        device_registered_at: Some(clock.now() - TimeDelta::days(200)),
    }
}

#[test]
fn a_custom_rule_file_decides() {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).unwrap()));
    let config = RiskConfig::default();
    let rules = RuleSet::from_json(RULES, &config.windows).unwrap();
    let engine = RiskEngine::new(config, rules, clock.clone()).unwrap();
    let mut buf = engine.buffer();
    let d = engine.decide(&payment(&clock, "txn_1", 350_000), &mut buf);
    assert_eq!(d.outcome, Outcome::Challenge(ChallengeMethod::PaymentPassword));
    let mut casino = payment(&clock, "txn_2", 100);
    casino.mcc = Mcc(7995);
    assert_eq!(engine.decide(&casino, &mut buf).outcome, Outcome::Decline);
    assert_eq!(&*buf.fired()[0].rule, "gambling");
}

#[test]
fn a_broken_rule_file_names_the_rule() {
    let broken = RULES.replace("\"amount\"", "\"amount_yuan\"");
    let err = RuleSet::from_json(&broken, &RiskConfig::default().windows).unwrap_err();
    assert!(matches!(&err, RiskError::InvalidRule { rule, .. } if rule == "online-large"), "{err}");
}

#[test]
fn lost_phone_claim_journey() {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).unwrap()));
    let engine = RiskEngine::with_default_rules(clock.clone()).unwrap();
    let mut buf = engine.buffer();
    let thief = payment(&clock, "txn_thief", 88_800);
    assert_eq!(engine.decide(&thief, &mut buf).outcome, Outcome::Approve);
    engine.record(&thief, true).unwrap();
    clock.advance(TimeDelta::hours(5));
    let report = engine
        .report_loss(
            Instrument::Device("dev_a".parse().unwrap()),
            &"usr_a".parse().unwrap(),
            clock.now(),
        )
        .unwrap();
    assert_eq!(
        engine.decide(&payment(&clock, "txn_after", 100), &mut buf).outcome,
        Outcome::Decline
    );
    let claim = engine.file_claim(&report).unwrap();
    assert_eq!(claim.eligible_amount, Amount::from_fen(88_800));
    for event in [ClaimEvent::Assess, ClaimEvent::AdvancePay, ClaimEvent::Settle] {
        engine.advance_claim(&claim.id, event).unwrap();
    }
    assert_eq!(engine.claim(&claim.id).unwrap().unwrap().state, ClaimState::Settled);
}

/// Velocity is kept for what can be read: with rules that read only the card and the device,
/// a payment with a token counts two entities; a shadow set that reads the user adds the user
/// from then on, and the user's rule sees only what was counted since.
#[test]
fn velocity_is_kept_for_the_entities_rules_read() {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).unwrap()));
    let config = RiskConfig::default();
    let windows = config.windows.clone();
    let engine =
        RiskEngine::new(config, RuleSet::default_rules(&windows).unwrap(), clock.clone()).unwrap();
    let mut first = payment(&clock, "txn_1", 100);
    first.token = Some("tok_a".parse().unwrap());
    assert!(engine.record(&first, true).unwrap());
    assert!(!engine.record(&first, true).unwrap(), "a retried id counts once");
    assert_eq!(engine.velocity().tracked().unwrap(), 2, "card and device");

    let user_rules = r#"{ "version": "users", "rules": [
        { "id": "user-burst", "when": { "compare":
            { "feature": "user.count.24h", "op": ">=", "value": 2 } }, "action": "decline" } ] }"#;
    engine.set_shadow(Some(RuleSet::from_json(user_rules, &windows).unwrap()));
    let mut second = payment(&clock, "txn_2", 100);
    second.token = first.token.clone();
    assert!(engine.record(&second, true).unwrap());
    assert_eq!(engine.velocity().tracked().unwrap(), 3, "card, device and user");
    engine.swap_rules(RuleSet::from_json(user_rules, &windows).unwrap());
    let mut buf = engine.buffer();
    assert_eq!(engine.decide(&payment(&clock, "txn_3", 100), &mut buf).outcome, Outcome::Approve);
    assert!(engine.record(&payment(&clock, "txn_3", 100), true).unwrap());
    let fourth = payment(&clock, "txn_4", 100);
    assert_eq!(engine.decide(&fourth, &mut buf).outcome, Outcome::Decline, "two counted since");
}

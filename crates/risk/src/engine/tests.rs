//! Unit tests, compiled only under `#[cfg(test)]` (see the parent module).
#![cfg(test)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use chrono::TimeZone;
use cloudcard_core::{Amount, Channel, Clock, ManualClock, TransactionId};

use super::*;
use crate::RuleError;
use crate::loss::{ClaimState, Ineligible};
use crate::rules::ChallengeMethod;
use crate::txn::{Authentication, Mcc};
use std::collections::HashMap;

/// 10:00 Beijing time.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

fn engine_with(rules: &str) -> (Arc<ManualClock>, RiskEngine) {
    let clock = Arc::new(ManualClock::new(t0()));
    let config = RiskConfig::default();
    let set = RuleSet::from_toml(rules, &config.windows).unwrap();
    (clock.clone(), RiskEngine::new(config, set, clock).unwrap())
}

fn default_engine() -> (Arc<ManualClock>, RiskEngine) {
    let clock = Arc::new(ManualClock::new(t0()));
    (clock.clone(), RiskEngine::with_default_rules(clock).unwrap())
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn txn(clock: &ManualClock, fen: u64) -> Transaction {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Transaction {
        id: format!("txn_{n}").parse().unwrap(),
        card: "card_1".parse().unwrap(),
        token: Some("tok_1".parse().unwrap()),
        device: Some("dev_1".parse().unwrap()),
        user: "usr_1".parse().unwrap(),
        amount: Amount::from_fen(fen),
        merchant: "mch_1".parse().unwrap(),
        mcc: Mcc(5411),
        channel: Channel::Nfc,
        at: clock.now(),
        auth: Authentication::Fingerprint,
        device_registered_at: Some(t0() - TimeDelta::days(90)),
    }
}

fn rule(id: &str, when: &str, action: &str) -> String {
    format!("[[rules]]\nid = \"{id}\"\nwhen = {when}\naction = {action}\n")
}

fn set(rules: &[String]) -> String {
    format!("version = \"t\"\n{}", rules.concat())
}

#[test]
fn each_condition_kind() {
    type Case = (&'static str, fn(&mut Transaction), bool);
    let cases: [Case; 12] = [
        (
            "{ compare = { feature = \"amount\", op = \">\", value = 1000 } }",
            |t| t.amount = Amount::from_fen(1001),
            true,
        ),
        (
            "{ compare = { feature = \"amount\", op = \"<=\", value = 1000 } }",
            |t| t.amount = Amount::from_fen(1001),
            false,
        ),
        (
            "{ compare = { feature = \"amount\", op = \"==\", value = 7 } }",
            |t| t.amount = Amount::from_fen(7),
            true,
        ),
        (
            "{ compare = { feature = \"amount\", op = \"!=\", value = 7 } }",
            |t| t.amount = Amount::from_fen(7),
            false,
        ),
        ("{ mcc_in = [7995, 5933] }", |t| t.mcc = Mcc(7995), true),
        ("{ mcc_in = [7995, 5933] }", |_| {}, false),
        ("{ channel_in = [\"online\", \"in_app\"] }", |t| t.channel = Channel::Online, true),
        ("{ auth_in = [\"none\", \"otp\"] }", |t| t.auth = Authentication::Otp, true),
        (
            "{ hour_between = { from = 22, to = 6 } }",
            |t| t.at = Utc.with_ymd_and_hms(2026, 11, 23, 17, 30, 0).unwrap(),
            true,
        ), // 01:30 Beijing
        ("{ hour_between = { from = 22, to = 6 } }", |_| {}, false), // 10:00 Beijing
        ("{ not = { mcc_in = [5411] } }", |_| {}, false),
        (
            "{ any = [{ mcc_in = [1] }, { all = [{ channel_in = [\"nfc\"] }, { compare = { feature = \"device.age_hours\", op = \">=\", value = 2000 } }] }] }",
            |_| {},
            true,
        ),
    ];
    for (i, (when, change, fires)) in cases.into_iter().enumerate() {
        let (clock, engine) = engine_with(&set(&[rule("r", when, "\"review\"")]));
        let mut t = txn(&clock, 100);
        change(&mut t);
        let mut buf = engine.buffer();
        let d = engine.decide(&t, &mut buf);
        assert_eq!(d.outcome == Outcome::Review, fires, "case {i}: {when}");
        assert_eq!(buf.fired().len(), usize::from(fires), "case {i}");
    }
}

#[test]
fn each_action_kind_and_the_strictest_wins() {
    let always = "{ compare = { feature = \"amount\", op = \">=\", value = 0 } }";
    let actions = [
        ("\"approve\"", Outcome::Approve),
        ("{ challenge = \"fingerprint\" }", Outcome::Challenge(ChallengeMethod::Fingerprint)),
        ("{ challenge = \"otp\" }", Outcome::Challenge(ChallengeMethod::Otp)),
        (
            "{ challenge = \"payment_password\" }",
            Outcome::Challenge(ChallengeMethod::PaymentPassword),
        ),
        ("\"review\"", Outcome::Review),
        ("\"decline\"", Outcome::Decline),
    ];
    for (i, (action, expected)) in actions.iter().enumerate() {
        let (clock, engine) = engine_with(&set(&[rule("r", always, action)]));
        assert_eq!(engine.decide(&txn(&clock, 1), &mut engine.buffer()).outcome, *expected);
        // With every weaker action beside it, this one still wins.
        let rules: Vec<String> = actions[..=i]
            .iter()
            .enumerate()
            .map(|(j, (a, _))| rule(&format!("r{j}"), always, a))
            .collect();
        let (clock, engine) = engine_with(&set(&rules));
        let mut buf = engine.buffer();
        let d = engine.decide(&txn(&clock, 1), &mut buf);
        assert_eq!(d.outcome, *expected);
        assert_eq!(buf.fired().len(), i + 1);
    }
}

#[test]
fn fired_rules_carry_what_they_read() {
    let when = "{ all = [{ compare = { feature = \"amount\", op = \">=\", value = 100 } }, { compare = { feature = \"card.count.10m\", op = \">=\", value = 0 } }] }";
    let (clock, engine) = engine_with(&set(&[rule("big", when, "\"review\"")]));
    let mut buf = engine.buffer();
    engine.decide(&txn(&clock, 250), &mut buf);
    let fired = &buf.fired()[0];
    assert_eq!(&*fired.rule, "big");
    let reads: Vec<(String, u64)> = buf
        .reads_of(fired)
        .iter()
        .map(|r| match r.input {
            crate::Input::Feature(f) => (f.to_string(), r.value),
            other => (format!("{other:?}"), r.value),
        })
        .collect();
    assert_eq!(reads, vec![("amount".into(), 250), ("card.count.10m".into(), 0)]);
}

#[test]
fn status_lists_come_first() {
    let (clock, engine) = default_engine();
    let mut buf = engine.buffer();
    let t = txn(&clock, 100);
    assert_eq!(engine.decide(&t, &mut buf).outcome, Outcome::Approve);
    engine.suspend_user(&t.user).unwrap();
    assert_eq!(engine.decide(&t, &mut buf).reason, Reason::SuspendedUser);
    engine.resume_user(&t.user).unwrap();
    engine
        .report_loss(Instrument::Device(t.device.clone().unwrap()), &t.user, clock.now())
        .unwrap();
    let d = engine.decide(&t, &mut buf);
    assert_eq!((d.outcome, d.reason), (Outcome::Decline, Reason::LostDevice));
    engine.report_loss(Instrument::Card(t.card.clone()), &t.user, clock.now()).unwrap();
    assert_eq!(engine.decide(&t, &mut buf).reason, Reason::LostCard);
    assert!(engine.is_card_lost(&t.card).unwrap());
    assert!(buf.fired().is_empty());
}

#[test]
fn burst_in_ten_minutes_with_a_manual_clock() {
    let (clock, engine) = default_engine();
    let mut buf = engine.buffer();
    for _ in 0..5 {
        let t = txn(&clock, 100);
        assert_eq!(engine.decide(&t, &mut buf).outcome, Outcome::Approve);
        engine.record(&t, true).unwrap();
        clock.advance(TimeDelta::seconds(60));
    }
    // Five in the last 10 minutes: the sixth is challenged.
    let d = engine.decide(&txn(&clock, 100), &mut buf);
    assert_eq!(d.outcome, Outcome::Challenge(ChallengeMethod::Otp));
    assert_eq!(&*buf.fired()[0].rule, "burst-10m");
    clock.advance(TimeDelta::minutes(10));
    assert_eq!(engine.decide(&txn(&clock, 100), &mut buf).outcome, Outcome::Approve);
}

#[test]
fn daily_cap_night_and_new_device() {
    let (clock, engine) = default_engine();
    let mut buf = engine.buffer();
    let big = txn(&clock, 4_900_000);
    engine.record(&big, true).unwrap();
    // 49,000 yuan approved today; 1,000.01 more crosses 50,000.
    assert_eq!(engine.decide(&txn(&clock, 100_001), &mut buf).outcome, Outcome::Decline);
    assert_eq!(engine.decide(&txn(&clock, 100_000), &mut buf).outcome, Outcome::Approve);

    let (clock, engine) = default_engine();
    clock.set(Utc.with_ymd_and_hms(2026, 11, 23, 18, 0, 0).unwrap()); // 02:00 Beijing
    let d = engine.decide(&txn(&clock, 500_000), &mut buf);
    assert_eq!(d.outcome, Outcome::Challenge(ChallengeMethod::PaymentPassword));

    let (clock, engine) = default_engine();
    let mut t = txn(&clock, 200_000);
    t.device_registered_at = Some(clock.now() - TimeDelta::hours(23));
    assert_eq!(engine.decide(&t, &mut buf).outcome, Outcome::Review);
    t.device_registered_at = Some(clock.now() - TimeDelta::hours(24));
    assert_eq!(engine.decide(&t, &mut buf).outcome, Outcome::Approve);
}

#[test]
fn fail_policies() {
    let when = "{ compare = { feature = \"device.age_hours\", op = \"<\", value = 24 } }";
    let no_device = |clock: &ManualClock| {
        let mut t = txn(clock, 1);
        t.device = None;
        t
    };
    let (clock, engine) = engine_with(&set(&[rule("young", when, "\"review\"")]));
    let mut buf = engine.buffer();
    let d = engine.decide(&no_device(&clock), &mut buf);
    assert_eq!(d.outcome, Outcome::Review, "fail-closed by default");
    assert_eq!(buf.errors()[0].error, RuleError::MissingFeature);
    assert!(buf.fired()[0].by_failure);

    let open = format!("fail_policy = \"open\"\n{}", set(&[rule("young", when, "\"review\"")]));
    let (clock, engine) = engine_with(&open);
    let d = engine.decide(&no_device(&clock), &mut buf);
    assert_eq!(d.outcome, Outcome::Approve);
    assert_eq!(buf.errors().len(), 1);
    assert!(buf.fired().is_empty());
}

#[test]
fn overflow_is_a_rule_error() {
    let when = "{ compare = { feature = \"card.sum_with_amount.24h\", op = \">\", value = 1 } }";
    let (clock, engine) = engine_with(&format!(
        "fail_policy = \"open\"\n{}",
        set(&[rule("cap", when, "\"decline\"")])
    ));
    engine.record(&txn(&clock, u64::MAX - 5), true).unwrap();
    let mut buf = engine.buffer();
    assert_eq!(engine.decide(&txn(&clock, 10), &mut buf).outcome, Outcome::Approve);
    assert_eq!(buf.errors()[0].error, RuleError::Overflow);
}

#[test]
fn score_thresholds() {
    let always = "{ compare = { feature = \"amount\", op = \">=\", value = 0 } }";
    let scored = |id: &str, s: u32| format!("{}score = {s}\n", rule(id, always, "\"approve\""));
    let text = format!(
        "version = \"s\"\n[score]\nchallenge_at = 10\nreview_at = 50\ndecline_at = 90\n{}{}",
        scored("a", 30),
        scored("b", 25)
    );
    let (clock, engine) = engine_with(&text);
    let d = engine.decide(&txn(&clock, 1), &mut engine.buffer());
    assert_eq!((d.outcome, d.reason, d.score), (Outcome::Review, Reason::Score, 55));
}

#[test]
fn suppression_expires() {
    let always = "{ compare = { feature = \"amount\", op = \">=\", value = 0 } }";
    let (clock, engine) = engine_with(&set(&[rule("noisy", always, "\"review\"")]));
    let mut buf = engine.buffer();
    engine
        .suppress(EntityKind::Card, "card_1", "noisy", clock.now() + TimeDelta::hours(1))
        .unwrap();
    assert_eq!(engine.decide(&txn(&clock, 1), &mut buf).outcome, Outcome::Approve);
    let mut other = txn(&clock, 1);
    other.card = "card_2".parse().unwrap();
    assert_eq!(engine.decide(&other, &mut buf).outcome, Outcome::Review, "only that card");
    clock.advance(TimeDelta::hours(1));
    assert_eq!(engine.decide(&txn(&clock, 1), &mut buf).outcome, Outcome::Review);
}

#[test]
fn suppression_for_the_token_the_phone_or_the_user() {
    // The rules read no velocity: the token's and the user's keys are made only when the rule
    // fires and its suppressions are asked.
    let always = "{ compare = { feature = \"amount\", op = \">=\", value = 0 } }";
    for (kind, id) in
        [(EntityKind::Token, "tok_1"), (EntityKind::Device, "dev_1"), (EntityKind::User, "usr_1")]
    {
        let (clock, engine) = engine_with(&set(&[rule("noisy", always, "\"review\"")]));
        let mut buf = engine.buffer();
        engine.suppress(kind, id, "noisy", clock.now() + TimeDelta::hours(1)).unwrap();
        assert_eq!(engine.decide(&txn(&clock, 1), &mut buf).outcome, Outcome::Approve, "{kind:?}");
        let mut other = txn(&clock, 1);
        (other.token, other.device, other.user) = (
            Some("tok_2".parse().unwrap()),
            Some("dev_2".parse().unwrap()),
            "usr_2".parse().unwrap(),
        );
        assert_eq!(engine.decide(&other, &mut buf).outcome, Outcome::Review, "{kind:?}");
    }
}

#[test]
fn duplicate_transaction_counts_once() {
    let (clock, engine) = default_engine();
    let t = txn(&clock, 100);
    assert!(engine.record(&t, true).unwrap());
    assert!(!engine.record(&t, true).unwrap());
    let key = engine.velocity().key(EntityKind::Card, b"card_1");
    assert_eq!(
        engine.velocity().snapshot(key, clock.now()).unwrap().unwrap().windows[0].count(),
        1
    );
}

#[test]
fn swapping_under_load_loses_no_decision() {
    let always = "{ compare = { feature = \"amount\", op = \">=\", value = 0 } }";
    let (clock, engine) = engine_with(&set(&[rule("a", always, "\"approve\"")]));
    let engine = Arc::new(engine);
    let decided = AtomicU64::new(0);
    let sets: Vec<Arc<RuleSet>> = std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut buf = engine.buffer();
                for _ in 0..2_000 {
                    let d = engine.decide(&txn(&clock, 5), &mut buf);
                    assert!(matches!(d.outcome, Outcome::Approve | Outcome::Review));
                    decided.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let mut old = Vec::new();
        for i in 0..50 {
            let action = if i % 2 == 0 { "\"review\"" } else { "\"approve\"" };
            let next =
                RuleSet::from_toml(&set(&[rule("a", always, action)]), engine.windows()).unwrap();
            old.push(engine.swap_rules(next));
        }
        old
    });
    let counted: u64 = sets.iter().chain([&engine.rules()]).map(|s| s.stats.decisions.get()).sum();
    assert_eq!(counted, decided.load(Ordering::Relaxed));
    assert_eq!(counted, 8_000);
}

#[test]
fn shadow_never_changes_the_live_outcome() {
    let (clock, engine) = default_engine();
    let strict = set(&[rule(
        "all",
        "{ compare = { feature = \"amount\", op = \">=\", value = 0 } }",
        "\"decline\"",
    )]);
    engine.set_shadow(Some(RuleSet::from_toml(&strict, engine.windows()).unwrap()));
    let mut buf = engine.buffer();
    for _ in 0..10 {
        let t = txn(&clock, 100);
        assert_eq!(engine.decide(&t, &mut buf).outcome, Outcome::Approve);
        assert!(buf.fired().is_empty(), "shadow rules never reach the buffer");
    }
    let report = engine.shadow_report().unwrap();
    assert_eq!((report.decisions, report.disagreements, report.outcomes[3]), (10, 10, 10));
    engine.set_shadow(None);
    assert!(engine.shadow_report().is_none());
}

#[test]
fn decline_rate_monitor() {
    let (clock, engine) = engine_with(&set(&[rule(
        "few",
        "{ compare = { feature = \"amount\", op = \">=\", value = 990 } }",
        "\"decline\"",
    )]));
    let mut buf = engine.buffer();
    for i in 0..1_000 {
        engine.decide(&txn(&clock, i), &mut buf); // declines 10 in 1,000
    }
    let harsher = set(&[rule(
        "more",
        "{ compare = { feature = \"amount\", op = \">=\", value = 970 } }",
        "\"decline\"",
    )]);
    engine.swap_rules(RuleSet::from_toml(&harsher, engine.windows()).unwrap());
    for i in 0..999 {
        engine.decide(&txn(&clock, i), &mut buf);
    }
    assert!(engine.decline_rate_alert().is_none(), "fewer than 1,000 decisions");
    engine.decide(&txn(&clock, 999), &mut buf);
    let alert = engine.decline_rate_alert().unwrap();
    assert!((alert.rate - 0.03).abs() < 1e-9 && (alert.previous_rate - 0.01).abs() < 1e-9);
    // Exactly twice is not "more than twice".
    let (clock, engine) = engine_with(&set(&[rule(
        "few",
        "{ compare = { feature = \"amount\", op = \">=\", value = 990 } }",
        "\"decline\"",
    )]));
    for i in 0..1_000 {
        engine.decide(&txn(&clock, i), &mut buf);
    }
    let double = set(&[rule(
        "two",
        "{ compare = { feature = \"amount\", op = \">=\", value = 980 } }",
        "\"decline\"",
    )]);
    engine.swap_rules(RuleSet::from_toml(&double, engine.windows()).unwrap());
    for i in 0..1_000 {
        engine.decide(&txn(&clock, i), &mut buf);
    }
    assert!(engine.decline_rate_alert().is_none());
}

#[test]
fn backtest_counts_per_outcome_and_rule() {
    let (clock, engine) = default_engine();
    let history: Vec<Transaction> = (0..8)
        .map(|_| {
            clock.advance(TimeDelta::seconds(30));
            txn(&clock, 100)
        })
        .collect();
    let report =
        engine.backtest(RuleSet::default_rules(engine.windows()).unwrap(), &history).unwrap();
    assert_eq!(report.decisions, 8);
    assert_eq!(report.outcomes, [5, 3, 0, 0]);
    assert_eq!(report.per_rule.get("burst-10m"), Some(&3));
    // Live state is untouched.
    assert_eq!(engine.velocity().tracked().unwrap(), 0);
}

#[test]
fn provisioning_risk() {
    let (clock, engine) = default_engine();
    let mut buf = engine.buffer();
    let mut request = ProvisioningRequest {
        user: "usr_1".parse().unwrap(),
        device: "dev_1".parse().unwrap(),
        card: "card_9".parse().unwrap(),
        cards_on_device: 0,
        device_registered_at: Some(clock.now() - TimeDelta::days(30)),
        at: clock.now(),
    };
    assert_eq!(engine.assess_provisioning(&request, &mut buf).outcome, Outcome::Approve);
    request.cards_on_device = 5;
    assert_eq!(engine.assess_provisioning(&request, &mut buf).outcome, Outcome::Review);
    request.cards_on_device = 0;
    // Features count earlier attempts: the third is fine, the fourth sees three in the hour.
    assert_eq!(engine.assess_provisioning(&request, &mut buf).outcome, Outcome::Approve);
    let d = engine.assess_provisioning(&request, &mut buf);
    assert_eq!(d.outcome, Outcome::Challenge(ChallengeMethod::Otp));
    assert_eq!(&*buf.fired()[0].rule, "bind-attempts-user-1h");
    engine.assess_provisioning(&request, &mut buf);
    // Five earlier attempts on the device in 24 hours: declined.
    assert_eq!(engine.assess_provisioning(&request, &mut buf).outcome, Outcome::Decline);
    engine
        .report_loss(Instrument::Card("card_9".parse().unwrap()), &request.user, clock.now())
        .unwrap();
    assert_eq!(engine.assess_provisioning(&request, &mut buf).reason, Reason::LostCard);
    let mut fresh = request.clone();
    fresh.user = "usr_2".parse().unwrap();
    fresh.device = "dev_2".parse().unwrap();
    fresh.card = "card_2".parse().unwrap();
    fresh.device_registered_at = Some(clock.now() - TimeDelta::minutes(10));
    assert_eq!(
        engine.assess_provisioning(&fresh, &mut buf).outcome,
        Outcome::Challenge(ChallengeMethod::Otp)
    );
}

#[test]
fn seventy_two_hours_to_the_second() {
    let (clock, engine) = default_engine();
    let report_at = t0() + TimeDelta::days(5);
    let window_start = report_at - TimeDelta::hours(72);
    let log = |at: DateTime<Utc>, auth: Authentication, approved: bool| {
        clock.set(at);
        let mut t = txn(&clock, 1_000);
        t.auth = auth;
        engine.record(&t, approved).unwrap();
        t.id
    };
    let too_early = log(window_start - TimeDelta::seconds(1), Authentication::None, true);
    let first_second = log(window_start, Authentication::None, true);
    let otp = log(window_start + TimeDelta::hours(10), Authentication::Otp, true);
    let fingerprint = log(window_start + TimeDelta::hours(11), Authentication::Fingerprint, true);
    let password = log(window_start + TimeDelta::hours(12), Authentication::PaymentPassword, true);
    let declined = log(window_start + TimeDelta::hours(13), Authentication::None, false);
    let at_report = log(report_at, Authentication::None, true);
    clock.set(report_at);
    let report = engine
        .report_loss(
            Instrument::Device("dev_1".parse().unwrap()),
            &"usr_1".parse().unwrap(),
            report_at,
        )
        .unwrap();
    let verdicts: HashMap<TransactionId, Option<Ineligible>> = engine
        .assess_loss(&report)
        .unwrap()
        .into_iter()
        .map(|a| (a.transaction.id, a.ineligible))
        .collect();
    assert_eq!(verdicts[&too_early], Some(Ineligible::OutsideWindow));
    assert_eq!(verdicts[&first_second], None);
    assert_eq!(verdicts[&otp], None, "an OTP does not exclude: a stolen phone receives it");
    assert_eq!(verdicts[&fingerprint], Some(Ineligible::CardholderVerified));
    assert_eq!(verdicts[&password], Some(Ineligible::CardholderVerified));
    assert_eq!(verdicts[&declined], Some(Ineligible::Declined));
    assert_eq!(verdicts[&at_report], None);

    let claim = engine.file_claim(&report).unwrap();
    assert_eq!(claim.eligible_amount, Amount::from_fen(3_000));
    assert_eq!(claim.transactions.len(), 3);
    assert_eq!(
        engine.file_claim(&report).unwrap_err(),
        RiskError::NothingEligible,
        "already claimed"
    );
    // The same transactions seen through the card: already claimed.
    let by_card = engine
        .report_loss(Instrument::Card("card_1".parse().unwrap()), &report.user, report_at)
        .unwrap();
    assert!(
        engine
            .assess_loss(&by_card)
            .unwrap()
            .iter()
            .any(|a| a.ineligible == Some(Ineligible::AlreadyClaimed))
    );

    assert!(engine.advance_claim(&claim.id, ClaimEvent::Settle).is_err());
    engine.advance_claim(&claim.id, ClaimEvent::Assess).unwrap();
    engine.advance_claim(&claim.id, ClaimEvent::AdvancePay).unwrap();
    assert!(
        engine.advance_claim(&claim.id, ClaimEvent::Reject).is_err(),
        "no rejection after paying"
    );
    let done = engine.advance_claim(&claim.id, ClaimEvent::Settle).unwrap();
    assert_eq!(done.state, ClaimState::Settled);
    let states: Vec<ClaimState> = done.history.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        states,
        [ClaimState::Filed, ClaimState::Assessed, ClaimState::AdvancePaid, ClaimState::Settled]
    );
    assert!(engine.advance_claim(&claim.id, ClaimEvent::Assess).is_err(), "settled is terminal");
}

#[test]
fn a_rejected_claim_frees_its_transactions() {
    let (clock, engine) = default_engine();
    let mut t = txn(&clock, 500);
    t.auth = Authentication::Otp;
    engine.record(&t, true).unwrap();
    let report =
        engine.report_loss(Instrument::Card(t.card.clone()), &t.user, clock.now()).unwrap();
    let claim = engine.file_claim(&report).unwrap();
    engine.advance_claim(&claim.id, ClaimEvent::Reject).unwrap();
    assert_eq!(engine.file_claim(&report).unwrap().eligible_amount, Amount::from_fen(500));
    assert_eq!(engine.claim(&claim.id).unwrap().unwrap().state, ClaimState::Rejected);
}

#[test]
fn log_retention_must_cover_72_hours() {
    let clock: SharedClock = Arc::new(ManualClock::new(t0()));
    let config = RiskConfig { log_retention: TimeDelta::hours(71), ..RiskConfig::default() };
    let rules = RuleSet::default_rules(&config.windows).unwrap();
    assert!(RiskEngine::new(config, rules, clock).is_err());
}

#[test]
fn every_entity_kind_is_gathered_when_a_rule_reads_it() {
    for (feature, value) in [
        ("card.count.10m", 1),
        ("token.count.10m", 1),
        ("device.count.10m", 1),
        ("user.count.10m", 1),
    ] {
        let when =
            format!("{{ compare = {{ feature = \"{feature}\", op = \">=\", value = {value} }} }}");
        let (clock, engine) = engine_with(&set(&[rule("v", &when, "\"review\"")]));
        let mut buf = engine.buffer();
        assert_eq!(engine.decide(&txn(&clock, 1), &mut buf).outcome, Outcome::Approve, "{feature}");
        engine.record(&txn(&clock, 1), true).unwrap();
        assert_eq!(engine.decide(&txn(&clock, 1), &mut buf).outcome, Outcome::Review, "{feature}");
        assert!(buf.errors().is_empty(), "{feature}");
    }
}

mod whole_hours {
    use super::super::whole_hours;
    use chrono::{DateTime, TimeDelta, Utc};
    use proptest::prelude::*;

    fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, nanos).unwrap()
    }

    #[test]
    fn an_hour_is_whole_only_to_the_nanosecond() {
        let since = at(1_780_000_000, 500);
        assert_eq!(whole_hours(since, since + TimeDelta::hours(1)), 1);
        assert_eq!(whole_hours(since, since + TimeDelta::hours(1) - TimeDelta::nanoseconds(1)), 0);
        assert_eq!(whole_hours(since, since + TimeDelta::hours(49)), 49);
        assert_eq!(whole_hours(since, since), 0);
        assert_eq!(whole_hours(since + TimeDelta::hours(3), since), 0, "a time before is 0");
        let (first, last) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        let all = u64::try_from((last - first).num_hours()).unwrap();
        assert_eq!(whole_hours(first, last), all, "the whole range of times");
        assert!(all > 4_000_000_000);
    }

    proptest! {
        #[test]
        fn whole_hours_are_those_of_the_difference(
            since in -10_000_000_000_i64..10_000_000_000,
            since_nanos in 0_u32..1_000_000_000,
            later in -1_000_000_i64..100_000_000,
            at_nanos in 0_u32..1_000_000_000,
        ) {
            let (since, at) = (at(since, since_nanos), at(since + later, at_nanos));
            let expected = u64::try_from((at - since).num_hours()).unwrap_or(0);
            prop_assert_eq!(whole_hours(since, at), expected);
        }
    }
}

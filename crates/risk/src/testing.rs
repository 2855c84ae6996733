//! The conformance suite every [`RiskStore`] backend must pass. Behind the `testing` feature;
//! its checks panic on failure, as tests do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test suite: a failed check panics"
)]

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use cloudcard_core::store::testing::race;
use cloudcard_core::{Amount, CardId, ClaimId, DeviceId, StoreError, TransactionId, UserId};

use crate::loss::{ClaimEvent, ClaimState, Ineligible, Instrument, LoggedTransaction, LossReport};
use crate::state::{Listed, RiskStore};
use crate::{Authentication, RiskError};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

fn logged(
    card: &CardId,
    device: &DeviceId,
    fen: u64,
    at: DateTime<Utc>,
    auth: Authentication,
) -> LoggedTransaction {
    LoggedTransaction {
        id: TransactionId::random(),
        card: card.clone(),
        device: Some(device.clone()),
        amount: Amount::from_fen(fen),
        at,
        auth,
        approved: true,
    }
}

/// Runs the whole suite; `make` returns a fresh, empty store each call.
pub fn risk_store_suite(make: &dyn Fn() -> Arc<dyn RiskStore>) {
    status_lists(&*make());
    log_and_assess(&*make());
    one_claim_per_transaction(make());
    claims_move_and_reject_frees(&*make());
    purge_log(&*make());
    purges_are_bounded_and_reach_everything_due(&*make());
    suppressions(&*make());
}

/// Many transactions of many cards, logged out of time order: each purge takes at most its
/// limit of them, the purges together take every one due and nothing else.
fn purges_are_bounded_and_reach_everything_due(s: &dyn RiskStore) {
    let device = DeviceId::random();
    let cards: Vec<CardId> = (0..600).map(|_| CardId::random()).collect();
    for (i, card) in cards.iter().enumerate() {
        // Every tenth lapses only tomorrow; the others at staggered times before now.
        let ago = if i % 10 == 0 { -24 } else { i64::try_from(i % 7).unwrap() + 97 };
        let t = logged(card, &device, 100, t0() - TimeDelta::hours(ago), Authentication::None);
        s.log(t, TimeDelta::hours(96)).unwrap();
    }
    let mut purged = 0;
    loop {
        let n = s.purge_log(t0(), 100).unwrap();
        assert!(n <= 200, "at most 100 transactions, each under its card and its device");
        if n == 0 {
            break;
        }
        purged += n;
    }
    assert_eq!(purged, 2 * 540, "540 due, each under card and device");
    for (i, card) in cards.iter().enumerate() {
        let report = LossReport {
            instrument: Instrument::Card(card.clone()),
            user: UserId::random(),
            reported_at: t0(),
        };
        assert_eq!(s.assess(&report).unwrap().len(), usize::from(i % 10 == 0), "card {i}");
    }
}

fn suppressions(s: &dyn RiskStore) {
    use crate::EntityKey;
    let (a, b) = (
        EntityKey::default(),
        crate::VelocityStore::new(crate::WindowSet::default())
            .key(crate::EntityKind::Card, b"card_1"),
    );
    assert!(!s.suppressed(&[a, b], "burst", t0()).unwrap());
    s.suppress(b, "burst", t0() + TimeDelta::hours(1)).unwrap();
    assert!(s.suppresses_any(), "a store turning a rule off says it may");
    assert!(s.suppressed(&[a, b], "burst", t0()).unwrap());
    assert!(!s.suppressed(&[a, b], "other", t0()).unwrap(), "one rule only");
    assert!(!s.suppressed(&[a], "burst", t0()).unwrap(), "one entity only");
    assert!(!s.suppressed(&[b], "burst", t0() + TimeDelta::hours(1)).unwrap(), "until, not after");
    s.suppress(b, "burst", t0()).unwrap();
    assert!(!s.suppressed(&[b], "burst", t0()).unwrap(), "a new suppression replaces the old");
}

fn status_lists(s: &dyn RiskStore) {
    let (card, device, user) = (CardId::random(), DeviceId::random(), UserId::random());
    assert_eq!(s.listed(Some(&card), Some(&device), Some(&user)).unwrap(), None);
    s.mark_lost(&Instrument::Device(device.clone()), t0()).unwrap();
    assert_eq!(s.listed(Some(&card), Some(&device), None).unwrap(), Some(Listed::LostDevice));
    s.mark_lost(&Instrument::Card(card.clone()), t0()).unwrap();
    assert_eq!(s.listed(Some(&card), Some(&device), None).unwrap(), Some(Listed::LostCard));
    s.set_suspended(&user, true).unwrap();
    assert_eq!(s.listed(None, None, Some(&user)).unwrap(), Some(Listed::SuspendedUser));
    s.set_suspended(&user, false).unwrap();
    assert_eq!(s.listed(None, None, Some(&user)).unwrap(), None);
    assert_eq!(s.listed(Some(&CardId::random()), None, None).unwrap(), None);
    // A phone found again comes off the list; the card stays on it.
    assert!(s.clear_lost(&Instrument::Device(device.clone())).unwrap());
    assert!(!s.clear_lost(&Instrument::Device(device.clone())).unwrap(), "once");
    assert_eq!(s.listed(None, Some(&device), None).unwrap(), None);
    assert_eq!(s.listed(Some(&card), Some(&device), None).unwrap(), Some(Listed::LostCard));
}

fn log_and_assess(s: &dyn RiskStore) {
    let (card, device) = (CardId::random(), DeviceId::random());
    let report_at = t0();
    let inside = logged(&card, &device, 100, report_at - TimeDelta::hours(72), Authentication::Otp);
    let outside = logged(
        &card,
        &device,
        200,
        report_at - TimeDelta::hours(72) - TimeDelta::seconds(1),
        Authentication::None,
    );
    let verified =
        logged(&card, &device, 300, report_at - TimeDelta::hours(1), Authentication::Fingerprint);
    let mut declined =
        logged(&card, &device, 400, report_at - TimeDelta::hours(1), Authentication::None);
    declined.approved = false;
    for t in [&inside, &outside, &verified, &declined] {
        s.log(t.clone(), TimeDelta::days(7)).unwrap();
    }
    let report = LossReport {
        instrument: Instrument::Device(device),
        user: UserId::random(),
        reported_at: report_at,
    };
    let verdicts = s.assess(&report).unwrap();
    assert_eq!(verdicts.len(), 4, "the device's log has every transaction");
    let of = |t: &LoggedTransaction| {
        verdicts.iter().find(|a| a.transaction.id == t.id).unwrap().ineligible
    };
    assert_eq!(of(&inside), None, "72 hours to the second, an OTP does not exclude");
    assert_eq!(of(&outside), Some(Ineligible::OutsideWindow));
    assert_eq!(of(&verified), Some(Ineligible::CardholderVerified));
    assert_eq!(of(&declined), Some(Ineligible::Declined));
    let by_card = LossReport { instrument: Instrument::Card(card), ..report.clone() };
    assert_eq!(s.assess(&by_card).unwrap().len(), 4, "and so has the card's");

    // A reversed payment is logged again as not approved: it replaces the approved entry.
    let reversed = LoggedTransaction { approved: false, ..inside.clone() };
    s.log(reversed.clone(), TimeDelta::days(7)).unwrap();
    for report in [&report, &by_card] {
        let verdicts = s.assess(report).unwrap();
        assert_eq!(verdicts.len(), 4, "replaced, not added");
        let entry = verdicts.iter().find(|a| a.transaction.id == inside.id).unwrap();
        assert_eq!(entry.ineligible, Some(Ineligible::Declined));
    }
}

fn one_claim_per_transaction(s: Arc<dyn RiskStore>) {
    let (card, device) = (CardId::random(), DeviceId::random());
    for fen in [100, 250] {
        s.log(
            logged(&card, &device, fen, t0() - TimeDelta::hours(1), Authentication::None),
            TimeDelta::days(7),
        )
        .unwrap();
    }
    let report = LossReport {
        instrument: Instrument::Card(card),
        user: UserId::random(),
        reported_at: t0(),
    };
    let store = s.clone();
    let claims = race(8, move |_| store.file_claim(&ClaimId::random(), &report, t0()).unwrap());
    let filed: Vec<_> = claims.into_iter().flatten().collect();
    assert_eq!(filed.len(), 1, "one claim, whoever files");
    assert_eq!(filed[0].eligible_amount, Amount::from_fen(350));
    assert_eq!(s.claim(&filed[0].id).unwrap(), Some(filed[0].clone()));
}

fn claims_move_and_reject_frees(s: &dyn RiskStore) {
    let (card, device) = (CardId::random(), DeviceId::random());
    s.log(
        logged(&card, &device, 100, t0() - TimeDelta::hours(1), Authentication::None),
        TimeDelta::days(7),
    )
    .unwrap();
    let report = LossReport {
        instrument: Instrument::Card(card),
        user: UserId::random(),
        reported_at: t0(),
    };
    let id = ClaimId::random();
    let claim = s.file_claim(&id, &report, t0()).unwrap().unwrap();
    assert_eq!(claim.state, ClaimState::Filed);
    assert_eq!(s.file_claim(&ClaimId::random(), &report, t0()).unwrap(), None, "already claimed");
    let assessed = s.advance_claim(&id, ClaimEvent::Assess, t0()).unwrap().unwrap();
    assert_eq!(assessed.state, ClaimState::Assessed);
    assert!(matches!(
        s.advance_claim(&id, ClaimEvent::Settle, t0()).unwrap(),
        Err(RiskError::ClaimTransition { .. })
    ));
    s.advance_claim(&id, ClaimEvent::Reject, t0()).unwrap().unwrap();
    assert_eq!(s.claim(&id).unwrap().unwrap().history.len(), 3);
    assert!(
        s.file_claim(&ClaimId::random(), &report, t0()).unwrap().is_some(),
        "a rejected claim frees its transactions"
    );
    assert_eq!(
        s.advance_claim(&ClaimId::random(), ClaimEvent::Assess, t0()),
        Err(StoreError::Missing)
    );
}

fn purge_log(s: &dyn RiskStore) {
    let (card, device) = (CardId::random(), DeviceId::random());
    for hours in [1, 100, 200] {
        s.log(
            logged(&card, &device, 100, t0() - TimeDelta::hours(hours), Authentication::None),
            TimeDelta::hours(96),
        )
        .unwrap();
    }
    assert_eq!(
        s.purge_log(t0(), 100).unwrap(),
        4,
        "two old transactions, each under card and device"
    );
    assert_eq!(s.purge_log(t0(), 100).unwrap(), 0);
    let report = LossReport {
        instrument: Instrument::Card(card),
        user: UserId::random(),
        reported_at: t0(),
    };
    assert_eq!(s.assess(&report).unwrap().len(), 1);
}

/// The [`VelocityPort`](crate::VelocityPort) conformance suite; `make` returns a fresh,
/// empty store over the default windows each call.
pub fn velocity_suite(make: &dyn Fn() -> Arc<dyn crate::VelocityPort>) {
    use crate::EntityKind;
    let v = make();
    let card = v.key(EntityKind::Card, b"card_1");
    assert_eq!(card, v.key(EntityKind::Card, b"card_1"), "keys are stable");
    assert_ne!(card, v.key(EntityKind::Device, b"card_1"), "kinds are apart");
    assert_eq!(v.snapshot(card, t0()).unwrap(), None);
    let device = v.key(EntityKind::Device, b"dev_1");
    let id = v.id_hash(b"txn_1");
    assert!(v.record(&[card, device], id, t0(), 500, true).unwrap());
    assert!(!v.record(&[card, device], id, t0(), 500, true).unwrap(), "a retry counts once");
    assert!(v.record(&[card], v.id_hash(b"txn_2"), t0(), 700, false).unwrap());
    let now = v.snapshot(card, t0()).unwrap().unwrap();
    assert_eq!(now.windows[0].approved_count, 1);
    assert_eq!(now.windows[0].approved_sum, 500);
    assert_eq!(now.windows[0].declined_count, 1, "declined counted apart");
    assert_eq!(v.snapshot(device, t0()).unwrap().unwrap().windows[0].count(), 1);
    let later = v.snapshot(card, t0() + TimeDelta::minutes(11)).unwrap().unwrap();
    assert_eq!(later.windows[0].count(), 0, "out of 10 minutes");
    assert_eq!(later.windows[1].count(), 2, "still in the hour");
    assert_eq!(v.tracked().unwrap(), 2);

    let v = make();
    let store = v.clone();
    let (a, b) = (v.key(EntityKind::User, b"usr_1"), v.key(EntityKind::Token, b"tok_1"));
    race(8, move |i| {
        for n in 0..25 {
            let id = store.id_hash(format!("txn_{i}_{n}").as_bytes());
            assert!(store.record(&[a, b], id, t0(), 1, true).unwrap());
        }
    });
    for key in [a, b] {
        let snap = v.snapshot(key, t0()).unwrap().unwrap();
        assert_eq!(snap.windows[0].approved_count, 200, "no count lost under 8 threads");
    }
    assert_eq!(v.evict_idle(t0() + TimeDelta::days(8)).unwrap(), 2);
    assert_eq!(v.tracked().unwrap(), 0);
}

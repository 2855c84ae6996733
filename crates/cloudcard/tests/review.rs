//! Payments held for review: an operator approves or declines them, on any node and after a
//! restart; undecided ones lapse into declines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use chrono::TimeDelta;
use cloudcard::{DeclineReason, Error, PaymentOutcome, ReviewDecision};
use support::{PANS, World};

/// ¥2,500 from a phone registered today: the shipped rules hold it for review.
fn held(
    w: &World,
    cc: &cloudcard::CloudCard,
    user: &cloudcard::UserId,
    phone: &cloudcard::DeviceId,
    card: &mut cloudcard::DeviceCard,
) -> cloudcard::TransactionId {
    match w.pay(cc, user, phone, card, 250_000).unwrap() {
        PaymentOutcome::HeldForReview { transaction, review_by } => {
            assert!(review_by > cloudcard::Clock::now(&*w.clock));
            transaction
        }
        other => panic!("a large payment from a new phone is held: {other:?}"),
    }
}

#[test]
fn an_operator_approves_or_declines_a_held_payment_once_even_after_a_restart() {
    let w = World::new("review");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let mut card = w.bind(&cc, &user, &phone, PANS[0], 0).device_card;
    let first = held(&w, &cc, &user, &phone, &mut card);
    let second = held(&w, &cc, &user, &phone, &mut card);
    drop(cc);
    let cc = w.open();
    let queue = cc.held_payments(10).unwrap();
    assert_eq!(queue.len(), 2);
    assert_eq!(queue[0].transaction, first);
    assert_eq!(queue[0].amount.fen(), 250_000);
    assert_eq!(queue[0].user, user);

    let approved = cc.review_payment(&first, ReviewDecision::Approve).unwrap();
    assert!(
        matches!(approved, PaymentOutcome::Approved { ref transaction, .. } if *transaction == first)
    );
    assert_eq!(cc.review_payment(&first, ReviewDecision::Approve), Err(Error::ReviewNotFound));
    let declined = cc.review_payment(&second, ReviewDecision::Decline).unwrap();
    assert!(matches!(declined, PaymentOutcome::Declined { reason: DeclineReason::Review, .. }));
    assert!(cc.held_payments(10).unwrap().is_empty());
    assert_eq!(w.issuer.approved.lock().unwrap().as_slice(), &[first], "only the approved one");
}

#[test]
fn a_held_payment_nobody_decides_lapses_into_a_decline() {
    let w = World::new("review-lapse");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let mut card = w.bind(&cc, &user, &phone, PANS[0], 0).device_card;
    let txn = held(&w, &cc, &user, &phone, &mut card);
    w.clock.advance(cloudcard::REVIEW_TTL + TimeDelta::minutes(1));
    assert_eq!(cc.run_due().unwrap().reviews_lapsed, 1);
    assert_eq!(cc.review_payment(&txn, ReviewDecision::Approve), Err(Error::ReviewNotFound));
    assert!(w.issuer.approved.lock().unwrap().is_empty());
}

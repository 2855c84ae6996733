//! The service from an attacker's side of the facade: each test is one way in that is now
//! closed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use cloudcard::Clock;
use cloudcard::token::TokenStatus;
use cloudcard::{Error, PaymentOutcome};
use support::{PANS, World, approved, declined};

#[test]
fn another_user_cannot_destroy_a_challenge_by_answering_it() {
    let w = World::new("attack-challenge");
    let cc = w.open();
    let (victim, phone) = w.register(&cc, 0);
    let (attacker, _) = w.register(&cc, 1);
    let mut card = w.bind(&cc, &victim, &phone, PANS[0], 0).device_card;
    let Ok(PaymentOutcome::ChallengeRequired { challenge, .. }) =
        w.pay(&cc, &victim, &phone, &mut card, 120_000)
    else {
        panic!("a large payment is challenged");
    };
    let meddling = cc.step_up(&attacker, &challenge, w.fingerprint(&mut card, 120_000));
    assert!(matches!(meddling, Err(Error::ChallengeNotFound)));
    // The owner's answer still finds the challenge.
    let answered = cc.step_up(&victim, &challenge, w.fingerprint(&mut card, 120_000));
    assert!(!matches!(answered, Err(Error::ChallengeNotFound)), "{answered:?}");
}

#[test]
fn a_removed_phone_keeps_no_live_cloud_card() {
    let w = World::new("attack-remove");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let mut card = w.bind(&cc, &user, &phone, PANS[0], 0).device_card;
    assert!(approved(&w.pay(&cc, &user, &phone, &mut card, 1_000)));
    let deleted = cc.remove_device(&user, &phone).unwrap();
    assert_eq!(deleted.len(), 1);
    assert!(
        cc.danger()
            .tokens()
            .tokens_of_device(&phone)
            .unwrap()
            .iter()
            .all(|t| t.status != TokenStatus::Active)
    );
    assert!(declined(&w.pay(&cc, &user, &phone, &mut card, 1_000)));
}

#[test]
fn a_cloud_card_goes_only_to_the_phone_the_binding_started_on() {
    let w = World::new("attack-device");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let other = cc.register_device(&user, "another phone").unwrap();
    let pending = cc.bind_card(&user, &phone, w.request(PANS[0], 0)).unwrap();
    let code = w.binding_code(0);
    let elsewhere = cc.confirm_card(&user, &other, &pending.binding, &code);
    assert!(matches!(
        elsewhere,
        Err(Error::Wallet(cloudcard::wallet::WalletError::BindingOnOtherDevice))
    ));
    // Nothing was spent: the binding completes on its own phone.
    cc.confirm_card(&user, &phone, &pending.binding, &code).unwrap();
}

#[test]
fn nothing_is_provisioned_on_a_lost_phone() {
    let w = World::new("attack-lost");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let pending = cc.bind_card(&user, &phone, w.request(PANS[0], 0)).unwrap();
    cc.report_lost_phone(&user, &phone).unwrap();
    let confirmed = cc.confirm_card(&user, &phone, &pending.binding, &w.binding_code(0));
    assert!(matches!(confirmed, Err(Error::DeviceLost)));
    assert!(cc.danger().tokens().tokens_of_device(&phone).unwrap().is_empty());
    assert!(cc.danger().wallet().cards(&user).unwrap().is_empty());
}

#[test]
fn cardholder_verification_comes_only_from_the_mac() {
    let w = World::new("attack-cvm");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let mut card = w.bind(&cc, &user, &phone, PANS[0], 0).device_card;
    // Saying "fingerprint" outside the MAC is not possible: the request has no such field, and
    // a cryptogram whose CVM is rewritten after the MAC does not verify.
    let mut forged = w.request_payment(&user, &phone, &mut card, 120_000);
    forged.cryptogram.data.cvm = cloudcard::token::Cvm::Biometric;
    assert!(matches!(cc.pay(&forged), Err(Error::Token(_))));
    let Ok(PaymentOutcome::ChallengeRequired { challenge, .. }) =
        w.pay(&cc, &user, &phone, &mut card, 120_000)
    else {
        panic!("a large payment without a fingerprint is challenged");
    };
    // A biometric cryptogram for another amount does not answer this payment's challenge.
    let other = w.fingerprint(&mut card, 50);
    assert!(matches!(cc.step_up(&user, &challenge, other), Err(Error::FingerprintFailed)));
    // One without the biometric check does not either.
    let mut plain = w.data(120_000);
    plain.cvm = cloudcard::token::Cvm::None;
    let plain = cloudcard::StepUp::Fingerprint { cryptogram: card.cryptogram(plain).unwrap() };
    assert!(matches!(cc.step_up(&user, &challenge, plain), Err(Error::FingerprintFailed)));
    // The phone's real fingerprint answer does.
    let answer = w.fingerprint(&mut card, 120_000);
    assert!(matches!(cc.step_up(&user, &challenge, answer), Ok(PaymentOutcome::Approved { .. })));
}

/// Five payments within ten minutes: the next one is challenged with a code (the burst rule).
fn burst(
    w: &World,
    cc: &cloudcard::CloudCard,
    user: &cloudcard::UserId,
    phone: &cloudcard::DeviceId,
    card: &mut cloudcard::DeviceCard,
    cvm: cloudcard::token::Cvm,
) {
    for _ in 0..5 {
        w.clock.advance(chrono::TimeDelta::seconds(30));
        let mut data = w.data(1_000);
        data.cvm = cvm;
        let request = cloudcard::PaymentRequest {
            user: user.clone(),
            device: phone.clone(),
            cryptogram: card.cryptogram(data).unwrap(),
            mcc: cloudcard::Mcc(5462),
            transaction: cloudcard::TransactionId::random(),
        };
        assert!(approved(&cc.pay(&request)));
    }
}

#[test]
fn a_payment_code_approves_only_the_payment_it_was_sent_for() {
    let w = World::new("attack-otp-binding");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let mut card = w.bind(&cc, &user, &phone, PANS[0], 0).device_card;
    burst(&w, &cc, &user, &phone, &mut card, cloudcard::token::Cvm::None);
    let challenged =
        |card: &mut cloudcard::DeviceCard, fen| match w.pay(&cc, &user, &phone, card, fen) {
            Ok(PaymentOutcome::ChallengeRequired { challenge, method, .. }) => {
                assert_eq!(method, cloudcard::ChallengeMethod::Otp);
                challenge
            }
            other => panic!("a payment in a burst is challenged with a code: {other:?}"),
        };
    let small = challenged(&mut card, 1_000);
    let small_code =
        w.outbox.last_code(&w.mobile(0), cloudcard::wallet::OtpPurpose::Payment).unwrap();
    w.clock.advance(chrono::TimeDelta::minutes(2));
    let large = challenged(&mut card, 90_000);
    let large_code =
        w.outbox.last_code(&w.mobile(0), cloudcard::wallet::OtpPurpose::Payment).unwrap();
    assert_ne!(small, large);
    // The code of the small payment does not approve the large one, and leaves it open.
    let wrong = cc.step_up(
        &user,
        &large,
        cloudcard::StepUp::Otp { code: cloudcard::Secret::new(small_code) },
    );
    assert!(wrong.is_err(), "{wrong:?}");
    let right = cc.step_up(
        &user,
        &large,
        cloudcard::StepUp::Otp { code: cloudcard::Secret::new(large_code) },
    );
    assert!(matches!(right, Ok(PaymentOutcome::Approved { .. })), "{right:?}");
}

#[test]
fn a_code_step_up_never_downgrades_a_fingerprint_on_record() {
    let w = World::new("attack-downgrade");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let mut card = w.bind(&cc, &user, &phone, PANS[0], 0).device_card;
    burst(&w, &cc, &user, &phone, &mut card, cloudcard::token::Cvm::Biometric);
    // A sixth payment, verified by fingerprint in its cryptogram, is challenged for the burst
    // and answered with the SMS code.
    w.clock.advance(chrono::TimeDelta::seconds(30));
    let mut data = w.data(1_000);
    data.cvm = cloudcard::token::Cvm::Biometric;
    let request = cloudcard::PaymentRequest {
        user: user.clone(),
        device: phone.clone(),
        cryptogram: card.cryptogram(data).unwrap(),
        mcc: cloudcard::Mcc(5462),
        transaction: cloudcard::TransactionId::random(),
    };
    let Ok(PaymentOutcome::ChallengeRequired { challenge, transaction, .. }) = cc.pay(&request)
    else {
        panic!("the burst is challenged");
    };
    let code = w.outbox.last_code(&w.mobile(0), cloudcard::wallet::OtpPurpose::Payment).unwrap();
    let answered = cc.step_up(
        &user,
        &challenge,
        cloudcard::StepUp::Otp { code: cloudcard::Secret::new(code) },
    );
    assert!(matches!(answered, Ok(PaymentOutcome::Approved { .. })), "{answered:?}");
    // Had the code replaced the fingerprint on record, a later loss report could claim it.
    let report = cloudcard::risk::LossReport {
        instrument: cloudcard::risk::Instrument::Device(phone.clone()),
        user: user.clone(),
        reported_at: w.clock.now(),
    };
    let verdicts = cc.danger().risk().assess_loss(&report).unwrap();
    let verdict = verdicts.iter().find(|a| a.transaction.id == transaction).unwrap();
    assert_eq!(verdict.transaction.auth, cloudcard::Authentication::Fingerprint);
    assert_eq!(verdict.ineligible, Some(cloudcard::risk::Ineligible::CardholderVerified));
}

#[test]
fn a_retry_hears_the_first_answer_and_a_reused_id_pays_nothing() {
    let w = World::new("attack-retry");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let mut card = w.bind(&cc, &user, &phone, PANS[0], 0).device_card;
    // A challenged payment: the terminal's retry hears the same challenge...
    let request = w.request_payment(&user, &phone, &mut card, 120_000);
    let first = cc.pay(&request).unwrap();
    let PaymentOutcome::ChallengeRequired { challenge, .. } = first.clone() else {
        panic!("a large unverified payment is challenged: {first:?}");
    };
    assert_eq!(cc.pay(&request).unwrap(), first);
    // ...and once answered, how it ended.
    let answered = cc.step_up(&user, &challenge, w.fingerprint(&mut card, 120_000)).unwrap();
    assert!(matches!(answered, PaymentOutcome::Approved { .. }));
    assert_eq!(cc.pay(&request).unwrap(), answered);
    // A new payment under a used terminal id is refused: it would count in no velocity window.
    let mut reused = w.request_payment(&user, &phone, &mut card, 1_000);
    reused.transaction = request.transaction.clone();
    assert!(matches!(cc.pay(&reused), Err(Error::DuplicateTransaction)));
    assert_eq!(w.issuer.approved.lock().unwrap().len(), 1, "paid once");
}

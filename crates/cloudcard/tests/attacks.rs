//! The service from an attacker's side of the facade: each test is one way in that is now
//! closed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

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

//! The whole journey through the facade, as an embedding program runs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

mod common;

use cloudcard::risk::ClaimState;
use cloudcard::{Amount, PaymentOutcome};

#[test]
fn the_whole_journey() {
    let j = common::run();
    let approved: Vec<Amount> = j
        .outcomes
        .iter()
        .filter_map(|o| match o {
            PaymentOutcome::Approved { amount, .. } => Some(*amount),
            _ => None,
        })
        .collect();
    assert_eq!(approved, [3_500, 8_800, 120_000, 600_000, 2_000].map(Amount::from_fen));
    let challenges =
        j.outcomes.iter().filter(|o| matches!(o, PaymentOutcome::ChallengeRequired { .. })).count();
    assert_eq!(challenges, 2);
    // The lost phone's claim covers the unverified payments only: 35 + 88 + 1 (the replayed one).
    assert_eq!(j.claims[0].eligible_amount, Amount::from_fen(3_500 + 8_800 + 100));
    assert_eq!(j.claims[1].eligible_amount, Amount::from_fen(2_000));
    assert_eq!(j.claims[1].state, ClaimState::Filed);
    assert_eq!(j.lookup_cards, 3);
    let texts: Vec<String> = j.errors.iter().map(ToString::to_string).collect();
    assert!(texts.contains(&"cryptogram invalid".to_owned()), "{texts:?}");
    assert!(texts.contains(&"the report has expired".to_owned()), "{texts:?}");
    assert_eq!(j.notifier.sent().len(), 1);
}

#[test]
fn a_card_reported_lost_cannot_be_bound_again() {
    use cloudcard::core::PhoneNumber;
    use cloudcard::wallet::OtpPurpose;
    use cloudcard::{BindRequest, CloudCard, Error, Outcome};

    let outbox = std::sync::Arc::new(cloudcard::wallet::InMemoryOutbox::new());
    let cc = CloudCard::demo()
        .wallet_config(cloudcard::wallet::WalletConfig {
            argon2: cloudcard::wallet::Argon2Cost::TESTING,
            ..Default::default()
        })
        .sms(outbox.clone() as std::sync::Arc<dyn cloudcard::wallet::SmsGateway>)
        .build()
        .unwrap();
    let (name, id, mobile) = cloudcard::demo::DEMO_PEOPLE[1];
    let mobile: PhoneNumber = mobile.parse().unwrap();
    let user =
        cc.register_user(mobile.clone(), name.parse().unwrap(), id.parse().unwrap()).unwrap();
    let phone = cc.register_device(&user, "phone").unwrap();
    let request = || BindRequest {
        pan: "6216611234567890126".parse().unwrap(),
        expiry: None,
        cvn2: None,
        reserved_mobile: mobile.clone(),
    };
    let pending = cc.bind_card(&user, &phone, request()).unwrap();
    let code = outbox.last_code(&mobile, OtpPurpose::CardBinding).unwrap();
    let bound = cc.confirm_card(&user, &phone, &pending.binding, &code).unwrap();
    cc.report_lost_card(&user, &bound.card.id).unwrap();
    let prompt = cc.request_unbind(&user, &bound.card.id).unwrap();
    cc.confirm_unbind(&user, &bound.card.id, prompt.ticket.expose_secret()).unwrap();
    assert_eq!(
        cc.bind_card(&user, &phone, request()).unwrap_err(),
        Error::BindingRefused(Outcome::Decline)
    );
}

#[test]
fn an_otp_step_up_during_a_burst() {
    use std::sync::Arc;

    use chrono::{TimeDelta, TimeZone, Utc};
    use cloudcard::core::{Clock, ManualClock, PhoneNumber};
    use cloudcard::token::{Channel, PaymentData};
    use cloudcard::wallet::{Argon2Cost, OtpPurpose, WalletConfig};
    use cloudcard::{
        BindRequest, ChallengeMethod, CloudCard, Currency, Mcc, PaymentRequest, Secret, StepUp,
    };

    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let outbox = Arc::new(cloudcard::wallet::InMemoryOutbox::new());
    let cc = CloudCard::demo()
        .clock(clock.clone())
        .wallet_config(WalletConfig { argon2: Argon2Cost::TESTING, ..WalletConfig::default() })
        .sms(outbox.clone() as Arc<dyn cloudcard::wallet::SmsGateway>)
        .build()
        .unwrap();
    let (name, id, mobile) = cloudcard::demo::DEMO_PEOPLE[2];
    let mobile: PhoneNumber = mobile.parse().unwrap();
    let user =
        cc.register_user(mobile.clone(), name.parse().unwrap(), id.parse().unwrap()).unwrap();
    let phone = cc.register_device(&user, "phone").unwrap();
    let request = BindRequest {
        pan: "6228481234567890128".parse().unwrap(),
        expiry: None,
        cvn2: None,
        reserved_mobile: mobile.clone(),
    };
    let pending = cc.bind_card(&user, &phone, request).unwrap();
    let code = outbox.last_code(&mobile, OtpPurpose::CardBinding).unwrap();
    let mut card = cc.confirm_card(&user, &phone, &pending.binding, &code).unwrap().device_card;
    let mut pay = |fen| {
        clock.advance(TimeDelta::seconds(20));
        let data = PaymentData {
            amount: cloudcard::Amount::from_fen(fen),
            currency: Currency::CNY,
            merchant: "mch_1".parse().unwrap(),
            channel: Channel::Qr,
            unpredictable_number: 3,
            timestamp: clock.now(),
            cvm: cloudcard::token::Cvm::Biometric,
        };
        let cryptogram = card.cryptogram(data).unwrap();
        cc.pay(&PaymentRequest {
            user: user.clone(),
            device: phone.clone(),
            cryptogram,
            mcc: Mcc(5411),
            transaction: cloudcard::TransactionId::random(),
        })
        .unwrap()
    };
    for _ in 0..5 {
        assert!(matches!(pay(100), cloudcard::PaymentOutcome::Approved { .. }));
    }
    // The sixth and seventh within ten minutes: an OTP challenge each, each with its own code.
    let mut challenges = Vec::new();
    for _ in 0..2 {
        match pay(100) {
            cloudcard::PaymentOutcome::ChallengeRequired { challenge, method, .. } => {
                assert_eq!(method, ChallengeMethod::Otp);
                challenges.push(challenge);
            }
            other => panic!("{other:?}"),
        }
    }
    let codes: Vec<String> = outbox
        .messages()
        .iter()
        .filter(|m| {
            matches!(m.body, cloudcard::wallet::SmsBody::Otp { purpose: OtpPurpose::Payment, .. })
        })
        .filter_map(|m| m.body.code().map(str::to_owned))
        .collect();
    assert_eq!(codes.len(), 2, "one code per challenge");
    let wrong = StepUp::Otp { code: Secret::new("not-it".into()) };
    assert!(cc.step_up(&user, &challenges[0], wrong).is_err());
    // The second challenge's code does not answer the first.
    let other = StepUp::Otp { code: Secret::new(codes[1].clone()) };
    assert!(cc.step_up(&user, &challenges[0], other).is_err());
    let approved = cc
        .step_up(&user, &challenges[0], StepUp::Otp { code: Secret::new(codes[0].clone()) })
        .unwrap();
    assert!(matches!(approved, cloudcard::PaymentOutcome::Approved { .. }));
    // A fingerprint does not answer an OTP challenge.
    assert_eq!(
        cc.step_up(&user, &challenges[1], {
            let data = PaymentData {
                amount: cloudcard::Amount::from_fen(100),
                currency: Currency::CNY,
                merchant: "mch_1".parse().unwrap(),
                channel: Channel::Qr,
                unpredictable_number: 4,
                timestamp: clock.now(),
                cvm: cloudcard::token::Cvm::Biometric,
            };
            StepUp::Fingerprint { cryptogram: card.cryptogram(data).unwrap() }
        })
        .unwrap_err(),
        cloudcard::Error::WrongChallengeAnswer
    );
}

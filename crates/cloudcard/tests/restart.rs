//! Every flow of the journey interrupted by closing the service and opening the file again:
//! what a user did before the restart is there after it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use cloudcard::risk::{ClaimEvent, ClaimState};
use cloudcard::wallet::{NotifyChannel, OtpPurpose, UnbindChannel, UnbindEvidence, UnbindReason};
use cloudcard::{ChallengeMethod, PaymentOutcome, Secret, StepUp};
use support::{PANS, PASSWORD, World, approved, declined};

#[test]
fn a_card_bound_across_restarts_pays_after_them() {
    let w = World::new("restart-bind");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    drop(cc);
    let cc = w.open();
    let pending = cc.bind_card(&user, &phone, w.request(PANS[0], 0)).unwrap();
    drop(cc);
    let cc = w.open();
    let bound = cc.confirm_card(&user, &phone, &pending.binding, &w.binding_code(0)).unwrap();
    let mut card = bound.device_card;
    drop(cc);
    let cc = w.open();
    let first = w.request_payment(&user, &phone, &mut card, 3_500);
    assert!(approved(&cc.pay(&first)));
    drop(cc);
    let cc = w.open();
    // The ATC accepted before the restart stays accepted: its replay as another payment is
    // refused after it, and the terminal's retry of the same payment hears its first answer.
    let replay = cloudcard::PaymentRequest {
        transaction: cloudcard::TransactionId::random(),
        ..first.clone()
    };
    assert!(cc.pay(&replay).is_err());
    assert!(approved(&cc.pay(&first)));
    assert_eq!(w.issuer.approved.lock().unwrap().len(), 1, "paid once");
    assert!(approved(&w.pay(&cc, &user, &phone, &mut card, 3_600)));
    assert_eq!(cc.danger().wallet().cards(&user).unwrap().len(), 1);
}

#[test]
fn a_challenge_raised_before_a_restart_is_answered_after_it() {
    let w = World::new("restart-challenge");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let mut card = w.bind(&cc, &user, &phone, PANS[0], 0).device_card;
    let outcome = w.pay(&cc, &user, &phone, &mut card, 120_000).unwrap();
    let PaymentOutcome::ChallengeRequired { challenge, method, .. } = outcome else {
        panic!("a large payment is challenged");
    };
    let (wrong, right) = match method {
        ChallengeMethod::Fingerprint => {
            // A cryptogram without the biometric check does not answer; one with it does.
            let mut plain = w.data(120_000);
            plain.cvm = cloudcard::token::Cvm::None;
            let without = StepUp::Fingerprint { cryptogram: card.cryptogram(plain).unwrap() };
            (without, w.fingerprint(&mut card, 120_000))
        }
        ChallengeMethod::PaymentPassword => (
            StepUp::PaymentPassword { password: Secret::new("000000".into()) },
            StepUp::PaymentPassword { password: Secret::new(PASSWORD.into()) },
        ),
        ChallengeMethod::Otp => {
            let code = w.outbox.last_code(&w.mobile(0), OtpPurpose::Payment).unwrap();
            let wrong = if code == "000000" { "000001" } else { "000000" };
            (
                StepUp::Otp { code: Secret::new(wrong.into()) },
                StepUp::Otp { code: Secret::new(code) },
            )
        }
    };
    drop(cc);
    let cc = w.open();
    assert!(cc.step_up(&user, &challenge, wrong).is_err());
    drop(cc);
    let cc = w.open();
    let stepped = cc.step_up(&user, &challenge, right).unwrap();
    assert!(matches!(stepped, PaymentOutcome::Approved { .. }));
    // Answered once: the challenge is gone for good.
    let again = w.fingerprint(&mut card, 120_000);
    assert!(matches!(
        cc.step_up(&user, &challenge, again),
        Err(cloudcard::Error::ChallengeNotFound)
    ));
}

#[test]
fn a_lost_card_stays_lost_and_its_claim_stays_filed() {
    let w = World::new("restart-lost-card");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let bound = w.bind(&cc, &user, &phone, PANS[0], 0);
    let mut card = bound.device_card;
    assert!(approved(&w.pay(&cc, &user, &phone, &mut card, 3_500)));
    drop(cc);
    let cc = w.open();
    let lost = cc.report_lost_card(&user, &bound.card.id).unwrap();
    let claim = lost.claim.expect("the payment before the report is eligible");
    assert_eq!(lost.cancelled_tokens.len(), 1);
    drop(cc);
    let cc = w.open();
    assert!(declined(&w.pay(&cc, &user, &phone, &mut card, 3_500)));
    assert_eq!(cc.danger().risk().claim(&claim.id).unwrap().unwrap().state, ClaimState::Filed);
    cc.danger().risk().advance_claim(&claim.id, ClaimEvent::Assess).unwrap();
    drop(cc);
    let cc = w.open();
    assert_eq!(cc.danger().risk().claim(&claim.id).unwrap().unwrap().state, ClaimState::Assessed);
    // The lost card cannot be bound again, in this wallet or another.
    assert!(cc.bind_card(&user, &phone, w.request(PANS[0], 0)).is_err());
}

#[test]
fn a_lost_phone_stays_lost() {
    let w = World::new("restart-lost-phone");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let mut card = w.bind(&cc, &user, &phone, PANS[0], 0).device_card;
    assert!(approved(&w.pay(&cc, &user, &phone, &mut card, 3_500)));
    let lost = cc.report_lost_phone(&user, &phone).unwrap();
    assert_eq!(lost.cancelled_tokens.len(), 1);
    drop(cc);
    let cc = w.open();
    assert!(declined(&w.pay(&cc, &user, &phone, &mut card, 3_500)));
    assert!(lost.claim.is_some());
}

#[test]
fn an_unbind_confirmed_across_a_restart_leaves_no_card_and_no_live_token() {
    let w = World::new("restart-unbind");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let bound = w.bind(&cc, &user, &phone, PANS[0], 0);
    let mut card = bound.device_card;
    let prompt = cc.request_unbind(&user, &bound.card.id).unwrap();
    drop(cc);
    let cc = w.open();
    let removed = cc.confirm_unbind(&user, &bound.card.id, prompt.ticket.expose_secret()).unwrap();
    assert_eq!(removed.deleted_tokens, vec![bound.token.id.clone()]);
    drop(cc);
    let cc = w.open();
    assert!(cc.danger().wallet().cards(&user).unwrap().is_empty());
    assert!(declined(&w.pay(&cc, &user, &phone, &mut card, 3_500)));
}

#[test]
fn a_password_lockout_counts_across_restarts() {
    let w = World::new("restart-lockout");
    let cc = w.open();
    let (user, _) = w.register(&cc, 0);
    let wrong = Secret::new("000000".to_owned());
    for _ in 0..3 {
        assert!(cc.danger().wallet().verify_payment_password(&user, &wrong).is_err());
    }
    drop(cc);
    let cc = w.open();
    assert!(matches!(
        cc.danger().wallet().verify_payment_password(&user, &wrong),
        Err(cloudcard::wallet::WalletError::WrongPassword { remaining: 1 })
    ));
    assert!(matches!(
        cc.danger().wallet().verify_payment_password(&user, &wrong),
        Err(cloudcard::wallet::WalletError::PasswordLocked { .. })
    ));
    drop(cc);
    let cc = w.open();
    let right = Secret::new(PASSWORD.to_owned());
    assert!(matches!(
        cc.danger().wallet().verify_payment_password(&user, &right),
        Err(cloudcard::wallet::WalletError::PasswordLocked { .. })
    ));
}

#[test]
fn a_pos_unbinding_case_continues_after_a_restart() {
    let w = World::new("restart-pos");
    let cc = w.open();
    let mobile = w.mobile(2);
    let terminal: cloudcard::core::TerminalId = "term_SN9".parse().unwrap();
    cc.danger().wallet().send_terminal_mobile_code(&terminal, &mobile).unwrap();
    let code = w.outbox.last_code(&mobile, OtpPurpose::TerminalMobile).unwrap();
    drop(cc);
    let cc = w.open();
    let (name, id, _) = cloudcard::demo::DEMO_PEOPLE[2];
    cc.danger()
        .wallet()
        .register_terminal(
            terminal.clone(),
            name.parse().unwrap(),
            id.parse().unwrap(),
            mobile.clone(),
            &code,
        )
        .unwrap();
    let case = cc
        .request_terminal_unbind(
            &terminal,
            UnbindReason::Security,
            UnbindChannel::Online,
            NotifyChannel::Sms,
        )
        .unwrap();
    let code = w.outbox.last_code(&mobile, OtpPurpose::TerminalUnbind).unwrap();
    drop(cc);
    let cc = w.open();
    let done = cc
        .complete_terminal_unbind(&case.id, &UnbindEvidence::OnlineOtp { code: code.into() })
        .unwrap();
    assert_eq!(done.state, cloudcard::wallet::CaseState::Completed);
    drop(cc);
    let cc = w.open();
    assert!(cc.danger().wallet().terminal(&terminal).unwrap().mobile.is_none());
}

#[test]
fn one_mobile_and_one_identity_hold_one_account_across_restarts() {
    let w = World::new("restart-unique");
    let cc = w.open();
    w.register(&cc, 0);
    drop(cc);
    let cc = w.open();
    let (name, id, mobile) = cloudcard::demo::DEMO_PEOPLE[0];
    assert!(
        cc.register_user(mobile.parse().unwrap(), name.parse().unwrap(), id.parse().unwrap())
            .is_err()
    );
    let other_mobile = cloudcard::demo::DEMO_PEOPLE[1].2;
    let again =
        cc.register_user(other_mobile.parse().unwrap(), name.parse().unwrap(), id.parse().unwrap());
    assert!(matches!(
        again,
        Err(cloudcard::Error::Wallet(cloudcard::wallet::WalletError::IdentityTaken))
    ));
}

#[test]
fn a_lookup_applied_before_a_restart_is_viewed_after_it_and_expires_on_time() {
    let w = World::new("restart-lookup");
    let cc = w.open();
    let (user, _) = w.register(&cc, 0);
    let banks = cloudcard::Bank::NATIONAL.into_iter().collect();
    let query = cc
        .start_lookup(&user, cloudcard::Region::SHANGHAI, banks, "req_1".parse().unwrap())
        .unwrap();
    cc.send_lookup_code(&user).unwrap();
    let code = w.outbox.last_code(&w.mobile(0), OtpPurpose::CardLookup).unwrap();
    drop(cc);
    let cc = w.open();
    // The same request id after the restart is the same query.
    let banks = cloudcard::Bank::NATIONAL.into_iter().collect();
    let again = cc
        .start_lookup(&user, cloudcard::Region::SHANGHAI, banks, "req_1".parse().unwrap())
        .unwrap();
    assert_eq!(again, query);
    let id: cloudcard::ResidentId = cloudcard::demo::DEMO_PEOPLE[0].1.parse().unwrap();
    let version = cc.danger().lookup().config().agreement_version.clone();
    cc.authorize_lookup(&user, &query, &version, &cloudcard::demo::face_of(&id), &code).unwrap();
    let status = cc.lookup_status(&user, &query).unwrap();
    assert_eq!(
        status.ready_by,
        Some(cloudcard::Clock::now(&*w.clock) + chrono::TimeDelta::hours(24))
    );
    assert_eq!(status.state, cloudcard::report::QueryState::Accepted);
    let (stranger, _) = w.register(&cc, 1);
    assert!(cc.lookup_status(&stranger, &query).is_err(), "only its owner sees it");
    // The banks' answers reach this process; then it restarts before anyone views the report.
    w.clock.advance(chrono::TimeDelta::minutes(5));
    assert_eq!(cc.process_lookups().unwrap(), vec![query.clone()]);
    drop(cc);
    let cc = w.open();
    let report = cc.view_report(&user, &query, &Secret::new(PASSWORD.into())).unwrap();
    assert!(!report.details.is_empty());
    let trail = cc.danger().lookup().audit_trail(&query).unwrap();
    assert!(trail.iter().any(|e| e.event == cloudcard::report::AuditEvent::Viewed));
    drop(cc);
    w.clock.advance(chrono::TimeDelta::days(8));
    let cc = w.open(); // opening runs the due jobs: the report's content is purged
    assert!(cc.view_report(&user, &query, &Secret::new(PASSWORD.into())).is_err());
    assert!(
        cc.danger()
            .lookup()
            .audit_trail(&query)
            .unwrap()
            .iter()
            .any(|e| e.event == cloudcard::report::AuditEvent::Deleted)
    );
}

#[test]
fn velocity_counted_before_a_restart_still_counts_after_it() {
    let w = World::new("restart-velocity");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let mut card = w.bind(&cc, &user, &phone, PANS[0], 0).device_card;
    // Five payments inside ten minutes, then a restart.
    for _ in 0..5 {
        assert!(approved(&w.pay(&cc, &user, &phone, &mut card, 1_000)));
    }
    drop(cc);
    let cc = w.open();
    // The sixth is a burst: the shipped rules ask for a code.
    let sixth = w.pay(&cc, &user, &phone, &mut card, 1_000).unwrap();
    assert!(
        matches!(sixth, PaymentOutcome::ChallengeRequired { method: ChallengeMethod::Otp, .. }),
        "{sixth:?}"
    );
}

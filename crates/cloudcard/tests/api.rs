//! Every flow of a wallet back end, through the facade alone (no `danger()`): account, cards,
//! phones, payments with retries, step-ups and reviews, keys, losses and claims, issuer events,
//! the lookup, POS terminals, unbinding and the timed jobs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use chrono::TimeDelta;
use cloudcard::risk::ClaimEvent;
use cloudcard::wallet::{NotifyChannel, OtpPurpose, UnbindChannel, UnbindEvidence, UnbindReason};
use cloudcard::{IssuerEvent, Pan, PaymentOutcome, ReviewDecision, Secret};
use support::{PANS, PASSWORD, World, approved, declined};

#[test]
fn every_flow_through_the_facade() {
    let w = World::new("api");
    let cc = w.open();
    let secret = |s: &str| Secret::new(s.to_owned());

    // Account: registered and verified, a password set, changed, forgotten and reset.
    let (user, phone) = w.register(&cc, 0);
    assert!(cc.account(&user).unwrap().real_name_verified);
    cc.change_payment_password(&user, &secret(PASSWORD), &secret("246813")).unwrap();
    assert!(cc.check_payment_password(&user, &secret(PASSWORD)).is_err());
    cc.request_password_reset(&user).unwrap();
    let code = w.outbox.last_code(&w.mobile(0), OtpPurpose::PasswordReset).unwrap();
    cc.reset_payment_password(&user, &code, &secret(PASSWORD)).unwrap();
    cc.check_payment_password(&user, &secret(PASSWORD)).unwrap();
    assert_eq!(cc.devices(&user).unwrap().len(), 1);

    // Cards: two bound, listed masked, details, the default moved.
    let icbc = w.bind(&cc, &user, &phone, PANS[0], 0);
    let ccb = w.bind(&cc, &user, &phone, PANS[2], 0);
    let cards = cc.cards(&user).unwrap();
    assert_eq!(cards.len(), 2);
    assert!(cards.iter().all(|c| c.masked.contains("****")));
    assert!(cc.card(&user, &icbc.card.id).unwrap().is_default);
    cc.set_default_card(&user, &ccb.card.id).unwrap();
    assert!(cc.card(&user, &ccb.card.id).unwrap().is_default);
    let mut icbc_card = icbc.device_card.clone();
    let mut ccb_card = ccb.device_card.clone();

    // Payments: approved; the terminal's retry hears the same answer.
    let request = w.request_payment(&user, &phone, &mut icbc_card, 1_000);
    let paid = cc.pay(&request).unwrap();
    assert!(matches!(paid, PaymentOutcome::Approved { .. }));
    assert_eq!(cc.pay(&request).unwrap(), paid);
    // A large unverified payment is challenged and answered with the fingerprint.
    let Ok(PaymentOutcome::ChallengeRequired { challenge, .. }) =
        w.pay(&cc, &user, &phone, &mut icbc_card, 120_000)
    else {
        panic!("challenged");
    };
    let answer = w.fingerprint(&mut icbc_card, 120_000);
    assert!(matches!(cc.step_up(&user, &challenge, answer), Ok(PaymentOutcome::Approved { .. })));
    // ¥2,500 from a phone registered today is held; an operator approves it.
    let Ok(PaymentOutcome::HeldForReview { transaction, .. }) =
        w.pay(&cc, &user, &phone, &mut ccb_card, 250_000)
    else {
        panic!("held for review");
    };
    assert_eq!(cc.held_payments(10).unwrap()[0].transaction, transaction);
    let reviewed = cc.review_payment(&transaction, ReviewDecision::Approve).unwrap();
    assert!(matches!(reviewed, PaymentOutcome::Approved { .. }));

    // Keys: the phone asks for its next limited-use key.
    let grant = cc.replenish(&icbc_card.replenish_request()).unwrap();
    icbc_card.install(grant).unwrap();
    assert_eq!(cc.device_tokens(&user, &phone).unwrap().len(), 2);

    // A second phone gets the ICBC card after a password check.
    let tablet = cc.register_device(&user, "tablet").unwrap();
    let on_tablet = cc.add_card_to_phone(&user, &icbc.card.id, &tablet, &secret(PASSWORD)).unwrap();
    let mut tablet_card = on_tablet.device_card;
    assert!(approved(&w.pay(&cc, &user, &tablet, &mut tablet_card, 1_000)));

    // The phone is lost, then found again and resumed.
    w.clock.advance(TimeDelta::minutes(30));
    let lost = cc.report_lost_phone(&user, &phone).unwrap();
    assert_eq!(lost.cancelled_tokens.len(), 2);
    assert!(declined(&w.pay(&cc, &user, &phone, &mut icbc_card, 1_000)));
    assert_eq!(cc.resume_phone(&user, &phone, &secret(PASSWORD)).unwrap().len(), 2);
    assert!(approved(&w.pay(&cc, &user, &phone, &mut icbc_card, 1_000)));

    // The issuer reissues the ICBC card: the wallet shows the new last 4; the cloud card pays.
    let old: Pan = PANS[0].parse().unwrap();
    let new: Pan = "6222021234567890011".parse().unwrap();
    let reissued = cc.issuer_event(&old, IssuerEvent::Reissue { pan: new, expiry: None }).unwrap();
    assert_eq!(reissued.tokens.len(), 2, "both phones' cloud cards");
    assert!(cc.card(&user, &icbc.card.id).unwrap().masked.ends_with("0011"));
    assert!(approved(&w.pay(&cc, &user, &phone, &mut icbc_card, 1_000)));

    // The CCB card is lost: its unverified payments are claimed; the operator settles.
    w.clock.advance(TimeDelta::minutes(30));
    assert!(approved(&w.pay(&cc, &user, &phone, &mut ccb_card, 3_000)));
    let lost_card = cc.report_lost_card(&user, &ccb.card.id).unwrap();
    let claim = lost_card.claim.expect("the unverified payment is covered");
    assert_eq!(cc.claim(&user, &claim.id).unwrap().id, claim.id);
    for event in [ClaimEvent::Assess, ClaimEvent::AdvancePay, ClaimEvent::Settle] {
        cc.advance_claim(&claim.id, event).unwrap();
    }
    assert_eq!(cc.claim(&user, &claim.id).unwrap().state.to_string(), "settled");

    // The one-click lookup: applied, authorized, its status, answered, viewed, its history.
    let banks = cloudcard::Bank::NATIONAL.into_iter().collect();
    let query = cc
        .start_lookup(&user, cloudcard::Region::SHANGHAI, banks, "req_1".parse().unwrap())
        .unwrap();
    cc.send_lookup_code(&user).unwrap();
    let code = w.outbox.last_code(&w.mobile(0), OtpPurpose::CardLookup).unwrap();
    let id: cloudcard::ResidentId = cloudcard::demo::DEMO_PEOPLE[0].1.parse().unwrap();
    let version = cc.lookup_agreement_version().to_owned();
    cc.authorize_lookup(&user, &query, &version, &cloudcard::demo::face_of(&id), &code).unwrap();
    assert!(cc.lookup_status(&user, &query).unwrap().ready_by.is_some());
    w.clock.advance(TimeDelta::minutes(5));
    assert_eq!(cc.process_lookups().unwrap(), vec![query.clone()]);
    let report = cc.view_report(&user, &query, &secret(PASSWORD)).unwrap();
    assert!(!report.details.is_empty());
    assert!(cc.lookup_audit_trail(&user, &query).unwrap().len() > 3);

    // A POS terminal: registered to its owner's mobile, then unbound online.
    let (terminal, m_mobile) = w.register_terminal(&cc, "term_1", 2);
    let case = cc
        .request_terminal_unbind(
            &terminal,
            UnbindReason::NoLongerNeeded,
            UnbindChannel::Online,
            NotifyChannel::Sms,
        )
        .unwrap();
    let code = w.outbox.last_code(&m_mobile, OtpPurpose::TerminalUnbind).unwrap();
    let done = cc
        .complete_terminal_unbind(&case.id, &UnbindEvidence::OnlineOtp { code: code.into() })
        .unwrap();
    assert_eq!(done.state.to_string(), "completed");
    assert!(cc.terminal(&terminal).unwrap().mobile.is_none());

    // Unbinding the ICBC card removes it and stops both its cloud cards.
    let prompt = cc.request_unbind(&user, &icbc.card.id).unwrap();
    let unbound = cc.confirm_unbind(&user, &icbc.card.id, prompt.ticket.expose_secret()).unwrap();
    assert_eq!(unbound.deleted_tokens.len(), 2);
    assert!(cc.cards(&user).unwrap().iter().all(|c| c.id != icbc.card.id));
    assert!(declined(&w.pay(&cc, &user, &tablet, &mut tablet_card, 1_000)));

    // The timed jobs: nothing left half done.
    w.clock.advance(TimeDelta::days(8));
    let due = cc.run_due().unwrap();
    assert_eq!(due.flows_recovered + due.flows_failed, 0);
    assert_eq!(due.reports_purged, 1);
}

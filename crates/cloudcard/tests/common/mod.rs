//! The whole journey through the facade, shared by the journey test and the leak test. Every
//! result and error is kept as printed text (Debug, Display, serde_json).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    dead_code,
    unreachable_pub
)]

use std::fmt::Debug;
use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard::core::{Clock, ManualClock, PhoneNumber};
use cloudcard::demo::{DEMO_PEOPLE, face_of};
use cloudcard::report::Region;
use cloudcard::risk::ClaimEvent;
use cloudcard::token::{Channel, Cvm, DeviceCard, PaymentData};
use cloudcard::wallet::{NotifyChannel, OtpPurpose, UnbindChannel, UnbindEvidence, UnbindReason};
use cloudcard::{
    Amount, BindRequest, CloudCard, Currency, Mcc, PaymentOutcome, PaymentRequest, Secret, StepUp,
};
use serde::Serialize;

pub const PASSWORD: &str = "135790";
pub const CVN2: &str = "738";
pub const PANS: [&str; 3] = ["6222021234567890128", "6225751234567893", "6217001234567890122"];

/// What the journey did and printed.
pub struct Journey {
    pub cc: CloudCard,
    pub outbox: Arc<cloudcard::wallet::InMemoryOutbox>,
    pub notifier: Arc<cloudcard::wallet::InMemoryNotifier>,
    pub clock: Arc<ManualClock>,
    pub printed: Vec<String>,
    pub outcomes: Vec<PaymentOutcome>,
    pub claims: Vec<cloudcard::risk::Claim>,
    pub lookup_cards: usize,
    pub errors: Vec<cloudcard::Error>,
}

impl Journey {
    fn keep<T: Debug + Serialize>(&mut self, value: &T) {
        self.printed.push(format!("{value:?}"));
        self.printed.push(serde_json::to_string(value).unwrap());
    }

    fn keep_debug<T: Debug>(&mut self, value: &T) {
        self.printed.push(format!("{value:?}"));
    }

    fn keep_err(&mut self, e: cloudcard::Error) {
        self.printed.push(format!("{e} {e:?}"));
        self.errors.push(e);
    }
}

pub fn run() -> Journey {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let outbox = Arc::new(cloudcard::wallet::InMemoryOutbox::new());
    let notifier = Arc::new(cloudcard::wallet::InMemoryNotifier::new());
    let cc = CloudCard::demo()
        .clock(clock.clone())
        .sms(outbox.clone() as Arc<dyn cloudcard::wallet::SmsGateway>)
        .notifier(notifier.clone() as Arc<dyn cloudcard::wallet::Notifier>)
        .build()
        .unwrap();
    let mut j = Journey {
        cc,
        outbox,
        notifier,
        clock,
        printed: Vec::new(),
        outcomes: Vec::new(),
        claims: Vec::new(),
        lookup_cards: 0,
        errors: Vec::new(),
    };
    let (name, id, mobile) = DEMO_PEOPLE[0];
    let mobile: PhoneNumber = mobile.parse().unwrap();
    let id: cloudcard::ResidentId = id.parse().unwrap();

    let user = j.cc.register_user(mobile.clone(), name.parse().unwrap(), id.clone()).unwrap();
    j.cc.danger().wallet().set_payment_password(&user, &Secret::new(PASSWORD.into())).unwrap();
    let account = j.cc.danger().wallet().account(&user).unwrap();
    j.keep(&account);
    let phone = j.cc.register_device(&user, "phone").unwrap();

    let (mut icbc, icbc_id) = bind(&mut j, &user, &phone, PANS[0], None, &mobile);
    let (mut cmb, _) = bind(&mut j, &user, &phone, PANS[1], Some(("08/29", CVN2)), &mobile);
    let cards = j.cc.danger().wallet().cards(&user).unwrap();
    j.keep(&cards);

    // A wrong code, a wrong password, a replayed cryptogram: errors are printed too.
    let pending = j.cc.bind_card(&user, &phone, request(PANS[2], None, &mobile)).unwrap();
    j.keep(&pending);
    let wrong = j.cc.confirm_card(&user, &phone, &pending.binding, "000000").unwrap_err();
    j.keep_err(wrong);
    let wrong =
        j.cc.danger()
            .wallet()
            .verify_payment_password(&user, &Secret::new("000000".into()))
            .unwrap_err();
    j.keep_err(wrong.into());

    let o = pay(&mut j, &user, &phone, &mut icbc, 3_500, Cvm::None);
    j.outcomes.push(o);
    let o = pay(&mut j, &user, &phone, &mut icbc, 8_800, Cvm::None);
    j.outcomes.push(o);
    let o = pay(&mut j, &user, &phone, &mut icbc, 120_000, Cvm::None);
    if let PaymentOutcome::ChallengeRequired { challenge, .. } = &o {
        let mut again = data(&j, 120_000);
        again.cvm = Cvm::Biometric;
        let answer = StepUp::Fingerprint { cryptogram: icbc.cryptogram(again).unwrap() };
        let stepped = j.cc.step_up(&user, challenge, answer).unwrap();
        j.keep(&stepped);
        j.outcomes.push(o.clone());
        j.outcomes.push(stepped);
    }
    // An OTP challenge: a payment on the CMB card with a burst in ten minutes.
    j.clock.set(Utc.with_ymd_and_hms(2026, 11, 24, 17, 30, 0).unwrap());
    let o = pay(&mut j, &user, &phone, &mut cmb, 600_000, Cvm::Biometric);
    if let PaymentOutcome::ChallengeRequired { challenge, .. } = &o {
        let bad =
            j.cc.step_up(
                &user,
                challenge,
                StepUp::PaymentPassword { password: Secret::new("111111".into()) },
            )
            .unwrap_err();
        j.keep_err(bad);
        let stepped =
            j.cc.step_up(
                &user,
                challenge,
                StepUp::PaymentPassword { password: Secret::new(PASSWORD.into()) },
            )
            .unwrap();
        j.keep(&stepped);
        j.outcomes.push(o.clone());
        j.outcomes.push(stepped);
    }
    // A replay of a used cryptogram.
    let c = icbc.cryptogram(data(&j, 100)).unwrap();
    let req = PaymentRequest {
        user: user.clone(),
        device: phone.clone(),
        cryptogram: c,
        mcc: Mcc(5462),
        transaction: cloudcard::TransactionId::random(),
    };
    let first = j.cc.pay(&req).unwrap();
    j.keep(&first);
    // The terminal's retry of the same request hears the same answer; nothing is paid twice.
    assert_eq!(j.cc.pay(&req).unwrap(), first);
    // The same cryptogram as another payment is a replay.
    let replayed =
        PaymentRequest { transaction: cloudcard::TransactionId::random(), ..req.clone() };
    let replay = j.cc.pay(&replayed).unwrap_err();
    j.keep_err(replay);

    j.clock.advance(TimeDelta::hours(3));
    let lost = j.cc.report_lost_phone(&user, &phone).unwrap();
    j.keep(&lost);
    let claim = lost.claim.clone().unwrap();
    for event in [ClaimEvent::Assess, ClaimEvent::AdvancePay, ClaimEvent::Settle] {
        let c = j.cc.danger().risk().advance_claim(&claim.id, event).unwrap();
        j.keep(&c);
    }
    j.claims.push(claim);
    let after = j.cc.pay(&PaymentRequest {
        user: user.clone(),
        device: phone.clone(),
        cryptogram: icbc.cryptogram(data(&j, 100)).unwrap(),
        mcc: Mcc(5462),
        transaction: cloudcard::TransactionId::random(),
    });
    // The phone's own cryptogram, for a cloud card suspended with the phone: a decline that
    // says why, not an error.
    let after = after.unwrap();
    assert!(
        matches!(
            &after,
            cloudcard::PaymentOutcome::Declined {
                reason: cloudcard::DeclineReason::Risk(cloudcard::risk::Reason::LostDevice),
                ..
            }
        ),
        "{after:?}"
    );
    j.outcomes.push(after);

    let phone2 = j.cc.register_device(&user, "new phone").unwrap();
    let (mut ccb, ccb_id) = bind(&mut j, &user, &phone2, PANS[2], None, &mobile);
    let o = pay(&mut j, &user, &phone2, &mut ccb, 2_000, Cvm::None);
    j.outcomes.push(o);
    let lost_card = j.cc.report_lost_card(&user, &ccb_id).unwrap();
    j.keep(&lost_card);
    if let Some(c) = lost_card.claim.clone() {
        j.claims.push(c);
    }

    let prompt = j.cc.request_unbind(&user, &icbc_id).unwrap();
    j.keep_debug(&prompt);
    let removed = j.cc.confirm_unbind(&user, &icbc_id, prompt.ticket.expose_secret()).unwrap();
    j.keep(&removed);

    let query =
        j.cc.start_lookup(
            &user,
            Region::SHANGHAI,
            cloudcard::Bank::NATIONAL.into_iter().collect(),
            "req_1".parse().unwrap(),
        )
        .unwrap();
    j.cc.send_lookup_code(&user).unwrap();
    let code = j.outbox.last_code(&mobile, OtpPurpose::CardLookup).unwrap();
    let version = j.cc.danger().lookup().config().agreement_version.clone();
    j.cc.authorize_lookup(&user, &query, &version, &face_of(&id), &code).unwrap();
    let ready = j.cc.process_lookups().unwrap();
    j.keep(&ready);
    let wrong = j.cc.view_report(&user, &query, &Secret::new("999999".into())).unwrap_err();
    j.keep_err(wrong);
    let report = j.cc.view_report(&user, &query, &Secret::new(PASSWORD.into())).unwrap();
    j.lookup_cards = report.details.len();
    j.keep(&report);
    let trail = j.cc.danger().lookup().audit_trail(&query).unwrap();
    j.keep(&trail);
    j.clock.advance(TimeDelta::days(7));
    assert_eq!(j.cc.purge_reports().unwrap(), 1);
    let expired = j.cc.view_report(&user, &query, &Secret::new(PASSWORD.into())).unwrap_err();
    j.keep_err(expired);

    let (m_name, m_id, m_mobile) = DEMO_PEOPLE[2];
    let m_mobile: PhoneNumber = m_mobile.parse().unwrap();
    let terminal: cloudcard::core::TerminalId = "term_SN1".parse().unwrap();
    j.cc.danger().wallet().send_terminal_mobile_code(&terminal, &m_mobile).unwrap();
    let c = j.outbox.last_code(&m_mobile, OtpPurpose::TerminalMobile).unwrap();
    j.cc.danger()
        .wallet()
        .register_terminal(
            terminal.clone(),
            m_name.parse().unwrap(),
            m_id.parse().unwrap(),
            m_mobile.clone(),
            &c,
        )
        .unwrap();
    let case =
        j.cc.request_terminal_unbind(
            &terminal,
            UnbindReason::Security,
            UnbindChannel::Online,
            NotifyChannel::Sms,
        )
        .unwrap();
    let c = j.outbox.last_code(&m_mobile, OtpPurpose::TerminalUnbind).unwrap();
    let done =
        j.cc.complete_terminal_unbind(&case.id, &UnbindEvidence::OnlineOtp { code: c.into() })
            .unwrap();
    j.keep(&done);

    let messages = j.outbox.messages();
    j.keep(&messages);
    let sent = j.notifier.sent();
    j.keep(&sent);
    let outcomes = j.outcomes.clone();
    j.keep(&outcomes);
    j
}

fn request(pan: &str, credit: Option<(&str, &str)>, mobile: &PhoneNumber) -> BindRequest {
    BindRequest {
        pan: pan.parse().unwrap(),
        expiry: credit.map(|(e, _)| e.parse().unwrap()),
        cvn2: credit.map(|(_, c)| Secret::new(c.to_owned())),
        reserved_mobile: mobile.clone(),
    }
}

fn bind(
    j: &mut Journey,
    user: &cloudcard::UserId,
    phone: &cloudcard::DeviceId,
    pan: &str,
    credit: Option<(&str, &str)>,
    mobile: &PhoneNumber,
) -> (DeviceCard, cloudcard::CardId) {
    let pending = j.cc.bind_card(user, phone, request(pan, credit, mobile)).unwrap();
    j.keep(&pending);
    let code = j.outbox.last_code(mobile, OtpPurpose::CardBinding).unwrap();
    let bound = j.cc.confirm_card(user, phone, &pending.binding, &code).unwrap();
    j.keep_debug(&bound);
    j.keep(&bound.token);
    (bound.device_card, bound.card.id)
}

fn data(j: &Journey, fen: u64) -> PaymentData {
    PaymentData {
        amount: Amount::from_fen(fen),
        currency: Currency::CNY,
        merchant: "mch_1".parse().unwrap(),
        channel: Channel::Nfc,
        unpredictable_number: 1,
        timestamp: j.clock.now(),
        cvm: Cvm::None,
    }
}

fn pay(
    j: &mut Journey,
    user: &cloudcard::UserId,
    phone: &cloudcard::DeviceId,
    card: &mut DeviceCard,
    fen: u64,
    cvm: Cvm,
) -> PaymentOutcome {
    j.clock.advance(TimeDelta::minutes(1));
    let mut payment = data(j, fen);
    payment.cvm = cvm;
    let cryptogram = card.cryptogram(payment).unwrap();
    j.keep(&cryptogram);
    let outcome =
        j.cc.pay(&PaymentRequest {
            user: user.clone(),
            device: phone.clone(),
            cryptogram,
            mcc: Mcc(5462),
            transaction: cloudcard::TransactionId::random(),
        })
        .unwrap();
    j.keep(&outcome);
    outcome
}

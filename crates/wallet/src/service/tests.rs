//! Unit tests, compiled only under `#[cfg(test)]` (see the parent module).
#![cfg(test)]

use std::sync::Arc;

use chrono::TimeZone;
use cloudcard_core::{Clock, ManualClock, TerminalId};
use proptest::prelude::*;

use super::*;
use crate::bank::{DEMO_PEOPLE, SimulatedBankGateway};
use crate::model::{CaseState, UnbindChannel, UnbindEvidence, UnbindReason};
use crate::ports::{FaceSample, OtpPurpose};
use crate::ports::{InMemoryNotifier, InMemoryOutbox, NotifyChannel, PeopleRegistry};
use cloudcard_core::{Bank, CardId, CardKind, Pan, PersonName, ResidentId};

const ICBC: &str = "6222021234567890128";
const CMB_CREDIT: &str = "6225751234567893";
const CCB: &str = "6217001234567890122";

struct Fx {
    clock: Arc<ManualClock>,
    outbox: Arc<InMemoryOutbox>,
    notifier: Arc<InMemoryNotifier>,
    wallet: Wallet,
}

fn fx_with(config: WalletConfig) -> Fx {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let outbox = Arc::new(InMemoryOutbox::new());
    let notifier = Arc::new(InMemoryNotifier::new());
    let people = Arc::new(PeopleRegistry::new());
    for (name, id, _) in DEMO_PEOPLE {
        people.add(
            name.parse().unwrap(),
            id.parse().unwrap(),
            Some(FaceSample(format!("face-of-{id}"))),
        );
    }
    let ports = WalletPorts {
        sms: outbox.clone(),
        identity: people.clone(),
        face: people,
        bank: Arc::new(SimulatedBankGateway::demo(outbox.clone())),
        notifier: notifier.clone(),
    };
    let wallet =
        Wallet::new(config, WalletKeys::random(), ports, InMemoryWalletStore::new(), clock.clone());
    Fx { clock, outbox, notifier, wallet }
}

fn fx() -> Fx {
    fx_with(WalletConfig { argon2: Argon2Cost::TESTING, ..WalletConfig::default() })
}

fn person(i: usize) -> (PersonName, ResidentId, PhoneNumber) {
    let (n, id, m) = DEMO_PEOPLE[i];
    (n.parse().unwrap(), id.parse().unwrap(), m.parse().unwrap())
}

fn pw(s: &str) -> Secret<String> {
    Secret::new(s.to_owned())
}

impl Fx {
    /// A real-name verified user: person `i` of the demo set.
    fn verified_user(&self, i: usize) -> UserId {
        let (name, id, mobile) = person(i);
        let user = self.wallet.create_user(mobile).unwrap();
        self.wallet.verify_real_name(&user, name, id).unwrap();
        user
    }

    fn request(&self, pan: &str, i: usize) -> BindRequest {
        let credit = pan == CMB_CREDIT;
        BindRequest {
            pan: pan.parse().unwrap(),
            expiry: credit.then(|| "08/29".parse().unwrap()),
            cvn2: credit.then(|| pw("738")),
            reserved_mobile: person(i).2,
        }
    }

    fn bind(&self, user: &UserId, pan: &str, i: usize) -> Result<BoundCard, WalletError> {
        let pending = self.wallet.begin_binding(user, self.request(pan, i))?;
        let code = self.outbox.last_code(&person(i).2, OtpPurpose::CardBinding).unwrap();
        self.wallet.confirm_binding(user, &pending.binding, &code)
    }

    fn unbind(&self, user: &UserId, card: &CardId) -> Result<RemovedCard, WalletError> {
        let prompt = self.wallet.request_unbind(user, card)?;
        self.wallet.confirm_unbind(user, card, prompt.ticket.expose_secret())
    }
}

#[test]
fn bind_list_details_and_default() {
    let f = fx();
    let user = f.verified_user(0);
    let first = f.bind(&user, ICBC, 0).unwrap();
    assert_eq!(first.pan.expose_digits(), ICBC);
    assert!(first.card.is_default);
    assert_eq!((first.card.bank, first.card.kind), (Bank::Icbc, CardKind::Debit));
    assert_eq!(first.card.masked, "6222 **** **** *** 0128");
    let second = f.bind(&user, CMB_CREDIT, 0).unwrap();
    assert!(!second.card.is_default);
    assert_eq!(second.card.bank_name, "招商银行");
    assert_eq!(f.wallet.cards(&user).unwrap().len(), 2);
    f.wallet.set_default(&user, &second.card.id).unwrap();
    let cards = f.wallet.cards(&user).unwrap();
    assert_eq!(cards.iter().filter(|c| c.is_default).count(), 1);
    assert!(f.wallet.card(&user, &second.card.id).unwrap().is_default);
    assert_eq!(f.wallet.card(&user, &second.card.id).unwrap().reserved_mobile, "138****5678");
}

#[test]
fn binding_refusals() {
    let f = fx();
    let (_, _, mobile) = person(0);
    let unverified = f.wallet.create_user("13700000000".parse().unwrap()).unwrap();
    assert_eq!(
        f.wallet.begin_binding(&unverified, f.request(ICBC, 0)).unwrap_err(),
        WalletError::NotRealNameVerified
    );
    let user = f.verified_user(0);
    assert_eq!(f.wallet.create_user(mobile).unwrap_err(), WalletError::MobileTaken);
    f.bind(&user, ICBC, 0).unwrap();
    assert_eq!(
        f.wallet.begin_binding(&user, f.request(ICBC, 0)).unwrap_err(),
        WalletError::CardAlreadyBound
    );
    // Another person's card: the bank finds the holder does not match.
    assert_eq!(
        f.wallet.begin_binding(&user, f.request("6216611234567890126", 0)).unwrap_err(),
        WalletError::CardHolderMismatch
    );
    // Wrong reserved mobile.
    assert_eq!(
        f.wallet.begin_binding(&user, f.request(CCB, 1)).unwrap_err(),
        WalletError::CardHolderMismatch
    );
    // A credit card needs expiry and CVN2, and the right ones.
    let mut credit = f.request(CMB_CREDIT, 0);
    credit.cvn2 = None;
    assert_eq!(
        f.wallet.begin_binding(&user, credit).unwrap_err(),
        WalletError::CreditDetailsRequired
    );
    let mut credit = f.request(CMB_CREDIT, 0);
    credit.cvn2 = Some(pw("999"));
    assert_eq!(f.wallet.begin_binding(&user, credit).unwrap_err(), WalletError::CardHolderMismatch);
    // A card no bank knows.
    assert_eq!(
        f.wallet.begin_binding(&user, f.request("6200000000000005", 0)).unwrap_err(),
        WalletError::CardUnknown
    );
}

#[test]
fn identity_is_checked() {
    let f = fx();
    let (_, id, mobile) = person(0);
    let user = f.wallet.create_user(mobile).unwrap();
    assert_eq!(
        f.wallet.verify_real_name(&user, "李四".parse().unwrap(), id.clone()).unwrap_err(),
        WalletError::IdentityRejected
    );
    assert!(!f.wallet.is_real_name_verified(&user).unwrap());
    f.wallet.verify_real_name(&user, person(0).0, id.clone()).unwrap();
    assert_eq!(
        f.wallet.verify_real_name(&user, person(0).0, id).unwrap_err(),
        WalletError::AlreadyVerified
    );
    assert!(
        f.wallet.verify_face(&user, &FaceSample(format!("face-of-{}", DEMO_PEOPLE[0].1))).unwrap()
    );
    assert!(!f.wallet.verify_face(&user, &FaceSample("someone-else".into())).unwrap());
}

#[test]
fn the_wallet_has_room_for_twenty() {
    let f = fx_with(WalletConfig {
        max_cards: 2,
        argon2: Argon2Cost::TESTING,
        ..WalletConfig::default()
    });
    let user = f.verified_user(0);
    f.bind(&user, ICBC, 0).unwrap();
    f.bind(&user, CCB, 0).unwrap();
    assert_eq!(
        f.wallet.begin_binding(&user, f.request(CMB_CREDIT, 0)).unwrap_err(),
        WalletError::WalletFull
    );
    assert_eq!(WalletConfig::default().max_cards, 20);
}

#[test]
fn pending_bindings_expire_and_codes_are_checked() {
    let f = fx();
    let user = f.verified_user(0);
    let pending = f.wallet.begin_binding(&user, f.request(ICBC, 0)).unwrap();
    assert_eq!(
        f.wallet.confirm_binding(&user, &pending.binding, "000000").unwrap_err(),
        WalletError::OtpInvalid
    );
    f.clock.advance(TimeDelta::minutes(10));
    let code = f.outbox.last_code(&person(0).2, OtpPurpose::CardBinding).unwrap();
    assert_eq!(
        f.wallet.confirm_binding(&user, &pending.binding, &code).unwrap_err(),
        WalletError::BindingExpired
    );
    let other = f.verified_user(1);
    let pending = f.wallet.begin_binding(&user, f.request(ICBC, 0)).unwrap();
    assert_eq!(
        f.wallet.confirm_binding(&other, &pending.binding, "1").unwrap_err(),
        WalletError::BindingExpired
    );
}

#[test]
fn unbind_needs_a_valid_ticket_and_leaves_no_trace() {
    let f = fx();
    let user = f.verified_user(0);
    let a = f.bind(&user, ICBC, 0).unwrap();
    let b = f.bind(&user, CCB, 0).unwrap();
    let fingerprint = f.wallet.fingerprint(&a.pan);
    // Wrong ticket: refused, and the ticket is spent.
    f.wallet.request_unbind(&user, &a.card.id).unwrap();
    assert_eq!(
        f.wallet.confirm_unbind(&user, &a.card.id, "nope").unwrap_err(),
        WalletError::UnbindTicketInvalid
    );
    // Expired ticket.
    let prompt = f.wallet.request_unbind(&user, &a.card.id).unwrap();
    f.clock.advance(TimeDelta::minutes(2));
    assert_eq!(
        f.wallet.confirm_unbind(&user, &a.card.id, prompt.ticket.expose_secret()).unwrap_err(),
        WalletError::UnbindTicketInvalid
    );
    // A ticket for another card.
    let for_b = f.wallet.request_unbind(&user, &b.card.id).unwrap();
    f.wallet.request_unbind(&user, &a.card.id).unwrap();
    assert_eq!(
        f.wallet.confirm_unbind(&user, &a.card.id, for_b.ticket.expose_secret()).unwrap_err(),
        WalletError::UnbindTicketInvalid
    );
    // Another user's attempt.
    let other = f.verified_user(1);
    let prompt = f.wallet.request_unbind(&user, &a.card.id).unwrap();
    assert_eq!(
        f.wallet.confirm_unbind(&other, &a.card.id, prompt.ticket.expose_secret()).unwrap_err(),
        WalletError::UnbindTicketInvalid
    );
    // Valid, single use.
    let prompt = f.wallet.request_unbind(&user, &a.card.id).unwrap();
    let removed =
        f.wallet.confirm_unbind(&user, &a.card.id, prompt.ticket.expose_secret()).unwrap();
    assert_eq!(removed.card, a.card.id);
    assert_eq!(removed.new_default, Some(b.card.id.clone()), "the default moved");
    assert_eq!(
        f.wallet.confirm_unbind(&user, &a.card.id, prompt.ticket.expose_secret()).unwrap_err(),
        WalletError::UnbindTicketInvalid
    );
    assert!(!f.wallet.store().mentions_card(&a.card.id).unwrap());
    assert!(!f.wallet.store().mentions_fingerprint(&fingerprint).unwrap());
    assert_eq!(f.wallet.card(&user, &a.card.id).unwrap_err(), WalletError::CardNotFound);
    f.unbind(&user, &b.card.id).unwrap();
    assert!(f.wallet.cards(&user).unwrap().is_empty());
    // The card can be bound again.
    f.bind(&user, ICBC, 0).unwrap();
}

#[test]
fn password_lockout_and_unlock_after_the_period() {
    let f = fx();
    let user = f.verified_user(0);
    assert_eq!(
        f.wallet.verify_payment_password(&user, &pw("111111")).unwrap_err(),
        WalletError::NoPassword
    );
    assert_eq!(
        f.wallet.set_payment_password(&user, &pw("12345")).unwrap_err(),
        WalletError::PasswordFormat
    );
    f.wallet.set_payment_password(&user, &pw("135790")).unwrap();
    for remaining in (1..5).rev() {
        assert_eq!(
            f.wallet.verify_payment_password(&user, &pw("000000")).unwrap_err(),
            WalletError::WrongPassword { remaining }
        );
    }
    let until = f.clock.now() + TimeDelta::hours(3);
    assert_eq!(
        f.wallet.verify_payment_password(&user, &pw("000000")).unwrap_err(),
        WalletError::PasswordLocked { until }
    );
    // Even the right password is refused while locked.
    assert_eq!(
        f.wallet.verify_payment_password(&user, &pw("135790")).unwrap_err(),
        WalletError::PasswordLocked { until }
    );
    assert_eq!(f.wallet.account(&user).unwrap().locked_until, Some(until));
    f.clock.advance(TimeDelta::hours(3) - TimeDelta::seconds(1));
    assert!(f.wallet.verify_payment_password(&user, &pw("135790")).is_err());
    f.clock.advance(TimeDelta::seconds(1));
    f.wallet.verify_payment_password(&user, &pw("135790")).unwrap();
    // A right password resets the count.
    f.wallet.verify_payment_password(&user, &pw("000000")).unwrap_err();
    f.wallet.verify_payment_password(&user, &pw("135790")).unwrap();
    assert_eq!(
        f.wallet.verify_payment_password(&user, &pw("000000")).unwrap_err(),
        WalletError::WrongPassword { remaining: 4 }
    );
}

#[test]
fn change_and_reset_password() {
    let f = fx();
    let user = f.verified_user(0);
    f.wallet.set_payment_password(&user, &pw("135790")).unwrap();
    assert!(f.wallet.change_payment_password(&user, &pw("000000"), &pw("246802")).is_err());
    f.wallet.change_payment_password(&user, &pw("135790"), &pw("246802")).unwrap();
    f.wallet.verify_payment_password(&user, &pw("246802")).unwrap();
    for _ in 0..5 {
        let _ = f.wallet.verify_payment_password(&user, &pw("000000"));
    }
    f.wallet.request_password_reset(&user).unwrap();
    let code = f.outbox.last_code(&person(0).2, OtpPurpose::PasswordReset).unwrap();
    f.wallet.reset_payment_password(&user, &code, &pw("975310")).unwrap();
    f.wallet.verify_payment_password(&user, &pw("975310")).unwrap();
}

#[test]
fn codes_expire_are_limited_single_use_and_throttled() {
    let f = fx();
    let user = f.verified_user(0);
    let mobile = person(0).2;
    f.wallet.send_otp(&user, OtpPurpose::Payment).unwrap();
    assert!(matches!(
        f.wallet.send_otp(&user, OtpPurpose::Payment).unwrap_err(),
        WalletError::OtpThrottled { .. }
    ));
    // Another purpose has its own code.
    f.wallet.send_otp(&user, OtpPurpose::CardLookup).unwrap();
    let code = f.outbox.last_code(&mobile, OtpPurpose::Payment).unwrap();
    assert_eq!(code.len(), 6);
    f.wallet.verify_otp(&user, OtpPurpose::Payment, &code).unwrap();
    assert_eq!(
        f.wallet.verify_otp(&user, OtpPurpose::Payment, &code).unwrap_err(),
        WalletError::OtpExpired,
        "single use"
    );

    f.clock.advance(TimeDelta::seconds(60));
    f.wallet.send_otp(&user, OtpPurpose::Payment).unwrap();
    let code = f.outbox.last_code(&mobile, OtpPurpose::Payment).unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        assert_eq!(
            f.wallet.verify_otp(&user, OtpPurpose::Payment, wrong).unwrap_err(),
            WalletError::OtpInvalid
        );
    }
    assert_eq!(
        f.wallet.verify_otp(&user, OtpPurpose::Payment, wrong).unwrap_err(),
        WalletError::OtpTooManyTries
    );
    assert_eq!(
        f.wallet.verify_otp(&user, OtpPurpose::Payment, &code).unwrap_err(),
        WalletError::OtpTooManyTries
    );

    f.clock.advance(TimeDelta::seconds(60));
    f.wallet.send_otp(&user, OtpPurpose::Payment).unwrap();
    let code = f.outbox.last_code(&mobile, OtpPurpose::Payment).unwrap();
    f.clock.advance(TimeDelta::minutes(5));
    assert_eq!(
        f.wallet.verify_otp(&user, OtpPurpose::Payment, &code).unwrap_err(),
        WalletError::OtpExpired
    );
}

#[test]
fn devices() {
    let f = fx();
    let user = f.verified_user(0);
    let phone = f.wallet.register_device(&user, "my phone").unwrap();
    let pad = f.wallet.register_device(&user, "tablet").unwrap();
    assert_eq!(f.wallet.devices(&user).unwrap().len(), 2);
    f.wallet.remove_device(&user, &phone).unwrap();
    assert_eq!(f.wallet.devices(&user).unwrap()[0].id, pad);
    assert_eq!(f.wallet.remove_device(&user, &phone).unwrap_err(), WalletError::DeviceNotFound);
}

fn terminal(f: &Fx) -> TerminalId {
    let id: TerminalId = "term_SN0001".parse().unwrap();
    let (name, rid, mobile) = person(2);
    f.wallet.send_terminal_mobile_code(&id, &mobile).unwrap();
    let code = f.outbox.last_code(&mobile, OtpPurpose::TerminalMobile).unwrap();
    assert!(
        f.wallet
            .register_terminal(id.clone(), name.clone(), rid.clone(), mobile.clone(), "000000x")
            .is_err()
    );
    f.wallet.register_terminal(id.clone(), name, rid, mobile, &code).unwrap();
    id
}

fn complete(f: &Fx, case: &cloudcard_core::CaseId) -> CaseState {
    f.wallet.process_terminal_unbind(case).unwrap();
    f.wallet.complete_terminal_unbind(case).unwrap().state
}

#[test]
fn pos_unbind_online_by_code_or_face() {
    for by_face in [false, true] {
        let f = fx();
        let id = terminal(&f);
        let case = f
            .wallet
            .request_terminal_unbind(
                &id,
                UnbindReason::NoLongerNeeded,
                UnbindChannel::Online,
                NotifyChannel::Sms,
            )
            .unwrap();
        assert_eq!(
            f.wallet
                .verify_terminal_unbind(
                    &case.id,
                    &UnbindEvidence::Hotline { agent: "a".into(), asked: 3, correct: 3 }
                )
                .unwrap_err(),
            WalletError::WrongEvidence
        );
        let evidence = if by_face {
            assert_eq!(
                f.wallet
                    .verify_terminal_unbind(
                        &case.id,
                        &UnbindEvidence::OnlineFace { sample: FaceSample("x".into()) }
                    )
                    .unwrap_err(),
                WalletError::VerificationFailed
            );
            UnbindEvidence::OnlineFace {
                sample: FaceSample(format!("face-of-{}", DEMO_PEOPLE[2].1)),
            }
        } else {
            assert_eq!(
                f.wallet
                    .verify_terminal_unbind(
                        &case.id,
                        &UnbindEvidence::OnlineOtp { code: String::from("x").into() }
                    )
                    .unwrap_err(),
                WalletError::OtpInvalid
            );
            UnbindEvidence::OnlineOtp {
                code: f.outbox.last_code(&person(2).2, OtpPurpose::TerminalUnbind).unwrap().into(),
            }
        };
        assert!(f.wallet.complete_terminal_unbind(&case.id).is_err(), "not before verification");
        f.wallet.verify_terminal_unbind(&case.id, &evidence).unwrap();
        assert_eq!(complete(&f, &case.id), CaseState::Completed);
        assert_eq!(f.notifier.sent().len(), 1);
        assert!(f.wallet.terminal(&id).unwrap().mobile.is_none());
        assert!(f.wallet.complete_terminal_unbind(&case.id).is_err());
        assert!(f.wallet.reject_terminal_unbind(&case.id).is_err(), "completed is terminal");
        assert_eq!(f.notifier.sent().len(), 1, "exactly one notification");
    }
}

#[test]
fn pos_unbind_by_hotline_and_at_the_counter() {
    let f = fx();
    let id = terminal(&f);
    let case = f
        .wallet
        .request_terminal_unbind(
            &id,
            UnbindReason::Security,
            UnbindChannel::Hotline,
            NotifyChannel::Call,
        )
        .unwrap();
    assert_eq!(
        f.wallet
            .verify_terminal_unbind(
                &case.id,
                &UnbindEvidence::OnlineOtp { code: String::from("1").into() }
            )
            .unwrap_err(),
        WalletError::WrongEvidence
    );
    let half = UnbindEvidence::Hotline { agent: "agent 7".into(), asked: 3, correct: 2 };
    assert_eq!(
        f.wallet.verify_terminal_unbind(&case.id, &half).unwrap_err(),
        WalletError::VerificationFailed
    );
    let good = UnbindEvidence::Hotline { agent: "agent 7".into(), asked: 3, correct: 3 };
    assert_eq!(
        f.wallet.verify_terminal_unbind(&case.id, &good).unwrap().verified_by.as_deref(),
        Some("hotline agent agent 7")
    );
    assert_eq!(complete(&f, &case.id), CaseState::Completed);
    assert_eq!(f.notifier.sent()[0].channel, NotifyChannel::Call);

    // A new mobile needs its own code.
    let new_mobile: PhoneNumber = "13600001111".parse().unwrap();
    assert!(f.wallet.bind_terminal_mobile(&id, new_mobile.clone(), "123456").is_err());
    f.wallet.send_terminal_mobile_code(&id, &new_mobile).unwrap();
    let code = f.outbox.last_code(&new_mobile, OtpPurpose::TerminalMobile).unwrap();
    f.wallet.bind_terminal_mobile(&id, new_mobile.clone(), &code).unwrap();
    assert_eq!(f.wallet.terminal(&id).unwrap().mobile, Some(new_mobile));

    let case = f
        .wallet
        .request_terminal_unbind(
            &id,
            UnbindReason::Other("closing shop".into()),
            UnbindChannel::BankCounter,
            NotifyChannel::Email,
        )
        .unwrap();
    let wrong_id = UnbindEvidence::BankCounter { branch: "Pudong".into(), id: person(0).1 };
    assert_eq!(
        f.wallet.verify_terminal_unbind(&case.id, &wrong_id).unwrap_err(),
        WalletError::VerificationFailed
    );
    let right = UnbindEvidence::BankCounter { branch: "Pudong".into(), id: person(2).1 };
    f.wallet.verify_terminal_unbind(&case.id, &right).unwrap();
    assert_eq!(complete(&f, &case.id), CaseState::Completed);
    assert_eq!(f.notifier.sent().len(), 2);
}

#[test]
fn pos_rejection_notifies_and_every_other_move_is_refused() {
    use crate::model::{CaseEvent, case_transition};
    let all = [CaseEvent::Verify, CaseEvent::Process, CaseEvent::Complete, CaseEvent::Reject];
    let legal = [
        (CaseState::Requested, CaseEvent::Verify),
        (CaseState::Verified, CaseEvent::Process),
        (CaseState::Processing, CaseEvent::Complete),
        (CaseState::Requested, CaseEvent::Reject),
        (CaseState::Verified, CaseEvent::Reject),
        (CaseState::Processing, CaseEvent::Reject),
    ];
    for state in [
        CaseState::Requested,
        CaseState::Verified,
        CaseState::Processing,
        CaseState::Completed,
        CaseState::Rejected,
    ] {
        for event in all {
            assert_eq!(
                case_transition(state, event).is_ok(),
                legal.contains(&(state, event)),
                "{state:?} {event:?}"
            );
        }
    }
    let f = fx();
    let id = terminal(&f);
    let case = f
        .wallet
        .request_terminal_unbind(
            &id,
            UnbindReason::OtherPaymentMethod,
            UnbindChannel::Hotline,
            NotifyChannel::Sms,
        )
        .unwrap();
    assert_eq!(f.wallet.reject_terminal_unbind(&case.id).unwrap().state, CaseState::Rejected);
    assert_eq!(f.notifier.sent().len(), 1);
    assert!(f.wallet.terminal(&id).unwrap().mobile.is_some(), "a rejection keeps the mobile");
}

#[test]
fn nothing_secret_prints() {
    let f = fx();
    let user = f.verified_user(0);
    f.wallet.set_payment_password(&user, &pw("135790")).unwrap();
    let bound = f.bind(&user, CMB_CREDIT, 0).unwrap();
    let _ = f.wallet.verify_payment_password(&user, &pw("135791"));
    f.wallet.send_otp(&user, OtpPurpose::Payment).unwrap();
    let mut printed = vec![
        format!("{bound:?}"),
        format!("{:?}", f.wallet),
        format!("{:?}", f.outbox.messages()),
        serde_json::to_string(&f.outbox.messages()).unwrap(),
        format!("{:?}", f.wallet.store().user(&user)),
        serde_json::to_string(&f.wallet.cards(&user).unwrap()).unwrap(),
        serde_json::to_string(&f.wallet.account(&user).unwrap()).unwrap(),
    ];
    let errors = [
        f.wallet.verify_payment_password(&user, &pw("135791")).unwrap_err(),
        f.wallet.begin_binding(&user, f.request(CMB_CREDIT, 0)).unwrap_err(),
        f.wallet.verify_otp(&user, OtpPurpose::Payment, "999999").unwrap_err(),
    ];
    printed.extend(errors.iter().map(|e| format!("{e} {e:?}")));
    let codes: Vec<String> =
        f.outbox.messages().iter().filter_map(|m| m.body.code().map(str::to_owned)).collect();
    for out in &printed {
        for secret in [
            CMB_CREDIT,
            "6225 7512 3456 7893",
            "135790",
            "135791",
            DEMO_PEOPLE[0].1,
            DEMO_PEOPLE[0].2,
            "张三",
        ] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        for code in &codes {
            assert!(!out.contains(code.as_str()), "code in {out}");
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Bind(usize),
    Unbind(usize),
    Default(usize),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn exactly_one_default_and_no_duplicate_cards(ops in prop::collection::vec(
        prop_oneof![(0usize..3).prop_map(Op::Bind), (0usize..3).prop_map(Op::Unbind), (0usize..3).prop_map(Op::Default)],
        1..20,
    )) {
        let f = fx();
        let user = f.verified_user(0);
        let pans = [ICBC, CCB, CMB_CREDIT];
        for op in ops {
            f.clock.advance(TimeDelta::seconds(61));
            let cards = f.wallet.cards(&user).unwrap();
            match op {
                Op::Bind(i) => {
                    let result = f.bind(&user, pans[i], 0);
                    let already = cards.iter().any(|c| c.masked == pans[i].parse::<Pan>().unwrap().masked());
                    prop_assert_eq!(result.is_err(), already);
                }
                Op::Unbind(i) => {
                    if let Some(card) = cards.get(i) {
                        f.unbind(&user, &card.id).unwrap();
                    }
                }
                Op::Default(i) => {
                    if let Some(card) = cards.get(i) {
                        f.wallet.set_default(&user, &card.id).unwrap();
                    }
                }
            }
            let cards = f.wallet.cards(&user).unwrap();
            let defaults = cards.iter().filter(|c| c.is_default).count();
            prop_assert_eq!(defaults, usize::from(!cards.is_empty()));
            let mut masks: Vec<&str> = cards.iter().map(|c| c.masked.as_str()).collect();
            masks.sort_unstable();
            masks.dedup();
            prop_assert_eq!(masks.len(), cards.len());
        }
    }
}

//! The wallet from an attacker's side of its public API: each test is one way in that is now
//! closed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use cloudcard_core::{ManualClock, PhoneNumber, UserId};
use cloudcard_masking::Secret;
use cloudcard_wallet::{
    Argon2Cost, BindRequest, DEMO_PEOPLE, InMemoryNotifier, InMemoryOutbox, InMemoryWalletStore,
    OtpPurpose, PeopleRegistry, SimulatedBankGateway, Wallet, WalletConfig, WalletError,
    WalletKeys, WalletPorts,
};

struct Fixture {
    wallet: Wallet,
    outbox: Arc<InMemoryOutbox>,
}

fn fixture() -> Fixture {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let outbox = Arc::new(InMemoryOutbox::new());
    let people = Arc::new(PeopleRegistry::new());
    for (name, id, _) in DEMO_PEOPLE {
        people.add(name.parse().unwrap(), id.parse().unwrap(), None);
    }
    let ports = WalletPorts {
        sms: outbox.clone(),
        identity: people.clone(),
        face: people,
        bank: Arc::new(SimulatedBankGateway::demo(outbox.clone())),
        notifier: Arc::new(InMemoryNotifier::new()),
    };
    let config = WalletConfig { argon2: Argon2Cost::TESTING, ..WalletConfig::default() };
    let wallet =
        Wallet::new(config, WalletKeys::random(), ports, InMemoryWalletStore::new(), clock);
    Fixture { wallet, outbox }
}

fn verified_user(f: &Fixture, person: usize) -> UserId {
    let (name, id, mobile) = DEMO_PEOPLE[person];
    let user = f.wallet.create_user(mobile.parse().unwrap()).unwrap();
    f.wallet.verify_real_name(&user, name.parse().unwrap(), id.parse().unwrap()).unwrap();
    user
}

#[test]
fn guessable_payment_passwords_are_refused() {
    let f = fixture();
    let user = verified_user(&f, 0); // ID 110102199101010078, mobile 13812345678
    for weak in ["111111", "123456", "654321", "345678", "910101", "010078"] {
        assert_eq!(
            f.wallet.set_payment_password(&user, &Secret::new(weak.into())),
            Err(WalletError::WeakPassword),
            "{weak} is guessable"
        );
    }
    f.wallet.set_payment_password(&user, &Secret::new("135790".into())).unwrap();
    let same = f.wallet.change_payment_password(
        &user,
        &Secret::new("135790".into()),
        &Secret::new("135790".into()),
    );
    assert_eq!(same, Err(WalletError::WeakPassword), "the previous password is refused");
}

#[test]
fn one_identity_holds_one_account() {
    let f = fixture();
    verified_user(&f, 0);
    let (name, id, _) = DEMO_PEOPLE[0];
    let second = f.wallet.create_user("13600000000".parse().unwrap()).unwrap();
    let again = f.wallet.verify_real_name(&second, name.parse().unwrap(), id.parse().unwrap());
    assert_eq!(again, Err(WalletError::IdentityTaken));
}

#[test]
fn a_binding_code_cannot_be_brute_forced() {
    let f = fixture();
    let user = verified_user(&f, 0);
    let mobile: PhoneNumber = DEMO_PEOPLE[0].2.parse().unwrap();
    let pending = f
        .wallet
        .begin_binding(
            &user,
            BindRequest {
                pan: "6222021234567890128".parse().unwrap(),
                expiry: None,
                cvn2: None,
                reserved_mobile: mobile.clone(),
            },
        )
        .unwrap();
    let right = f.outbox.last_code(&mobile, OtpPurpose::CardBinding).unwrap();
    let wrong = if right == "000000" { "000001" } else { "000000" };
    for _ in 0..4 {
        assert_eq!(
            f.wallet.confirm_binding(&user, &pending.binding, wrong).unwrap_err(),
            WalletError::OtpInvalid
        );
    }
    assert_eq!(
        f.wallet.confirm_binding(&user, &pending.binding, wrong).unwrap_err(),
        WalletError::OtpTooManyTries,
        "the fifth wrong code ends the binding"
    );
    assert_eq!(
        f.wallet.confirm_binding(&user, &pending.binding, &right).unwrap_err(),
        WalletError::BindingExpired,
        "and the right code no longer binds it"
    );
    assert!(f.wallet.cards(&user).unwrap().is_empty());
}

#[test]
fn codes_faces_and_tickets_never_print() {
    use cloudcard_wallet::{FaceSample, UnbindEvidence, UnbindTicket};
    let code = UnbindEvidence::OnlineOtp { code: String::from("482913").into() };
    let face = UnbindEvidence::OnlineFace { sample: FaceSample("face-template-77".into()) };
    let ticket = UnbindTicket {
        ticket: String::from("tk-secret-31337").into(),
        user: "usr_1".parse().unwrap(),
        card: "card_1".parse().unwrap(),
        expires_at: Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap(),
    };
    let binding = cloudcard_wallet::PendingBinding {
        id: "bind_1".parse().unwrap(),
        user: "usr_1".parse().unwrap(),
        pan: "6222021234567890128".parse().unwrap(),
        expiry: None,
        bank: cloudcard_core::Bank::Icbc,
        kind: cloudcard_core::CardKind::Debit,
        reserved_mobile: "13800138000".parse().unwrap(),
        session: String::from("bank-session-5150").into(),
        expires_at: Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap(),
        tries: 0,
        device: None,
    };
    let printed = format!(
        "{code:?} {face:?} {ticket:?} {binding:?} {:?}",
        FaceSample("face-template-77".into())
    );
    for secret in ["482913", "face-template-77", "tk-secret-31337", "bank-session-5150", "7890128"]
    {
        assert!(!printed.contains(secret), "{printed}");
    }
}

#[test]
fn a_mobile_gets_at_most_ten_codes_a_day() {
    let f = fixture();
    let user = verified_user(&f, 0);
    let mut sent = 0;
    let mut refused = None;
    for purpose in [OtpPurpose::CardLookup, OtpPurpose::PasswordReset] {
        for _ in 0..8 {
            // Distinct scopes sidestep the per-minute throttle, as an attacker would try.
            match f.wallet.send_otp_for(&user, purpose, &format!("scope-{sent}")) {
                Ok(()) => sent += 1,
                Err(e) => refused = Some(e),
            }
        }
    }
    assert_eq!(sent, 10);
    assert_eq!(refused, Some(WalletError::SmsDailyCap));
}

//! The wallet as the app's back end uses it, through the public API only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard_core::{ManualClock, PhoneNumber};
use cloudcard_masking::Secret;
use cloudcard_wallet::{
    Argon2Cost, BindRequest, DEMO_PEOPLE, InMemoryNotifier, InMemoryOutbox, InMemoryWalletStore,
    OtpPurpose, PeopleRegistry, SimulatedBankGateway, Wallet, WalletConfig, WalletError,
    WalletKeys, WalletPorts,
};

#[test]
fn a_user_binds_a_card_checks_the_password_and_unbinds() {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let outbox = Arc::new(InMemoryOutbox::new());
    let people = Arc::new(PeopleRegistry::new());
    let (name, id, mobile) = DEMO_PEOPLE[1];
    people.add(name.parse().unwrap(), id.parse().unwrap(), None);
    let ports = WalletPorts {
        sms: outbox.clone(),
        identity: people.clone(),
        face: people,
        bank: Arc::new(SimulatedBankGateway::demo(outbox.clone())),
        notifier: Arc::new(InMemoryNotifier::new()),
    };
    let config = WalletConfig { argon2: Argon2Cost::TESTING, ..WalletConfig::default() };
    let wallet =
        Wallet::new(config, WalletKeys::random(), ports, InMemoryWalletStore::new(), clock.clone());
    let mobile: PhoneNumber = mobile.parse().unwrap();

    let user = wallet.create_user(mobile.clone()).unwrap();
    let request = || BindRequest {
        pan: "6216611234567890126".parse().unwrap(),
        expiry: None,
        cvn2: None,
        reserved_mobile: mobile.clone(),
    };
    assert_eq!(
        wallet.begin_binding(&user, request()).unwrap_err(),
        WalletError::NotRealNameVerified
    );
    wallet.verify_real_name(&user, name.parse().unwrap(), id.parse().unwrap()).unwrap();
    let pending = wallet.begin_binding(&user, request()).unwrap();
    let code = outbox.last_code(&mobile, OtpPurpose::CardBinding).unwrap();
    let bound = wallet.confirm_binding(&user, &pending.binding, &code).unwrap();
    assert_eq!(bound.card.bank_name, "中国银行");

    wallet.set_payment_password(&user, &Secret::new("246810".into())).unwrap();
    assert!(wallet.verify_payment_password(&user, &Secret::new("246810".into())).is_ok());

    let prompt = wallet.request_unbind(&user, &bound.card.id).unwrap();
    clock.advance(TimeDelta::seconds(30));
    let removed =
        wallet.confirm_unbind(&user, &bound.card.id, prompt.ticket.expose_secret()).unwrap();
    assert_eq!(removed.card, bound.card.id);
    assert!(wallet.cards(&user).unwrap().is_empty());
    assert!(!wallet.store().mentions_card(&bound.card.id).unwrap());
    // Nothing printed along the way shows the card number or the mobile.
    let printed = format!("{bound:?} {prompt:?} {removed:?} {:?}", outbox.messages());
    assert!(!printed.contains("6216611234567890126") && !printed.contains(mobile.expose()));
}

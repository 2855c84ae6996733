//! A production builder never falls back to a simulator or to random keys.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use cloudcard::token::TokenKeys;
use cloudcard::wallet::{
    BankGateway, FaceVerifier, IdentityVerifier, InMemoryNotifier, InMemoryOutbox, Notifier,
    PeopleRegistry, SimulatedBankGateway, SmsGateway, WalletKeys,
};
use cloudcard::{CloudCard, Error, IssuerAuthorizer, SimulatedIssuer};

#[test]
fn a_production_builder_names_what_it_lacks() {
    let Err(Error::NotConfigured(missing)) = CloudCard::builder().build() else {
        panic!("a bare production builder does not build");
    };
    for port in ["token_keys", "wallet_keys", "sms", "identity", "face", "bank", "notifier"] {
        assert!(missing.contains(port), "{missing}");
    }
    assert!(missing.contains("issuer") && missing.contains("connectors"), "{missing}");
    assert_eq!(
        Error::NotConfigured(missing.clone()).to_string(),
        format!("service not configured; set: {missing}")
    );
}

#[test]
fn a_production_builder_with_everything_set_builds() {
    let sms = Arc::new(InMemoryOutbox::new());
    let people = Arc::new(PeopleRegistry::new());
    let built = CloudCard::builder()
        .token_keys(TokenKeys::random())
        .wallet_keys(WalletKeys::random())
        .sms(sms.clone() as Arc<dyn SmsGateway>)
        .identity(people.clone() as Arc<dyn IdentityVerifier>)
        .face(people as Arc<dyn FaceVerifier>)
        .bank(Arc::new(SimulatedBankGateway::demo(sms)) as Arc<dyn BankGateway>)
        .notifier(Arc::new(InMemoryNotifier::new()) as Arc<dyn Notifier>)
        .issuer(Arc::new(SimulatedIssuer::default()) as Arc<dyn IssuerAuthorizer>)
        .connectors(Vec::new())
        .build();
    let cc = built.unwrap();
    assert!(cc.outbox().is_none(), "no demo outbox: codes go through the SMS port");
}

#[test]
fn a_demo_builder_fills_in_simulators() {
    let cc = CloudCard::demo().build().unwrap();
    assert!(cc.outbox().is_some());
}

//! A production builder never falls back to a simulator or to random keys.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use cloudcard::core::MemoryKv;
use cloudcard::token::TokenKeys;
use cloudcard::wallet::{
    BankGateway, FaceVerifier, IdentityVerifier, InMemoryNotifier, InMemoryOutbox, Notifier,
    PeopleRegistry, SimulatedBankGateway, SmsGateway, WalletKeys,
};
use cloudcard::{CloudCard, Error, IssuerAuthorizer, SimulatedIssuer};

#[test]
fn a_production_builder_names_what_it_lacks() {
    // A production builder finishes only on a store with its keys (a builder without them
    // does not compile: see the `CloudCardBuilder` docs); the ports it still lacks are named.
    let kv = Arc::new(MemoryKv::new());
    let built = CloudCard::builder().build_on(kv, TokenKeys::random(), WalletKeys::random());
    let Err(Error::NotConfigured(missing)) = built else {
        panic!("a production builder without its ports does not build");
    };
    for port in ["sms", "identity", "face", "bank", "notifier"] {
        assert!(missing.contains(port), "{missing}");
    }
    assert!(!missing.contains("keys"), "the keys were given: {missing}");
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
        .sms(sms.clone() as Arc<dyn SmsGateway>)
        .identity(people.clone() as Arc<dyn IdentityVerifier>)
        .face(people as Arc<dyn FaceVerifier>)
        .bank(Arc::new(SimulatedBankGateway::demo(sms)) as Arc<dyn BankGateway>)
        .notifier(Arc::new(InMemoryNotifier::new()) as Arc<dyn Notifier>)
        .issuer(Arc::new(SimulatedIssuer::default()) as Arc<dyn IssuerAuthorizer>)
        .connectors(Vec::new())
        .build_on(Arc::new(MemoryKv::new()), TokenKeys::random(), WalletKeys::random());
    let cc = built.unwrap();
    assert!(cc.outbox().is_none(), "no demo outbox: codes go through the SMS port");
}

#[test]
fn a_demo_builder_fills_in_simulators() {
    let cc = CloudCard::demo().build().unwrap();
    assert!(cc.outbox().is_some());
}

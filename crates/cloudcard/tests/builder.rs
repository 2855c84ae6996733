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
    let (name, id, mobile) = cloudcard::demo::DEMO_PEOPLE[0];
    let resident: cloudcard::ResidentId = id.parse().unwrap();
    people.add(name.parse().unwrap(), resident.clone(), Some(cloudcard::demo::face_of(&resident)));
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
    // It verifies people with the identity port it was given, and no one else.
    let user = cc.register_user(mobile.parse().unwrap(), name.parse().unwrap(), resident);
    assert!(user.is_ok(), "{user:?}");
    let (name, id, mobile) = cloudcard::demo::DEMO_PEOPLE[1];
    let refused =
        cc.register_user(mobile.parse().unwrap(), name.parse().unwrap(), id.parse().unwrap());
    assert!(refused.is_err(), "not in that registry");
}

#[test]
fn a_demo_builder_fills_in_simulators() {
    let cc = CloudCard::demo().build().unwrap();
    let (name, id, mobile) = cloudcard::demo::DEMO_PEOPLE[0];
    let user = cc
        .register_user(mobile.parse().unwrap(), name.parse().unwrap(), id.parse().unwrap())
        .unwrap();
    assert!(cc.register_device(&user, "phone").is_ok(), "the demo people verify");
}

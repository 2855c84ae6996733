//! A provisioned cloud card and its next keys travel to the phone as serializable payloads;
//! the phone rebuilds its card from them and pays. The key never prints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use cloudcard::DeviceCard;
use cloudcard::token::{CardDelivery, KeyDelivery};
use support::{PANS, World, approved};

#[test]
fn a_cloud_card_and_its_keys_reach_the_phone_as_json_and_pay() {
    let w = World::new("delivery");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let bound = w.bind(&cc, &user, &phone, PANS[0], 0);

    // Server side: the payload, as the embedder sends it.
    let payload = bound.device_card.export_for_delivery();
    let printed = format!("{payload:?}");
    assert!(printed.contains("[REDACTED]"), "{printed}");
    let wire = serde_json::to_string(&payload).unwrap();
    let key_hex = serde_json::to_value(&payload).unwrap()["key"].as_str().unwrap().to_owned();
    assert_eq!(key_hex.len(), 64);
    assert!(!printed.contains(&key_hex), "the key never prints");
    drop(bound);

    // Phone side: the card rebuilt from the wire, paying.
    let received: CardDelivery = serde_json::from_str(&wire).unwrap();
    let mut card = DeviceCard::from_delivery(received);
    assert!(approved(&w.pay(&cc, &user, &phone, &mut card, 1_000)));

    // The next key, the same way.
    let grant = cc.replenish(&card.replenish_request()).unwrap();
    let wire = serde_json::to_string(&grant.export_for_delivery()).unwrap();
    let key: KeyDelivery = serde_json::from_str(&wire).unwrap();
    card.install_delivered(key).unwrap();
    assert_eq!(card.key_seq(), 2);
    assert!(approved(&w.pay(&cc, &user, &phone, &mut card, 1_000)));

    // A payload whose key was altered on the way makes cryptograms the cloud refuses.
    let mut tampered = serde_json::to_value(card.export_for_delivery()).unwrap();
    tampered["key"] = serde_json::Value::String("00".repeat(32));
    let mut forged = DeviceCard::from_delivery(serde_json::from_value(tampered).unwrap());
    assert!(w.pay(&cc, &user, &phone, &mut forged, 1_000).is_err());
    // A malformed key is refused without echoing it.
    let mut bad = serde_json::to_value(card.export_for_delivery()).unwrap();
    bad["key"] = serde_json::Value::String("zz".repeat(32));
    let err = serde_json::from_value::<CardDelivery>(bad).unwrap_err().to_string();
    assert!(!err.contains("zzzz"), "{err}");
}

//! A card already in the wallet goes to a second phone after a password check, without
//! binding it again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use cloudcard::{Error, Secret};
use support::{PANS, PASSWORD, World, approved, declined};

#[test]
fn a_bound_card_is_added_to_a_second_phone_after_a_password_check() {
    let w = World::new("second-phone");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let bound = w.bind(&cc, &user, &phone, PANS[0], 0);
    let mut first = bound.device_card;
    let tablet = cc.register_device(&user, "tablet").unwrap();
    let wrong = Secret::new("000000".to_owned());
    assert!(matches!(
        cc.add_card_to_phone(&user, &bound.card.id, &tablet, &wrong),
        Err(Error::Wallet(_))
    ));
    let password = Secret::new(PASSWORD.to_owned());
    let added = cc.add_card_to_phone(&user, &bound.card.id, &tablet, &password).unwrap();
    assert_eq!(added.card.id, bound.card.id, "the same wallet card");
    assert_ne!(added.token.id, bound.token.id, "its own cloud card");
    assert_eq!(cc.cards(&user).unwrap().len(), 1, "not bound twice");
    let mut second = added.device_card;
    assert!(approved(&w.pay(&cc, &user, &tablet, &mut second, 1_000)));
    assert!(approved(&w.pay(&cc, &user, &phone, &mut first, 1_000)));
    // Once per phone; another user's phone gets nothing.
    assert!(matches!(
        cc.add_card_to_phone(&user, &bound.card.id, &tablet, &password),
        Err(Error::Token(_))
    ));
    let (stranger, stranger_phone) = w.register(&cc, 1);
    assert!(matches!(
        cc.add_card_to_phone(&stranger, &bound.card.id, &stranger_phone, &password),
        Err(Error::CardNotFound)
    ));
    // The tablet lost: its cloud card stops, the phone's pays on.
    cc.report_lost_phone(&user, &tablet).unwrap();
    assert!(declined(&w.pay(&cc, &user, &tablet, &mut second, 1_000)));
    assert!(approved(&w.pay(&cc, &user, &phone, &mut first, 1_000)));
    assert!(matches!(
        cc.add_card_to_phone(&user, &bound.card.id, &tablet, &password),
        Err(Error::DeviceLost)
    ));
}

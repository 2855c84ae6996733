//! A lost phone is suspended first: found again, the user resumes it with the payment
//! password; confirmed lost, its cloud cards are deleted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use cloudcard::Secret;
use cloudcard::token::{Actor, TokenStatus};
use support::{PANS, PASSWORD, World, approved, declined};

#[test]
fn a_phone_found_again_is_resumed_after_a_password_check_and_pays() {
    let w = World::new("lost-resume");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let mut card = w.bind(&cc, &user, &phone, PANS[0], 0).device_card;
    assert!(approved(&w.pay(&cc, &user, &phone, &mut card, 1_000)));
    let lost = cc.report_lost_phone(&user, &phone).unwrap();
    assert_eq!(lost.cancelled_tokens.len(), 1);
    let tokens = cc.device_tokens(&user, &phone).unwrap();
    assert_eq!(tokens[0].status, TokenStatus::Suspended(Actor::LossReport));
    assert!(declined(&w.pay(&cc, &user, &phone, &mut card, 1_000)));

    // A restart in between; a wrong password resumes nothing.
    drop(cc);
    let cc = w.open();
    assert!(cc.resume_phone(&user, &phone, &Secret::new("000000".into())).is_err());
    assert!(declined(&w.pay(&cc, &user, &phone, &mut card, 1_000)));
    let resumed = cc.resume_phone(&user, &phone, &Secret::new(PASSWORD.into())).unwrap();
    assert_eq!(resumed, lost.cancelled_tokens);
    assert!(approved(&w.pay(&cc, &user, &phone, &mut card, 1_000)), "the phone pays again");
    // Another user cannot resume it.
    let (stranger, _) = w.register(&cc, 1);
    assert!(matches!(
        cc.resume_phone(&stranger, &phone, &Secret::new(PASSWORD.into())),
        Err(cloudcard::Error::DeviceNotFound)
    ));
}

#[test]
fn a_phone_confirmed_lost_has_its_cloud_cards_deleted_for_good() {
    let w = World::new("lost-confirm");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let mut card = w.bind(&cc, &user, &phone, PANS[0], 0).device_card;
    cc.report_lost_phone(&user, &phone).unwrap();
    let deleted = cc.confirm_phone_lost(&user, &phone).unwrap();
    assert_eq!(deleted.len(), 1);
    let tokens = cc.danger().tokens().tokens_of_device(&phone).unwrap();
    assert!(tokens.iter().all(|t| t.status == TokenStatus::Deleted));
    assert!(cc.devices(&user).unwrap().is_empty(), "the phone is gone from the account");
    assert!(cc.resume_phone(&user, &phone, &Secret::new(PASSWORD.into())).is_err());
    assert!(declined(&w.pay(&cc, &user, &phone, &mut card, 1_000)));
    // The card is still in the wallet; it can go to a new phone by binding again there.
    assert_eq!(cc.cards(&user).unwrap().len(), 1);
}

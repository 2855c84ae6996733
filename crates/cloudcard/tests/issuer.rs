//! The issuer's events on a card reach its cloud cards and the wallet's view of it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use cloudcard::token::{Actor, TokenStatus};
use cloudcard::{IssuerEvent, Pan};
use support::{PANS, World, approved, declined};

#[test]
fn suspend_resume_reissue_and_close_reach_the_cloud_card_and_the_wallet() {
    let w = World::new("issuer-events");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let bound = w.bind(&cc, &user, &phone, PANS[0], 0);
    let mut card = bound.device_card;
    let pan: Pan = PANS[0].parse().unwrap();

    let suspended = cc.issuer_event(&pan, IssuerEvent::Suspend).unwrap();
    assert_eq!(
        suspended.tokens,
        vec![(bound.token.id.clone(), TokenStatus::Suspended(Actor::Issuer))]
    );
    assert!(declined(&w.pay(&cc, &user, &phone, &mut card, 1_000)));
    let resumed = cc.issuer_event(&pan, IssuerEvent::Resume).unwrap();
    assert_eq!(resumed.tokens, vec![(bound.token.id.clone(), TokenStatus::Active)]);
    assert!(approved(&w.pay(&cc, &user, &phone, &mut card, 1_000)));

    // Reissued with a new number: the wallet shows it, and the phone's cloud card pays on.
    let new: Pan = "6222021234567890011".parse().unwrap();
    let reissued =
        cc.issuer_event(&pan, IssuerEvent::Reissue { pan: new.clone(), expiry: None }).unwrap();
    assert_eq!(reissued.cards.len(), 1);
    assert!(reissued.cards[0].masked.ends_with("0011"), "{}", reissued.cards[0].masked);
    assert!(cc.card(&user, &bound.card.id).unwrap().masked.ends_with("0011"));
    assert!(approved(&w.pay(&cc, &user, &phone, &mut card, 1_000)));
    assert!(cc.issuer_event(&pan, IssuerEvent::Suspend).unwrap().tokens.is_empty(), "old number");

    // Closed: the cloud card is deleted and the card leaves the wallet.
    let closed = cc.issuer_event(&new, IssuerEvent::Close).unwrap();
    assert_eq!(closed.tokens, vec![(bound.token.id.clone(), TokenStatus::Deleted)]);
    assert!(cc.cards(&user).unwrap().is_empty());
    assert!(declined(&w.pay(&cc, &user, &phone, &mut card, 1_000)));
}

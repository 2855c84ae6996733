//! The token service from an attacker's side of its public API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

mod common;

use cloudcard_core::DeviceId;
use cloudcard_token::{ProvisionRequest, ReplenishRequest, TokenError};
use common::{pay, phone, service};

/// Someone who knows a token's ids (they are in every `TokenInfo`) but not its key.
fn guess(token: &cloudcard_core::TokenId, key_seq: u32, count: u32) -> ReplenishRequest {
    ReplenishRequest {
        token: token.clone(),
        device: phone(),
        key_seq,
        transactions_under_key: count,
        nonce: [7; 16],
        mac: [0; 32],
    }
}

#[test]
fn key_replenishment_needs_the_current_key() {
    let (clock, tokens) = service();
    let p = tokens
        .provision(ProvisionRequest::new("6250946000000016".parse().unwrap(), phone()))
        .unwrap();
    // Guessing the count, as an attacker with the ids would, gets no key.
    for count in 0..4 {
        assert_eq!(
            tokens.replenish(&guess(&p.token.id, 1, count)).unwrap_err(),
            TokenError::ReplenishInvalid
        );
    }
    // The owner's phone still replenishes: four failures do not lock it.
    let mut card = p.device_card;
    card.install(tokens.replenish(&card.replenish_request()).unwrap()).unwrap();
    tokens.verify(&phone(), &card.cryptogram(pay(&clock, 100)).unwrap()).unwrap();
}

#[test]
fn five_invalid_requests_lock_replenishment() {
    let (_, tokens) = service();
    let p = tokens
        .provision(ProvisionRequest::new("6250946000000016".parse().unwrap(), phone()))
        .unwrap();
    for count in 0..5 {
        assert_eq!(
            tokens.replenish(&guess(&p.token.id, 1, count)).unwrap_err(),
            TokenError::ReplenishInvalid
        );
    }
    assert_eq!(
        tokens.replenish(&p.device_card.replenish_request()).unwrap_err(),
        TokenError::ReplenishLocked
    );
}

#[test]
fn cryptograms_made_but_never_presented_do_not_block_the_phone() {
    let (clock, tokens) = service();
    let p = tokens
        .provision(ProvisionRequest::new("6250946000000016".parse().unwrap(), phone()))
        .unwrap();
    let mut card = p.device_card;
    // Three cryptograms made for payments that never reached the cloud.
    for _ in 0..3 {
        card.cryptogram(pay(&clock, 100)).unwrap();
    }
    card.install(tokens.replenish(&card.replenish_request()).unwrap()).unwrap();
    tokens.verify(&phone(), &card.cryptogram(pay(&clock, 100)).unwrap()).unwrap();
}

#[test]
fn a_forged_cryptogram_learns_nothing_from_the_refusal() {
    use cloudcard_token::{Actor, Rejection, TokenEvent};
    let (clock, tokens) = service();
    let p = tokens
        .provision(ProvisionRequest::new("6250946000000016".parse().unwrap(), phone()))
        .unwrap();
    let mut card = p.device_card;
    let mut forged = card.cryptogram(pay(&clock, 100)).unwrap();
    forged.mac = [0x42; cloudcard_token::CRYPTOGRAM_LEN];
    let other: DeviceId = "dev_other".parse().unwrap();
    // Wrong device, then a suspended token: the forgery still reads only "bad MAC".
    assert_eq!(tokens.verify(&other, &forged).unwrap_err().rejection(), Some(Rejection::BadMac));
    tokens.apply(&p.token.id, TokenEvent::Suspend(Actor::User)).unwrap();
    assert_eq!(tokens.verify(&phone(), &forged).unwrap_err().rejection(), Some(Rejection::BadMac));
    // A genuine cryptogram is told why.
    let genuine = card.cryptogram(pay(&clock, 100)).unwrap();
    assert_eq!(
        tokens.verify(&phone(), &genuine).unwrap_err().rejection(),
        Some(Rejection::NotActive)
    );
}

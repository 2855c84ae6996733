//! The token service as an embedding wallet uses it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

mod common;

use cloudcard_core::{IssuerTable, Pan};
use cloudcard_token::{
    Actor, Cryptogram, ProvisionRequest, Provisioned, Rejection, TokenBin, TokenError, TokenEvent,
    TokenStatus,
};
use common::{pay, phone, service};

const PAN: &str = "6250946000000016";

#[test]
fn cryptogram_travels_as_json() {
    let (clock, tokens) = service();
    let pan: Pan = PAN.parse().unwrap();
    let Provisioned { mut device_card, .. } =
        tokens.provision(ProvisionRequest::new(pan.clone(), phone())).unwrap();
    let sent = serde_json::to_string(&device_card.cryptogram(pay(&clock, 2_300)).unwrap()).unwrap();
    assert!(!sent.contains(PAN));
    let received: Cryptogram = serde_json::from_str(&sent).unwrap();
    let verified = tokens.verify(&phone(), &received).unwrap();
    assert_eq!(tokens.detokenize(verified).unwrap().pan, pan);
}

#[test]
fn lost_phone_cancels_its_cloud_cards() {
    let (clock, tokens) = service();
    let mut card =
        tokens.provision(ProvisionRequest::new(PAN.parse().unwrap(), phone())).unwrap().device_card;
    let outcome = tokens.apply_to_device(&phone(), TokenEvent::Delete(Actor::LossReport)).unwrap();
    assert_eq!(outcome.changed.len(), 1);
    let c = card.cryptogram(pay(&clock, 100)).unwrap();
    let err = tokens.verify(&phone(), &c).unwrap_err();
    assert_eq!(err.to_string(), "cryptogram invalid");
    assert_eq!(err.rejection(), Some(Rejection::NotActive));
    // Deleted means crypto-shredded: no index leads to it, and its record no longer holds the
    // sealed card number or the fingerprint.
    assert!(tokens.tokens_of_device(&phone()).unwrap().is_empty());
    let record =
        cloudcard_token::TokenStore::get(tokens.store(), &outcome.changed[0]).unwrap().unwrap();
    assert_eq!(record.status, TokenStatus::Deleted);
    assert!(record.sealed_pan.ciphertext.is_empty());
    assert_eq!(record.fingerprint, cloudcard_token::Fingerprint([0; 32]));
    assert!(tokens.tokens_of_card(&PAN.parse().unwrap()).unwrap().is_empty());
    assert_eq!(tokens.replenish(&card.replenish_request()).unwrap_err(), TokenError::NotActive);
}

#[test]
fn public_views_hold_no_pan() {
    let (_, tokens) = service();
    let p = tokens.provision(ProvisionRequest::new(PAN.parse().unwrap(), phone())).unwrap();
    let json = serde_json::to_string(&p.token).unwrap();
    let debug = format!("{p:?}");
    for out in [json, debug] {
        assert!(!out.contains(PAN), "{out}");
        assert!(!out.contains("6250 9460 0000 0016"), "{out}");
    }
}

#[test]
fn token_bin_must_not_overlap_issuers() {
    // 622202 is an ICBC BIN in the built-in table.
    assert_eq!(
        TokenBin::new("622202", IssuerTable::builtin()).unwrap_err(),
        TokenError::BinRangeOverlap
    );
}

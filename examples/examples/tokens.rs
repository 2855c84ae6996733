//! Cloud-card tokens on their own: provision a token for a phone, pay with cryptograms, see a
//! replay and a tampered cryptogram refused, replenish the limited-use key, rotate the vault's
//! data key and re-wrap, and suspend the token.
//!
//! Run it with `cargo run --example tokens`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use cloudcard::core::{Clock, IssuerTable, ManualClock};
use cloudcard::masking::Secret;
use cloudcard::token::{
    Actor, Channel, InMemoryTokenStore, KeyVersion, PaymentData, ProvisionRequest, TokenBin,
    TokenConfig, TokenEvent, TokenKeys, TokenService,
};
use cloudcard::{Amount, Currency};

fn main() -> Result<(), cloudcard::token::TokenError> {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let config = TokenConfig::new(TokenBin::new("990001", IssuerTable::builtin())?);
    println!(
        "token range {} checked against {} issuer BINs",
        config.token_bin.prefix(),
        IssuerTable::builtin().len()
    );
    let tokens =
        TokenService::new(config, TokenKeys::random(), InMemoryTokenStore::new(), clock.clone());

    let phone = "dev_phone".parse().unwrap();
    let provisioned =
        tokens.provision(ProvisionRequest::new("6222021234567890128".parse().unwrap(), phone))?;
    let token = provisioned.token;
    let mut card = provisioned.device_card;
    println!("card 6222 **** **** *** 0128 -> token {} (PAR {})", token.number, token.par);

    let pay = |card: &mut cloudcard::token::DeviceCard, fen| {
        card.cryptogram(PaymentData {
            amount: Amount::from_fen(fen),
            currency: Currency::CNY,
            merchant: "mch_tea".parse().unwrap(),
            channel: Channel::Qr,
            unpredictable_number: 0xC0FFEE,
            timestamp: clock.now(),
            cvm: Default::default(),
        })
    };
    let phone = "dev_phone".parse().unwrap();
    let c = pay(&mut card, 1_800)?;
    let verified = tokens.verify(&phone, &c)?;
    println!(
        "ATC {} verified; the issuer sees {}",
        verified.atc(),
        tokens.detokenize(verified)?.pan
    );
    let replay = tokens.verify(&phone, &c).unwrap_err();
    println!("replayed: {replay} (diagnostic: {:?})", replay.rejection().unwrap());
    let mut tampered = pay(&mut card, 1_800)?;
    tampered.data.amount = Amount::from_fen(180_000);
    let err = tokens.verify(&phone, &tampered).unwrap_err();
    println!("amount changed in transit: {err} (diagnostic: {:?})", err.rejection().unwrap());

    // The phone made two cryptograms, the cloud counted one (the tampered copy never verified):
    // the phone's own MAC-authenticated request resynchronizes within the allowed gap.
    card.install(tokens.replenish(&card.replenish_request())?)?;
    println!("replenished: now on key sequence {}", card.key_seq());

    tokens.add_data_key(KeyVersion(2), &Secret::new([7; 32]))?;
    let rewrap = tokens.rewrap()?;
    println!(
        "rotated the data key; re-wrapped {} record(s), {} already current, {} failed",
        rewrap.rewrapped, rewrap.current, rewrap.failed
    );
    tokens.retire_data_key(KeyVersion(1))?;
    let verified = tokens.verify(&phone, &pay(&mut card, 500)?)?;
    println!("after rotation the PAN still opens: {}", tokens.detokenize(verified)?.pan);

    tokens.apply(&token.id, TokenEvent::Suspend(Actor::Issuer))?;
    let err = tokens.verify(&phone, &pay(&mut card, 500)?).unwrap_err();
    println!(
        "suspended by the issuer: {err}; the user cannot resume it: {}",
        tokens.apply(&token.id, TokenEvent::Resume(Actor::User)).unwrap_err()
    );
    Ok(())
}

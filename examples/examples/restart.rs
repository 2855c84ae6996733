//! A service that survives restarts: bind a card and pay, close the service, open the same file
//! and pay again; report the card lost, close and open again, and the next payment is declined.
//! Everything lives in one SQLite file (sealed at rest) in a temporary directory, opened with the
//! key-encryption key in a key file beside it.
//!
//! Run it with `cargo run --example restart`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::path::Path;

use cloudcard::core::{Clock, PhoneNumber};
use cloudcard::demo::DEMO_PEOPLE;
use cloudcard::sqlite::KeyFile;
use cloudcard::token::{Channel, DeviceCard, PaymentData};
use cloudcard::wallet::OtpPurpose;
use cloudcard::{
    Amount, BindRequest, CloudCard, Currency, DeviceId, Mcc, PaymentOutcome, PaymentRequest, UserId,
};

fn main() -> Result<(), cloudcard::Error> {
    let dir = std::env::temp_dir().join(format!("cloudcard-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(cloudcard::StoreError::backend)?;
    let db = dir.join("cloudcard.db");
    let keys = KeyFile::new(dir.join("kek"));
    println!("records in {}", db.display());

    println!("\nfirst run: register, bind, pay");
    // The demo's SMS land in memory, where this program reads the binding code.
    let outbox = std::sync::Arc::new(cloudcard::wallet::InMemoryOutbox::new());
    let cc = CloudCard::demo()
        .sms(outbox.clone() as std::sync::Arc<dyn cloudcard::wallet::SmsGateway>)
        .open(&db, &keys)?;
    let (name, id, mobile) = DEMO_PEOPLE[0];
    let mobile: PhoneNumber = mobile.parse()?;
    let user = cc.register_user(mobile.clone(), name.parse()?, id.parse()?)?;
    let phone = cc.register_device(&user, "phone")?;
    let pending = cc.bind_card(
        &user,
        &phone,
        BindRequest {
            pan: "6222021234567890128".parse()?,
            expiry: None,
            cvn2: None,
            reserved_mobile: mobile.clone(),
        },
    )?;
    let code = outbox.last_code(&mobile, OtpPurpose::CardBinding);
    let bound = cc.confirm_card(&user, &phone, &pending.binding, &code.unwrap_or_default())?;
    println!("   bound {} as cloud card {}", bound.card.masked, bound.token.number);
    let card_id = bound.card.id.clone();
    let mut device_card = bound.device_card;
    pay(&cc, &user, &phone, &mut device_card, 2_500)?;
    drop(cc);

    println!("\nsecond run: the same file, the card still pays; then it is reported lost");
    let cc = reopen(&db, &keys)?;
    pay(&cc, &user, &phone, &mut device_card, 1_800)?;
    let lost = cc.report_lost_card(&user, &card_id)?;
    println!(
        "   card reported lost: {} cloud card(s) cancelled, {} payment(s) under 72-hour protection",
        lost.cancelled_tokens.len(),
        lost.claim.map_or(0, |c| c.transactions.len())
    );
    drop(cc);

    println!("\nthird run: the loss is remembered");
    let cc = reopen(&db, &keys)?;
    pay(&cc, &user, &phone, &mut device_card, 1_800)?;
    drop(cc);
    std::fs::remove_dir_all(&dir).map_err(cloudcard::StoreError::backend)?;
    println!("\n(removed {})", dir.display());
    Ok(())
}

fn reopen(db: &Path, keys: &KeyFile) -> Result<CloudCard, cloudcard::Error> {
    let cc = CloudCard::demo().open(db, keys)?;
    println!("   reopened {}", db.display());
    Ok(cc)
}

fn pay(
    cc: &CloudCard,
    user: &UserId,
    phone: &DeviceId,
    card: &mut DeviceCard,
    fen: u64,
) -> Result<(), cloudcard::Error> {
    let data = PaymentData {
        amount: Amount::from_fen(fen),
        currency: Currency::CNY,
        merchant: "mch_1".parse()?,
        channel: Channel::Nfc,
        unpredictable_number: 1,
        timestamp: cc.clock().now(),
        cvm: cloudcard::token::Cvm::None,
    };
    let request = PaymentRequest {
        user: user.clone(),
        device: phone.clone(),
        cryptogram: card.cryptogram(data)?,
        mcc: Mcc(5462),
        transaction: cloudcard::TransactionId::random(),
    };
    let amount = Amount::from_fen(fen);
    match cc.pay(&request) {
        Ok(PaymentOutcome::Approved { auth_code, .. }) => {
            println!("   paid ¥{amount}: approved, authorization code {auth_code}");
        }
        Ok(PaymentOutcome::Declined { .. }) | Err(_) => {
            println!("   paid ¥{amount}: declined");
        }
        Ok(PaymentOutcome::ChallengeRequired { .. }) => {
            println!("   paid ¥{amount}: step-up needed")
        }
        Ok(PaymentOutcome::HeldForReview { .. }) => println!("   paid ¥{amount}: held for review"),
    }
    Ok(())
}

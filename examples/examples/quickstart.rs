//! The whole cloudcard journey, step by step: a user registers, binds cards to a phone, pays with
//! cloud cards (stepping up when risk asks), loses the phone and a card, unbinds a card, runs the
//! one-click card lookup, and a merchant unbinds a POS terminal's mobile. Every card number,
//! mobile and ID prints masked. Time runs on a manual clock, so days pass in an instant.
//!
//! Everything is kept in a SQLite file (sealed at rest) in a fresh temporary directory, with
//! its key-encryption key in a key file beside it; the program prints where.
//!
//! Run it with `cargo run --example quickstart`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard::core::{Clock, ManualClock, PhoneNumber};
use cloudcard::demo::{DEMO_PEOPLE, face_of};
use cloudcard::report::Region;
use cloudcard::risk::ClaimEvent;
use cloudcard::token::{Channel, Cvm, DeviceCard, PaymentData};
use cloudcard::wallet::{
    InMemoryNotifier, InMemoryOutbox, Notifier, NotifyChannel, OtpPurpose, SmsGateway,
    UnbindChannel, UnbindEvidence, UnbindReason,
};
use cloudcard::{
    Amount, BindRequest, CloudCard, Currency, Mcc, PaymentOutcome, PaymentRequest, Secret, StepUp,
};

fn main() -> Result<(), cloudcard::Error> {
    // 10:00 Beijing time, 23 November 2026.
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let dir = std::env::temp_dir().join(format!(
        "cloudcard-quickstart-{}-{}",
        std::process::id(),
        Utc::now().timestamp_millis()
    ));
    std::fs::create_dir_all(&dir).map_err(cloudcard::StoreError::backend)?;
    let keys = cloudcard::sqlite::KeyFile::new(dir.join("kek"));
    // The demo's SMS and notifications land in memory, where this program reads them.
    let outbox = Arc::new(InMemoryOutbox::new());
    let notifier = Arc::new(InMemoryNotifier::new());
    let cc = CloudCard::demo()
        .clock(clock.clone())
        .sms(outbox.clone() as Arc<dyn SmsGateway>)
        .notifier(notifier.clone() as Arc<dyn Notifier>)
        .open(dir.join("cloudcard.db"), &keys)?;
    println!("records: {} (key file beside it; delete the folder when done)", dir.display());
    let code = |mobile: &PhoneNumber, purpose| outbox.last_code(mobile, purpose).unwrap();

    step("1. Register and verify a user (real name + resident ID)");
    let (name, id, mobile) = DEMO_PEOPLE[0];
    let mobile: PhoneNumber = mobile.parse()?;
    let id: cloudcard::ResidentId = id.parse()?;
    let user = cc.register_user(mobile.clone(), name.parse()?, id.clone())?;
    cc.set_payment_password(&user, &Secret::new("135790".into()))?;
    let account = cc.account(&user)?;
    println!(
        "   user {user}: {}, mobile {}, real name verified: {}",
        account.name.as_deref().unwrap_or("(no name)"),
        account.mobile,
        if account.real_name_verified { "yes" } else { "no" }
    );
    let phone = cc.register_device(&user, "Zhang San's phone")?;
    println!("   phone {phone} registered");

    step("2. Bind two cards to the phone: the bank checks four elements and texts a code");
    let icbc = bind(&cc, &outbox, &user, &phone, "6222021234567890128", None, &mobile)?;
    let cmb =
        bind(&cc, &outbox, &user, &phone, "6225751234567893", Some(("08/29", "738")), &mobile)?;
    for c in cc.cards(&user)? {
        println!("   {} {} {} default={}", c.bank_name, c.masked, c.kind, c.is_default);
    }

    step("3. Pay with the ICBC cloud card (a small contactless payment, no verification)");
    let (mut icbc_card, icbc_id) = icbc;
    let small = pay(&cc, &clock, &user, &phone, &mut icbc_card, 3_500, Cvm::None)?;
    show(&small);
    let passcode = pay(&cc, &clock, &user, &phone, &mut icbc_card, 8_800, Cvm::DevicePasscode)?;
    show(&passcode);

    step("4. ¥1,200.00 with no verification: risk asks for the fingerprint");
    let big = pay(&cc, &clock, &user, &phone, &mut icbc_card, 120_000, Cvm::None)?;
    show(&big);
    if let PaymentOutcome::ChallengeRequired { challenge, .. } = &big {
        // The phone checks the fingerprint and makes a new cryptogram for the same payment,
        // the biometric check under its MAC.
        let cryptogram = icbc_card
            .cryptogram(payment_data(&clock, 120_000, Cvm::Biometric)?)
            .map_err(cloudcard::Error::from)?;
        show(&cc.step_up(&user, challenge, StepUp::Fingerprint { cryptogram })?);
    }

    step("5. Two days later, 01:30 at night, ¥6,000.00: risk asks for the payment password");
    clock.set(Utc.with_ymd_and_hms(2026, 11, 24, 17, 30, 0).unwrap()); // 01:30 on 25 November, Beijing
    let (mut cmb_card, _) = cmb;
    let night = pay(&cc, &clock, &user, &phone, &mut cmb_card, 600_000, Cvm::Biometric)?;
    show(&night);
    if let PaymentOutcome::ChallengeRequired { challenge, .. } = &night {
        show(&cc.step_up(
            &user,
            challenge,
            StepUp::PaymentPassword { password: Secret::new("135790".into()) },
        )?);
    }

    step(
        "6. The phone is lost: its cloud cards are suspended and 72-hour protection opens a claim",
    );
    clock.advance(TimeDelta::hours(3));
    let lost = cc.report_lost_phone(&user, &phone)?;
    println!("   suspended {} cloud cards", lost.cancelled_tokens.len());
    for a in &lost.assessments {
        let verdict = a.ineligible.map_or("covered".to_owned(), |why| why.to_string());
        let at = a.transaction.at.with_timezone(&cloudcard::core::BEIJING);
        println!(
            "   {} ¥{} by {}: {verdict}",
            at.format("%m-%d %H:%M"),
            a.transaction.amount,
            a.transaction.auth
        );
    }
    let claim = lost.claim.expect("unverified payments are covered");
    println!("   claim for ¥{} ({} transactions)", claim.eligible_amount, claim.transactions.len());
    for event in [ClaimEvent::Assess, ClaimEvent::AdvancePay, ClaimEvent::Settle] {
        println!("   claim is now {}", cc.advance_claim(&claim.id, event)?.state);
    }
    let after = pay(&cc, &clock, &user, &phone, &mut icbc_card, 100, Cvm::None)?;
    println!("   a payment from the lost phone: {after}");
    let deleted = cc.confirm_phone_lost(&user, &phone)?;
    println!("   confirmed lost: {} cloud cards deleted, the phone removed", deleted.len());

    step("7. A new phone; then the CCB card is lost");
    let phone2 = cc.register_device(&user, "new phone")?;
    let (mut ccb_card, ccb_id) =
        bind(&cc, &outbox, &user, &phone2, "6217001234567890122", None, &mobile)?;
    show(&pay(&cc, &clock, &user, &phone2, &mut ccb_card, 2_000, Cvm::None)?);
    let lost_card = cc.report_lost_card(&user, &ccb_id)?;
    println!(
        "   deleted {} token(s); {}",
        lost_card.cancelled_tokens.len(),
        lost_card
            .claim
            .map_or("no claim".to_owned(), |c| format!("a claim for ¥{}", c.eligible_amount))
    );

    step("8. Unbind the ICBC card (two steps)");
    let prompt = cc.request_unbind(&user, &icbc_id)?;
    let until = prompt.expires_at.with_timezone(&cloudcard::core::BEIJING);
    println!("   Remove {}? (confirm before {})", prompt.masked, until.format("%H:%M:%S"));
    let removed = cc.confirm_unbind(&user, &icbc_id, prompt.ticket.expose_secret())?;
    println!(
        "   removed {}; tokens deleted now: {} (its cloud card went with the lost phone)",
        removed.removed.masked,
        removed.deleted_tokens.len()
    );

    step("9. One-click card lookup (一键查卡) across the 16 national banks");
    let banks = cloudcard::Bank::NATIONAL.into_iter().collect();
    let query = cc.start_lookup(&user, Region::SHANGHAI, banks, "req_lookup_1".parse()?)?;
    cc.send_lookup_code(&user)?;
    let sms = code(&mobile, OtpPurpose::CardLookup);
    cc.authorize_lookup(&user, &query, cc.lookup_agreement_version(), &face_of(&id), &sms)?;
    let ready = cc.process_lookups()?;
    println!("   reports ready: {}", ready.len());
    let report = cc.view_report(&user, &query, &Secret::new("135790".into()))?;
    println!("   totals: {} debit, {} credit", report.totals.debit, report.totals.credit);
    for card in &report.details {
        println!("   {} {} {}", card.bank_name, card.masked_number, card.kind);
    }
    clock.advance(TimeDelta::days(7));
    println!("   a week later, reports purged: {}", cc.purge_reports()?);
    println!(
        "   viewing now: {}",
        cc.view_report(&user, &query, &Secret::new("135790".into())).unwrap_err()
    );

    step("10. A merchant unbinds the mobile of a POS terminal, online");
    let (m_name, m_id, m_mobile) = DEMO_PEOPLE[2];
    let m_mobile: PhoneNumber = m_mobile.parse()?;
    let terminal = "term_SN20261123".parse()?;
    cc.send_terminal_mobile_code(&terminal, &m_mobile)?;
    let c = code(&m_mobile, OtpPurpose::TerminalMobile);
    cc.register_terminal(terminal.clone(), m_name.parse()?, m_id.parse()?, m_mobile.clone(), &c)?;
    let case = cc.request_terminal_unbind(
        &terminal,
        UnbindReason::NoLongerNeeded,
        UnbindChannel::Online,
        NotifyChannel::Sms,
    )?;
    let c = code(&m_mobile, OtpPurpose::TerminalUnbind);
    let done =
        cc.complete_terminal_unbind(&case.id, &UnbindEvidence::OnlineOtp { code: c.into() })?;
    println!(
        "   case {}; notified: {}",
        done.state,
        notifier
            .sent()
            .last()
            .map_or("nobody".to_owned(), |n| format!("{} by {}", n.to, n.channel))
    );

    step("Done. Every SMS sent, as the log shows them:");
    for m in outbox.messages() {
        println!("   {}", serde_json::to_string(&m).unwrap());
    }
    Ok(())
}

fn step(title: &str) {
    println!("\n{title}");
}

fn bind(
    cc: &CloudCard,
    outbox: &InMemoryOutbox,
    user: &cloudcard::UserId,
    phone: &cloudcard::DeviceId,
    pan: &str,
    credit: Option<(&str, &str)>,
    mobile: &PhoneNumber,
) -> Result<(DeviceCard, cloudcard::CardId), cloudcard::Error> {
    let request = BindRequest {
        pan: pan.parse()?,
        expiry: credit.map(|(e, _)| e.parse()).transpose()?,
        cvn2: credit.map(|(_, c)| Secret::new(c.to_owned())),
        reserved_mobile: mobile.clone(),
    };
    let pending = cc.bind_card(user, phone, request)?;
    let code = outbox.last_code(mobile, OtpPurpose::CardBinding).unwrap();
    let bound = cc.confirm_card(user, phone, &pending.binding, &code)?;
    println!(
        "   bound {} ({}) as cloud card {}",
        bound.card.masked, bound.card.bank_name, bound.token.number
    );
    Ok((bound.device_card, bound.card.id))
}

fn pay(
    cc: &CloudCard,
    clock: &ManualClock,
    user: &cloudcard::UserId,
    phone: &cloudcard::DeviceId,
    card: &mut DeviceCard,
    fen: u64,
    cvm: Cvm,
) -> Result<PaymentOutcome, cloudcard::Error> {
    clock.advance(TimeDelta::minutes(1));
    let cryptogram =
        card.cryptogram(payment_data(clock, fen, cvm)?).map_err(cloudcard::Error::from)?;
    cc.pay(&PaymentRequest {
        user: user.clone(),
        device: phone.clone(),
        cryptogram,
        mcc: Mcc(5462),
        transaction: cloudcard::TransactionId::random(),
    })
}

/// A payment at the bakery, with how the phone verified its holder.
fn payment_data(clock: &ManualClock, fen: u64, cvm: Cvm) -> Result<PaymentData, cloudcard::Error> {
    Ok(PaymentData {
        amount: Amount::from_fen(fen),
        currency: Currency::CNY,
        merchant: "mch_bakery".parse()?,
        channel: Channel::Nfc,
        unpredictable_number: 0x5eed,
        timestamp: clock.now(),
        cvm,
    })
}

fn show(outcome: &PaymentOutcome) {
    println!("   {outcome}");
}

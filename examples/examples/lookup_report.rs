//! The one-click card lookup (一键查卡) on its own: a user at five banks, one bank slow, one
//! silent, one retrying; the report at the 24-hour mark; viewing with the payment password;
//! expiry at the Beijing midnight that ends the 7th natural day.
//!
//! Run it with `cargo run --example lookup_report`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard::Secret;
use cloudcard::core::UserId;
use cloudcard::core::{BEIJING, Bank, CardKind};
use cloudcard::report::{
    Applicant, Application, Behaviour, Consent, Dispatcher, FoundCard, IdDocument, IdentityBook,
    InMemoryLookupStore, LookupConfig, LookupConnector, LookupError, LookupService, Region,
    RequestChannel, SimulatedBank, UsageStatus, Verifier,
};

/// The wallet's checks, as this example stands them in (the facade wires the real wallet).
#[derive(Debug)]
struct Wallet;

impl Verifier for Wallet {
    fn face(&self, _: &UserId, sample: &Secret<String>) -> Result<bool, LookupError> {
        Ok(sample.expose_secret() == "live face of Li Si")
    }
    fn code(&self, _: &UserId, code: &Secret<String>) -> Result<bool, LookupError> {
        Ok(code.expose_secret() == "271828")
    }
    fn password(&self, _: &UserId, password: &Secret<String>) -> Result<bool, LookupError> {
        Ok(password.expose_secret() == "135790")
    }
}

fn main() -> Result<(), cloudcard::report::LookupError> {
    let user: UserId = "usr_li".parse().unwrap();
    // Banks find cards by the holder's identity document, never by a wallet's user id.
    let li_si = IdDocument::resident("360426199101010071".parse().unwrap());
    let card = |pan: &str, kind, usage| FoundCard { pan: pan.parse().unwrap(), kind, usage };
    let banks: Vec<Arc<dyn LookupConnector>> = vec![
        Arc::new(
            SimulatedBank::new(Bank::Icbc)
                .with_card(
                    &li_si,
                    card("6222021234567890128", CardKind::Debit, Some(UsageStatus::InUse)),
                )
                .with_card(
                    &li_si,
                    card("6200000000000005", CardKind::QuasiCredit, Some(UsageStatus::Dormant)),
                ),
        ),
        Arc::new(
            SimulatedBank::new(Bank::Cmb)
                .with_card(&li_si, card("6225751234567893", CardKind::Credit, None))
                .with_latency(TimeDelta::hours(3)),
        ),
        Arc::new(SimulatedBank::new(Bank::Boc).failing_first(2)),
        Arc::new(SimulatedBank::new(Bank::Ceb).behaving(Behaviour::NotSupported)),
        Arc::new(SimulatedBank::new(Bank::Cib).behaving(Behaviour::Silent)),
    ];
    let chosen = banks.iter().map(|b| b.bank()).collect();
    let dispatcher = Dispatcher::new(banks, Arc::new(IdentityBook::new().with(&user, li_si)));
    let lookup = LookupService::new(LookupConfig::default(), InMemoryLookupStore::new())
        .with_verifier(Arc::new(Wallet));

    // 23:59:59 Beijing on 1 December: the report will be generated the next day.
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 15, 59, 59).unwrap();
    let applicant =
        Applicant { user: user.clone(), real_name_verified: true, region: Region::YUNNAN };
    let application = Application {
        applicant,
        channel: RequestChannel::App,
        request: "req_1".parse().unwrap(),
        banks: chosen,
    };
    let query = lookup.apply(&application, now)?;
    let consent = Consent {
        agreement_version: lookup.config().agreement_version.clone(),
        face: Secret::new("live face of Li Si".into()),
        code: Secret::new("271828".into()),
    };
    dispatcher.send(&lookup, lookup.submit(&query, &consent, now)?, now)?;
    dispatcher.pump(&lookup, now)?;
    dispatcher.pump(&lookup, now + TimeDelta::hours(3))?;
    let statuses = |banks: &std::collections::BTreeMap<Bank, cloudcard::report::BankStatus>| {
        banks
            .iter()
            .map(|(bank, status)| format!("{bank}: {status}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    println!("after 3 hours: {}", statuses(&lookup.query(&query, &user)?.banks));
    let at = now + TimeDelta::hours(24);
    let ready = dispatcher.pump(&lookup, at)?;
    println!("at 24 hours: {} report(s) ready", ready.len());

    let password = Secret::new("135790".to_owned());
    let report = lookup.view(&query, &user, &password, at)?;
    println!("\nsummary (debit / credit / prepaid):");
    for (bank, c) in &report.summary {
        println!("  {bank}: {} / {} / {}", c.debit, c.credit, c.prepaid);
    }
    println!("bank status: {}", statuses(&report.bank_status));
    println!("details:");
    for c in &report.details {
        println!(
            "  {} {} {}{}",
            c.bank_name,
            c.masked_number,
            c.kind,
            c.advice.as_deref().map(|a| format!(" — {a}")).unwrap_or_default()
        );
    }
    println!("note: {}", report.note);
    let expires = report.expires_at.with_timezone(&BEIJING);
    println!(
        "\nkept until {expires} (Beijing); purged then: {}",
        lookup.purge_expired(report.expires_at)?
    );
    let late = report.expires_at;
    println!("viewing after that: {}", lookup.view(&query, &user, &password, late).unwrap_err());
    Ok(())
}

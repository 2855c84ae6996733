//! The one-click card lookup (一键查卡) on its own: a user at five banks, one bank slow, one
//! silent, one retrying; the report at the 24-hour mark; viewing with the payment password;
//! expiry at the Beijing midnight that ends the 7th natural day.
//!
//! Run it with `cargo run --example lookup_report`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard::core::{BEIJING, Bank, CardKind};
use cloudcard::report::{
    Applicant, Application, Authorization, Behaviour, Dispatcher, Evidence, FoundCard,
    InMemoryLookupStore, LookupConfig, LookupConnector, LookupService, Region, RequestChannel,
    SimulatedBank, UsageStatus,
};

fn main() -> Result<(), cloudcard::report::LookupError> {
    let user = "usr_li".parse().unwrap();
    let card = |pan: &str, kind, usage| FoundCard { pan: pan.parse().unwrap(), kind, usage };
    let banks: Vec<Arc<dyn LookupConnector>> = vec![
        Arc::new(
            SimulatedBank::new(Bank::Icbc)
                .with_card(
                    &user,
                    card("6222021234567890128", CardKind::Debit, Some(UsageStatus::InUse)),
                )
                .with_card(
                    &user,
                    card("6200000000000005", CardKind::QuasiCredit, Some(UsageStatus::Dormant)),
                ),
        ),
        Arc::new(
            SimulatedBank::new(Bank::Cmb)
                .with_card(&user, card("6225751234567893", CardKind::Credit, None))
                .with_latency(TimeDelta::hours(3)),
        ),
        Arc::new(SimulatedBank::new(Bank::Boc).failing_first(2)),
        Arc::new(SimulatedBank::new(Bank::Ceb).behaving(Behaviour::NotSupported)),
        Arc::new(SimulatedBank::new(Bank::Cib).behaving(Behaviour::Silent)),
    ];
    let chosen = banks.iter().map(|b| b.bank()).collect();
    let dispatcher = Dispatcher::new(banks);
    let lookup = LookupService::new(LookupConfig::default(), InMemoryLookupStore::new());

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
    let auth = Authorization {
        agreement_version: lookup.config().agreement_version.clone(),
        face: Evidence::new(user.clone(), query.clone(), now, true),
        otp: Evidence::new(user.clone(), query.clone(), now, true),
    };
    dispatcher.send(lookup.submit(&query, &auth, now)?, now);
    dispatcher.pump(&lookup, now)?;
    dispatcher.pump(&lookup, now + TimeDelta::hours(3))?;
    println!("after 3 hours: {:?}", lookup.query(&query, &user)?.banks);
    let at = now + TimeDelta::hours(24);
    let ready = dispatcher.pump(&lookup, at)?;
    println!("at 24 hours: {ready:?}");

    let report =
        lookup.view(&query, &user, &Evidence::new(user.clone(), query.clone(), at, true), at)?;
    println!("\nsummary (debit / credit / prepaid):");
    for (bank, c) in &report.summary {
        println!("  {bank}: {} / {} / {}", c.debit, c.credit, c.prepaid);
    }
    println!("bank status: {:?}", report.bank_status);
    println!("details:");
    for c in &report.details {
        println!(
            "  {} {} {:?}{}",
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
    println!(
        "viewing after that: {}",
        lookup
            .view(&query, &user, &Evidence::new(user.clone(), query.clone(), late, true), late)
            .unwrap_err()
    );
    Ok(())
}

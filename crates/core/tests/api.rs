//! The public API of cloudcard-core as an embedding program uses it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use cloudcard_core::{
    Amount, Bank, CardKind, Clock, Error, IssuerTable, ManualClock, Pan, PersonName, PhoneNumber,
    ResidentId, UserId, beijing_date, beijing_day_start,
};
use serde::{Deserialize, Serialize};

/// A record an embedder might log or send to a client.
#[derive(Debug, Serialize, Deserialize)]
struct Cardholder {
    user: UserId,
    name: PersonName,
    id: ResidentId,
    mobile: PhoneNumber,
    card: Pan,
    limit: Amount,
}

fn holder() -> Cardholder {
    Cardholder {
        user: "usr_1".parse().unwrap(),
        name: "段正淳".parse().unwrap(),
        id: "44011320141005001X".parse().unwrap(),
        mobile: "13812341234".parse().unwrap(),
        card: "6212 3456 7890 0000 003".parse().unwrap(),
        limit: "5000.00".parse().unwrap(),
    }
}

#[test]
fn nothing_personal_prints() {
    let h = holder();
    let debug = format!("{h:?}");
    let json = serde_json::to_string(&h).unwrap();
    for out in [&debug, &json] {
        for secret in ["6212345678900000003", "44011320141005001X", "13812341234", "段正淳"] {
            assert!(!out.contains(secret), "{secret} leaked in {out}");
        }
        assert!(out.contains("6212 **** **** *** 0003"), "{out}");
        assert!(out.contains("138****1234"), "{out}");
        assert!(out.contains("4***************1X"), "{out}");
        assert!(out.contains("段**"), "{out}");
    }
    // Masked output does not deserialize back into a card number.
    assert!(serde_json::from_str::<Cardholder>(&json).is_err());
}

#[test]
fn plain_input_deserializes_through_the_parsers() {
    let json = r#"{"user":"usr_1","name":"段正淳","id":"44011320141005001x","mobile":"13812341234",
                   "card":"6212-3456-7890-0000-003","limit":500000}"#;
    let h: Cardholder = serde_json::from_str(json).unwrap();
    assert_eq!(h.card.expose_digits(), "6212345678900000003");
    assert_eq!(h.id.expose(), "44011320141005001X");
    assert_eq!(h.limit, Amount::from_yuan(5000).unwrap());
    let bad = json.replace("6212-3456-7890-0000-003", "6212-3456-7890-0000-004");
    let err = serde_json::from_str::<Cardholder>(&bad).unwrap_err().to_string();
    assert!(err.contains("check digit") && !err.contains("6212"), "{err}");
}

#[test]
fn published_card_vectors() {
    for pan in [
        "6200000000000005",
        "6200000000000047",
        "6205500000000000004",
        "6250946000000016",
        "6250947000000014",
        "6212345678901265",
        "62123456789000003",
        "6212345678900000003",
    ] {
        assert!(pan.parse::<Pan>().is_ok(), "{pan}");
    }
    assert_eq!("4111111111111112".parse::<Pan>(), Err(Error::PanChecksum));
    assert_eq!("6200000000000004".parse::<Pan>(), Err(Error::PanChecksum));
}

#[test]
fn published_resident_id_vectors() {
    for id in ["360426199101010071", "44011320141005001X", "110102199101010078"] {
        assert!(id.parse::<ResidentId>().is_ok(), "{id}");
    }
    assert_eq!("36042619910102009X".parse::<ResidentId>(), Err(Error::ResidentIdChecksum));
    assert_eq!("360426199113010079".parse::<ResidentId>(), Err(Error::ResidentIdBirthDate));
}

#[test]
fn builtin_issuer_table_names_national_banks() {
    let table = IssuerTable::builtin();
    let pan: Pan = "6222 0212 3456 7890 128".parse().unwrap();
    let info = table.lookup(&pan).unwrap();
    assert_eq!((info.bank, info.kind), (Bank::Icbc, CardKind::Debit));
    assert_eq!(table.bank_name(&info.bank), Some("中国工商银行"));
    // The lookup test card of the UnionPay range is not in the table: a normal `None`.
    assert_eq!(table.lookup(&"6200000000000005".parse().unwrap()), None);
    for bank in Bank::NATIONAL {
        assert!(table.bank_name(&bank).is_some());
    }
}

#[test]
fn error_messages_are_lowercase_and_hold_no_input() {
    let errors = [
        "620000000000000x".parse::<Pan>().unwrap_err(),
        "13812341".parse::<PhoneNumber>().unwrap_err(),
        "36042619910102009X".parse::<ResidentId>().unwrap_err(),
        "12.345".parse::<Amount>().unwrap_err(),
        "bad id!".parse::<UserId>().unwrap_err(),
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(msg.chars().next().unwrap().is_lowercase(), "{msg}");
        for input in ["620000000000000", "13812341", "36042619910102009", "12.345", "bad id"] {
            assert!(!msg.contains(input), "{msg}");
        }
    }
}

#[test]
fn deadlines_run_on_a_manual_clock() {
    // 23:30 Beijing on 1 March; the natural day ends 30 minutes later.
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 15, 30, 0).unwrap();
    let clock = ManualClock::new(t0);
    let day = beijing_date(clock.now());
    assert_eq!(day, NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
    let next_midnight = beijing_day_start(day.succ_opt().unwrap()).unwrap();
    assert_eq!(next_midnight - clock.now(), TimeDelta::minutes(30));
    clock.advance(TimeDelta::minutes(30));
    assert_eq!(beijing_date(clock.now()), NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
}

//! The fuzz targets, run as property tests on arbitrary input so they run in CI on stable
//! (cargo-fuzz needs a nightly toolchain): every parser of a public type, redaction with each
//! detector set, rule-set loading, cryptogram and replenish verification, and the lookup's bank
//! answers. Each must return, never panic, and no error may quote the input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::str::FromStr;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use cloudcard::core::{
    Amount, CardExpiry, CardId, DeviceId, IssuerTable, ManualClock, Pan, PersonName, PhoneNumber,
    ResidentId, TokenId, UserId,
};
use cloudcard::masking::Redactor;
use cloudcard::risk::{RuleSet, WindowSet};
use cloudcard::token::{
    Cryptogram, InMemoryTokenStore, ReplenishRequest, TokenBin, TokenConfig, TokenKeys,
    TokenNumber, TokenService,
};
use proptest::prelude::*;

fn no_echo(input: &str, error: &str) {
    // Anything of 6 digits or more in the input must not come back.
    let digits: String = input.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 6 && input.trim().chars().all(|c| c.is_ascii_digit()) {
        assert!(!error.contains(input.trim()), "{error}");
    }
}

fn parse_all(text: &str) {
    macro_rules! try_parse {
        ($($t:ty),*) => {$(
            if let Err(e) = <$t>::from_str(text) {
                no_echo(text, &e.to_string());
            }
            if let Err(e) = serde_json::from_str::<$t>(text) {
                no_echo(text, &e.to_string());
            }
        )*};
    }
    try_parse!(
        Pan,
        PhoneNumber,
        ResidentId,
        PersonName,
        CardExpiry,
        Amount,
        CardId,
        UserId,
        DeviceId,
        TokenId
    );
    if let Err(e) = TokenNumber::parse(text) {
        no_echo(text, &e.to_string());
    }
    let _ = serde_json::from_str::<TokenNumber>(text);
    let _ = serde_json::from_str::<Cryptogram>(text);
    let _ = serde_json::from_str::<ReplenishRequest>(text);
    let _ = serde_json::from_str::<cloudcard::token::PaymentData>(text);
}

/// Checks that pass: the fuzz target is the bank answers, not the credentials.
#[derive(Debug)]
struct Passes;

impl cloudcard::report::Verifier for Passes {
    fn face(
        &self,
        _: &UserId,
        _: &cloudcard::Secret<String>,
    ) -> Result<bool, cloudcard::report::LookupError> {
        Ok(true)
    }
    fn code(
        &self,
        _: &UserId,
        _: &cloudcard::Secret<String>,
    ) -> Result<bool, cloudcard::report::LookupError> {
        Ok(true)
    }
    fn password(
        &self,
        _: &UserId,
        _: &cloudcard::Secret<String>,
    ) -> Result<bool, cloudcard::report::LookupError> {
        Ok(true)
    }
}

fn service() -> TokenService {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let config = TokenConfig::new(TokenBin::new("990001", IssuerTable::builtin()).unwrap());
    TokenService::new(config, TokenKeys::random(), InMemoryTokenStore::new(), clock)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_return_on_any_text(text in ".{0,40}") {
        parse_all(&text);
    }

    #[test]
    fn parsers_return_on_digit_runs(text in "[0-9 -]{0,25}") {
        parse_all(&text);
        parse_all(&format!("\"{text}\""));
    }

    #[test]
    fn redaction_returns_and_keeps_length_bounded(text in "[0-9 a-z+\\-]{0,200}") {
        for (mobiles, ids) in [(false, false), (true, false), (false, true), (true, true)] {
            let out = Redactor::new().with_mobiles(mobiles).with_resident_ids(ids).redact(&text);
            prop_assert!(out.chars().count() <= text.chars().count() * 2 + 16);
        }
    }

    #[test]
    fn rule_sets_load_or_refuse(text in ".{0,300}") {
        let windows = WindowSet::default();
        let _ = RuleSet::from_json(&text, &windows);
        let _ = RuleSet::from_toml(&text, &windows);
    }

    #[test]
    fn cryptograms_and_replenish_requests_from_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let tokens = service();
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(c) = serde_json::from_str::<Cryptogram>(&text) {
            prop_assert!(tokens.verify(&"dev_x".parse().unwrap(), &c).is_err());
        }
        if let Ok(r) = serde_json::from_str::<ReplenishRequest>(&text) {
            prop_assert!(tokens.replenish(&r).is_err());
        }
    }

    #[test]
    fn structured_cryptograms_never_verify_without_the_key(
        amount in any::<u64>(), atc in any::<u32>(), key_seq in any::<u32>(), mac in any::<[u8; 8]>(),
    ) {
        let tokens = service();
        let p = tokens
            .provision(cloudcard::token::ProvisionRequest::new(
                "6222021234567890128".parse().unwrap(),
                "dev_x".parse().unwrap(),
            ))
            .unwrap();
        let json = serde_json::json!({
            "token_number": p.token.number.expose(),
            "key_seq": key_seq,
            "atc": atc,
            "data": {
                "amount": amount, "currency": "CNY", "merchant": "mch_1", "channel": "nfc",
                "unpredictable_number": 1, "timestamp": "2026-11-23T02:00:00Z", "cvm": "biometric"
            },
            "mac": mac,
        });
        if let Ok(c) = serde_json::from_value::<Cryptogram>(json) {
            prop_assert!(tokens.verify(&"dev_x".parse().unwrap(), &c).is_err());
        }
    }

    #[test]
    fn bank_answers_of_any_shape(kinds in proptest::collection::vec(0u8..6, 0..30)) {
        use cloudcard::report::{
            Applicant, Application, BankAnswer, Consent, FoundCard, InMemoryLookupStore,
            LookupConfig, LookupService, RequestChannel,
        };
        let lookup = LookupService::new(LookupConfig::default(), InMemoryLookupStore::new())
            .with_verifier(Arc::new(Passes));
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let user: UserId = "usr_f".parse().unwrap();
        let bank = cloudcard::Bank::Icbc;
        let query = lookup
            .apply(
                &Application {
                    applicant: Applicant { user: user.clone(), real_name_verified: true, region: cloudcard::Region::SHANGHAI },
                    channel: RequestChannel::App,
                    request: "req_f".parse().unwrap(),
                    banks: [bank].into_iter().collect(),
                },
                t0,
            )
            .unwrap();
        let consent = Consent {
            agreement_version: lookup.config().agreement_version.clone(),
            face: cloudcard::Secret::new("face".into()),
            code: cloudcard::Secret::new("code".into()),
        };
        lookup.submit(&query, &consent, t0).unwrap();
        for k in kinds {
            let answer = match k {
                0 => BankAnswer::NoneFound,
                1 => BankAnswer::NotSupported,
                2 => BankAnswer::FailedTerminal,
                3 => BankAnswer::FailedRetryable,
                _ => BankAnswer::Cards(vec![FoundCard {
                    pan: "6222021234567890128".parse().unwrap(),
                    kind: cloudcard::CardKind::Debit,
                    usage: None,
                }]),
            };
            let _ = lookup.record_answer(&query, bank, answer, t0);
        }
        let _ = lookup.tick(t0 + chrono::TimeDelta::days(2));
    }
}

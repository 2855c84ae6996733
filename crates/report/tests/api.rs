//! The one-click lookup as the wallet drives it, through the public API only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard_core::UserId;
use cloudcard_core::{Bank, CardKind, Clock, ManualClock};
use cloudcard_masking::Secret;
use cloudcard_report::{
    Applicant, Application, Consent, Dispatcher, FoundCard, IdDocument, IdentityBook,
    InMemoryLookupStore, LookupConfig, LookupConnector, LookupError, LookupEvent, LookupService,
    QueryState, Region, RequestChannel, SimulatedBank, UsageStatus, Verifier,
};

/// The wallet's checks, as a test stands them in: the right face, code and password pass.
#[derive(Debug)]
struct Checks;

impl Verifier for Checks {
    fn face(&self, _: &UserId, sample: &Secret<String>) -> Result<bool, LookupError> {
        Ok(sample.expose_secret() == "face-ok")
    }
    fn code(&self, _: &UserId, code: &Secret<String>) -> Result<bool, LookupError> {
        Ok(code.expose_secret() == "123987")
    }
    fn password(&self, _: &UserId, password: &Secret<String>) -> Result<bool, LookupError> {
        Ok(password.expose_secret() == "135790")
    }
}

fn consent(code: &str) -> Consent {
    Consent {
        agreement_version: "2022-06".into(),
        face: Secret::new("face-ok".into()),
        code: Secret::new(code.into()),
    }
}

#[test]
fn the_whole_lookup_from_application_to_expiry() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap());
    let user: UserId = "usr_zhang".parse().unwrap();
    let zhang = IdDocument::resident("110102199101010078".parse().unwrap());
    let lookup = LookupService::new(LookupConfig::nationwide(), InMemoryLookupStore::new())
        .with_verifier(Arc::new(Checks));
    let connectors: Vec<Arc<dyn LookupConnector>> = vec![
        Arc::new(SimulatedBank::new(Bank::Icbc).with_card(
            &zhang,
            FoundCard {
                pan: "6222021234567890128".parse().unwrap(),
                kind: CardKind::Debit,
                usage: Some(UsageStatus::Dormant),
            },
        )),
        Arc::new(SimulatedBank::new(Bank::Cmb).with_latency(TimeDelta::minutes(30))),
    ];
    let banks = Dispatcher::new(connectors, Arc::new(IdentityBook::new().with(&user, zhang)));
    let query = lookup
        .apply(
            &Application {
                applicant: Applicant {
                    user: user.clone(),
                    real_name_verified: true,
                    region: Region::YUNNAN,
                },
                channel: RequestChannel::App,
                request: "req_a".parse().unwrap(),
                banks: [Bank::Icbc, Bank::Cmb].into(),
            },
            clock.now(),
        )
        .unwrap();
    // A wrong code is refused (and audited); the right one accepts the query.
    assert!(lookup.submit(&query, &consent("000000"), clock.now()).is_err());
    banks
        .send(&lookup, lookup.submit(&query, &consent("123987"), clock.now()).unwrap(), clock.now())
        .unwrap();
    assert!(banks.pump(&lookup, clock.now()).unwrap().is_empty());
    clock.advance(TimeDelta::minutes(30));
    let ready = banks.pump(&lookup, clock.now()).unwrap();
    assert_eq!(ready, vec![LookupEvent::ReportReady { query: query.clone(), user: user.clone() }]);

    let wrong = Secret::new("111111".to_owned());
    assert!(lookup.view(&query, &user, &wrong, clock.now()).is_err());
    let pw = Secret::new("135790".to_owned());
    let report = lookup.view(&query, &user, &pw, clock.now()).unwrap();
    assert_eq!(report.totals.debit, 1);
    assert!(report.details[0].dormant);
    let shown = format!("{report:?} {}", serde_json::to_string(&report).unwrap());
    assert!(!shown.contains("6222021234567890128"));

    clock.advance(TimeDelta::days(7));
    assert_eq!(lookup.purge_expired(clock.now()).unwrap(), 1);
    assert_eq!(lookup.view(&query, &user, &pw, clock.now()), Err(LookupError::ReportExpired));
    assert_eq!(lookup.query(&query, &user).unwrap().state, QueryState::Expired);
}

//! The lookup from an attacker's side of its public API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use cloudcard_report::Counts;

#[test]
fn counts_at_their_limit_do_not_overflow() {
    let counts = Counts { debit: u32::MAX, credit: u32::MAX, prepaid: 1 };
    assert_eq!(counts.total(), u32::MAX);
}

mod lookups {
    use std::collections::BTreeSet;

    use chrono::{TimeDelta, TimeZone, Utc};
    use cloudcard_core::{Bank, RequestId};
    use cloudcard_report::{
        Applicant, Application, InMemoryLookupStore, LookupConfig, LookupError, LookupService,
        Region, RequestChannel,
    };

    fn application(request: &str, channel: RequestChannel) -> Application {
        Application {
            applicant: Applicant {
                user: "usr_1".parse().unwrap(),
                real_name_verified: true,
                region: Region::SHANGHAI,
            },
            channel,
            request: request.parse::<RequestId>().unwrap(),
            banks: BTreeSet::from([Bank::Icbc]),
        }
    }

    #[test]
    fn a_user_holds_one_open_lookup_at_a_time() {
        let lookup = LookupService::new(LookupConfig::default(), InMemoryLookupStore::new());
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let first = lookup.apply(&application("req_1", RequestChannel::App), t0).unwrap();
        assert_eq!(
            lookup.apply(&application("req_2", RequestChannel::App), t0),
            Err(LookupError::QueryOpen),
            "a second query while the first is open"
        );
        // The same request id is the same query (a double submit).
        assert_eq!(lookup.apply(&application("req_1", RequestChannel::App), t0), Ok(first));
        // A draft abandoned before consent does not block for ever.
        let later = t0 + TimeDelta::hours(1);
        assert!(lookup.apply(&application("req_3", RequestChannel::App), later).is_ok());
    }

    #[test]
    fn the_channel_is_checked_before_a_replayed_request_id() {
        let lookup = LookupService::new(LookupConfig::default(), InMemoryLookupStore::new());
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        lookup.apply(&application("req_1", RequestChannel::App), t0).unwrap();
        let from_outside = lookup.apply(&application("req_1", RequestChannel::MiniProgram), t0);
        assert_eq!(from_outside, Err(LookupError::ChannelNotServed));
    }
}

mod evidence {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use chrono::{TimeZone, Utc};
    use cloudcard_core::{Bank, UserId};
    use cloudcard_masking::Secret;
    use cloudcard_report::{
        Applicant, Application, Consent, InMemoryLookupStore, LookupConfig, LookupError,
        LookupService, QueryState, Region, RequestChannel, Verifier,
    };

    /// A wallet that knows no right answer: every check fails.
    #[derive(Debug)]
    struct Refuses;

    impl Verifier for Refuses {
        fn face(&self, _: &UserId, _: &Secret<String>) -> Result<bool, LookupError> {
            Ok(false)
        }
        fn code(&self, _: &UserId, _: &Secret<String>) -> Result<bool, LookupError> {
            Ok(false)
        }
        fn password(&self, _: &UserId, _: &Secret<String>) -> Result<bool, LookupError> {
            Ok(false)
        }
    }

    #[test]
    fn a_lookup_cannot_be_authorized_without_the_checks_passing() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        for lookup in [
            LookupService::new(LookupConfig::default(), InMemoryLookupStore::new()),
            LookupService::new(LookupConfig::default(), InMemoryLookupStore::new())
                .with_verifier(Arc::new(Refuses)),
        ] {
            let user: UserId = "usr_1".parse().unwrap();
            let query = lookup
                .apply(
                    &Application {
                        applicant: Applicant {
                            user: user.clone(),
                            real_name_verified: true,
                            region: Region::SHANGHAI,
                        },
                        channel: RequestChannel::App,
                        request: "req_1".parse().unwrap(),
                        banks: BTreeSet::from([Bank::Icbc]),
                    },
                    t0,
                )
                .unwrap();
            let consent = Consent {
                agreement_version: lookup.config().agreement_version.clone(),
                face: Secret::new("anything".into()),
                code: Secret::new("000000".into()),
            };
            assert!(lookup.submit(&query, &consent, t0).is_err());
            assert_eq!(lookup.query(&query, &user).unwrap().state, QueryState::Draft);
            assert!(lookup.view(&query, &user, &Secret::new("135790".into()), t0).is_err());
        }
    }
}

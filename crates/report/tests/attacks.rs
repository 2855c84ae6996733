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

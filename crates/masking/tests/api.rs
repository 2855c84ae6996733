//! The public API of cloudcard-masking as a log pipeline or a service uses it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::borrow::Cow;

use cloudcard_masking::{MaskPolicy, REDACTED, Redactor, Secret, redact};
use serde::Serialize;

#[derive(Debug, Serialize)]
struct PaymentRequest {
    device: String,
    #[serde(serialize_with = "cloudcard_masking::redacted")]
    otp: Secret<String>,
    #[serde(serialize_with = "cloudcard_masking::redacted")]
    key: Secret<[u8; 32]>,
}

#[test]
fn a_struct_holding_secrets_never_leaks_them() {
    let req = PaymentRequest {
        device: "dev_1".into(),
        otp: Secret::new("493817".into()),
        key: Secret::new([0x5a; 32]),
    };
    let debug = format!("{req:?}");
    let json = serde_json::to_string(&req).unwrap();
    for out in [debug, json] {
        assert!(!out.contains("493817"), "{out}");
        assert!(!out.contains("90, 90"), "{out}");
        assert!(!out.contains("5a5a"), "{out}");
        assert_eq!(out.matches(REDACTED).count(), 2, "{out}");
    }
}

#[test]
fn a_log_file_is_redacted_line_by_line() {
    let log = "\
2026-11-23 10:00:01 INFO bind card=6250946000000016 user=usr_1
2026-11-23 10:00:02 INFO pay token=6250-9470-0000-0014 amount=12.34
2026-11-23 10:00:03 WARN order=20261123100003 retry
2026-11-23 10:00:04 INFO sms to 13812341234 id 44011320141005001X
";
    let redactor = Redactor::new().with_mobiles(true).with_resident_ids(true);
    let out: Vec<Cow<'_, str>> = log.lines().map(|l| redactor.redact(l)).collect();
    assert_eq!(out[0], "2026-11-23 10:00:01 INFO bind card=6250********0016 user=usr_1");
    assert_eq!(out[1], "2026-11-23 10:00:02 INFO pay token=6250-****-****-0014 amount=12.34");
    assert!(matches!(out[2], Cow::Borrowed(_)));
    assert_eq!(out[3], "2026-11-23 10:00:04 INFO sms to 138****1234 id 4***************1X");
}

#[test]
fn redact_default_is_cards_only() {
    assert_eq!(redact("13812341234"), "13812341234");
    assert_eq!(redact("6200000000000047"), "6200********0047");
}

#[test]
fn policies_compose() {
    let p = MaskPolicy::new(3, 3).with_mask_char('x').with_grouping(2, '.');
    assert_eq!(p.mask("abcdefghij"), "abc.xx.xx.hij");
    assert_eq!(p.mask("abcdef"), "xxxxxx");
}

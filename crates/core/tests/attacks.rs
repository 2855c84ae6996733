//! Values that hold personal data, fed what an attacker would send.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cloudcard_core::{Pan, PhoneNumber, ResidentId};

#[test]
fn a_secret_sent_as_a_number_is_not_echoed_in_the_error() {
    type Parse = fn(&str) -> String;
    let cases: [(&str, Parse); 3] = [
        ("6222021234567890128", |s| serde_json::from_str::<Pan>(s).unwrap_err().to_string()),
        ("13812345678", |s| serde_json::from_str::<PhoneNumber>(s).unwrap_err().to_string()),
        ("110102199101010078", |s| serde_json::from_str::<ResidentId>(s).unwrap_err().to_string()),
    ];
    for (digits, parse) in cases {
        let err = parse(digits);
        assert!(!err.contains(digits), "{err}");
        assert!(!err.contains(&digits[digits.len() - 6..]), "{err}");
    }
}

#[test]
fn a_malformed_secret_is_not_echoed_either() {
    for text in ["\"6222021234567890129\"", "\"1381234567\"", "\"11010219910101007X\""] {
        let digits = text.trim_matches('"');
        for err in [
            serde_json::from_str::<Pan>(text).map(drop).unwrap_err().to_string(),
            serde_json::from_str::<PhoneNumber>(text).map(drop).unwrap_err().to_string(),
            serde_json::from_str::<ResidentId>(text).map(drop).unwrap_err().to_string(),
        ] {
            assert!(!err.contains(digits), "{err}");
        }
    }
}

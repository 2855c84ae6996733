//! Redaction wherever a card sits: random text before and after a random Luhn-valid card
//! written in every separator style a card number may have. The output never shows more than
//! its first 6 and last 4 digits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use cloudcard_masking::Redactor;
use cloudcard_masking::checks::luhn_check_digit;
use proptest::prelude::*;

/// A Luhn-valid card number of `body.len() + 1` digits.
fn card(body: &[u8]) -> Vec<u8> {
    let mut digits: Vec<u8> = body.iter().map(|d| b'0' + d % 10).collect();
    digits.push(luhn_check_digit(&digits).unwrap());
    digits
}

/// The card written with `seps[i]` (0 none, 1 space, 2 hyphen) after each 4-digit group.
fn written(digits: &[u8], seps: &[u8]) -> (String, Vec<usize>) {
    let mut text = String::new();
    let mut positions = Vec::new();
    for (i, d) in digits.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            match seps.get(i / 4).copied().unwrap_or(0) % 3 {
                1 => text.push(' '),
                2 => text.push('-'),
                _ => {}
            }
        }
        positions.push(text.len());
        text.push(char::from(*d));
    }
    (text, positions)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn a_card_never_shows_more_than_first_6_and_last_4(
        body in proptest::collection::vec(0u8..10, 12..19),
        seps in proptest::collection::vec(0u8..3, 5),
        before in "[a-z0-9 \\-]{0,24}[a-z ,:=\\-]",
        after in "[a-z ,;\\-][a-z0-9 \\-]{0,24}",
        mobiles in any::<bool>(),
        ids in any::<bool>(),
    ) {
        let digits = card(&body);
        let (card_text, positions) = written(&digits, &seps);
        let text = format!("{before}{card_text}{after}");
        let out = Redactor::new().with_mobiles(mobiles).with_resident_ids(ids).redact(&text);
        prop_assert_eq!(out.len(), text.len());
        let out = out.as_bytes();
        let n = digits.len();
        prop_assert!(
            positions.iter().any(|p| out[before.len() + p] == b'*'),
            "the card was found: {text:?}"
        );
        for (k, pos) in positions.iter().enumerate() {
            let shown = out[before.len() + pos].is_ascii_digit();
            prop_assert!(!shown || k < 6 || k >= n - 4, "{text:?} -> {:?}", String::from_utf8_lossy(out));
        }
    }

    #[test]
    fn text_without_digit_runs_of_11_is_left_alone(text in "[a-z0-9 ,:=\\-]{0,80}") {
        // Fewer than 11 digits in any chain: nothing to mask.
        let longest_chain = text
            .split(|c: char| !(c.is_ascii_digit() || c == ' ' || c == '-'))
            .map(|chain| chain.chars().filter(char::is_ascii_digit).count())
            .max()
            .unwrap_or(0);
        prop_assume!(longest_chain < 11);
        let r = Redactor::new().with_mobiles(true).with_resident_ids(true);
        prop_assert_eq!(r.redact(&text), text.as_str());
    }
}

#[test]
fn mobiles_with_the_country_code_are_masked() {
    let r = Redactor::new().with_mobiles(true);
    assert_eq!(r.redact("tel +8613812341234."), "tel +86138****1234.");
    assert_eq!(r.redact("tel 008613812341234"), "tel 0086138****1234");
    assert_eq!(r.redact("tel +86 13812341234"), "tel +86 138****1234");
}

#[test]
fn a_card_after_another_number_in_another_separator_style() {
    let r = Redactor::new();
    assert_eq!(r.redact("ref 12-6250 9460 0000 0016"), "ref 12-6250 **** **** 0016");
    assert_eq!(r.redact("6200 0000-0000 0005"), "6200 ****-**** 0005");
}

//! Log lines written to slip a card number or mobile past redaction: each is now caught.
#![allow(clippy::unwrap_used)]

use cloudcard_masking::redact;

/// The digits of `s`, in order.
fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Whether `out` shows more of the card `pan` than its first 6 and last 4 digits: any run of
/// its middle digits, or the whole number in any separator style.
fn shows_middle(out: &str, pan: &str) -> bool {
    let middle = &pan[6..pan.len() - 4];
    digits(out).contains(middle) || digits(out).contains(pan)
}

#[test]
fn a_card_behind_another_number_is_still_redacted() {
    let pan = "6222021234567890128";
    for line in [
        format!("order 20261123 card {pan} ok"),
        format!("amount 100 {pan}"),
        format!("id=42,{pan}"),
        format!("{pan} {pan}"),
    ] {
        let out = redact(&line);
        assert!(!out.contains(pan), "{line:?} -> {out:?}");
    }
}

#[test]
fn a_card_in_mixed_separators_is_redacted() {
    let pan = "6222021234567890128";
    for line in [
        "card 6222 0212 3456 7890 128 end",
        "card 6222-0212-3456-7890-128 end",
        "card 6222 0212-3456 7890-128 end",
    ] {
        let out = redact(line);
        assert!(!shows_middle(&out, pan), "{line:?} -> {out:?}");
    }
}

#[test]
fn a_mobile_with_its_country_code_is_redacted() {
    for line in ["call +8613812345678 now", "call +86 138 1234 5678 now", "call 008613812345678"] {
        let out = redact(line);
        assert!(!digits(&out).contains("12345678"), "{line:?} -> {out:?}");
    }
}

#[test]
fn a_line_without_cards_is_left_as_it_is() {
    for line in ["1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "order 20261123 amount 100.00", ""] {
        assert_eq!(redact(line), line);
    }
}

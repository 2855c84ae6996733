//! Unit tests, compiled only under `#[cfg(test)]` (see the parent module).
#![cfg(test)]

use super::*;
use crate::checks::luhn_check_digit;
use proptest::prelude::*;

fn owned(s: &str) -> bool {
    matches!(redact(s), Cow::Owned(_))
}

#[test]
fn masks_published_test_cards() {
    assert_eq!(redact("6200000000000005"), "6200********0005");
    assert_eq!(redact("6205500000000000004"), "6205***********0004");
    assert_eq!(redact("x62123456789000003y"), "x6212*********0003y");
    assert_eq!(redact("a 6250 9460 0000 0016 b"), "a 6250 **** **** 0016 b");
    assert_eq!(redact("6250-9470-0000-0014"), "6250-****-****-0014");
}

#[test]
fn leaves_non_cards_alone() {
    for text in [
        "",
        "no digits at all",
        "4111111111111112",                // Luhn-invalid
        "62000000000000051",               // 17 digits, invalid
        "162000000000000051234",           // longer run
        "2026-11-23 18:20:16.123 INFO ok", // a timestamp
        "6200  0000 0000 0005",            // a double space breaks the chain
        "金额 100.00 元",
    ] {
        assert!(!owned(text), "{text:?} changed to {:?}", redact(text));
    }
}

#[test]
fn card_inside_a_longer_chain_is_found() {
    assert_eq!(redact("qty 7 6200000000000005 2"), "qty 7 6200********0005 2");
    assert_eq!(redact("1234-6200000000000005"), "1234-6200********0005");
}

#[test]
fn keeps_multibyte_text_intact() {
    assert_eq!(redact("卡号：6200000000000005，谢谢"), "卡号：6200********0005，谢谢");
}

#[test]
fn mobiles_and_ids_only_on_request() {
    let text = "m=13812341234 id=44011320141005001X";
    assert!(!owned(text));
    let r = Redactor::new().with_mobiles(true);
    assert_eq!(r.redact(text), "m=138****1234 id=44011320141005001X");
    let r = Redactor::new().with_resident_ids(true);
    assert_eq!(r.redact(text), "m=13812341234 id=4***************1X");
    assert_eq!(r.redact("360426199101010071"), "3***************71");
    // Wrong check character: not an ID (and not a card either).
    assert_eq!(r.redact("36042619910102009X"), "36042619910102009X");
    // Not a mobile: 12 digits, or a bad prefix.
    let r = Redactor::new().with_mobiles(true);
    assert_eq!(r.redact("12812341234 138123412345"), "12812341234 138123412345");
}

/// A Luhn-valid card of `len` digits from a seed.
fn card(seed: u64, len: usize) -> String {
    let mut payload: String = format!("62{seed:017}").chars().take(len - 1).collect();
    let check = luhn_check_digit(payload.as_bytes()).unwrap();
    payload.push(char::from(check));
    payload
}

/// Text with no digit group that could join into a card: short runs separated by a letter.
fn digitless_or_short_runs() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof!["[0-9]{1,12}", "[a-zA-Z,.:;=/]{1,8}", "\\PC{1,4}"], 0..30)
        .prop_map(|parts| {
            let mut s = String::new();
            for p in parts {
                // `|` is neither a digit nor a separator, so runs never join.
                s.push('|');
                s.push_str(&p);
            }
            s
        })
        .prop_filter("no long digit runs", |s| {
            s.split(|c: char| !c.is_ascii_digit()).all(|run| run.len() <= 12)
        })
}

fn maximal_runs(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_digit()).filter(|r| !r.is_empty())
}

proptest! {
    #[test]
    fn never_leaves_a_card_run_unmasked(text in "[0-9 \\-a-z]{0,120}") {
        let out = redact(&text);
        for run in maximal_runs(&out) {
            prop_assert!(
                !((CARD_MIN..=CARD_MAX).contains(&run.len()) && luhn_valid(run.as_bytes())),
                "left {run:?} in {out:?}"
            );
        }
    }

    #[test]
    fn masks_cards_planted_in_text(
        prefix in "\\PC{0,20}", suffix in "\\PC{0,20}", seed in any::<u64>(), len in 13usize..=19,
        grouped in any::<bool>(),
    ) {
        let pan = card(seed, len);
        let written = if grouped {
            pan.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ")
        } else {
            pan.clone()
        };
        let text = format!("{prefix}|{written}|{suffix}");
        let out = redact(&text);
        let at = prefix.len() + 1;
        let window = &out.as_bytes()[at..at + written.len()];
        let mut n = 0;
        for (&w, &o) in written.as_bytes().iter().zip(window) {
            if w == b' ' {
                prop_assert_eq!(o, b' ');
                continue;
            }
            let shown = n < 4 || n >= len - 4;
            prop_assert_eq!(o, if shown { w } else { MASK });
            n += 1;
        }
    }

    #[test]
    fn never_changes_text_without_cards(text in digitless_or_short_runs()) {
        let out = redact(&text);
        prop_assert!(matches!(out, Cow::Borrowed(_)));
        prop_assert_eq!(out, text.as_str());
    }

    #[test]
    fn only_digits_change_and_only_to_stars(text in any::<String>()) {
        let r = Redactor::new().with_mobiles(true).with_resident_ids(true);
        let out = r.redact(&text);
        prop_assert_eq!(out.len(), text.len());
        for (a, b) in text.bytes().zip(out.bytes()) {
            prop_assert!(a == b || (a.is_ascii_digit() && b == MASK));
        }
    }
}

/// The chain's end and digits, walked a byte at a time as first written.
fn chain_extent_walking(bytes: &[u8], start: usize) -> (usize, usize) {
    let mut i = start;
    let mut digits = 0;
    loop {
        while digit_at(bytes, i) {
            i += 1;
            digits += 1;
        }
        if !separator_at(bytes, i) || !digit_at(bytes, i + 1) {
            return (i, digits);
        }
        i += 1;
    }
}

/// The chain's start, walked a byte at a time as first written.
fn chain_start_walking(bytes: &[u8], mut i: usize) -> usize {
    if !digit_at(bytes, i) {
        i = i.saturating_sub(1); // a separator inside a chain has a digit before it
    }
    loop {
        while i > 0 && digit_at(bytes, i - 1) {
            i -= 1;
        }
        if i >= 2 && separator_at(bytes, i - 1) && digit_at(bytes, i - 2) {
            i -= 2;
        } else {
            return i;
        }
    }
}

/// The scan as first written, visiting every byte: the strided scan must find what it finds.
fn redact_walking(r: &Redactor, text: &str) -> String {
    let bytes = text.as_bytes();
    let min_digits = if r.mobiles { MOBILE_LEN } else { CARD_MIN };
    let mut out = None;
    let mut i = 0;
    while let Some(offset) =
        bytes.get(i..).and_then(|rest| rest.iter().position(u8::is_ascii_digit))
    {
        let start = i + offset;
        let (end, digits) = chain_extent_walking(bytes, start);
        if digits >= min_digits {
            r.redact_chain(bytes, start, end, &mut out);
        }
        i = end;
    }
    out.map_or_else(|| text.to_owned(), |o| String::from_utf8(o).unwrap())
}

/// Text dense in digit runs, separators and the bytes around IDs and mobiles.
fn chains_and_words() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![4 => "[0-9]{1,19}", 3 => "[ \\-]", 1 => "  ", 2 => "[a-zX+|,中]{1,3}"],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

#[test]
fn the_strided_scan_finds_chains_at_every_offset() {
    let r = Redactor::new().with_mobiles(true).with_resident_ids(true);
    for pad in 0..140 {
        for sep in ["", " ", "-", "  ", "x"] {
            let text = format!("{}{sep}6200000000000005{sep}13812341234", "a".repeat(pad));
            assert_eq!(r.redact(&text), redact_walking(&r, &text), "{text:?}");
            assert_eq!(redact(&text), redact_walking(&Redactor::new(), &text), "{text:?}");
        }
        // Chains exactly as long as the shortest thing masked, at every offset to the probes.
        let shortest = [(Redactor::new(), card(7, 13)), (r, "13812341234".to_owned())];
        for (redactor, item) in shortest {
            for text in
                [format!("{}{item}", "a".repeat(pad)), format!("{}{item}.", "1 ".repeat(pad))]
            {
                let out = redactor.redact(&text);
                assert_eq!(out, redact_walking(&redactor, &text), "{text:?}");
                assert!(out.contains('*'), "{text:?}");
            }
        }
    }
}

/// Text of long chains, many probes' strides long: up to 60 groups of 1 to 5 digits, each joined
/// to the next by one separator, between breaks.
fn long_chains() -> impl Strategy<Value = String> {
    let group = ("[0-9]{1,5}", prop_oneof![Just(" "), Just("-")]);
    let chain = prop::collection::vec(group, 1..60).prop_map(|groups| {
        let mut chain: String =
            groups.iter().map(|(digits, sep)| format!("{digits}{sep}")).collect();
        chain.pop();
        chain
    });
    prop::collection::vec((chain, "[a-z.中 ]{1,2}"), 0..5)
        .prop_map(|parts| parts.into_iter().map(|(chain, gap)| chain + &gap).collect())
}

proptest! {
    #[test]
    fn the_strided_scan_reads_long_chains_whole(
        text in long_chains(), mobiles in any::<bool>(), ids in any::<bool>(),
    ) {
        let r = Redactor::new().with_mobiles(mobiles).with_resident_ids(ids);
        prop_assert_eq!(r.redact(&text), redact_walking(&r, &text));
    }

    #[test]
    fn the_strided_scan_matches_a_walk_over_every_byte(
        text in chains_and_words(), mobiles in any::<bool>(), ids in any::<bool>(),
    ) {
        let r = Redactor::new().with_mobiles(mobiles).with_resident_ids(ids);
        prop_assert_eq!(r.redact(&text), redact_walking(&r, &text));
    }
}

#[test]
fn eight_lanes_tell_digits_and_separators_from_every_other_byte() {
    for b in 0..=u8::MAX {
        for at in 0..8 {
            let mut eight = [b'7'; 8];
            eight[at] = b;
            let lanes = Lanes::at(&eight, 0).unwrap();
            assert_eq!(
                Lanes::count(lanes.digits),
                eight.iter().filter(|b| b.is_ascii_digit()).count()
            );
            for (k, &byte) in eight.iter().enumerate() {
                let lane = |mask: u64| mask >> (8 * k + 7) & 1 == 1;
                assert_eq!(lane(lanes.digits), byte.is_ascii_digit(), "{byte:#04x} in {eight:?}");
                if (1..7).contains(&k) {
                    // Inner lanes: a separator between two digits is in the chain.
                    let joined = matches!(byte, b' ' | b'-');
                    assert_eq!(lane(lanes.chain), byte.is_ascii_digit() || joined, "{byte:#04x}");
                }
            }
        }
    }
}

/// Bytes dense in digits and separators, with any other byte now and then.
fn digits_and_separators() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![8 => b'0'..=b'9', 4 => prop_oneof![Just(b' '), Just(b'-')], 1 => any::<u8>()],
        0..80,
    )
}

proptest! {
    #[test]
    fn chains_walked_six_bytes_a_step_match_a_byte_a_step(
        bytes in digits_and_separators(), at in any::<prop::sample::Index>(),
    ) {
        prop_assume!(!bytes.is_empty());
        let i = at.index(bytes.len());
        if in_chain(&bytes, i) {
            let start = chain_start(&bytes, i);
            prop_assert_eq!(start, chain_start_walking(&bytes, i));
            prop_assert_eq!(chain_extent(&bytes, start), chain_extent_walking(&bytes, start));
        }
        if digit_at(&bytes, i) {
            prop_assert_eq!(chain_extent(&bytes, i), chain_extent_walking(&bytes, i));
        }
    }
}

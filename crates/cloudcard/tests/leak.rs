//! Runs the whole journey and scans everything it printed — Debug, Display and serde_json of
//! every facade result and error, the SMS outbox, the notifications and the lookup's audit
//! trail — for every secret used. It must find none.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

mod common;

use cloudcard::demo::DEMO_PEOPLE;

/// The text's words (runs of letters, digits and `_`) but those `drop` picks, space-separated.
fn words_without(text: &str, drop: impl Fn(&str) -> bool) -> String {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| !drop(word))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Ids carry random hex; drop them so a three-digit CVN2 is not "found" inside one.
fn without_ids(text: &str) -> String {
    words_without(text, |word| word.contains('_') && word.len() > 12)
}

/// The text without ids of the random shape (a lower-case prefix, `_` and 32 lower-case hex
/// digits), and nothing else dropped: a six-digit code or password turns up in such an id's
/// random hex now and then (in about one id in 600,000; the journey prints hundreds).
fn without_random_ids(text: &str) -> String {
    words_without(text, |word| {
        word.split_once('_').is_some_and(|(prefix, hex)| {
            prefix.bytes().all(|b| b.is_ascii_lowercase())
                && hex.len() == 32
                && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
    })
}

#[test]
fn no_secret_is_ever_printed() {
    let j = common::run();
    let codes: Vec<String> =
        j.outbox.messages().iter().filter_map(|m| m.body.code().map(str::to_owned)).collect();
    assert!(codes.len() >= 6, "the journey sent codes");
    let mut secrets: Vec<String> = Vec::new();
    for pan in common::PANS {
        secrets.push(pan.to_owned());
        let grouped: Vec<&str> =
            pan.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect();
        secrets.push(grouped.join(" "));
    }
    secrets.push(common::PASSWORD.to_owned());
    for (_, id, mobile) in DEMO_PEOPLE {
        secrets.push(id.to_owned());
        secrets.push(mobile.to_owned());
    }
    secrets.extend(codes);
    assert!(j.printed.len() > 40, "the journey printed {} values", j.printed.len());
    for text in &j.printed {
        let outside_random_ids = without_random_ids(text);
        for secret in &secrets {
            // Short secrets (codes, the password) are looked for outside random ids' hex.
            let scanned = if secret.len() < 12 { &outside_random_ids } else { text };
            assert!(!scanned.contains(secret.as_str()), "a secret leaked into: {text}");
        }
        let digit_runs = without_ids(text);
        let runs: Vec<&str> = digit_runs.split(|c: char| !c.is_ascii_digit()).collect();
        assert!(!runs.contains(&common::CVN2), "the cvn2 leaked into: {text}");
    }
    // What is dropped as a random id is exactly that shape.
    let kept = without_random_ids("txn_0123456789abcdef0123456789abcdef code_135790 tok_135790");
    assert_eq!(kept, "code_135790 tok_135790");
}

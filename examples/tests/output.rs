//! Every example, run as a user runs it: it succeeds, prints no Rust `Debug` formatting
//! (`Some(`, `None`, `Name {`, `Name(`), and shows amounts in yuan, never as raw fen.
//!
//! `cargo test` builds the examples beside this test; it runs the built binaries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::Command;

const EXAMPLES: [&str; 6] =
    ["quickstart", "restart", "tokens", "lookup_report", "risk_rules", "redact_log"];

/// `target/<profile>/examples`, found from this test binary's place in `target/<profile>/deps`.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|deps| deps.parent()).unwrap().join("examples")
}

/// Where `text` shows Rust's `Debug` formatting: `Some(`, `None`, or `Name {` / `Name(` for a
/// capitalized ASCII name glued to its bracket.
fn debug_formatting(text: &str) -> Option<&str> {
    if let Some(at) = text.find("Some(").or_else(|| text.find("None")) {
        return text.get(at..).map(|rest| rest.get(..20).unwrap_or(rest));
    }
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices(['(', '{']) {
        let before = &bytes[..i];
        let before = before.strip_suffix(b" ").filter(|_| bytes[i] == b'{').unwrap_or(before);
        let word: Vec<u8> =
            before.iter().rev().take_while(|b| b.is_ascii_alphanumeric()).copied().collect();
        let starts_upper = word.last().is_some_and(u8::is_ascii_uppercase);
        let camel = word.len() > 1 && word.iter().any(u8::is_ascii_lowercase);
        if starts_upper && camel {
            return text.get(i.saturating_sub(word.len())..).map(|r| r.get(..30).unwrap_or(r));
        }
    }
    None
}

#[test]
fn the_debug_detector_sees_debug_formatting() {
    assert!(debug_formatting("claim Some(\"20.00\")").is_some());
    assert!(debug_formatting("by None").is_some());
    assert!(debug_formatting("ShadowReport { version").is_some());
    assert!(debug_formatting("QueryId(qry_1)").is_some());
    assert!(debug_formatting("approved ¥35.00 (authorization 123456)").is_none());
    assert!(debug_formatting("6222 **** 0128 (中国工商银行) as cloud card").is_none());
}

#[test]
fn every_example_prints_words_and_yuan() {
    let dir = examples_dir();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for name in EXAMPLES {
        let bin = dir.join(name);
        assert!(bin.exists(), "{name} is built by `cargo test` at {}", bin.display());
        let out = Command::new(&bin).current_dir(&root).output().unwrap();
        assert!(out.status.success(), "{name} failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.trim().is_empty(), "{name} printed nothing");
        if name == "redact_log" {
            // The log example prints a log file's own lines, redacted: their words are theirs.
            assert!(text.contains("****"), "redact_log redacts");
            continue;
        }
        assert_eq!(debug_formatting(&text), None, "{name} prints Debug formatting");
        for raw in ["\"amount\":", "amount="] {
            for (at, _) in text.match_indices(raw) {
                let next = text.get(at + raw.len()..).and_then(|r| r.chars().next());
                assert!(
                    !next.is_some_and(|c| c.is_ascii_digit()),
                    "{name} shows an amount in fen: {}",
                    text.get(at..).map_or("", |r| r.get(..20).unwrap_or(r))
                );
            }
        }
    }
}

//! Redacting a log file: every card number masked (first 4 + last 4), and with the optional
//! detectors mobiles and resident IDs too; lines without any pass through untouched.
//!
//! Run it with `cargo run --example redact_log [PATH]` (default: `examples/data/app.log`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::borrow::Cow;

use cloudcard::masking::Redactor;

fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/app.log").to_owned());
    let text = std::fs::read_to_string(path)?;
    let redactor = Redactor::new().with_mobiles(true).with_resident_ids(true);
    let mut changed = 0;
    for line in text.lines() {
        let out = redactor.redact(line);
        if matches!(out, Cow::Owned(_)) {
            changed += 1;
        }
        println!("{out}");
    }
    eprintln!("{changed} of {} lines redacted", text.lines().count());
    Ok(())
}

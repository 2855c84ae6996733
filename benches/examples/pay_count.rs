//! `pay()` N times (2,000 by default) by the three demo cardholders, for counting its
//! instructions under callgrind: a count that, unlike a time, does not move with the host.
//!
//! ```text
//! cargo build --release -p cloudcard-benches --example pay_count
//! valgrind --tool=callgrind --toggle-collect='cloudcard::service::CloudCard::pay' \
//!     target/release/examples/pay_count 3000
//! ```
//!
//! Under valgrind, SHA-256 runs without the CPU's SHA instructions: count its blocks apart
//! (`sha2::sha256::soft::compress`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../benches/common/mod.rs"]
mod common;

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard::PaymentOutcome;
use cloudcard::core::ManualClock;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let (cc, mut payers) = common::demo_with_payers(clock.clone());
    for i in 0..n {
        clock.advance(TimeDelta::minutes(4));
        let p = i % payers.len();
        let req = common::request(&cc, &*clock, &mut payers[p]);
        let outcome = cc.pay(&req).unwrap();
        assert!(matches!(outcome, PaymentOutcome::Approved { .. }));
    }
}

//! `decide()` N times (10,000 by default) with the shipped rules, over 5,000 cards that have
//! paid and 1,000 phones, for counting its instructions under callgrind, as `pay_count` does
//! for payments.
//!
//! ```text
//! cargo build --release -p cloudcard-benches --example decide_count
//! valgrind --tool=callgrind \
//!     --toggle-collect='cloudcard_risk::engine::RiskEngine::decide' \
//!     target/release/examples/decide_count 10000
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use cloudcard_core::{Amount, Channel, ManualClock};
use cloudcard_risk::{Authentication, Mcc, RiskConfig, RiskEngine, RuleSet, Transaction};

const CARDS: usize = 5_000;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 17, 30, 0).unwrap()
}

/// The `i`th card's payment of `fen`, `minutes` before now: every fifth card on one phone.
fn payment(i: usize, k: usize, fen: u64, minutes: i64) -> Transaction {
    Transaction {
        id: format!("txn_{i}_{k}").parse().unwrap(),
        card: format!("card_{i}").parse().unwrap(),
        token: Some(format!("tok_{i}").parse().unwrap()),
        device: Some(format!("dev_{}", i % (CARDS / 5)).parse().unwrap()),
        user: format!("usr_{i}").parse().unwrap(),
        amount: Amount::from_fen(fen),
        merchant: "mch_1".parse().unwrap(),
        mcc: Mcc(5411),
        channel: Channel::Nfc,
        at: now() - TimeDelta::minutes(minutes),
        auth: if i.is_multiple_of(3) { Authentication::None } else { Authentication::Fingerprint },
        device_registered_at: Some(now() - TimeDelta::hours((i % 48) as i64)),
    }
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let config = RiskConfig::default();
    let rules = RuleSet::default_rules(&config.windows).unwrap();
    let clock = Arc::new(ManualClock::new(now()));
    let engine = RiskEngine::new(config, rules, clock).unwrap();
    for i in 0..CARDS {
        for k in 0..3 {
            engine.record(&payment(i, k, 20_000, 30 * k as i64 + 5), true).unwrap();
        }
    }
    let mut buf = engine.buffer();
    let amounts = [5_000, 150_000, 250_000, 600_000];
    for i in 0..n {
        let t = payment((i * 7_919) % CARDS, 9, amounts[i % 4], 0);
        std::hint::black_box(engine.decide(&t, &mut buf));
    }
}

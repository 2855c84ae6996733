//! A decision allocates nothing: counted with a counting global allocator. This file holds one
//! test so that no other test's allocations are counted.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard_core::{Amount, Channel, ManualClock};
use cloudcard_risk::{Authentication, Mcc, RiskEngine, Transaction};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn deciding_allocates_nothing() {
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 17, 30, 0).unwrap(); // 01:30 Beijing
    let clock = Arc::new(ManualClock::new(now));
    let engine = RiskEngine::with_default_rules(clock).unwrap();
    let mut buf = engine.buffer();
    let txns: Vec<Transaction> = (0..50)
        .map(|i| Transaction {
            id: format!("txn_{i}").parse().unwrap(),
            card: format!("card_{}", i % 5).parse().unwrap(),
            token: Some(format!("tok_{}", i % 5).parse().unwrap()),
            device: Some("dev_1".parse().unwrap()),
            user: "usr_1".parse().unwrap(),
            // Large amounts at night: several rules fire and read features.
            amount: Amount::from_fen(600_000 + i),
            merchant: "mch_1".parse().unwrap(),
            mcc: Mcc(5411),
            channel: Channel::Nfc,
            at: now,
            auth: Authentication::None,
            device_registered_at: Some(now - TimeDelta::hours(2)),
        })
        .collect();
    for t in &txns {
        engine.decide(t, &mut buf);
        engine.record(t, true).unwrap();
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut fired = 0;
    for _ in 0..20 {
        for t in &txns {
            engine.decide(t, &mut buf);
            fired += buf.fired().len();
        }
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert!(fired >= 1_000 * 2, "rules fired: {fired}");
    assert_eq!(allocations, 0, "allocations in 1,000 decisions");
}

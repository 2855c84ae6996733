//! A decision allocates nothing, and a tracked card takes at most 128 bytes: counted with a
//! counting global allocator, per thread, so that the test harness's own threads (which may
//! allocate while this test runs) are not counted.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard_core::{Amount, Channel, ManualClock};
use cloudcard_risk::{
    Authentication, EntityKind, Mcc, RiskEngine, Transaction, VelocityStore, WindowSet,
};

struct Counting;

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn live(bytes: isize) {
    let _ = LIVE_BYTES.try_with(|n| n.set(n.get() + bytes));
}

fn live_bytes() -> isize {
    LIVE_BYTES.with(Cell::get)
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        live(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        live(new_size as isize - layout.size() as isize);
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
    // The counter sees this thread's allocations.
    let probe = allocations();
    drop(std::hint::black_box(vec![0_u8; 16]));
    assert_eq!(allocations(), probe + 1, "the counter counts");
    let before = allocations();
    let mut fired = 0;
    for _ in 0..20 {
        for t in &txns {
            engine.decide(t, &mut buf);
            fired += buf.fired().len();
        }
    }
    let allocations = allocations() - before;
    assert!(fired >= 1_000 * 2, "rules fired: {fired}");
    assert_eq!(allocations, 0, "allocations in 1,000 decisions");
}

#[test]
fn a_card_that_paid_takes_at_most_128_bytes() {
    const CARDS: usize = 200_000;
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    let ids: Vec<String> = (0..CARDS).map(|i| format!("card_{i}")).collect();
    let velocity = VelocityStore::new(WindowSet::default());
    let before = live_bytes();
    for (i, id) in ids.iter().enumerate() {
        let key = velocity.key(EntityKind::Card, id.as_bytes());
        let at = now + TimeDelta::seconds((i % 3_600) as i64);
        assert!(velocity.record(key, velocity.id_hash(id.as_bytes()), at, 10_000, i % 5 != 0));
    }
    let per_card = (live_bytes() - before) / CARDS as isize;
    assert_eq!(velocity.len(), CARDS);
    assert!(per_card <= 128, "{per_card} bytes a card");
    // Paying again an hour later, a card keeps both payments in a log of its own.
    for id in ids.iter().take(CARDS / 10) {
        let key = velocity.key(EntityKind::Card, id.as_bytes());
        let id = format!("{id}-again");
        assert!(velocity.record(
            key,
            velocity.id_hash(id.as_bytes()),
            now + TimeDelta::hours(1),
            500,
            true
        ));
    }
    let per_card = (live_bytes() - before) / CARDS as isize;
    assert!(per_card <= 128, "{per_card} bytes a card, one in ten with two payments");
}

#[test]
fn a_busy_phone_counts_in_its_log_without_allocating() {
    // A phone paying every 4 hours keeps the 43 payments of the last 7 days (the longest
    // window) in a log. Each new one pushes the oldest out, so the log keeps its length and is
    // rewritten where it lies.
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let velocity = VelocityStore::new(WindowSet::default());
    let key = velocity.key(EntityKind::Device, b"dev_busy");
    let ids: Vec<u64> = (0..160).map(|i| velocity.id_hash(format!("txn_{i}").as_bytes())).collect();
    let at = |i: usize| start + TimeDelta::hours(4 * i as i64);
    for (i, &id) in ids.iter().enumerate().take(60) {
        assert!(velocity.record(key, id, at(i), 10_000, i % 4 != 0));
    }
    let before = allocations();
    for (i, &id) in ids.iter().enumerate().skip(60) {
        assert!(velocity.record(key, id, at(i), 10_000, i % 4 != 0));
    }
    assert_eq!(allocations() - before, 0, "allocations in 100 payments");
    // Each counted as it was: this hour's window holds the last (i = 159, approved); the 24
    // hours' holds this hour and the 23 before it, i = 154..=159, of which i = 156 declined.
    let snapshot = velocity.snapshot(key, at(ids.len() - 1)).unwrap();
    let [_, hour, day, ..] = snapshot.windows;
    assert_eq!((hour.approved_count, hour.declined_count), (1, 0));
    assert_eq!((day.approved_count, day.declined_count), (5, 1));
    assert_eq!(day.approved_sum, 50_000);
    assert!(!velocity.record(key, ids[159], at(159), 10_000, true), "a retry");
}

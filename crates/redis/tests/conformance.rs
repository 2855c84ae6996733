//! The velocity conformance suite on Redis: the same suite the in-memory, SQLite and
//! PostgreSQL backends pass, each store under a fresh key prefix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use cloudcard_redis::RedisVelocityStore;
use cloudcard_redis::testing::TestNamespace;
use cloudcard_risk::WindowSet;

#[test]
fn velocity_on_redis() {
    let Some(first) = TestNamespace::create("conformance-redis") else { return };
    let made = Mutex::new(vec![first]);
    let count = Mutex::new(0u32);
    cloudcard_risk::testing::velocity_suite(&|| {
        let mut n = count.lock().unwrap();
        *n += 1;
        let made = made.lock().unwrap();
        let ns = made.first().unwrap();
        let prefix = format!("{}:{n}", ns.prefix());
        Arc::new(RedisVelocityStore::open(ns.url(), &prefix, WindowSet::default()).unwrap())
    });
}

/// Two nodes (two stores on one Redis prefix) counting at once: every payment is counted once,
/// a retried transaction id counts nothing on either node, and a burst counted on one is seen
/// on the other.
#[test]
fn two_nodes_count_into_one_window() {
    use chrono::{TimeZone, Utc};
    use cloudcard_risk::{EntityKind, VelocityPort};
    let Some(ns) = TestNamespace::create("redis-two-nodes") else { return };
    let node = || RedisVelocityStore::open(ns.url(), ns.prefix(), WindowSet::default()).unwrap();
    let (a, b) = (node(), node());
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
    let card = a.key(EntityKind::Card, b"card_1");
    assert_eq!(card, b.key(EntityKind::Card, b"card_1"), "one key on every node");
    // Each transaction is presented on both nodes at the same moment (a terminal's retry
    // reaching another node): counted once.
    let mut counted = Vec::new();
    for n in 0..40 {
        let id = a.id_hash(format!("txn_{n}").as_bytes());
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            let handles: Vec<_> = [&a, &b]
                .into_iter()
                .map(|store| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        store.record(&[card], id, at, 100, true).unwrap()
                    })
                })
                .collect();
            counted.extend(handles.into_iter().map(|h| h.join().unwrap()));
        });
    }
    assert_eq!(counted.iter().filter(|c| **c).count(), 40, "40 transactions, each counted once");
    let seen = b.snapshot(card, at).unwrap().unwrap();
    assert_eq!(seen.windows[0].approved_count, 40);
    assert_eq!(seen.windows[0].approved_sum, 4_000);
}

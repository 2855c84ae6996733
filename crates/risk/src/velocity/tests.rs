//! Unit tests, compiled only under `#[cfg(test)]` (see the parent module).
#![cfg(test)]

use super::*;
use chrono::TimeZone;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, h, m, s).unwrap()
}

fn store() -> VelocityStore {
    VelocityStore::new(WindowSet::default())
}

#[test]
fn ten_minute_window_edges() {
    let v = store();
    let card = v.key(EntityKind::Card, "card_1");
    assert!(v.record(card, v.id_hash("t1"), at(10, 0, 30), 500, true));
    let count = |now| v.snapshot(card, now).unwrap().windows[0].count();
    // 1-minute buckets: the payment at 10:00:30 counts through 10:09:59 and is gone at 10:10:00.
    assert_eq!(count(at(10, 0, 30)), 1);
    assert_eq!(count(at(10, 9, 59)), 1);
    assert_eq!(count(at(10, 10, 0)), 0);
    // The hour window (5-minute buckets) still has it until 10:59:59.
    let hour = |now| v.snapshot(card, now).unwrap().windows[1].count();
    assert_eq!(hour(at(10, 59, 59)), 1);
    assert_eq!(hour(at(11, 0, 0)), 0);
    assert!(v.snapshot(v.key(EntityKind::Card, "other"), at(10, 0, 0)).is_none());
}

#[test]
fn approved_and_declined_apart() {
    let v = store();
    let k = v.key(EntityKind::User, "u");
    v.record(k, v.id_hash("a"), at(9, 0, 0), 100, true);
    v.record(k, v.id_hash("b"), at(9, 1, 0), 250, false);
    v.record(k, v.id_hash("c"), at(9, 2, 0), 50, true);
    let w = v.snapshot(k, at(9, 3, 0)).unwrap().windows[2];
    assert_eq!((w.approved_count, w.approved_sum), (2, 150));
    assert_eq!((w.declined_count, w.declined_sum), (1, 250));
    assert_eq!((w.count(), w.sum()), (3, 400));
}

#[test]
fn a_retried_id_counts_once() {
    let v = store();
    let k = v.key(EntityKind::Card, "c");
    assert!(v.record(k, v.id_hash("t1"), at(9, 0, 0), 100, true));
    assert!(!v.record(k, v.id_hash("t1"), at(9, 0, 5), 100, true));
    assert_eq!(v.snapshot(k, at(9, 1, 0)).unwrap().windows[0].count(), 1);
}

#[test]
fn a_late_old_transaction_does_not_disturb_newer_buckets() {
    let v = store();
    let k = v.key(EntityKind::Card, "c");
    v.record(k, v.id_hash("new"), at(10, 30, 0), 100, true);
    // 20 minutes older: same 10-minute ring slot as 10:30 (slot 0), so it is skipped there.
    v.record(k, v.id_hash("old"), at(10, 10, 0), 100, true);
    let s = v.snapshot(k, at(10, 30, 0)).unwrap();
    assert_eq!(s.windows[0].count(), 1);
    assert_eq!(s.windows[1].count(), 2);
}

#[test]
fn idle_entities_are_evicted() {
    let v = store();
    v.record(v.key(EntityKind::Card, "old"), 3, at(0, 0, 0), 1, true);
    v.record(v.key(EntityKind::Card, "new"), 5, at(0, 0, 0) + TimeDelta::days(7), 1, true);
    assert_eq!(v.len(), 2);
    assert_eq!(v.evict_idle(at(0, 0, 1) + TimeDelta::days(7)), 1);
    assert_eq!(v.len(), 1);
}

#[test]
fn concurrent_updates_to_one_entity_lose_nothing() {
    let v = store();
    let k = v.key(EntityKind::Card, "hot");
    std::thread::scope(|s| {
        for t in 0..8 {
            let v = &v;
            s.spawn(move || {
                for i in 0..500 {
                    v.record(k, v.id_hash(&format!("{t}-{i}")), at(12, 0, 0), 1, true);
                }
            });
        }
    });
    let w = v.snapshot(k, at(12, 0, 0)).unwrap().windows[0];
    assert_eq!((w.count(), w.sum()), (4_000, 4_000));
}

#[test]
fn memory_per_entity_is_bounded() {
    let v = store();
    assert!(v.bytes_per_entity() <= 2_048, "{}", v.bytes_per_entity());
}

#[test]
fn window_validation() {
    assert!(Window::new("7m", TimeDelta::seconds(420), 7).is_ok());
    assert!(Window::new("x", TimeDelta::seconds(10), 3).is_err());
    assert!(Window::new("", TimeDelta::seconds(60), 1).is_err());
    assert!(Window::new("big", TimeDelta::seconds(6500), 65).is_err());
    let w = Window::new("a", TimeDelta::seconds(60), 1).unwrap();
    assert!(WindowSet::new(vec![w.clone(), w]).is_err());
    assert!(WindowSet::new(vec![]).is_err());
}

#[test]
fn new_entities_sweep_idle_ones_without_being_asked() {
    let v = store();
    let old = at(0, 0, 0);
    for i in 0..500 {
        v.record(v.key(EntityKind::Card, &format!("old-{i}")), 1, old, 1, true);
    }
    let later = old + TimeDelta::days(8);
    for i in 0..(SWEEP_EVERY as usize * SHARDS) {
        v.record(v.key(EntityKind::Card, &format!("new-{i}")), 1, later, 1, true);
    }
    let remaining_old = (0..500)
        .filter(|i| v.snapshot(v.key(EntityKind::Card, &format!("old-{i}")), later).is_some())
        .count();
    assert!(remaining_old < 50, "{remaining_old} idle entities left");
}

#[test]
fn a_snapshot_sums_only_the_windows_asked_for() {
    let v = store();
    let card = v.key(EntityKind::Card, "card_1");
    assert!(v.record(card, v.id_hash("t1"), at(10, 0, 0), 500, true));
    let port: &dyn VelocityPort = &v;
    let full = port.snapshot(card, at(10, 1, 0)).unwrap().unwrap();
    assert!(full.windows.iter().take(4).all(|w| w.count() == 1), "{full:?}");
    let hour_only = port.snapshot_windows(card, at(10, 1, 0), 0b0010).unwrap().unwrap();
    assert_eq!(hour_only.windows[1], full.windows[1]);
    assert!([0, 2, 3].iter().all(|&i| hour_only.windows[i].count() == 0), "{hour_only:?}");
    let none = port.snapshot_windows(card, at(10, 1, 0), 0).unwrap().unwrap();
    assert_eq!(none.first_seen, full.first_seen);
    assert!(
        port.snapshot_windows(v.key(EntityKind::Card, "x"), at(10, 1, 0), 1).unwrap().is_none()
    );
}

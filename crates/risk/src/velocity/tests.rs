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
    let card = v.key(EntityKind::Card, b"card_1");
    assert!(v.record(card, v.id_hash(b"t1"), at(10, 0, 30), 500, true));
    let count = |now| v.snapshot(card, now).unwrap().windows[0].count();
    // 1-minute buckets: the payment at 10:00:30 counts through 10:09:59 and is gone at 10:10:00.
    assert_eq!(count(at(10, 0, 30)), 1);
    assert_eq!(count(at(10, 9, 59)), 1);
    assert_eq!(count(at(10, 10, 0)), 0);
    // The hour window (5-minute buckets) still has it until 10:59:59.
    let hour = |now| v.snapshot(card, now).unwrap().windows[1].count();
    assert_eq!(hour(at(10, 59, 59)), 1);
    assert_eq!(hour(at(11, 0, 0)), 0);
    assert!(v.snapshot(v.key(EntityKind::Card, b"other"), at(10, 0, 0)).is_none());
}

#[test]
fn approved_and_declined_apart() {
    let v = store();
    let k = v.key(EntityKind::User, b"u");
    v.record(k, v.id_hash(b"a"), at(9, 0, 0), 100, true);
    v.record(k, v.id_hash(b"b"), at(9, 1, 0), 250, false);
    v.record(k, v.id_hash(b"c"), at(9, 2, 0), 50, true);
    let w = v.snapshot(k, at(9, 3, 0)).unwrap().windows[2];
    assert_eq!((w.approved_count, w.approved_sum), (2, 150));
    assert_eq!((w.declined_count, w.declined_sum), (1, 250));
    assert_eq!((w.count(), w.sum()), (3, 400));
}

#[test]
fn a_retried_id_counts_once() {
    let v = store();
    let k = v.key(EntityKind::Card, b"c");
    assert!(v.record(k, v.id_hash(b"t1"), at(9, 0, 0), 100, true));
    assert!(!v.record(k, v.id_hash(b"t1"), at(9, 0, 5), 100, true));
    assert_eq!(v.snapshot(k, at(9, 1, 0)).unwrap().windows[0].count(), 1);
}

#[test]
fn a_late_old_transaction_does_not_disturb_newer_buckets() {
    let v = store();
    let k = v.key(EntityKind::Card, b"c");
    v.record(k, v.id_hash(b"new"), at(10, 30, 0), 100, true);
    // 20 minutes older: same 10-minute ring slot as 10:30 (slot 0), so it is skipped there.
    v.record(k, v.id_hash(b"old"), at(10, 10, 0), 100, true);
    let s = v.snapshot(k, at(10, 30, 0)).unwrap();
    assert_eq!(s.windows[0].count(), 1);
    assert_eq!(s.windows[1].count(), 2);
}

#[test]
fn idle_entities_are_evicted() {
    let v = store();
    v.record(v.key(EntityKind::Card, b"old"), 3, at(0, 0, 0), 1, true);
    v.record(v.key(EntityKind::Card, b"new"), 5, at(0, 0, 0) + TimeDelta::days(7), 1, true);
    assert_eq!(v.len(), 2);
    assert_eq!(v.evict_idle(at(0, 0, 1) + TimeDelta::days(7)), 1);
    assert_eq!(v.len(), 1);
}

#[test]
fn concurrent_updates_to_one_entity_lose_nothing() {
    let v = store();
    let k = v.key(EntityKind::Card, b"hot");
    std::thread::scope(|s| {
        for t in 0..8 {
            let v = &v;
            s.spawn(move || {
                for i in 0..500 {
                    v.record(k, v.id_hash(format!("{t}-{i}").as_bytes()), at(12, 0, 0), 1, true);
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
    let t = at(9, 0, 0);
    // Cards that paid once: each in its table entry alone.
    for i in 0..10_000 {
        v.record(v.key(EntityKind::Card, format!("c{i}").as_bytes()), 1, t, 100, true);
    }
    assert!(v.bytes_per_entity() <= 128, "{}", v.bytes_per_entity());
    // A card busy enough to keep buckets: under 2 KiB.
    let busy = store();
    let k = busy.key(EntityKind::Card, b"busy");
    for i in 0..100 {
        busy.record(k, i << 1 | 1, t, 100, true);
    }
    let table = busy.bytes_per_entity();
    assert!((1_024..=2_048 + table).contains(&table), "{table}");
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
        v.record(v.key(EntityKind::Card, format!("old-{i}").as_bytes()), 1, old, 1, true);
    }
    let later = old + TimeDelta::days(8);
    for i in 0..(SWEEP_EVERY as usize * SHARDS) {
        v.record(v.key(EntityKind::Card, format!("new-{i}").as_bytes()), 1, later, 1, true);
    }
    let remaining_old = (0..500)
        .filter(|i| {
            v.snapshot(v.key(EntityKind::Card, format!("old-{i}").as_bytes()), later).is_some()
        })
        .count();
    assert!(remaining_old < 50, "{remaining_old} idle entities left");
}

#[test]
fn a_snapshot_sums_only_the_windows_asked_for() {
    let v = store();
    let card = v.key(EntityKind::Card, b"card_1");
    assert!(v.record(card, v.id_hash(b"t1"), at(10, 0, 0), 500, true));
    let port: &dyn VelocityPort = &v;
    let full = port.snapshot(card, at(10, 1, 0)).unwrap().unwrap();
    assert!(full.windows.iter().take(4).all(|w| w.count() == 1), "{full:?}");
    let hour_only = port.snapshot_windows(card, at(10, 1, 0), 0b0010).unwrap().unwrap();
    assert_eq!(hour_only.windows[1], full.windows[1]);
    assert!([0, 2, 3].iter().all(|&i| hour_only.windows[i].count() == 0), "{hour_only:?}");
    let none = port.snapshot_windows(card, at(10, 1, 0), 0).unwrap().unwrap();
    assert_eq!(none.first_seen, full.first_seen);
    assert!(
        port.snapshot_windows(v.key(EntityKind::Card, b"x"), at(10, 1, 0), 1).unwrap().is_none()
    );
}

/// An entity that keeps buckets from its first transaction.
fn bucketed(at: i64) -> EntityState {
    EntityState {
        first_seen: at,
        last_seen: at,
        history: History::Buckets(Box::new(Buckets::new(&WindowSet::default()))),
    }
}

fn kind(state: &EntityState) -> &'static str {
    match state.history {
        History::One(_) => "one",
        History::Log(_) => "log",
        History::Buckets(_) => "buckets",
    }
}

/// Seconds between two instants: some in whole buckets of each default window, so that
/// transactions and reads fall on bucket edges too.
fn gap() -> impl proptest::strategy::Strategy<Value = i64> {
    use proptest::strategy::Strategy;
    proptest::prop_oneof![
        0i64..120,
        0i64..700_000,
        (0i64..12).prop_map(|n| n * 60),
        (0i64..14).prop_map(|n| n * 300),
        (0i64..26).prop_map(|n| n * 3_600),
        (0i64..9).prop_map(|n| n * 86_400),
    ]
}

proptest::proptest! {
    /// A log and buckets sum the same windows for the same transactions, counted in time order
    /// and read at or after the last of them, however many there are (past the log's limit, the
    /// log itself turns into buckets) and whatever their amounts.
    #[test]
    fn a_log_sums_as_buckets_do(
        gaps in proptest::collection::vec(
            (gap(), 0u64..3_000_000_000, proptest::bool::ANY),
            1..100,
        ),
        reads in proptest::collection::vec(gap(), 1..8),
    ) {
        let windows = WindowSet::default();
        let start = at(8, 0, 0).timestamp();
        let mut log = EntityState::new(start);
        let mut buckets = bucketed(start);
        let mut t = start;
        for (i, &(gap, amount, approved)) in gaps.iter().enumerate() {
            t += gap;
            let id = (i as u64) << 1 | 1;
            proptest::prop_assert!(log.count(&windows, id, t, amount, approved));
            proptest::prop_assert!(buckets.count(&windows, id, t, amount, approved));
        }
        for read in reads {
            let now = t + read;
            proptest::prop_assert_eq!(
                log.snapshot(&windows, now, u8::MAX),
                buckets.snapshot(&windows, now, u8::MAX),
                "{} after {} transactions", kind(&log), gaps.len()
            );
        }
    }

    /// An entity's bytes read back as the same entity, whichever history it keeps.
    #[test]
    fn an_entity_survives_its_encoding(
        gaps in proptest::collection::vec((0i64..50_000, 0u64..3_000_000_000, proptest::bool::ANY), 0..80),
    ) {
        let windows = WindowSet::default();
        let start = at(8, 0, 0).timestamp();
        let mut state = EntityState::new(start);
        let mut t = start;
        for (i, &(gap, amount, approved)) in gaps.iter().enumerate() {
            t += gap;
            state.count(&windows, (i as u64) << 1 | 1, t, amount, approved);
        }
        let back = EntityState::decode(&windows, &state.encode()).unwrap();
        proptest::prop_assert_eq!(kind(&back), kind(&state));
        proptest::prop_assert_eq!(back.last_seen, state.last_seen);
        for now in [t, t + 500, t + 5_000, t + 90_000] {
            proptest::prop_assert_eq!(back.snapshot(&windows, now, u8::MAX), state.snapshot(&windows, now, u8::MAX));
        }
        // Every id it remembers it still remembers.
        let ids = (0..gaps.len() as u64).map(|i| i << 1 | 1);
        proptest::prop_assert!(ids.clone().filter(|&id| state.counted(id)).all(|id| back.counted(id)));
    }
}

#[test]
fn an_entity_keeps_a_log_until_it_is_busy_then_buckets() {
    let windows = WindowSet::default();
    let t = at(9, 0, 0).timestamp();
    let mut state = EntityState::new(t);
    assert_eq!(kind(&state), "log");
    assert!(state.count(&windows, 1, t, 100, true));
    assert_eq!((kind(&state), state.heap_bytes()), ("one", 0));
    for i in 1..LOG_MAX as u64 {
        assert!(state.count(&windows, i << 1 | 1, t + i as i64, 100, true));
    }
    assert_eq!(kind(&state), "log");
    assert_eq!(state.heap_bytes(), LOG_MAX * 16);
    assert!(state.count(&windows, 999, t + 100, 100, false));
    assert_eq!(kind(&state), "buckets");
    let w = state.snapshot(&windows, t + 100, u8::MAX).windows[0];
    assert_eq!((w.approved_count, w.approved_sum, w.declined_count), (64, 6_400, 1));
    // Its ids carried over: a retry of the newest still counts nothing.
    assert!(!state.count(&windows, 999, t + 101, 100, false));
}

#[test]
fn an_amount_a_log_cannot_hold_goes_to_buckets() {
    let windows = WindowSet::default();
    let t = at(9, 0, 0).timestamp();
    let mut state = EntityState::new(t);
    assert!(state.count(&windows, 1, t, 2_000, true));
    assert!(state.count(&windows, 3, t + 1, 1 << 31, true));
    assert_eq!(kind(&state), "buckets");
    let w = state.snapshot(&windows, t + 2, u8::MAX).windows[0];
    assert_eq!((w.approved_count, w.approved_sum), (2, 2_000 + (1 << 31)));
}

#[test]
fn a_log_forgets_what_no_window_reaches() {
    let windows = WindowSet::default();
    let t = at(9, 0, 0).timestamp();
    let mut state = EntityState::new(t);
    assert!(state.count(&windows, 1, t, 100, true));
    assert!(state.count(&windows, 3, t + 60, 100, true));
    assert_eq!(kind(&state), "log");
    // Eight days on, both are past the 7-day window: only the new one is kept.
    let later = t + 8 * 86_400;
    assert!(state.count(&windows, 5, later, 100, true));
    assert_eq!((kind(&state), state.heap_bytes()), ("one", 0));
    assert_eq!(state.snapshot(&windows, later, u8::MAX).windows[3].count(), 1);
    assert_eq!(state.first_seen, t, "the first sighting stays");
    // A transaction dated before every window counts nowhere and is not kept.
    assert!(state.count(&windows, 7, t, 100, true));
    assert_eq!(state.snapshot(&windows, later, u8::MAX).windows[3].count(), 1);
}

#[test]
fn a_late_transaction_counts_alike_in_a_log_and_in_buckets() {
    let windows = WindowSet::default();
    let t = at(10, 30, 0).timestamp();
    let (mut log, mut buckets) = (EntityState::new(t), bucketed(t));
    for state in [&mut log, &mut buckets] {
        state.count(&windows, 1, t, 100, true);
        // 20 minutes older: the same 10-minute ring slot as 10:30, out of that window anyway.
        state.count(&windows, 3, t - 20 * 60, 100, true);
        let s = state.snapshot(&windows, t, u8::MAX);
        assert_eq!((s.windows[0].count(), s.windows[1].count()), (1, 2));
    }
    // Turned into buckets, the log still counts both.
    log.count(&windows, 5, t + 1, 1 << 31, true);
    assert_eq!(kind(&log), "buckets");
    assert_eq!(log.snapshot(&windows, t + 1, u8::MAX).windows[1].count(), 3);
}

#[test]
fn bytes_of_the_earlier_layout_read_as_buckets() {
    let windows = WindowSet::default();
    let t = at(9, 0, 0).timestamp();
    let mut state = bucketed(t);
    state.count(&windows, 1, t, 700, true);
    state.count(&windows, 3, t + 30, 300, false);
    let bytes = state.encode();
    assert_eq!(bytes[0], ENCODED_BUCKETS);
    // The earlier layout was the same without the first byte.
    let earlier = EntityState::decode(&windows, &bytes[1..]).unwrap();
    assert_eq!(kind(&earlier), "buckets");
    assert_eq!(
        earlier.snapshot(&windows, t + 60, u8::MAX),
        state.snapshot(&windows, t + 60, u8::MAX)
    );
    assert!(earlier.counted(3) && !earlier.counted(5));
}

#[test]
fn bytes_that_fit_no_layout_are_refused() {
    let windows = WindowSet::default();
    let mut state = EntityState::new(0);
    state.count(&windows, 1, 0, 5, true);
    let bytes = state.encode();
    for cut in 0..bytes.len() {
        let decoded = EntityState::decode(&windows, &bytes[..cut]);
        // Cut after the times, it is an entity with nothing in its log: well-formed.
        let empty = decoded.as_ref().is_some_and(|s| s.history.events().is_empty());
        assert!(decoded.is_none() || cut == 17 && empty, "{cut}");
    }
    let mut wrong = bytes.clone();
    wrong[0] = 9;
    assert!(EntityState::decode(&windows, &wrong).is_none());
    let mut long = bytes;
    long.push(0);
    assert!(EntityState::decode(&windows, &long).is_none());
}

#[test]
fn entities_read_together_read_as_each_alone() {
    let v = store();
    // Enough entities that some share a shard; each paid a different number of times.
    let keys: Vec<EntityKey> =
        (0..5_000u32).map(|i| v.key(EntityKind::Card, format!("card_{i}").as_bytes())).collect();
    for (i, key) in keys.iter().enumerate().take(4_000) {
        for k in 0..=(i % 5) {
            let id = format!("t{i}_{k}");
            v.record(*key, v.id_hash(id.as_bytes()), at(9, k as u32, 0), 100 + k as u64, k != 2);
        }
    }
    // An entity in the first one's shard, that paid once.
    let shard = |key: EntityKey| VelocityStore::shard_index(key);
    let sharing = (0u32..)
        .map(|i| v.key(EntityKind::Device, format!("phone_{i}").as_bytes()))
        .find(|k| shard(*k) == shard(keys[0]))
        .unwrap();
    v.record(sharing, v.id_hash(b"s"), at(9, 20, 0), 7, true);
    let now = at(9, 30, 0);
    // Alike, one shard twice, a shard shared, one never seen, and more than four.
    let groups: [Vec<(EntityKey, u8)>; 5] = [
        vec![(keys[0], 0b111), (keys[1], 0b1), (keys[2], 0b100)],
        vec![(keys[3], 0xff), (keys[3], 0b10)],
        vec![(keys[0], 0xff), (sharing, 0xff), (keys[4_500], 0xff), (keys[7], 0b11)],
        vec![(keys[4_999], 0xff)],
        (10..16).map(|i| (keys[i], 0xff)).collect(),
    ];
    for reads in groups {
        let mut together = vec![None; reads.len()];
        v.snapshots(&reads, now, &mut together);
        let alone: Vec<_> = reads.iter().map(|&(k, w)| v.snapshot_windows(k, now, w)).collect();
        assert_eq!(together, alone);
        let seen = reads.iter().filter(|(k, _)| keys[..4_000].contains(k) || *k == sharing).count();
        assert_eq!(together.iter().flatten().count(), seen);
    }
}

#[test]
fn a_kind_and_an_id_name_one_entity() {
    let v = store();
    let keys: std::collections::HashSet<_> = EntityKind::ALL
        .into_iter()
        .flat_map(|kind| [v.key(kind, b"dev_1"), v.key(kind, b"dev_2")])
        .collect();
    assert_eq!(keys.len(), 2 * EntityKind::ALL.len(), "a kind and an id name one entity");
}

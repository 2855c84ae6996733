//! `pay()` with every store on PostgreSQL, beside a raw replay of the very statements it issued
//! (recorded from one real call per payer: the same transactions and isolation levels, the same
//! tables and keys, values of the same sealed sizes) through an r2d2 pool of the same size on
//! the same database, in the same run; payments per second on 1, 2 and 4 threads, each beside
//! the raw replay on as many threads. Then the risk engine's `decide` + `record` with velocity
//! on Redis beside the same with velocity in memory.
//!
//! Needs `CLOUDCARD_TEST_POSTGRES` (and `CLOUDCARD_TEST_REDIS` for the velocity group); without
//! them it says what it skipped.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard::core::store::{StaticKey, Table};
use cloudcard::core::{ManualClock, SharedClock};
use cloudcard::postgres::PostgresKv;
use cloudcard::postgres::testing::TestDatabase;
use cloudcard::risk::{
    Authentication, InMemoryRiskStore, RiskConfig, RiskEngine, RuleSet, Transaction, VelocityPort,
    VelocityStore,
};
use cloudcard::wallet::{Argon2Cost, InMemoryOutbox, SmsGateway, WalletConfig};
use cloudcard::{Amount, Channel, CloudCard, Mcc};
use common::{Op, Payer, Recorder, request};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{IsolationLevel, NoTls};
use r2d2_postgres::PostgresConnectionManager;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// Replays one recorded call through `pool`, as `PostgresKv` would run it: reads in a
/// read-only repeatable-read transaction, writes serializable and run again on a conflict. Keys
/// the call inserted get `round` appended, so each replay inserts as the call did.
fn replay(pool: &Pool, ops: &[Op], round: u64) {
    let keys = common::ReplayKeys::new(ops, round);
    let key = |t: &Table, k: &Vec<u8>| keys.key(t, k);
    let mut i = 0;
    while i < ops.len() {
        let Op::Begin { write } = ops[i] else { panic!("ops start with a begin") };
        let end = i + ops[i..].iter().position(|o| matches!(o, Op::Commit)).unwrap();
        let body = &ops[i + 1..end];
        loop {
            let mut conn = pool.get().unwrap();
            let mut tx = if write {
                conn.build_transaction().isolation_level(IsolationLevel::Serializable).start()
            } else {
                conn.build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
            }
            .unwrap();
            let mut result = Ok(());
            for op in body {
                let q = |tx: &mut postgres::Transaction<'_>,
                         sql: &str,
                         p: &[(&(dyn ToSql + Sync), Type)]| {
                    tx.query_typed(sql, p).map(black_box).map(drop)
                };
                result = match op {
                    Op::Get(t, k) => q(
                        &mut tx,
                        "SELECT v FROM cloudcard_kv_raw WHERE tbl = $1 AND k = $2",
                        &[(t, Type::TEXT), (&key(t, k), Type::BYTEA)],
                    ),
                    Op::Contains(t, k) => q(
                        &mut tx,
                        "SELECT 1 FROM cloudcard_kv_raw WHERE tbl = $1 AND k = $2",
                        &[(t, Type::TEXT), (&key(t, k), Type::BYTEA)],
                    ),
                    Op::Put(t, k, len, _) => {
                        let value: Vec<u8> = (0..*len).map(|_| rand::random::<u8>()).collect();
                        q(
                            &mut tx,
                            "INSERT INTO cloudcard_kv_raw (tbl, k, v) VALUES ($1, $2, $3) \
                             ON CONFLICT (tbl, k) DO UPDATE SET v = EXCLUDED.v",
                            &[(t, Type::TEXT), (&key(t, k), Type::BYTEA), (&value, Type::BYTEA)],
                        )
                    }
                    Op::Delete(t, k) => q(
                        &mut tx,
                        "DELETE FROM cloudcard_kv_raw WHERE tbl = $1 AND k = $2 RETURNING 1",
                        &[(t, Type::TEXT), (&key(t, k), Type::BYTEA)],
                    ),
                    Op::Range(t, from, to, limit) => {
                        let limit = i64::try_from(*limit).unwrap_or(i64::MAX);
                        q(
                            &mut tx,
                            "SELECT k, v FROM cloudcard_kv_raw WHERE tbl = $1 AND k >= $2 \
                             AND k < $3 ORDER BY k LIMIT $4",
                            &[
                                (t, Type::TEXT),
                                (from, Type::BYTEA),
                                (to, Type::BYTEA),
                                (&limit, Type::INT8),
                            ],
                        )
                    }
                    Op::Begin { .. } | Op::Commit => unreachable!(),
                };
                if result.is_err() {
                    break;
                }
            }
            let done = match result {
                Ok(()) if write => tx.commit(),
                Ok(()) => tx.rollback(),
                Err(e) => Err(e),
            };
            match done {
                Ok(()) => break,
                Err(e) if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE) => {
                    std::thread::sleep(Duration::from_millis(rand::random_range(0..=2)));
                }
                Err(e) => panic!("replay failed: {e}"),
            }
        }
        i = end + 1;
    }
}

/// Runs `work(thread, n)` for `per_thread` rounds on `threads` threads; payments per second.
fn per_second(threads: usize, per_thread: usize, work: impl Fn(usize, usize) + Sync) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let work = &work;
            s.spawn(move || {
                for n in 0..per_thread {
                    work(t, n);
                }
            });
        }
    });
    let total = u32::try_from(threads * per_thread).unwrap();
    f64::from(total) / start.elapsed().as_secs_f64()
}

fn bench_postgres_pay(c: &mut Criterion) {
    let Some(db) = TestDatabase::create("bench-postgres") else { return };
    let kv = Arc::new(PostgresKv::open(db.url(), &StaticKey::new([1; 32])).unwrap());
    let rec = Arc::new(Recorder::new(kv));
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let outbox = Arc::new(InMemoryOutbox::new());
    let cc = CloudCard::demo()
        .clock(clock.clone())
        .wallet_config(WalletConfig { argon2: Argon2Cost::TESTING, ..WalletConfig::default() })
        .sms(outbox.clone() as Arc<dyn SmsGateway>)
        .kv(rec.clone())
        .build()
        .unwrap();
    let mut payers = common::payers(&cc, &outbox, true);
    // One recorded payment per payer: each thread replays its own payer's statements.
    let recorded: Vec<Vec<Op>> = payers
        .iter_mut()
        .map(|p| {
            clock.advance(TimeDelta::minutes(4));
            let req = request(&cc, &clock, p);
            rec.start();
            cc.pay(&req).unwrap();
            rec.stop()
        })
        .collect();
    let txns = recorded[0].iter().filter(|o| matches!(o, Op::Begin { .. })).count();
    let writes = recorded[0].iter().filter(|o| matches!(o, Op::Begin { write: true })).count();
    eprintln!(
        "pay(): {txns} transactions ({writes} writing), {} statements",
        recorded[0].len() - 2 * txns
    );
    // The replay runs on a copy of the records, in a table of its own: its values are random
    // bytes of the sealed sizes, which must not overwrite the service's own records.
    let mut admin = postgres::Client::connect(db.url(), NoTls).unwrap();
    admin
        .batch_execute(
            "CREATE TABLE cloudcard_kv_raw (LIKE cloudcard_kv INCLUDING ALL);
             INSERT INTO cloudcard_kv_raw SELECT * FROM cloudcard_kv;",
        )
        .unwrap();
    let config: postgres::Config = db.url().parse().unwrap();
    let pool: Pool = r2d2::Pool::builder()
        .max_size(8)
        .min_idle(Some(1))
        .build(PostgresConnectionManager::new(config, NoTls))
        .unwrap();

    let mut group = c.benchmark_group("postgres_pay");
    group.throughput(Throughput::Elements(1));
    let round = std::sync::atomic::AtomicU64::new(0);
    let next = || round.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    group.bench_function("baseline_raw_same_statements_same_pool", |b| {
        b.iter(|| replay(&pool, &recorded[0], next()));
    });
    let mut n = 0usize;
    group.bench_function("pay", |b| {
        b.iter_batched(
            || {
                n += 1;
                clock.advance(TimeDelta::minutes(4));
                request(&cc, &clock, &mut payers[n % 3])
            },
            |req| black_box(cc.pay(&req).unwrap()),
            BatchSize::PerIteration,
        );
    });
    group.finish();

    // Payments per second on 1, 2 and 4 threads, one payer each, beside the raw replay on as
    // many threads. Each payment moves the shared manual clock 4 minutes / threads (the burst
    // rule watches 10 minutes per card; a cryptogram stays fresh for 10), without holding the
    // other threads still.
    let per_thread = 150;
    let mut first = None;
    for threads in [1usize, 2, 4] {
        let step = TimeDelta::seconds(240 / i64::try_from(threads).unwrap());
        let slots: Vec<std::sync::Mutex<&mut Payer>> =
            payers.iter_mut().take(threads).map(std::sync::Mutex::new).collect();
        let failed = std::sync::atomic::AtomicUsize::new(0);
        let paid = per_second(threads, per_thread, |t, _| {
            clock.advance(step);
            let mut payer = slots[t].lock().unwrap();
            let req = request(&cc, &clock, &mut payer);
            if let Err(e) = black_box(cc.pay(&req))
                && failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0
            {
                eprintln!("a payment failed: {e}");
            }
        });
        let failed = failed.into_inner();
        assert!(failed <= threads * per_thread / 100, "{failed} payments failed");
        let raw = per_second(threads, per_thread, |t, _| replay(&pool, &recorded[t], next()));
        let one = *first.get_or_insert(paid);
        eprintln!(
            "pay() on PostgreSQL, {threads} thread(s): {paid:.0} payments/s ({:.2}x one thread); \
             raw replay {raw:.0}/s; pay/raw time ratio {:.2}x",
            paid / one,
            raw / paid
        );
    }
}

fn payment(i: usize) -> Transaction {
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
    Transaction {
        id: format!("txn_{i}").parse().unwrap(),
        card: format!("card_{}", i % 1_000).parse().unwrap(),
        token: Some(format!("tok_{}", i % 1_000).parse().unwrap()),
        device: Some(format!("dev_{}", i % 1_000).parse().unwrap()),
        user: format!("usr_{}", i % 1_000).parse().unwrap(),
        amount: Amount::from_fen(1_000),
        merchant: "mch_1".parse().unwrap(),
        mcc: Mcc(5411),
        channel: Channel::Nfc,
        at: now + TimeDelta::seconds(i64::try_from(i).unwrap()),
        auth: Authentication::Fingerprint,
        device_registered_at: Some(now - TimeDelta::days(30)),
    }
}

fn bench_redis_velocity(c: &mut Criterion) {
    let Some(ns) = cloudcard::redis::testing::TestNamespace::create("bench-redis") else { return };
    let clock: SharedClock =
        Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let config = RiskConfig::default();
    let engine = |velocity: Arc<dyn VelocityPort>| {
        let rules = RuleSet::default_rules(&config.windows).unwrap();
        let state = Arc::new(InMemoryRiskStore::new());
        RiskEngine::with_store(config.clone(), rules, clock.clone(), state, velocity).unwrap()
    };
    let memory = engine(Arc::new(VelocityStore::new(config.windows.clone())));
    let redis = engine(Arc::new(
        cloudcard::redis::RedisVelocityStore::open(ns.url(), ns.prefix(), config.windows.clone())
            .unwrap(),
    ));
    let mut group = c.benchmark_group("velocity_decide_record");
    group.throughput(Throughput::Elements(1));
    for (name, engine) in [("baseline_in_memory", &memory), ("redis", &redis)] {
        let mut buf = engine.buffer();
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                let txn = payment(i);
                let decision = engine.decide(&txn, &mut buf);
                black_box(engine.record(&txn, true).unwrap());
                decision
            });
        });
    }
    group.finish();
}

criterion_group!(postgres_benches, bench_postgres_pay, bench_redis_velocity);
criterion_main!(postgres_benches);

//! `pay()` and `confirm_card()` on the SQLite backend, each beside a raw `rusqlite` replay of
//! the very statements it issued (recorded from one real call: the same transactions, the same
//! tables and keys, values of the same sealed sizes, the same commits with `synchronous=FULL`)
//! on a copy of the same database, in the same run. Also payments per second on 1 and 2 threads.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard::core::store::Table;
use cloudcard::core::{ManualClock, PhoneNumber};
use cloudcard::demo::DEMO_PEOPLE;
use cloudcard::wallet::{Argon2Cost, OtpPurpose, SmsGateway, WalletConfig};
use cloudcard::{BindRequest, CloudCard};
use cloudcard_sqlite::{SqliteKv, StaticKey};
use common::{Op, Payer, Recorder, request};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Replays recorded operations with plain statements on `conn`. A key the call inserted gets
/// the replay's `round` appended, wherever it appears, so each replay inserts rows as the call
/// did rather than overwriting the last replay's.
fn replay(conn: &mut Connection, ops: &[Op], round: u64) {
    let keys = common::ReplayKeys::new(ops, round);
    let key = |t: &Table, k: &Vec<u8>| keys.key(t, k);
    let mut i = 0;
    while i < ops.len() {
        let Op::Begin { write } = ops[i] else { panic!("ops start with a begin") };
        let behavior =
            if write { TransactionBehavior::Immediate } else { TransactionBehavior::Deferred };
        let tx = conn.transaction_with_behavior(behavior).unwrap();
        i += 1;
        while !matches!(ops[i], Op::Commit) {
            match &ops[i] {
                Op::Get(t, k) => {
                    let sql = "SELECT v FROM kv WHERE tbl = ?1 AND k = ?2";
                    let mut s = tx.prepare_cached(sql).unwrap();
                    let row = s.query_row(params![t, key(t, k)], |r| r.get::<_, Vec<u8>>(0));
                    black_box(row.optional().unwrap());
                }
                Op::Contains(t, k) => {
                    let sql = "SELECT 1 FROM kv WHERE tbl = ?1 AND k = ?2";
                    let mut s = tx.prepare_cached(sql).unwrap();
                    black_box(s.exists(params![t, key(t, k)]).unwrap());
                }
                Op::Put(t, k, len, _) => {
                    let sql = "INSERT OR REPLACE INTO kv (tbl, k, v) VALUES (?1, ?2, ?3)";
                    let mut s = tx.prepare_cached(sql).unwrap();
                    // Random bytes, as sealed values are: storage that dedups or compresses
                    // repeated pages would flatter a constant filler.
                    let value: Vec<u8> = (0..*len).map(|_| rand::random::<u8>()).collect();
                    s.execute(params![t, key(t, k), value]).unwrap();
                }
                Op::Delete(t, k) => {
                    let sql = "DELETE FROM kv WHERE tbl = ?1 AND k = ?2";
                    let mut s = tx.prepare_cached(sql).unwrap();
                    s.execute(params![t, key(t, k)]).unwrap();
                }
                Op::Range(t, from, to, limit) => {
                    let sql = "SELECT k, v FROM kv WHERE tbl = ?1 AND k >= ?2 AND k < ?3 \
                               ORDER BY k LIMIT ?4";
                    let mut s = tx.prepare_cached(sql).unwrap();
                    let limit = i64::try_from(*limit).unwrap_or(i64::MAX);
                    let rows: Vec<(Vec<u8>, Vec<u8>)> = s
                        .query_map(params![t, from, to, limit], |r| Ok((r.get(0)?, r.get(1)?)))
                        .unwrap()
                        .map(Result::unwrap)
                        .collect();
                    black_box(rows);
                }
                Op::Begin { .. } | Op::Commit => unreachable!(),
            }
            i += 1;
        }
        if write {
            tx.commit().unwrap()
        } else {
            tx.rollback().unwrap()
        }
        i += 1;
    }
}

fn raw_connection(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.pragma_update(None, "secure_delete", "ON").unwrap();
    conn
}

struct Setup {
    dir: PathBuf,
    cc: CloudCard,
    rec: Arc<Recorder>,
    clock: Arc<ManualClock>,
    outbox: Arc<cloudcard::wallet::InMemoryOutbox>,
    payers: Vec<Payer>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn setup() -> Setup {
    let dir = std::env::temp_dir().join(format!("cloudcard-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let inner = Arc::new(SqliteKv::open(dir.join("cc.db"), &StaticKey::new([1; 32])).unwrap());
    let rec = Arc::new(Recorder::new(inner));
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let outbox = Arc::new(cloudcard::wallet::InMemoryOutbox::new());
    let cc = CloudCard::demo()
        .clock(clock.clone())
        .wallet_config(WalletConfig { argon2: Argon2Cost::TESTING, ..WalletConfig::default() })
        .sms(outbox.clone() as Arc<dyn SmsGateway>)
        .kv(rec.clone())
        .build()
        .unwrap();
    let payers = common::payers(&cc, &outbox, false);
    Setup { dir, cc, rec, clock, outbox, payers }
}

/// A copy of the database for the raw replay (the WAL folded in first).
fn copy_for_replay(s: &Setup) -> Connection {
    let copy = s.dir.join("raw.db");
    {
        let conn = raw_connection(&s.dir.join("cc.db"));
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        conn.execute("VACUUM INTO ?1", params![copy.to_str().unwrap()]).unwrap();
    }
    raw_connection(&copy)
}

/// Deletes the rows that replay `round` inserted.
fn remove_inserted(conn: &mut Connection, ops: &[Op], round: u64) {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
    for op in ops {
        if let Op::Put(t, k, _, true) = op {
            let mut k = k.clone();
            k.extend_from_slice(&round.to_be_bytes());
            tx.execute("DELETE FROM kv WHERE tbl = ?1 AND k = ?2", params![t, k]).unwrap();
        }
    }
    tx.commit().unwrap();
}

fn bench_durable(c: &mut Criterion) {
    let mut s = setup();
    // Record one payment and one card binding as they reach the store.
    s.clock.advance(TimeDelta::minutes(4));
    let req = request(&s.cc, &s.clock, &mut s.payers[0]);
    s.rec.start();
    s.cc.pay(&req).unwrap();
    let pay_ops = s.rec.stop();
    let mobile: PhoneNumber = DEMO_PEOPLE[0].2.parse().unwrap();
    let (user, phone) = (s.payers[0].user.clone(), s.payers[0].phone.clone());
    let pending =
        s.cc.bind_card(
            &user,
            &phone,
            BindRequest {
                pan: "6225751234567893".parse().unwrap(),
                expiry: Some("08/29".parse().unwrap()),
                cvn2: Some(cloudcard::Secret::new("738".into())),
                reserved_mobile: mobile.clone(),
            },
        )
        .unwrap();
    let code = s.outbox.last_code(&mobile, OtpPurpose::CardBinding).unwrap();
    s.rec.start();
    s.cc.confirm_card(&user, &phone, &pending.binding, &code).unwrap();
    let confirm_ops = s.rec.stop();
    let count = |ops: &[Op]| {
        let txns = ops.iter().filter(|o| matches!(o, Op::Begin { .. })).count();
        let writes = ops.iter().filter(|o| matches!(o, Op::Begin { write: true })).count();
        (txns, writes, ops.len() - 2 * txns)
    };
    let (t, w, st) = count(&pay_ops);
    eprintln!("pay(): {t} transactions ({w} writing), {st} statements");
    let (t, w, st) = count(&confirm_ops);
    eprintln!("confirm_card(): {t} transactions ({w} writing), {st} statements");
    let mut raw = copy_for_replay(&s);

    let mut group = c.benchmark_group("sqlite_pay");
    group.throughput(Throughput::Elements(1));
    let mut round = 0u64;
    group.bench_function("baseline_raw_rusqlite_same_statements", |b| {
        b.iter(|| {
            round += 1;
            replay(&mut raw, &pay_ops, round);
        });
    });
    let mut n = 0usize;
    group.bench_function("pay", |b| {
        b.iter_batched(
            || {
                n += 1;
                s.clock.advance(TimeDelta::minutes(4));
                let i = n % s.payers.len();
                request(&s.cc, &s.clock, &mut s.payers[i])
            },
            |req| black_box(s.cc.pay(&req).unwrap()),
            BatchSize::PerIteration,
        );
    });
    group.finish();

    // Payments per second on 1 and 2 threads, one payer each; the manual clock is held still
    // while a payment is in flight.
    for threads in [1usize, 2] {
        let per_thread = 300;
        let time = std::sync::RwLock::new(());
        let (cc, clock) = (&s.cc, &s.clock);
        let payers: Vec<&mut Payer> = s.payers.iter_mut().take(threads).collect();
        let start = Instant::now();
        std::thread::scope(|scope| {
            for p in payers {
                let time = &time;
                scope.spawn(move || {
                    for _ in 0..per_thread {
                        {
                            let _moving = time.write().unwrap();
                            clock.advance(TimeDelta::minutes(4));
                        }
                        let _paying = time.read().unwrap();
                        let req = request(cc, clock, p);
                        black_box(cc.pay(&req).unwrap());
                    }
                });
            }
        });
        let elapsed = start.elapsed();
        let total = u32::try_from(threads * per_thread).unwrap();
        eprintln!(
            "pay() on SQLite, {threads} thread(s): {total} payments in {elapsed:?} = {:.0} payments/s",
            f64::from(total) / elapsed.as_secs_f64()
        );
    }

    let mut group = c.benchmark_group("sqlite_confirm_card");
    group.sample_size(30);
    // Between replays (untimed) the rows the last one inserted are deleted again, as the
    // binding bench unbinds its card between calls: a binding's reads range over index entries
    // that would otherwise grow with every replay.
    let raw = std::cell::RefCell::new(raw);
    group.bench_function("baseline_raw_rusqlite_same_statements", |b| {
        b.iter_batched(
            || {
                remove_inserted(&mut raw.borrow_mut(), &confirm_ops, round);
                round += 1;
                round
            },
            |r| replay(&mut raw.borrow_mut(), &confirm_ops, r),
            BatchSize::PerIteration,
        );
    });
    // Each iteration binds a fresh card (unbinding it again outside the timing).
    let pans = ["6225751234567893", "6217001234567890122"];
    let mut k = 0usize;
    group.bench_function("confirm_card", |b| {
        b.iter_batched(
            || {
                k += 1;
                // A day apart: provisioning risk declines a fifth binding on one device in 24 h.
                s.clock.advance(TimeDelta::hours(25));
                for c in s.cc.cards(&user).unwrap().into_iter().skip(1) {
                    let prompt = s.cc.request_unbind(&user, &c.id).unwrap();
                    s.cc.confirm_unbind(&user, &c.id, prompt.ticket.expose_secret()).unwrap();
                }
                let pan = pans[k % 2];
                let credit = pan == pans[0];
                let pending =
                    s.cc.bind_card(
                        &user,
                        &phone,
                        BindRequest {
                            pan: pan.parse().unwrap(),
                            expiry: credit.then(|| "08/29".parse().unwrap()),
                            cvn2: credit.then(|| cloudcard::Secret::new("738".into())),
                            reserved_mobile: mobile.clone(),
                        },
                    )
                    .unwrap();
                let code = s.outbox.last_code(&mobile, OtpPurpose::CardBinding).unwrap();
                (pending.binding, code)
            },
            |(binding, code)| black_box(s.cc.confirm_card(&user, &phone, &binding, &code).unwrap()),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(durable, bench_durable);
criterion_main!(durable);

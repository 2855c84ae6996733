//! End-to-end `pay()` through the facade with the shipped rules: latency of one payment
//! (cryptogram verification, risk decision, detokenization, simulated issuer, velocity record)
//! beside its raw primitives in the same run (HMAC-SHA256 of the cryptogram message plus an
//! AES-GCM decrypt of the vault record), and throughput on two threads.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard::core::ManualClock;
use cloudcard::{CloudCard, PaymentOutcome};
use common::{Payer, request};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn setup() -> (CloudCard, Arc<ManualClock>, Vec<Payer>) {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let outbox = Arc::new(cloudcard::wallet::InMemoryOutbox::new());
    let cc = CloudCard::demo()
        .clock(clock.clone())
        .sms(outbox.clone() as Arc<dyn cloudcard::wallet::SmsGateway>)
        .build()
        .unwrap();
    let payers = common::payers(&cc, &outbox, false);
    (cc, clock, payers)
}

fn bench_pay(c: &mut Criterion) {
    let (cc, clock, mut payers) = setup();
    let key = [3u8; 32];
    let hmac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    let cipher = Aes256Gcm::new(&key.into());
    let sealed = cipher
        .encrypt(&[1u8; 12].into(), Payload { msg: b"6222021234567890128", aad: b"tok_x" })
        .unwrap();
    let message = [0x42u8; 96];

    let mut group = c.benchmark_group("pay_end_to_end");
    group.throughput(Throughput::Elements(1));
    group.bench_function("baseline_hmac_plus_aes_gcm_decrypt", |b| {
        b.iter(|| {
            let mut mac = hmac.clone();
            mac.update(black_box(&message));
            let tag = mac.finalize();
            let pan =
                cipher.decrypt(&[1u8; 12].into(), Payload { msg: &sealed, aad: b"tok_x" }).unwrap();
            black_box((tag, pan))
        });
    });
    let mut n = 0usize;
    group.bench_function("pay", |b| {
        b.iter_batched(
            || {
                n += 1;
                // Spread the payments: a burst rule watches 10 minutes.
                clock.advance(TimeDelta::minutes(4));
                // The timed jobs run as a deployment runs them (every minute or so): the loss
                // log keeps its 7 days, not every payment ever made.
                if n.is_multiple_of(500) {
                    cc.run_due().unwrap();
                }
                let i = n % payers.len();
                request(&cc, &clock, &mut payers[i])
            },
            |req| {
                let outcome = cc.pay(&req).unwrap();
                assert!(matches!(outcome, PaymentOutcome::Approved { .. }), "{outcome:?}");
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();

    // Throughput on two threads, one payer each: the phone's cryptogram and the cloud's pay().
    // The manual clock moves 4 minutes a payment (the burst rule watches 10); a read-write lock
    // keeps it from moving while a payment is in flight, so no cryptogram goes stale, while the
    // payments themselves run concurrently.
    let per_thread = 2_000;
    let time = std::sync::RwLock::new(());
    let (first, rest) = payers.split_at_mut(1);
    let start = Instant::now();
    std::thread::scope(|s| {
        for p in [&mut first[0], &mut rest[0]] {
            let (cc, clock, time) = (&cc, &clock, &time);
            s.spawn(move || {
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
    eprintln!(
        "pay() on 2 threads: {} payments in {:?} = {:.0} payments/s",
        2 * per_thread,
        elapsed,
        f64::from(2 * per_thread) / elapsed.as_secs_f64()
    );
}

criterion_group!(pay, bench_pay);
criterion_main!(pay);

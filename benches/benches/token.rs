//! Token benches, each beside its raw baseline, at 10k and 1M tokens in the vault: provision
//! vs AES-GCM encrypt + two HMACs + a map insert; detokenize vs a map hit + AES-GCM decrypt;
//! verify vs HMAC-SHA256 of the same message keyed per call + a map hit. Also prints the heap
//! bytes per token (its record and the indexes over it), the median, p99.9 and worst
//! provision while a vault grows to 1M, on one thread and on two at once, and at 1M
//! detokenize's and verify's ratios to their baselines again, timed in turn with them block by
//! block (`cloudcard_benches::in_turn`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use rand::RngExt;
use std::sync::Arc;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard_benches::{
    CountingAllocator, Workload, in_turn, print_tail, thread_rates, time_ns, timed_calls,
    touch_memory, touch_memory_for_threads,
};
use cloudcard_core::{Amount, DeviceId, IssuerTable, ManualClock};
use cloudcard_token::{
    DeviceCard, LukPolicy, PaymentData, ProvisionRequest, TokenBin, TokenConfig, TokenKeys,
    TokenService,
};
use common::{device, pan};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator::new();

/// Batches small enough that their inputs and outputs live in reused heap: criterion keeps a
/// batch's outputs in one vector, pushed while timed, and a large batch's vector is fresh
/// memory whose page faults (a cost of the bench, not of the call) would land in the figure.
const BATCH: BatchSize = BatchSize::NumIterations(64);

struct Vault {
    tokens: TokenService,
    clock: Arc<ManualClock>,
    next: u64,
    /// Every provisioned card as its phone holds it, when asked for: random access over the
    /// whole population.
    cards: Vec<(DeviceId, DeviceCard)>,
}

/// An empty token service, its keys limited only by time.
fn service() -> (TokenService, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let mut config = TokenConfig::new(TokenBin::new("990001", IssuerTable::builtin()).unwrap());
    config.luk_policy = LukPolicy {
        max_transactions: u32::MAX,
        max_amount: Amount::MAX,
        ttl: TimeDelta::days(3650),
    };
    let tokens = TokenService::new(config, TokenKeys::random(), Default::default(), clock.clone());
    (tokens, clock)
}

/// A vault of `size` tokens, every card kept as its phone holds it; with the heap bytes each
/// token takes in the service (its record and the indexes over it, the phones' cards left
/// out), and each provision's time in nanoseconds as the vault grew, each followed by a call
/// of [`hashing`] timed alike (see [`timed_calls`]).
fn vault(size: u64) -> (Vault, isize, (Vec<u64>, Vec<u64>)) {
    let mut cards = Vec::with_capacity(size as usize);
    let mut nanos = (Vec::with_capacity(size as usize), Vec::with_capacity(size as usize));
    let baseline = hashing();
    let before = GLOBAL.live_bytes();
    let (tokens, clock) = service();
    for i in 0..size {
        let request = ProvisionRequest::new(pan(i), device(i));
        let mut provisioned = None;
        nanos.0.push(time_ns(|| provisioned = Some(tokens.provision(request).unwrap())));
        nanos.1.push(time_ns(|| baseline(i as usize)));
        cards.push((device(i), provisioned.unwrap().device_card));
    }
    let after = GLOBAL.live_bytes();
    // What the phones' cards hold on the heap: as much again as a copy of them takes, less
    // the copy's own buffer (the cards' buffer was made before counting began).
    let copy = cards.clone();
    let buffer = (copy.capacity() * size_of::<(DeviceId, DeviceCard)>()) as isize;
    let cards_heap = GLOBAL.live_bytes() - after - buffer;
    drop(copy);
    let per_token = (after - before - cards_heap) / size as isize;
    (Vault { tokens, clock, next: size, cards }, per_token, nanos)
}

/// The provisions' baseline: something that never stalls and takes about as long as a
/// provision, hashing an index 96 times.
fn hashing() -> impl Fn(usize) + Sync {
    let hasher = std::hash::RandomState::new();
    move |i| {
        for round in 0..96u64 {
            black_box(std::hash::BuildHasher::hash_one(&hasher, (black_box(i), round)));
        }
    }
}

/// Each provision timed on two threads at once while they grow a fresh vault to `size`: what
/// one provision waits while the other grows the shared indexes.
fn two_growing(size: u64) {
    // Each thread's share of the vault goes into memory the host has handed over first.
    touch_memory_for_threads(2, 1 << 30);
    let (tokens, _) = service();
    let half = (size / 2) as usize;
    let (nanos, base) = timed_calls(
        2,
        half,
        &|i| {
            let i = i as u64;
            let request = ProvisionRequest::new(pan(i), device(i));
            black_box(tokens.provision(request).unwrap());
        },
        &hashing(),
    );
    print_tail(
        &format!("provision on 2 threads growing a vault to {size}"),
        nanos,
        "baseline hashing an index 96 times on 2 threads, timed alike",
        base,
    );
}

fn payment(v: &Vault) -> PaymentData {
    common::payment_at(cloudcard_core::Clock::now(&*v.clock))
}

fn bench_size(c: &mut Criterion, label: &str, mut v: Vault) {
    let size = v.cards.len() as u64;
    let mut rng = rand::rng();
    let key = [7u8; 32];
    let cipher = Aes256Gcm::new(&key.into());
    let hmac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    let plain = b"6200000000000000005|09/29";
    let nonce = [1u8; 12];
    let aad = b"tok_0123456789abcdef0123456789abcdef";

    let mut card: DeviceCard = v
        .tokens
        .provision(ProvisionRequest::new(pan(9_999_999_999), device(9_999_999_999)))
        .unwrap()
        .device_card;
    let dev = device(9_999_999_999);
    let data = payment(&v);
    // Every card pays once first, as in a service that has run a while: each token's key is
    // then kept prepared beside its record (a token's first cryptogram since the service
    // started derives it).
    for (dev, card) in &mut v.cards {
        v.tokens.verify(dev, &card.cryptogram(data.clone()).unwrap()).unwrap();
    }

    // The baselines' map, as large as the vault, hit at a random key of the population as
    // detokenize and verify find their token.
    let index = number_map(size);
    let numbers: Vec<String> = index.keys().cloned().collect();

    let sealed = cipher.encrypt(&nonce.into(), Payload { msg: plain, aad }).unwrap();
    let message = [0x5au8; 96]; // about the size of the canonical cryptogram message
    // The goals' denominators, timed alike by criterion and in turn (below). Detokenizing's: a
    // map hit and one AES-GCM decrypt.
    let open_baseline = |number: &str| {
        let found = index.get(number).copied();
        (found, cipher.decrypt(&nonce.into(), Payload { msg: &sealed, aad }).unwrap())
    };
    // Verifying's: a map hit and one HMAC-SHA256 keyed for this call (a cryptogram is checked
    // under its own limited-use key, so the key setup is part of the work).
    let mac_baseline = |number: &str| {
        let found = index.get(number).copied();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(black_box(&key)).unwrap();
        mac.update(&message);
        (found, mac.finalize())
    };

    let mut group = c.benchmark_group(format!("detokenize_{label}"));
    group.bench_function("baseline_map_lookup_plus_aes_gcm_decrypt", |b| {
        b.iter_batched(|| any_number(&numbers, &mut rng), &open_baseline, BATCH);
    });
    // A proof opens the vault once: each iteration gets its own, for a random card of the
    // population, verified outside the timing.
    group.bench_function("detokenize", |b| {
        b.iter_batched(
            || proof(&v.tokens, &mut v.cards, &mut rng, &data),
            |verified| v.tokens.detokenize(verified).unwrap(),
            BATCH,
        );
    });
    group.finish();

    let mut group = c.benchmark_group(format!("verify_{label}"));
    group.bench_function("baseline_hmac_sha256_with_key_setup_plus_map_lookup", |b| {
        b.iter_batched(|| any_number(&numbers, &mut rng), &mac_baseline, BATCH);
    });
    // A random card of the population each time, as payments arrive: the token's record, its
    // prepared key with it, is found cold.
    group.bench_function("verify", |b| {
        b.iter_batched(
            || cryptogram(&mut v.cards, &mut rng, &data),
            |(dev, c)| v.tokens.verify(&dev, &c).unwrap(),
            BATCH,
        );
    });
    // One card again and again: its record and prepared key stay in cache.
    group.bench_function("verify_same_card", |b| {
        b.iter_batched(
            || card.cryptogram(data.clone()).unwrap(),
            |c| v.tokens.verify(&dev, &c).unwrap(),
            BATCH,
        );
    });
    group.finish();

    // At a million, the two goals' ratios again, each block of calls timed in turn with a
    // block of its baseline (see `in_turn`): the host drifts between criterion's functions,
    // seconds apart. Not at 10k, where the baseline's map would stay in a cache between its
    // own batches but not between the vault's.
    if size > 100_000 {
        let (tokens, cards) = (&v.tokens, &mut v.cards);
        let (mut pick, mut pick_base) = (rand::rng(), rand::rng());
        let detokenize = in_turn(
            64,
            || proof(tokens, cards, &mut pick, &data),
            |verified| tokens.detokenize(verified).unwrap(),
            || any_number(&numbers, &mut pick_base),
            &open_baseline,
        );
        eprintln!("detokenize_{label}: {}", detokenize.describe());
        let verify = in_turn(
            64,
            || cryptogram(cards, &mut pick, &data),
            |(dev, c)| tokens.verify(&dev, &c).unwrap(),
            || any_number(&numbers, &mut pick_base),
            &mac_baseline,
        );
        eprintln!("verify_{label}: {}", verify.describe());
    }

    // Last: provisioning grows the vault, and the groups above measure it at its size. Here
    // it grows by at most half its size: past that, a fresh vault of its size takes its place,
    // and a fresh map the baseline's, untimed. At a million the runs are kept short enough
    // never to get there (a fresh vault takes a minute): from 1M to about 1.3M cards. The
    // growth (the baseline's map and the vault) goes into memory the host has handed over
    // first, as the risk bench's growth does: what is timed is the code's first writes to its
    // memory, not the host's.
    touch_memory(3 << 30);
    let limit = size + size / 2;
    let mut group = c.benchmark_group(format!("provision_{label}"));
    if size > 100_000 {
        group
            .sample_size(20)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500));
    } else {
        group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    }
    // The goal's denominator: the card sealed, two keyed MACs of it (its fingerprint and its
    // account reference) and a new number added to a map as large as the vault.
    let mut baseline = (index, size);
    group.bench_function("baseline_aes_gcm_encrypt_plus_2_hmac_plus_map_insert", |b| {
        b.iter_custom(|iters| {
            grown_batches(
                iters,
                &mut baseline,
                |(index, added)| {
                    if *added >= limit {
                        *index = number_map(size);
                        *added = size;
                    }
                    limit - *added
                },
                |(_, added)| {
                    *added += 1;
                    (format!("99000100000{added:08}"), *added)
                },
                |(index, _), (number, i)| {
                    let sealed =
                        cipher.encrypt(&nonce.into(), Payload { msg: plain, aad }).unwrap();
                    let (mut fingerprint, mut par) = (hmac.clone(), hmac.clone());
                    fingerprint.update(plain);
                    par.update(b"par");
                    par.update(plain);
                    index.insert(number, i);
                    (sealed, fingerprint.finalize(), par.finalize())
                },
            )
        });
    });
    // The baseline's map is dropped only after the provisions: a million strings freed just
    // before them would be consolidated by the allocator on their first large allocation.
    group.bench_function("provision", |b| {
        b.iter_custom(|iters| {
            grown_batches(
                iters,
                &mut v,
                |v| {
                    if v.next >= limit {
                        *v = vault(size).0;
                    }
                    limit - v.next
                },
                |v| {
                    v.next += 1;
                    ProvisionRequest::new(pan(v.next), device(v.next))
                },
                |v, request| v.tokens.provision(request).unwrap(),
            )
        });
    });
    group.finish();
    drop(baseline);
}

/// The time of `iters` calls, each on an input made untimed, in batches of 64 whose outputs
/// are dropped untimed (as criterion's `iter_batched` does). Before each batch, `room`
/// readies the state and says how many calls it takes before it must be readied again.
fn grown_batches<S, I, O>(
    iters: u64,
    state: &mut S,
    mut room: impl FnMut(&mut S) -> u64,
    mut input: impl FnMut(&mut S) -> I,
    mut call: impl FnMut(&mut S, I) -> O,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let (mut inputs, mut outputs) = (Vec::with_capacity(64), Vec::with_capacity(64));
    while left > 0 {
        let n = left.min(64).min(room(state).max(1));
        inputs.extend((0..n).map(|_| input(state)));
        let start = Instant::now();
        for one in inputs.drain(..) {
            outputs.push(call(state, one));
        }
        total += start.elapsed();
        black_box(&outputs);
        outputs.clear();
        left -= n;
    }
    total
}

/// A token number of the baselines' map, at random.
fn any_number<'a>(numbers: &'a [String], rng: &mut impl RngExt) -> &'a str {
    numbers[rng.random_range(0..numbers.len())].as_str()
}

/// A fresh cryptogram of a card of the population, at random, with its phone.
fn cryptogram(
    cards: &mut [(DeviceId, DeviceCard)],
    rng: &mut impl RngExt,
    data: &PaymentData,
) -> (DeviceId, cloudcard_token::Cryptogram) {
    let (dev, card) = &mut cards[rng.random_range(0..cards.len())];
    (dev.clone(), card.cryptogram(data.clone()).unwrap())
}

/// A fresh cryptogram of a card of the population, at random, verified: a proof that opens
/// the vault once.
fn proof(
    tokens: &TokenService,
    cards: &mut [(DeviceId, DeviceCard)],
    rng: &mut impl RngExt,
    data: &PaymentData,
) -> cloudcard_token::VerifiedCryptogram {
    let (dev, cryptogram) = cryptogram(cards, rng, data);
    tokens.verify(&dev, &cryptogram).unwrap()
}

/// The baselines' map of token numbers: `size` of them.
fn number_map(size: u64) -> HashMap<String, u64> {
    (0..size).map(|i| (format!("99000100000{i:08}"), i)).collect()
}

/// Cache-hot verification on one thread and on two, each thread checking cryptograms made in
/// advance (only `verify` is timed) of its own 64 cards in turn, beside the same measure of its
/// primitive (an HMAC-SHA256 keyed per call): the two-thread speed-ups. With one card a thread,
/// the figure was a lottery: most runs gave the threads locks of their own, and one run in
/// thirty or so gave them the same shard, whose lock they then took in turns (0.6-0.7x). Over
/// 64 cards each, the threads meet on the locks of the shards their cards share, as a
/// service's threads do.
fn verify_scaling() {
    const PER_THREAD: usize = 50_000;
    const CARDS: usize = 64;
    let (mut v, _, _) = vault(1_000);
    let data = payment(&v);
    // Thread t's i-th call checks card i % CARDS of its own, each card's cryptograms in the
    // order they were made.
    let batches: Vec<Vec<(DeviceId, cloudcard_token::Cryptogram)>> = v.cards[..3 * CARDS]
        .chunks_mut(CARDS)
        .map(|cards| {
            (0..PER_THREAD)
                .map(|i| {
                    let (dev, card) = &mut cards[i % CARDS];
                    (dev.clone(), card.cryptogram(data.clone()).unwrap())
                })
                .collect()
        })
        .collect();
    let message = [0x5au8; 96];
    let (work, base) = thread_rates(
        &Workload {
            n: PER_THREAD,
            work: &|t, i| {
                let (dev, cryptogram) = &batches[t][i];
                black_box(v.tokens.verify(dev, cryptogram).unwrap());
            },
        },
        &Workload {
            n: PER_THREAD,
            work: &|t, _| {
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&[t as u8; 32]).unwrap();
                mac.update(black_box(&message));
                black_box(mac.finalize());
            },
        },
    );
    eprintln!(
        "verify, cache-hot: {} (baseline HMAC-SHA256 with key setup: {:.2}x, {:.2}x by each \
         thread's own time)",
        work.describe("verifications"),
        base.speedup(),
        base.speedup_each()
    );
}

fn benches(c: &mut Criterion) {
    // Both vaults first, their memory counted; then nothing is counted, so the timed work
    // (and two threads at once) pays no shared counter on each allocation.
    // CLOUDCARD_BENCH_SMALL=1 leaves out the 1M vault (a minute to build), for profiling.
    let large_too = std::env::var_os("CLOUDCARD_BENCH_SMALL").is_none();
    cloudcard_benches::print_host();
    // The vaults grow into memory the host has handed over first: the provisions' tail below
    // is the code's, not the host's first handing over of pages.
    touch_memory(3 << 30);
    let (small, small_bytes, _) = vault(10_000);
    let large = large_too.then(|| vault(1_000_000));
    GLOBAL.stop();
    if let Some((_, _, (nanos, base))) = &large {
        print_tail(
            "provision while the vault grows to 1000000",
            nanos.clone(),
            "baseline hashing an index 96 times, timed alike",
            base.clone(),
        );
        two_growing(1_000_000);
    }
    eprintln!(
        "a token record as a store hands it out: {} bytes inline (the in-memory store keeps 424, its prepared key with it)",
        size_of::<cloudcard_token::TokenRecord>()
    );
    eprintln!("heap bytes per token (record + indexes): {small_bytes} in a 10k vault");
    if let Some((_, large_bytes, _)) = &large {
        eprintln!("heap bytes per token (record + indexes): {large_bytes} in a 1M vault");
    }
    verify_scaling();
    bench_size(c, "10k", small);
    if let Some((large, _, _)) = large {
        bench_size(c, "1m", large);
    }
}

criterion_group!(token, benches);
criterion_main!(token);

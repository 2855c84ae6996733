//! Wallet benches: payment-password verification at the production argon2id cost, beside raw
//! argon2id at the same cost.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;

use argon2::{Algorithm, Argon2, Params, Version};
use cloudcard_masking::Secret;
use cloudcard_wallet::{Argon2Cost, PasswordHasher};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench_password(c: &mut Criterion) {
    let pepper = b"server-side pepper".to_vec();
    let hasher = PasswordHasher::new(Argon2Cost::PRODUCTION, Secret::new(pepper.clone()));
    let stored = hasher.hash(&Secret::new("135790".into())).unwrap();
    let guess = Secret::new(String::from("135790"));
    let cost = Argon2Cost::PRODUCTION;
    let params = Params::new(cost.memory_kib, cost.iterations, cost.lanes, Some(32)).unwrap();
    let raw =
        Argon2::new_with_secret(&pepper, Algorithm::Argon2id, Version::V0x13, params).unwrap();
    let mut group = c.benchmark_group("payment_password_verify");
    group.sample_size(20);
    group.bench_function("baseline_raw_argon2id_19mib_t2", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            raw.hash_password_into(black_box(b"135790"), &[7u8; 16], &mut out).unwrap();
            out
        });
    });
    group.bench_function("verify_payment_password", |b| {
        b.iter(|| hasher.verify(black_box(&guess), &stored).unwrap())
    });
    group.finish();
}

criterion_group!(wallet, bench_password);
criterion_main!(wallet);

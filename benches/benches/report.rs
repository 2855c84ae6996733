//! Lookup benches: generating a 16-bank × 20-card report beside its raw baseline (serialize +
//! AES-GCM seal of the same report), and purging 1k expired reports among 10k vs among 1M
//! stored. Also prints the heap bytes per stored report.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use cloudcard_benches::CountingAllocator;
use cloudcard_core::{Bank, CardKind, QueryId, RequestId, UserId};
use cloudcard_masking::Secret;
use cloudcard_masking::checks::luhn_check_digit;
use cloudcard_report::{
    Applicant, Application, BankAnswer, Consent, FoundCard, InMemoryLookupStore, LookupConfig,
    LookupError, LookupService, LookupStore, Queue, Region, RequestChannel, Verifier,
};

/// Checks that pass: the bench measures the lookup, not the wallet's checks.
#[derive(Debug)]
struct Passes;

impl Verifier for Passes {
    fn face(&self, _: &UserId, _: &Secret<String>) -> Result<bool, LookupError> {
        Ok(true)
    }
    fn code(&self, _: &UserId, _: &Secret<String>) -> Result<bool, LookupError> {
        Ok(true)
    }
    fn password(&self, _: &UserId, _: &Secret<String>) -> Result<bool, LookupError> {
        Ok(true)
    }
}

fn service() -> LookupService {
    LookupService::new(LookupConfig::default(), InMemoryLookupStore::new())
        .with_verifier(std::sync::Arc::new(Passes))
}
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator::new();

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

fn pan(seed: u64) -> cloudcard_core::Pan {
    let mut digits = format!("62{seed:016}");
    digits.push(char::from(luhn_check_digit(digits.as_bytes()).unwrap()));
    digits.parse().unwrap()
}

/// An accepted query of `user` at all 16 banks.
fn accepted(lookup: &LookupService, user: &UserId, banks: &[Bank], now: DateTime<Utc>) -> QueryId {
    let application = Application {
        applicant: Applicant {
            user: user.clone(),
            real_name_verified: true,
            region: Region::SHANGHAI,
        },
        channel: RequestChannel::App,
        request: RequestId::random(),
        banks: banks.iter().copied().collect(),
    };
    let query = lookup.apply(&application, now).unwrap();
    let consent = Consent {
        agreement_version: lookup.config().agreement_version.clone(),
        face: Secret::new("face".into()),
        code: Secret::new("code".into()),
    };
    lookup.submit(&query, &consent, now).unwrap();
    query
}

fn bench_generate(c: &mut Criterion) {
    let lookup = service();
    let answers: Vec<(Bank, BankAnswer)> = Bank::NATIONAL
        .iter()
        .enumerate()
        .map(|(b, bank)| {
            let cards = (0..20)
                .map(|i| FoundCard {
                    pan: pan((b * 100 + i) as u64),
                    kind: if i % 3 == 0 { CardKind::Credit } else { CardKind::Debit },
                    usage: None,
                })
                .collect();
            (*bank, BankAnswer::Cards(cards))
        })
        .collect();
    // The baseline: the same report, serialized and sealed, with nothing else.
    let sample_user: UserId = "usr_sample".parse().unwrap();
    let q = accepted(&lookup, &sample_user, &Bank::NATIONAL, t0());
    for (bank, answer) in &answers {
        lookup.record_answer(&q, *bank, answer.clone(), t0()).unwrap();
    }
    let report = lookup.view(&q, &sample_user, &Secret::new("pw".into()), t0()).unwrap();
    assert_eq!(report.details.len(), 320);
    let cipher = Aes256Gcm::new(&[9u8; 32].into());

    let mut group = c.benchmark_group("generate_report_16_banks_x_20_cards");
    group.bench_function("baseline_serialize_and_aes_gcm_seal", |b| {
        b.iter(|| {
            let plain = serde_json::to_vec(black_box(&report)).unwrap();
            cipher.encrypt(&[1u8; 12].into(), Payload { msg: &plain, aad: b"qry" }).unwrap()
        });
    });
    let mut n = 0u64;
    group.bench_function("record_16_answers_and_generate", |b| {
        b.iter_batched(
            || {
                n += 1;
                let user: UserId = format!("usr_{n}").parse().unwrap();
                (accepted(&lookup, &user, &Bank::NATIONAL, t0()), answers.clone())
            },
            |(query, answers)| {
                for (bank, answer) in answers {
                    black_box(lookup.record_answer(&query, bank, answer, t0()).unwrap());
                }
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// Stores `n` one-card reports generated through the service; returns the service and the
/// bytes each took.
fn stored(n: usize) -> (LookupService, isize) {
    let lookup = service();
    let before = GLOBAL.live_bytes();
    for i in 0..n {
        let user: UserId = format!("usr_{i}").parse().unwrap();
        // Spread generation over 30 days so expiries are spread too.
        let at = t0() + TimeDelta::minutes((i % 43_200) as i64);
        let q = accepted(&lookup, &user, &[Bank::Icbc], at);
        let card = FoundCard { pan: pan(i as u64), kind: CardKind::Debit, usage: None };
        lookup.record_answer(&q, Bank::Icbc, BankAnswer::Cards(vec![card]), at).unwrap();
    }
    let per = (GLOBAL.live_bytes() - before) / n as isize;
    (lookup, per)
}

fn bench_purge(c: &mut Criterion) {
    for (label, n) in [("10k", 10_000usize), ("1m", 1_000_000)] {
        let (lookup, per) = stored(n);
        eprintln!(
            "{label}: heap bytes per stored report (record, sealed content, key, queues, audit): {per}"
        );
        // Every iteration plants 1k generated reports already due, far earlier than anything
        // stored (a real record, sealed content and key each), then purges them: the store
        // around them stays at n.
        let due_at = t0() - TimeDelta::days(400);
        let store = lookup.store();
        let template_id = {
            let user: UserId = "usr_template".parse().unwrap();
            let q = accepted(&lookup, &user, &[Bank::Icbc], due_at - TimeDelta::days(7));
            let card = FoundCard { pan: pan(7), kind: CardKind::Debit, usage: None };
            lookup
                .record_answer(
                    &q,
                    Bank::Icbc,
                    BankAnswer::Cards(vec![card]),
                    due_at - TimeDelta::days(7),
                )
                .unwrap();
            assert_eq!(lookup.purge_expired(due_at).unwrap(), 1);
            q
        };
        let template = store.get(&template_id).unwrap().unwrap();
        let sealed = cloudcard_report::SealedReport { nonce: [3; 12], ciphertext: vec![0x5a; 420] };
        let mut group = c.benchmark_group(format!("purge_1k_expired_among_{label}"));
        group.sample_size(20);
        group.bench_function("purge_expired", |b| {
            b.iter_batched(
                || {
                    for _ in 0..1_000 {
                        let mut record = template.clone();
                        record.id = QueryId::random();
                        record.state = cloudcard_report::QueryState::Generated;
                        let key = cloudcard_masking::Secret::new([1; 32]);
                        store.put_sealed(&record.id, &sealed, &key).unwrap();
                        store.schedule(Queue::Expiry, due_at, &record.id).unwrap();
                        store.put(&record).unwrap();
                    }
                },
                |()| assert_eq!(lookup.purge_expired(due_at).unwrap(), 1_000),
                BatchSize::PerIteration,
            );
        });
        group.finish();
    }
}

criterion_group!(report, bench_generate, bench_purge);
criterion_main!(report);

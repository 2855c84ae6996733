//! Masking benches: `MaskPolicy::card` against a hand-written loop, and `redact` over 1 MiB of
//! log-like text against a scanner built on the `regex` crate plus a Luhn check; also prints
//! each redaction timed in turn with its baseline, a few calls of each a round
//! (`cloudcard_benches::in_turn`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::borrow::Cow;
use std::hint::black_box;

use cloudcard_benches::in_turn;
use cloudcard_core::Pan;
use cloudcard_masking::checks::luhn_valid;
use cloudcard_masking::{MaskPolicy, redact};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use regex::Regex;

const PAN: &str = "6212345678900000003";

/// The baseline: first 4, masked middle in groups of 4, last 4, straight into a buffer.
fn hand_mask(digits: &str, out: &mut String) {
    let bytes = digits.as_bytes();
    let n = bytes.len();
    out.push_str(&digits[..4]);
    for i in 0..n - 8 {
        if i % 4 == 0 {
            out.push(' ');
        }
        out.push('*');
    }
    out.push(' ');
    out.push_str(&digits[n - 4..]);
}

fn bench_mask(c: &mut Criterion) {
    cloudcard_benches::print_host();
    let mut group = c.benchmark_group("mask_pan");
    let mut buf = String::with_capacity(64);
    hand_mask(PAN, &mut buf);
    assert_eq!(buf, MaskPolicy::card().mask(PAN));
    group.bench_function("baseline_hand_loop", |b| {
        b.iter(|| {
            buf.clear();
            hand_mask(black_box(PAN), &mut buf);
            black_box(&buf);
        });
    });
    let policy = MaskPolicy::card();
    group.bench_function("mask_policy_card", |b| {
        b.iter(|| {
            buf.clear();
            policy.mask_into(black_box(PAN), &mut buf);
            black_box(&buf);
        });
    });
    let pan: Pan = PAN.parse().unwrap();
    group.bench_function("pan_masked_string", |b| b.iter(|| black_box(&pan).masked()));
    group.finish();
}

/// About 1 MiB of log lines; with `cards`, one card number per KiB.
fn corpus(cards: bool) -> String {
    let lines = [
        "2026-11-23 18:20:16.123 INFO  [req=7f3a9c2e] user=usr_91c2 paid 12.34 at mch_4021 status=200 latency=12ms\n",
        "2026-11-23 18:20:16.124 WARN  [req=7f3a9c2f] retry 2/3 for order 20261123000042 after 250ms timeout\n",
        "2026-11-23 18:20:16.131 DEBUG [req=7f3a9c30] token refresh device=dev_77 seq=1042 ttl=86400 ok\n",
        "2026-11-23 18:20:16.140 INFO  [req=7f3a9c31] 支付成功 金额 88.00 元 商户 上海某便利店 终端 T0192\n",
    ];
    let mut text = String::with_capacity(1 << 20);
    let mut next_card = 1024;
    let mut i = 0;
    while text.len() < 1 << 20 {
        text.push_str(lines[i % lines.len()]);
        i += 1;
        if cards && text.len() >= next_card {
            text.push_str("card=6200 0000 0000 0005 ok\n");
            next_card += 1024;
        }
    }
    text
}

/// The baseline: a regex finds digit runs (optionally grouped), a Luhn check confirms, and the
/// middle digits are masked.
fn regex_redact<'a>(re: &Regex, text: &'a str) -> Cow<'a, str> {
    re.replace_all(text, |caps: &regex::Captures<'_>| {
        let m = &caps[0];
        let digits: Vec<u8> = m.bytes().filter(u8::is_ascii_digit).collect();
        if !(13..=19).contains(&digits.len()) || !luhn_valid(&digits) {
            return m.to_owned();
        }
        let total = digits.len();
        let mut n = 0;
        m.chars()
            .map(|ch| {
                if ch.is_ascii_digit() {
                    n += 1;
                    if n > 4 && n <= total - 4 { '*' } else { ch }
                } else {
                    ch
                }
            })
            .collect::<String>()
    })
}

fn bench_redact(c: &mut Criterion) {
    let re = Regex::new(r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)").unwrap();
    for (name, cards) in [("redact_1mib_no_card", false), ("redact_1mib_card_per_kib", true)] {
        let text = corpus(cards);
        let ours = redact(&text);
        assert_eq!(matches!(ours, Cow::Owned(_)), cards);
        assert_eq!(ours, regex_redact(&re, &text));
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function("baseline_regex_luhn", |b| {
            b.iter(|| regex_redact(&re, black_box(&text)).len())
        });
        group.bench_function("redact", |b| b.iter(|| redact(black_box(&text)).len()));
        group.finish();
        // The two in turn, a few calls of each a round (see `in_turn`).
        let turn = in_turn(
            4,
            || &text,
            |text| redact(black_box(text)).len(),
            || &text,
            |text| regex_redact(&re, black_box(text)).len(),
        );
        let gb_s = text.len() as f64 / turn.nanos.0;
        eprintln!("{name}: {} (regex + Luhn); {gb_s:.2} GB/s", turn.describe());
    }
}

criterion_group!(benches, bench_mask, bench_redact);
criterion_main!(benches);

//! Risk rules from a custom rule file: load and validate `examples/data/merchant-rules.toml`,
//! decide payments and show which rules fired with what they read, shadow-test a stricter set,
//! backtest a day of history, and swap the live set.
//!
//! Run it with `cargo run --example risk_rules`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard::core::{Amount, Channel, ManualClock};
use cloudcard::risk::{Authentication, Input, Mcc, RiskConfig, RiskEngine, RuleSet, Transaction};

fn main() -> Result<(), cloudcard::risk::RiskError> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/merchant-rules.toml");
    let text = std::fs::read_to_string(path).expect("the rule file ships with the examples");
    let config = RiskConfig::default();
    let rules = RuleSet::from_toml(&text, &config.windows)?;
    println!("loaded {} rules, version {}", rules.len(), rules.version());
    let broken = text.replace("user.count.1h", "user.count.2h");
    println!(
        "a rule over an unknown window is refused: {}",
        RuleSet::from_toml(&broken, &config.windows).unwrap_err()
    );

    // 23:30 Beijing.
    let start = Utc.with_ymd_and_hms(2026, 12, 1, 15, 30, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let engine = RiskEngine::new(config, rules, clock.clone())?;
    let mut buf = engine.buffer();
    let payment = |i: u32, fen: u64, mcc: u16, channel| Transaction {
        id: format!("txn_{i}").parse().unwrap(),
        card: "card_1".parse().unwrap(),
        token: None,
        device: Some("dev_1".parse().unwrap()),
        user: "usr_1".parse().unwrap(),
        amount: Amount::from_fen(fen),
        merchant: "mch_1".parse().unwrap(),
        mcc: Mcc(mcc),
        channel,
        at: start + TimeDelta::minutes(i64::from(i)),
        auth: Authentication::Fingerprint,
        device_registered_at: None,
    };
    for t in [
        payment(1, 2_000, 5411, Channel::Nfc),
        payment(2, 80_000, 5732, Channel::Online),
        payment(3, 500, 7995, Channel::Qr),
    ] {
        let d = engine.decide(&t, &mut buf);
        println!("\n{} ¥{} via {}: {} ({})", t.id, t.amount, t.channel, d.outcome, d.reason);
        for fired in buf.fired() {
            let reads: Vec<String> = buf
                .reads_of(fired)
                .iter()
                .map(|r| match r.input {
                    // Amounts are in fen inside the engine; people read yuan.
                    Input::Feature(f)
                        if f.to_string().contains("amount") || f.to_string().contains("sum") =>
                    {
                        format!("{f}=¥{}", cloudcard::Amount::from_fen(r.value))
                    }
                    Input::Feature(f) => format!("{f}={}", r.value),
                    Input::Mcc => format!("mcc={}", r.value),
                    Input::Channel => format!("channel code={}", r.value),
                    Input::Auth => format!("verification code={}", r.value),
                })
                .collect();
            println!("  fired {} -> {}, read {}", fired.rule, fired.action, reads.join(", "));
        }
        engine.record(&t, d.outcome != cloudcard::risk::Outcome::Decline)?;
    }

    let stricter =
        RuleSet::from_toml(&text.replace("value = 50000", "value = 10000"), engine.windows())?;
    engine.set_shadow(Some(stricter));
    let history: Vec<Transaction> =
        (10..60).map(|i| payment(i, 20_000 + u64::from(i) * 500, 5732, Channel::Online)).collect();
    let mut shadow_buf = engine.buffer();
    for t in &history {
        engine.decide(t, &mut shadow_buf);
    }
    if let Some(shadow) = engine.shadow_report() {
        println!(
            "\nshadow set {}: {} decisions, {} would differ",
            shadow.version, shadow.decisions, shadow.disagreements
        );
    }
    let backtest = engine.backtest(RuleSet::from_toml(&text, engine.windows())?, &history)?;
    let [approve, challenge, review, decline] = backtest.outcomes;
    let fired: Vec<String> =
        backtest.per_rule.iter().map(|(rule, n)| format!("{rule} {n} times")).collect();
    println!(
        "backtest of {} payments: {approve} approved, {challenge} challenged, {review} held for \
         review, {decline} declined; fired: {}",
        backtest.decisions,
        fired.join(", ")
    );
    let old = engine.swap_rules(RuleSet::default_rules(engine.windows())?);
    println!("swapped live set {} for {}", old.version(), engine.rules().version());
    Ok(())
}

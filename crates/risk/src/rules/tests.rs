//! Unit tests, compiled only under `#[cfg(test)]` (see the parent module).
#![cfg(test)]

use super::*;
use crate::spec::{RuleSpec, ScoreThresholds};
use proptest::prelude::*;

fn windows() -> WindowSet {
    WindowSet::default()
}

fn load_json(text: &str) -> Result<RuleSet, RiskError> {
    RuleSet::from_json(text, &windows())
}

#[test]
fn the_shipped_rules_load() {
    let set = RuleSet::default_rules(&windows()).unwrap();
    assert!(set.len() >= 10);
    assert_eq!(&**set.version(), "cloudcard-default-2026.11");
    // What a decision gathers: card 10m, 1h, 24h; device 1h; nothing of the token or user.
    assert_eq!(set.windows_read(crate::EntityKind::Card), 0b0111);
    assert_eq!(set.windows_read(crate::EntityKind::Device), 0b0010);
    assert_eq!(set.windows_read(crate::EntityKind::Token), 0);
    assert_eq!(set.windows_read(crate::EntityKind::User), 0);
}

#[test]
fn json_and_toml_say_the_same() {
    let json = r#"{"version":"v1","rules":[{"id":"big","when":{"compare":{"feature":"amount","op":">=","value":100}},"action":"review"}]}"#;
    let toml = "version = \"v1\"\n[[rules]]\nid = \"big\"\nwhen = { compare = { feature = \"amount\", op = \">=\", value = 100 } }\naction = \"review\"\n";
    assert_eq!(
        load_json(json).unwrap().spec(),
        RuleSet::from_toml(toml, &windows()).unwrap().spec()
    );
}

#[test]
fn errors_name_the_bad_rule() {
    let cases = [
        (
            r#"{"id":"r1","when":{"compare":{"feature":"amout","op":">","value":1}},"action":"review"}"#,
            "r1",
            "unknown feature",
        ),
        (
            r#"{"id":"r2","when":{"compare":{"feature":"card.count.5m","op":">","value":1}},"action":"review"}"#,
            "r2",
            "no velocity window",
        ),
        (
            r#"{"id":"r3","when":{"compare":{"feature":"device.cards","op":">","value":1}},"action":"review"}"#,
            "r3",
            "not known",
        ),
        (
            r#"{"id":"r4","applies_to":"provisioning","when":{"mcc_in":[5411]},"action":"review"}"#,
            "r4",
            "binding",
        ),
        (r#"{"id":"r5","when":{"all":[]},"action":"review"}"#, "r5", "at least one"),
        (
            r#"{"id":"r6","when":{"hour_between":{"from":25,"to":3}},"action":"review"}"#,
            "r6",
            "hour_between",
        ),
        (
            r#"{"id":"R7","when":{"hour_between":{"from":1,"to":3}},"action":"review"}"#,
            "R7",
            "id must be",
        ),
        (
            r#"{"id":"r8","when":{"hour_between":{"from":1,"to":3}},"action":"maybe"}"#,
            "r8",
            "unknown variant",
        ),
    ];
    for (rule, id, needle) in cases {
        let text = format!(r#"{{"version":"v","rules":[{rule}]}}"#);
        let err = load_json(&text).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(&err, RiskError::InvalidRule { rule, .. } if rule == id), "{msg}");
        assert!(msg.contains(needle), "{msg}");
    }
    let dup = r#"{"version":"v","rules":[
        {"id":"a","when":{"compare":{"feature":"amount","op":">","value":1}},"action":"review"},
        {"id":"a","when":{"compare":{"feature":"amount","op":">","value":2}},"action":"review"}]}"#;
    assert!(load_json(dup).unwrap_err().to_string().contains("earlier rule"));
    assert!(matches!(load_json(r#"{"version":"","rules":[]}"#), Err(RiskError::InvalidSet(_))));
    assert!(matches!(load_json("not json"), Err(RiskError::Parse(_))));
    let bad_score = r#"{"version":"v","score":{"review_at":50,"decline_at":40},"rules":[]}"#;
    assert!(matches!(load_json(bad_score), Err(RiskError::InvalidSet(_))));
}

#[test]
fn a_fired_rule_holds_its_id_inline() {
    // Ids of 64 characters load, of 65 do not, and the empty one does not.
    let rule = |id: &str| {
        format!(
            r#"{{"version":"v","rules":[{{"id":"{id}","when":{{"compare":{{"feature":"amount","op":">=","value":1}}}},"action":"review"}}]}}"#
        )
    };
    let longest = "a.b-c_9".repeat(9) + "x";
    assert_eq!(longest.len(), RuleId::MAX);
    let set = load_json(&rule(&longest)).unwrap();
    for bad in [longest.clone() + "y", String::new()] {
        assert!(load_json(&rule(&bad)).unwrap_err().to_string().contains("id must be"), "{bad}");
    }
    // What fired reads, prints and serializes as the id, and outlives the rule set.
    let mut buf = DecisionBuf::for_rule_set(&set);
    let mut features = Features::new(3);
    features.amount = Some(5);
    let input = EvalInput {
        context: Context::Payment,
        features: &features,
        mcc: None,
        channel: None,
        auth: None,
    };
    set.evaluate(&input, &|_| false, Some(&mut buf));
    drop(set);
    let fired = buf.fired()[0].clone();
    assert_eq!((&*fired.rule, fired.rule.to_string()), (longest.as_str(), longest.clone()));
    assert_eq!(format!("{:?}", fired.rule), format!("RuleId({longest})"));
    assert_eq!(serde_json::to_value(&fired).unwrap()["rule"], longest.as_str());
    // Copying it or dropping it writes nothing another thread shares (no reference count).
    assert!(!std::mem::needs_drop::<FiredRule>());
}

// ---- property tests ----

fn feature() -> impl Strategy<Value = Feature> {
    prop::sample::select(vec![
        "amount",
        "hour",
        "device.age_hours",
        "card.count.10m",
        "user.sum.24h",
        "token.declined_count.1h",
        "device.sum_with_amount.7d",
    ])
    .prop_map(|s| s.parse().unwrap())
}

fn condition() -> impl Strategy<Value = ConditionSpec> {
    let op = prop::sample::select(vec![
        CompareOp::Lt,
        CompareOp::Le,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Eq,
        CompareOp::Ne,
    ]);
    let leaf =
        prop_oneof![
            (feature(), op, 0u64..1_000_000)
                .prop_map(|(feature, op, value)| ConditionSpec::Compare { feature, op, value }),
            prop::collection::vec((1000u16..9999).prop_map(Mcc), 1..4)
                .prop_map(ConditionSpec::MccIn),
            prop::collection::vec(prop::sample::select(Channel::ALL.to_vec()), 1..3)
                .prop_map(ConditionSpec::ChannelIn),
            prop::collection::vec(
                prop::sample::select(vec![
                    Authentication::None,
                    Authentication::Otp,
                    Authentication::Fingerprint
                ]),
                1..3
            )
            .prop_map(ConditionSpec::AuthIn),
            (0u8..24, 0u8..24)
                .prop_filter("distinct", |(a, b)| a != b)
                .prop_map(|(from, to)| ConditionSpec::HourBetween { from, to }),
        ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..3).prop_map(ConditionSpec::All),
            prop::collection::vec(inner.clone(), 1..3).prop_map(ConditionSpec::Any),
            inner.prop_map(|c| ConditionSpec::Not(Box::new(c))),
        ]
    })
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop::sample::select(Outcome::ALL.to_vec())
}

fn rule_set() -> impl Strategy<Value = RuleSetSpec> {
    let rule = (
        condition(),
        outcome(),
        0u32..50,
        prop::option::of(prop::sample::select(vec![FailPolicy::Open, FailPolicy::Closed])),
    );
    (
        prop::collection::vec(rule, 0..6),
        prop::sample::select(vec![FailPolicy::Open, FailPolicy::Closed]),
        prop::option::of((10u32..40, 40u32..80, 80u32..200)),
    )
        .prop_map(|(rules, fail_policy, score)| RuleSetSpec {
            version: "prop".into(),
            fail_policy,
            score: score.map(|(c, r, d)| ScoreThresholds {
                challenge_at: Some(c),
                challenge_method: Some(ChallengeMethod::Otp),
                review_at: Some(r),
                decline_at: Some(d),
            }),
            rules: rules
                .into_iter()
                .enumerate()
                .map(|(i, (when, action, score, on_error))| RuleSpec {
                    id: format!("rule-{i}"),
                    description: format!("generated rule {i}"),
                    applies_to: Context::Payment,
                    when,
                    action,
                    score,
                    on_error,
                })
                .collect(),
        })
}

/// A payment as the rules see it, with the snapshots its features read.
#[derive(Debug, Clone)]
struct Payment {
    amount: u64,
    hour: u64,
    device_age_hours: Option<u64>,
    /// The first four entity kinds' snapshots, in order.
    snapshots: Vec<crate::Snapshot>,
    mcc: Mcc,
    channel: Channel,
    auth: Authentication,
}

impl Payment {
    fn features(&self) -> Features<'_> {
        let mut f = Features::new(self.hour);
        f.amount = Some(self.amount);
        f.device_age_hours = self.device_age_hours;
        for (kind, snapshot) in crate::EntityKind::ALL.iter().zip(&self.snapshots) {
            f.set_velocity(*kind, Some(snapshot));
        }
        f
    }
}

fn features() -> impl Strategy<Value = Payment> {
    (
        0u64..2_000_000,
        0u64..24,
        prop::option::of(0u64..100),
        prop::collection::vec((0u64..20, 0u64..500_000, 0u64..5, 0u64..100_000), MAX_VELOCITY),
        1000u16..9999,
        prop::sample::select(Channel::ALL.to_vec()),
        prop::sample::select(vec![
            Authentication::None,
            Authentication::Otp,
            Authentication::Fingerprint,
        ]),
    )
        .prop_map(|(amount, hour, device_age_hours, vel, mcc, channel, auth)| {
            let snapshots = vel
                .into_iter()
                .map(|(approved_count, approved_sum, declined_count, declined_sum)| {
                    let agg = crate::Aggregate {
                        approved_count,
                        approved_sum,
                        declined_count,
                        declined_sum,
                    };
                    crate::Snapshot { windows: [agg; crate::MAX_WINDOWS], first_seen: 0 }
                })
                .collect();
            Payment { amount, hour, device_age_hours, snapshots, mcc: Mcc(mcc), channel, auth }
        })
}

const MAX_VELOCITY: usize = 4;

fn decide(set: &RuleSet, p: &Payment) -> Outcome {
    let features = p.features();
    let input = EvalInput {
        context: Context::Payment,
        features: &features,
        mcc: Some(p.mcc),
        channel: Some(p.channel),
        auth: Some(p.auth),
    };
    let e = set.evaluate(&input, &|_| false, None);
    e.rules_outcome.max(e.score_outcome)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn load_save_load_is_the_same(spec in rule_set()) {
        let set = RuleSet::compile(spec.clone(), &windows()).unwrap();
        let json = set.to_json().unwrap();
        let again = load_json(&json).unwrap();
        prop_assert_eq!(again.spec(), &spec);
        let toml = set.to_toml().unwrap();
        let again = RuleSet::from_toml(&toml, &windows()).unwrap();
        prop_assert_eq!(again.spec(), &spec);
    }

    #[test]
    fn a_rule_that_fires_never_makes_a_decision_less_strict(
        spec in rule_set(), f in features(), extra in outcome(), score in 0u32..100,
    ) {
        let base = RuleSet::compile(spec.clone(), &windows()).unwrap();
        let before = decide(&base, &f);
        let mut more = spec;
        more.rules.push(RuleSpec {
            id: "always".into(),
            description: String::new(),
            applies_to: Context::Payment,
            when: ConditionSpec::Compare { feature: Feature::Hour, op: CompareOp::Ge, value: 0 },
            action: extra,
            score,
            on_error: None,
        });
        let after = decide(&RuleSet::compile(more, &windows()).unwrap(), &f);
        prop_assert!(after >= before, "{:?} < {:?}", after, before);
        prop_assert!(after >= extra);
    }
}

#[test]
fn outcomes_are_listed_from_least_to_most_strict() {
    assert!(Outcome::ALL.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn a_striped_counter_sums_what_every_thread_added() {
    let counter = Striped::default();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| (0..1_000).for_each(|_| counter.add(1)));
        }
    });
    counter.add(5);
    assert_eq!(counter.get(), 4_005);
    counter.reset();
    assert_eq!(counter.get(), 0);
}

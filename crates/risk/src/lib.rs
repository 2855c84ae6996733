#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod engine;
mod error;
mod feature;
mod loss;
mod rules;
mod spec;
mod state;
#[cfg(feature = "testing")]
pub mod testing;
mod txn;
mod velocity;

pub use engine::{
    BacktestReport, Decision, DeclineRateAlert, Reason, RiskConfig, RiskEngine, ShadowReport,
};
pub use error::{RiskError, RuleError};
pub use feature::{Feature, Measure, WindowLabel};
pub use loss::{
    Assessment, Claim, ClaimEvent, ClaimState, Ineligible, Instrument, LoggedTransaction,
    LossReport, PROTECTION_WINDOW, claim_transition,
};
pub use rules::{DecisionBuf, FiredRule, Input, Read, RuleFailure, RuleId, RuleSet};
pub use spec::{
    ChallengeMethod, CompareOp, ConditionSpec, Context, FailPolicy, Outcome, RuleSetSpec, RuleSpec,
    ScoreThresholds,
};
pub use state::{InMemoryRiskStore, KvRiskStore, Listed, RiskStore};
pub use txn::{Authentication, Mcc, ProvisioningRequest, Transaction};
pub use velocity::{
    Aggregate, EntityKey, EntityKind, KvVelocityStore, MAX_WINDOWS, RECENT_IDS, SharedRecord,
    Snapshot, VelocityPort, VelocityStore, Window, WindowSet, count_payment, shared_entity_key,
    shared_id_hash, shared_snapshot,
};

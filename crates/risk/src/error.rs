//! Errors of the risk crate.

/// What went wrong loading rules or handling a loss claim. Messages are lowercase and hold no
/// card number or personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RiskError {
    /// A rule file that is not valid JSON or TOML of the rule-set shape.
    #[error("rule set does not parse: {0}")]
    Parse(String),
    /// A rule that does not validate, named by its id.
    #[error("rule {rule}: {reason}")]
    InvalidRule {
        /// The rule's id (or its position, if it has none).
        rule: String,
        /// What is wrong.
        reason: String,
    },
    /// A rule set that does not validate as a whole.
    #[error("rule set: {0}")]
    InvalidSet(String),
    /// A window configuration that does not validate.
    #[error("velocity windows: {0}")]
    Windows(&'static str),
    /// No such claim.
    #[error("claim not found")]
    ClaimNotFound,
    /// An illegal claim transition.
    #[error("claim cannot move from {from} by {event}")]
    ClaimTransition {
        /// The claim's state.
        from: &'static str,
        /// What was attempted.
        event: &'static str,
    },
    /// A claim with no eligible transaction.
    #[error("no transaction is eligible for loss protection")]
    NothingEligible,
    /// Money arithmetic overflowed.
    #[error("amount overflow")]
    Overflow,
    /// The risk store failed.
    #[error("risk store failed")]
    Store(#[from] cloudcard_core::StoreError),
}

/// Why one rule could not be evaluated. The decision goes on; the rule set's fail policy says
/// whether the rule then counts as fired.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, thiserror::Error,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuleError {
    /// A feature the transaction does not have (device age without a device, say).
    #[error("feature missing")]
    MissingFeature,
    /// A feature whose arithmetic overflowed.
    #[error("feature overflowed")]
    Overflow,
}

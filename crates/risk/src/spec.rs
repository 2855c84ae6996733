//! Rules as data: the serde shape of a rule set, as rule files write it.

use cloudcard_core::Channel;
use serde::{Deserialize, Serialize};

use crate::feature::Feature;
use crate::txn::{Authentication, Mcc};

/// How a step-up challenge is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeMethod {
    /// The phone's fingerprint check.
    Fingerprint,
    /// An SMS one-time code.
    Otp,
    /// The payment password.
    PaymentPassword,
}

/// What a decision says, from least to most strict: approve, challenge (fingerprint, then OTP,
/// then payment password), review, decline. When several rules fire, the strictest wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Go ahead.
    Approve,
    /// Go ahead once the user passes this check.
    Challenge(ChallengeMethod),
    /// Hold for a person to look at.
    Review,
    /// Refuse.
    Decline,
}

impl Outcome {
    /// Every outcome, from least to most strict.
    pub const ALL: [Self; 6] = [
        Self::Approve,
        Self::Challenge(ChallengeMethod::Fingerprint),
        Self::Challenge(ChallengeMethod::Otp),
        Self::Challenge(ChallengeMethod::PaymentPassword),
        Self::Review,
        Self::Decline,
    ];
}

/// What happens to a rule that cannot be evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailPolicy {
    /// The rule counts as fired: its action applies.
    #[default]
    Closed,
    /// The rule counts as not fired.
    Open,
}

/// Which requests a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Context {
    /// Payments.
    #[default]
    Payment,
    /// Card binding and token provisioning.
    Provisioning,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CompareOp {
    /// Less than.
    #[serde(rename = "<")]
    Lt,
    /// At most.
    #[serde(rename = "<=")]
    Le,
    /// More than.
    #[serde(rename = ">")]
    Gt,
    /// At least.
    #[serde(rename = ">=")]
    Ge,
    /// Equal.
    #[serde(rename = "==")]
    Eq,
    /// Not equal.
    #[serde(rename = "!=")]
    Ne,
}

impl CompareOp {
    pub(crate) const fn apply(self, a: u64, b: u64) -> bool {
        match self {
            Self::Lt => a < b,
            Self::Le => a <= b,
            Self::Gt => a > b,
            Self::Ge => a >= b,
            Self::Eq => a == b,
            Self::Ne => a != b,
        }
    }
}

/// A condition as a rule file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ConditionSpec {
    /// Every one holds.
    All(Vec<ConditionSpec>),
    /// At least one holds.
    Any(Vec<ConditionSpec>),
    /// It does not hold.
    Not(Box<ConditionSpec>),
    /// A feature compared with a number (amounts in fen).
    Compare {
        /// The feature.
        feature: Feature,
        /// The comparison.
        op: CompareOp,
        /// The number.
        value: u64,
    },
    /// The merchant category is one of these.
    MccIn(Vec<Mcc>),
    /// The channel is one of these.
    ChannelIn(Vec<Channel>),
    /// The authentication is one of these.
    AuthIn(Vec<Authentication>),
    /// The Beijing hour is in `from..to`, wrapping past midnight when `from > to`.
    HourBetween {
        /// First hour in (0–23).
        from: u8,
        /// First hour out (0–24).
        to: u8,
    },
}

/// One rule as a rule file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// A stable id: lowercase letters, digits, `-`, `_`, `.`.
    pub id: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Payments (the default) or card binding.
    #[serde(default)]
    pub applies_to: Context,
    /// When it fires.
    pub when: ConditionSpec,
    /// What it asks for.
    pub action: Outcome,
    /// What it adds to the score when it fires.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub score: u32,
    /// Overrides the set's fail policy for this rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<FailPolicy>,
}

/// Score thresholds: the summed score of fired rules escalates the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreThresholds {
    /// At this score, challenge with `challenge_method`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_at: Option<u32>,
    /// The method for a score challenge (OTP unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_method: Option<ChallengeMethod>,
    /// At this score, review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_at: Option<u32>,
    /// At this score, decline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_at: Option<u32>,
}

/// A rule set as a rule file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetSpec {
    /// The set's version id.
    pub version: String,
    /// What happens to a rule that cannot be evaluated.
    #[serde(default)]
    pub fail_policy: FailPolicy,
    /// Score thresholds, if the set scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<ScoreThresholds>,
    /// The rules.
    pub rules: Vec<RuleSpec>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl std::fmt::Display for ChallengeMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fingerprint => "fingerprint",
            Self::Otp => "sms code",
            Self::PaymentPassword => "payment password",
        })
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Approve => f.write_str("approve"),
            Self::Challenge(method) => write!(f, "challenge by {method}"),
            Self::Review => f.write_str("review"),
            Self::Decline => f.write_str("decline"),
        }
    }
}

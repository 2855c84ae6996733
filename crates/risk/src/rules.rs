//! Rule sets: validation against the velocity windows, and the compiled form a decision runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cloudcard_core::Channel;
use cloudcard_core::sync::Padded;
use cloudcard_core::text::Ascii;
use serde::Serialize;

use crate::feature::{Feature, Features, ScalarFeature};
pub(crate) use crate::spec::{
    ChallengeMethod, CompareOp, ConditionSpec, Context, FailPolicy, Outcome, RuleSetSpec,
};
use crate::txn::{Authentication, Mcc};
use crate::velocity::WindowSet;
use crate::{RiskError, RuleError};

/// The deepest nesting of `all` / `any` / `not` a rule may use.
const MAX_DEPTH: usize = 16;

/// The input a rule read, and the value it saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Read {
    /// What was read.
    pub input: Input,
    /// Its value (fen, a count, an hour, a code).
    pub value: u64,
}

/// Something a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A numeric feature.
    Feature(Feature),
    /// The merchant category code.
    Mcc,
    /// The channel's code (1 NFC, 2 QR, 3 in-app, 4 online).
    Channel,
    /// The authentication (0 none, 1 fingerprint, 2 OTP, 3 payment password).
    Auth,
}

/// A rule's id (1 to 64 of `a-z`, `0-9`, `-`, `_`, `.`), held inline: a decision copies the
/// ids of the rules that fired into the caller's buffer, and a copy writes nothing shared.
/// Threads deciding at once would pass the line of a shared reference count back and forth.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleId(Ascii<{ RuleId::MAX }>);

impl RuleId {
    /// The longest id.
    pub const MAX: usize = 64;

    /// `id`, if it is 1 to [`Self::MAX`] of `a-z`, `0-9`, `-`, `_`, `.`.
    fn new(id: &str) -> Option<Self> {
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b);
        Ascii::new(id).filter(|_| !id.is_empty() && id.bytes().all(allowed)).map(Self)
    }

    /// The id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl core::ops::Deref for RuleId {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl core::fmt::Display for RuleId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The id itself: a rule's id names the rule, it holds nothing secret.
impl core::fmt::Debug for RuleId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RuleId({})", self.as_str())
    }
}

impl Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A rule that fired (or that failed under a closed policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FiredRule {
    /// The rule's id.
    pub rule: RuleId,
    /// Its action.
    pub action: Outcome,
    /// Its score.
    pub score: u32,
    /// Whether it counts because it failed under a closed policy.
    pub by_failure: bool,
    reads_start: u32,
    reads_len: u32,
}

/// A rule that could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleFailure {
    /// The rule's id.
    pub rule: RuleId,
    /// Why.
    pub error: RuleError,
}

/// Where a decision writes what fired, so that the hot path allocates nothing: make one per
/// thread with [`DecisionBuf::for_rule_set`] (or the engine's
/// [`RiskEngine::buffer`](crate::RiskEngine::buffer)) and reuse it.
#[derive(Debug, Default, Clone)]
pub struct DecisionBuf {
    fired: Vec<FiredRule>,
    reads: Vec<Read>,
    errors: Vec<RuleFailure>,
}

impl DecisionBuf {
    /// A buffer with room for everything `set` can write.
    #[must_use]
    pub fn for_rule_set(set: &RuleSet) -> Self {
        let mut buf = Self::default();
        buf.reserve_for(set);
        buf
    }

    /// Grows the buffer, if needed, to hold everything `set` can write.
    pub fn reserve_for(&mut self, set: &RuleSet) {
        self.fired.reserve(set.rules.len().saturating_sub(self.fired.len()));
        self.errors.reserve(set.rules.len().saturating_sub(self.errors.len()));
        self.reads.reserve(set.max_reads.saturating_sub(self.reads.len()));
    }

    /// Empties the buffer, keeping its room.
    pub fn clear(&mut self) {
        self.fired.clear();
        self.reads.clear();
        self.errors.clear();
    }

    /// The rules that fired, in rule-set order.
    #[must_use]
    pub fn fired(&self) -> &[FiredRule] {
        &self.fired
    }

    /// What a fired rule read.
    #[must_use]
    pub fn reads_of(&self, rule: &FiredRule) -> &[Read] {
        let start = rule.reads_start as usize;
        self.reads.get(start..start + rule.reads_len as usize).unwrap_or_default()
    }

    /// The rules that could not be evaluated.
    #[must_use]
    pub fn errors(&self) -> &[RuleFailure] {
        &self.errors
    }
}

#[derive(Debug, Clone, Copy)]
enum Node {
    All { start: u32, len: u32 },
    Any { start: u32, len: u32 },
    Not(u32),
    Compare { feature: Feature, scalar: ScalarFeature, op: CompareOp, value: u64 },
    MccIn { start: u32, len: u32 },
    ChannelIn(u8),
    AuthIn(u8),
    HourBetween { from: u8, to: u8 },
}

#[derive(Debug)]
struct CompiledRule {
    id: RuleId,
    context: Context,
    root: u32,
    action: Outcome,
    score: u32,
    on_error: FailPolicy,
}

/// Counters a rule set keeps about its own decisions.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) decisions: Striped,
    pub(crate) declines: Striped,
}

impl Stats {
    pub(crate) fn count(&self, outcome: Outcome) {
        self.decisions.add(1);
        if outcome == Outcome::Decline {
            self.declines.add(1);
        }
    }
}

/// A counter that threads deciding at once add to without sharing a cache line: each thread
/// adds to its own stripe, and a reader sums the stripes.
#[derive(Debug, Default)]
pub(crate) struct Striped([Padded<AtomicU64>; STRIPES]);

const STRIPES: usize = 8;

impl Striped {
    pub(crate) fn add(&self, n: u64) {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        thread_local! {
            static STRIPE: usize = (NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES as u64) as usize;
        }
        let at = STRIPE.try_with(|s| *s).unwrap_or(0);
        if let Some(stripe) = self.0.get(at) {
            stripe.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.iter().map(|s| s.load(Ordering::Relaxed)).fold(0, u64::saturating_add)
    }

    pub(crate) fn reset(&self) {
        for stripe in &self.0 {
            stripe.store(0, Ordering::Relaxed);
        }
    }
}

/// A validated rule set compiled into flat arrays: evaluating it allocates nothing.
#[derive(Debug)]
pub struct RuleSet {
    spec: RuleSetSpec,
    version: Arc<str>,
    rules: Vec<CompiledRule>,
    nodes: Vec<Node>,
    children: Vec<u32>,
    mccs: Vec<u16>,
    max_reads: usize,
    /// Bit `k` is set when some rule reads velocity of entity kind `k`.
    entities_read: u8,
    /// Per entity kind, bit `w` is set when some rule reads window `w` of it.
    windows_read: [u8; 6],
    pub(crate) stats: Stats,
}

/// What one payment or binding offers the rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EvalInput<'a> {
    pub(crate) context: Context,
    pub(crate) features: &'a Features<'a>,
    pub(crate) mcc: Option<Mcc>,
    pub(crate) channel: Option<Channel>,
    pub(crate) auth: Option<Authentication>,
}

/// How the rules came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Evaluation {
    pub(crate) rules_outcome: Outcome,
    pub(crate) score: u32,
    pub(crate) score_outcome: Outcome,
}

impl RuleSet {
    /// Validates and compiles `spec` against the velocity windows it will read.
    ///
    /// # Errors
    ///
    /// [`RiskError::InvalidRule`] naming the first bad rule, or [`RiskError::InvalidSet`].
    pub fn compile(spec: RuleSetSpec, windows: &WindowSet) -> Result<Self, RiskError> {
        if spec.version.trim().is_empty() {
            return Err(RiskError::InvalidSet("version must not be empty".into()));
        }
        if let Some(score) = spec.score {
            let steps = [score.challenge_at, score.review_at, score.decline_at];
            let mut last = None;
            for at in steps.into_iter().flatten() {
                if last.is_some_and(|l| at <= l) {
                    return Err(RiskError::InvalidSet(
                        "score thresholds must rise: challenge, then review, then decline".into(),
                    ));
                }
                last = Some(at);
            }
        }
        let mut set = Self {
            version: Arc::from(spec.version.as_str()),
            rules: Vec::with_capacity(spec.rules.len()),
            nodes: Vec::new(),
            children: Vec::new(),
            mccs: Vec::new(),
            max_reads: 0,
            entities_read: 0,
            windows_read: [0; 6],
            stats: Stats::default(),
            spec: RuleSetSpec { rules: Vec::new(), ..spec.clone() },
        };
        for (i, rule) in spec.rules.iter().enumerate() {
            let bad = |reason: String| RiskError::InvalidRule {
                rule: if rule.id.is_empty() { format!("#{}", i + 1) } else { rule.id.clone() },
                reason,
            };
            let Some(id) = RuleId::new(&rule.id) else {
                return Err(bad("id must be 1 to 64 of a-z, 0-9, '-', '_', '.'".into()));
            };
            if set.rules.iter().any(|r| *r.id == *rule.id) {
                return Err(bad("id is used by an earlier rule".into()));
            }
            let mut reads = 0;
            let root = set
                .compile_node(&rule.when, rule.applies_to, windows, 0, &mut reads)
                .map_err(bad)?;
            set.max_reads += reads;
            set.rules.push(CompiledRule {
                id,
                context: rule.applies_to,
                root,
                action: rule.action,
                score: rule.score,
                on_error: rule.on_error.unwrap_or(spec.fail_policy),
            });
        }
        set.spec.rules = spec.rules;
        Ok(set)
    }

    /// Parses and compiles a rule set written in JSON.
    ///
    /// # Errors
    ///
    /// [`RiskError::Parse`] or a validation error naming the bad rule.
    pub fn from_json(text: &str, windows: &WindowSet) -> Result<Self, RiskError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| RiskError::Parse(e.to_string()))?;
        Self::compile(spec_from_value(value)?, windows)
    }

    /// Parses and compiles a rule set written in TOML.
    ///
    /// # Errors
    ///
    /// [`RiskError::Parse`] or a validation error naming the bad rule.
    pub fn from_toml(text: &str, windows: &WindowSet) -> Result<Self, RiskError> {
        let value: serde_json::Value =
            toml::from_str(text).map_err(|e| RiskError::Parse(e.message().to_owned()))?;
        Self::compile(spec_from_value(value)?, windows)
    }

    /// The rule set cloudcard ships, from `rules/default.toml`: bursts, large amounts at night,
    /// a daily cap, new devices with large amounts, and binding attempts.
    ///
    /// # Errors
    ///
    /// A validation error if `windows` lacks a window the default rules read (`10m`, `1h`,
    /// `24h`); the default windows have them all.
    pub fn default_rules(windows: &WindowSet) -> Result<Self, RiskError> {
        Self::from_toml(include_str!("../rules/default.toml"), windows)
    }

    /// The set as written, for saving.
    #[must_use]
    pub const fn spec(&self) -> &RuleSetSpec {
        &self.spec
    }

    /// The set in JSON.
    ///
    /// # Errors
    ///
    /// [`RiskError::Parse`] if serialization fails.
    pub fn to_json(&self) -> Result<String, RiskError> {
        serde_json::to_string_pretty(&self.spec).map_err(|e| RiskError::Parse(e.to_string()))
    }

    /// The set in TOML.
    ///
    /// # Errors
    ///
    /// [`RiskError::Parse`] if serialization fails.
    pub fn to_toml(&self) -> Result<String, RiskError> {
        toml::to_string(&self.spec).map_err(|e| RiskError::Parse(e.to_string()))
    }

    /// Whether some rule reads velocity of `kind`: the engine gathers only what is read.
    #[must_use]
    pub const fn reads_entity(&self, kind: crate::EntityKind) -> bool {
        self.entities_read & (1 << kind.index()) != 0
    }

    /// Which windows of `kind` some rule reads: bit `w` for window `w` of the set's windows.
    #[must_use]
    pub fn windows_read(&self, kind: crate::EntityKind) -> u8 {
        self.windows_read.get(kind.index()).copied().unwrap_or(0)
    }

    /// The version id.
    #[must_use]
    pub fn version(&self) -> &Arc<str> {
        &self.version
    }

    /// How many rules it has.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether it has none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn compile_node(
        &mut self,
        c: &ConditionSpec,
        context: Context,
        windows: &WindowSet,
        depth: usize,
        reads: &mut usize,
    ) -> Result<u32, String> {
        if depth > MAX_DEPTH {
            return Err(format!("conditions nest deeper than {MAX_DEPTH}"));
        }
        let payment_only = |what: &str| -> Result<(), String> {
            if context == Context::Provisioning {
                Err(format!("{what} is not known when binding a card"))
            } else {
                Ok(())
            }
        };
        let node = match c {
            ConditionSpec::All(list) | ConditionSpec::Any(list) => {
                if list.is_empty() {
                    return Err("all / any needs at least one condition".into());
                }
                let ids = list
                    .iter()
                    .map(|child| self.compile_node(child, context, windows, depth + 1, reads))
                    .collect::<Result<Vec<_>, _>>()?;
                let start = index(self.children.len())?;
                self.children.extend(ids);
                let len = index(list.len())?;
                if matches!(c, ConditionSpec::All(_)) {
                    Node::All { start, len }
                } else {
                    Node::Any { start, len }
                }
            }
            ConditionSpec::Not(inner) => {
                Node::Not(self.compile_node(inner, context, windows, depth + 1, reads)?)
            }
            ConditionSpec::Compare { feature, op, value } => {
                let known = match context {
                    Context::Payment => feature.in_payments(),
                    Context::Provisioning => feature.in_provisioning(),
                };
                if !known {
                    return Err(format!("feature '{feature}' is not known in this rule's context"));
                }
                *reads += 1;
                let scalar = ScalarFeature::resolve(*feature, windows)?;
                if let ScalarFeature::Velocity(v) = scalar {
                    self.entities_read |= 1 << v.entity.index();
                    if let (Some(read), Ok(window)) =
                        (self.windows_read.get_mut(v.entity.index()), u8::try_from(v.window))
                    {
                        *read |= 1_u8.checked_shl(u32::from(window)).unwrap_or(0);
                    }
                }
                Node::Compare { feature: *feature, scalar, op: *op, value: *value }
            }
            ConditionSpec::MccIn(list) => {
                payment_only("the merchant category")?;
                if list.is_empty() {
                    return Err("mcc_in needs at least one code".into());
                }
                *reads += 1;
                let start = index(self.mccs.len())?;
                let mut codes: Vec<u16> = list.iter().map(|m| m.0).collect();
                codes.sort_unstable();
                codes.dedup();
                let len = index(codes.len())?;
                self.mccs.extend(codes);
                Node::MccIn { start, len }
            }
            ConditionSpec::ChannelIn(list) => {
                payment_only("the channel")?;
                if list.is_empty() {
                    return Err("channel_in needs at least one channel".into());
                }
                *reads += 1;
                Node::ChannelIn(list.iter().fold(0, |m, c| m | (1 << c.code())))
            }
            ConditionSpec::AuthIn(list) => {
                payment_only("the authentication")?;
                if list.is_empty() {
                    return Err("auth_in needs at least one method".into());
                }
                *reads += 1;
                Node::AuthIn(list.iter().fold(0, |m, a| m | (1 << auth_code(*a))))
            }
            ConditionSpec::HourBetween { from, to } => {
                if *from > 23 || *to > 24 || from == to {
                    return Err(
                        "hour_between needs from in 0..=23 and a different to in 0..=24".into()
                    );
                }
                *reads += 1;
                Node::HourBetween { from: *from, to: *to }
            }
        };
        let id = index(self.nodes.len())?;
        self.nodes.push(node);
        Ok(id)
    }

    /// Evaluates every rule of `input.context`; with `buf`, records what fired and what it read.
    pub(crate) fn evaluate(
        &self,
        input: &EvalInput<'_>,
        suppressed: &dyn Fn(&str) -> bool,
        mut buf: Option<&mut DecisionBuf>,
    ) -> Evaluation {
        let mut rules_outcome = Outcome::Approve;
        let mut score: u32 = 0;
        for rule in self.rules.iter().filter(|r| r.context == input.context) {
            let reads_start = buf.as_ref().map_or(0, |b| b.reads.len());
            let result = self.eval_node(rule.root, input, buf.as_deref_mut());
            let (fired, by_failure) = match result {
                Ok(fired) => (fired, false),
                Err(error) => {
                    if let Some(b) = buf.as_deref_mut() {
                        b.errors.push(RuleFailure { rule: rule.id, error });
                    }
                    (rule.on_error == FailPolicy::Closed, true)
                }
            };
            if !fired || suppressed(&rule.id) {
                if let Some(b) = buf.as_deref_mut() {
                    b.reads.truncate(reads_start);
                }
                continue;
            }
            rules_outcome = rules_outcome.max(rule.action);
            score = score.saturating_add(rule.score);
            if let Some(b) = buf.as_deref_mut() {
                let reads_len = b.reads.len() - reads_start;
                b.fired.push(FiredRule {
                    rule: rule.id,
                    action: rule.action,
                    score: rule.score,
                    by_failure,
                    reads_start: u32::try_from(reads_start).unwrap_or(u32::MAX),
                    reads_len: u32::try_from(reads_len).unwrap_or(0),
                });
            }
        }
        Evaluation { rules_outcome, score, score_outcome: self.score_outcome(score) }
    }

    fn score_outcome(&self, score: u32) -> Outcome {
        let Some(t) = self.spec.score else {
            return Outcome::Approve;
        };
        if t.decline_at.is_some_and(|at| score >= at) {
            Outcome::Decline
        } else if t.review_at.is_some_and(|at| score >= at) {
            Outcome::Review
        } else if t.challenge_at.is_some_and(|at| score >= at) {
            Outcome::Challenge(t.challenge_method.unwrap_or(ChallengeMethod::Otp))
        } else {
            Outcome::Approve
        }
    }

    fn eval_node(
        &self,
        id: u32,
        input: &EvalInput<'_>,
        mut buf: Option<&mut DecisionBuf>,
    ) -> Result<bool, RuleError> {
        let node = self.nodes.get(id as usize).ok_or(RuleError::MissingFeature)?;
        match *node {
            Node::All { start, len } => {
                for &child in self.child_ids(start, len) {
                    if !self.eval_node(child, input, buf.as_deref_mut())? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Node::Any { start, len } => {
                for &child in self.child_ids(start, len) {
                    if self.eval_node(child, input, buf.as_deref_mut())? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Node::Not(child) => self.eval_node(child, input, buf).map(|b| !b),
            Node::Compare { feature, scalar, op, value } => {
                let actual = input.features.scalar(scalar)?;
                read(Input::Feature(feature), actual, buf);
                Ok(op.apply(actual, value))
            }
            Node::MccIn { start, len } => {
                let mcc = input.mcc.ok_or(RuleError::MissingFeature)?;
                read(Input::Mcc, u64::from(mcc.0), buf);
                let codes =
                    self.mccs.get(start as usize..(start + len) as usize).unwrap_or_default();
                Ok(codes.binary_search(&mcc.0).is_ok())
            }
            Node::ChannelIn(mask) => {
                let channel = input.channel.ok_or(RuleError::MissingFeature)?;
                read(Input::Channel, u64::from(channel.code()), buf);
                Ok(mask & (1 << channel.code()) != 0)
            }
            Node::AuthIn(mask) => {
                let auth = input.auth.ok_or(RuleError::MissingFeature)?;
                read(Input::Auth, u64::from(auth_code(auth)), buf);
                Ok(mask & (1 << auth_code(auth)) != 0)
            }
            Node::HourBetween { from, to } => {
                let hour = input.features.hour;
                read(Input::Feature(Feature::Hour), hour, buf);
                let (from, to) = (u64::from(from), u64::from(to));
                Ok(if from < to { (from..to).contains(&hour) } else { hour >= from || hour < to })
            }
        }
    }

    fn child_ids(&self, start: u32, len: u32) -> &[u32] {
        self.children.get(start as usize..(start + len) as usize).unwrap_or_default()
    }
}

/// Reads a rule set from a generic document, so that a bad rule is reported by its id.
fn spec_from_value(mut value: serde_json::Value) -> Result<RuleSetSpec, RiskError> {
    let rules = match value.get_mut("rules").map(serde_json::Value::take) {
        Some(serde_json::Value::Array(rules)) => rules,
        Some(_) => return Err(RiskError::Parse("rules must be a list".into())),
        None => return Err(RiskError::Parse("missing field `rules`".into())),
    };
    if let Some(obj) = value.as_object_mut() {
        obj.insert("rules".into(), serde_json::Value::Array(Vec::new()));
    }
    let mut spec: RuleSetSpec =
        serde_json::from_value(value).map_err(|e| RiskError::InvalidSet(e.to_string()))?;
    for (i, rule) in rules.into_iter().enumerate() {
        let id = rule
            .get("id")
            .and_then(serde_json::Value::as_str)
            .map_or_else(|| format!("#{}", i + 1), str::to_owned);
        let rule = serde_json::from_value(rule)
            .map_err(|e| RiskError::InvalidRule { rule: id, reason: e.to_string() })?;
        spec.rules.push(rule);
    }
    Ok(spec)
}

fn read(input: Input, value: u64, buf: Option<&mut DecisionBuf>) {
    if let Some(b) = buf {
        b.reads.push(Read { input, value });
    }
}

fn index(n: usize) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| "rule set too large".to_owned())
}

const fn auth_code(a: Authentication) -> u8 {
    match a {
        Authentication::None => 0,
        Authentication::Fingerprint => 1,
        Authentication::Otp => 2,
        Authentication::PaymentPassword => 3,
    }
}

#[cfg(test)]
mod tests;

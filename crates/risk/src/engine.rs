//! The risk engine: status lists, rules, velocity, shadow rules, the decline-rate monitor,
//! suppressions, loss reports and claims.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::{
    CardId, ClaimId, DeviceId, SharedClock, StoreError, TokenId, UserId, beijing_hour,
};
use serde::Serialize;

use crate::RiskError;
use crate::feature::Features;
use crate::loss::{Assessment, Claim, ClaimEvent, Instrument, LoggedTransaction, LossReport};
use crate::rules::Striped;
use crate::rules::{Context, DecisionBuf, EvalInput, Outcome, RuleSet};
use crate::state::{InMemoryRiskStore, Listed, RiskStore};
use crate::txn::{ProvisioningRequest, Transaction};
use crate::velocity::{EntityKey, EntityKind, VelocityPort, VelocityStore, WindowSet};

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct RiskConfig {
    /// The velocity windows.
    pub windows: WindowSet,
    /// How long the loss log keeps a transaction (at least 72 hours; default 7 days).
    pub log_retention: TimeDelta,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self { windows: WindowSet::default(), log_retention: TimeDelta::days(7) }
    }
}

/// Why a decision came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The card was reported lost.
    LostCard,
    /// The device was reported lost.
    LostDevice,
    /// The user is suspended.
    SuspendedUser,
    /// One or more rules fired.
    Rules,
    /// The score crossed a threshold.
    Score,
    /// Nothing fired.
    Clear,
    /// The status lists could not be read: declined, failing closed.
    Unavailable,
}

/// A decision. The rules that fired, and what they read, are in the [`DecisionBuf`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// What to do.
    pub outcome: Outcome,
    /// Why.
    pub reason: Reason,
    /// The summed score of the fired rules.
    pub score: u32,
}

/// What the shadow rule set would have decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShadowReport {
    /// The shadow set's version.
    pub version: String,
    /// Decisions it shadowed.
    pub decisions: u64,
    /// How many it would have decided differently.
    pub disagreements: u64,
    /// Its would-be outcomes: approve, challenge, review, decline.
    pub outcomes: [u64; 4],
}

/// A rule set declining far more than the one before it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeclineRateAlert {
    /// The live set's version.
    pub version: String,
    /// Its decline rate.
    pub rate: f64,
    /// The previous set's version.
    pub previous_version: String,
    /// Its decline rate.
    pub previous_rate: f64,
}

/// What a backtest found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BacktestReport {
    /// Transactions replayed.
    pub decisions: u64,
    /// Outcomes: approve, challenge, review, decline.
    pub outcomes: [u64; 4],
    /// How often each rule fired.
    pub per_rule: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct ShadowStats {
    decisions: Striped,
    disagreements: Striped,
    outcomes: [Striped; 4],
}

/// The live rule set and the one shadowing it, swapped together: a decision loads both at
/// once.
#[derive(Debug)]
struct Sets {
    live: Arc<RuleSet>,
    shadow: Option<Arc<RuleSet>>,
}

/// The real-time risk engine. Every method takes `&self`; decisions run concurrently, velocity
/// updates are serialized per entity, and the live rule set is swapped atomically.
#[derive(Debug)]
pub struct RiskEngine {
    config: RiskConfig,
    velocity: Arc<dyn VelocityPort>,
    sets: ArcSwap<Sets>,
    previous: ArcSwapOption<RuleSet>,
    shadow_stats: ShadowStats,
    state: Arc<dyn RiskStore>,
    clock: SharedClock,
}

impl RiskEngine {
    /// An engine deciding with `rules`.
    ///
    /// # Errors
    ///
    /// [`RiskError::Windows`] if the log retention is under 72 hours.
    pub fn new(config: RiskConfig, rules: RuleSet, clock: SharedClock) -> Result<Self, RiskError> {
        let velocity = Arc::new(VelocityStore::new(config.windows.clone()));
        Self::with_store(config, rules, clock, Arc::new(InMemoryRiskStore::new()), velocity)
    }

    /// An engine deciding with `rules`, keeping its status lists, loss log and claims in
    /// `state` and its velocity windows in `velocity`.
    ///
    /// # Errors
    ///
    /// [`RiskError::Windows`] if the log retention is under 72 hours or `velocity` tracks other
    /// windows than `config`.
    pub fn with_store(
        config: RiskConfig,
        rules: RuleSet,
        clock: SharedClock,
        state: Arc<dyn RiskStore>,
        velocity: Arc<dyn VelocityPort>,
    ) -> Result<Self, RiskError> {
        if config.log_retention < crate::loss::PROTECTION_WINDOW {
            return Err(RiskError::Windows("the loss log must keep at least 72 hours"));
        }
        if *velocity.windows() != config.windows {
            return Err(RiskError::Windows("the velocity store tracks other windows"));
        }
        Ok(Self {
            velocity,
            config,
            sets: ArcSwap::from_pointee(Sets { live: Arc::new(rules), shadow: None }),
            previous: ArcSwapOption::empty(),
            shadow_stats: ShadowStats::default(),
            state,
            clock,
        })
    }

    /// An engine with the default windows and the shipped rule set.
    ///
    /// # Errors
    ///
    /// Only if the shipped rules failed to load, which a unit test rules out.
    pub fn with_default_rules(clock: SharedClock) -> Result<Self, RiskError> {
        let config = RiskConfig::default();
        let rules = RuleSet::default_rules(&config.windows)?;
        Self::new(config, rules, clock)
    }

    /// The velocity windows; compile rule sets against these.
    #[must_use]
    pub const fn windows(&self) -> &WindowSet {
        &self.config.windows
    }

    /// The velocity store.
    #[must_use]
    pub fn velocity(&self) -> &dyn VelocityPort {
        &*self.velocity
    }

    /// The live rule set.
    #[must_use]
    pub fn rules(&self) -> Arc<RuleSet> {
        Arc::clone(&self.sets.load().live)
    }

    /// A decision buffer with room for the live and shadow sets.
    #[must_use]
    pub fn buffer(&self) -> DecisionBuf {
        let mut buf = DecisionBuf::default();
        self.reserve(&mut buf);
        buf
    }

    /// Grows a reused buffer, if the live or shadow set needs more room; allocates nothing when
    /// it already has room.
    pub fn reserve(&self, buf: &mut DecisionBuf) {
        let sets = self.sets.load();
        buf.reserve_for(&sets.live);
        if let Some(shadow) = sets.shadow.as_deref() {
            buf.reserve_for(shadow);
        }
    }

    /// Decides a payment: status lists first (lost card, lost device, suspended user →
    /// decline), then the live rules, strictest outcome winning, then the score. Writes what
    /// fired into `buf` and allocates nothing once `buf` has room. Does not count the payment
    /// in velocity: call [`Self::record`] with the final result.
    pub fn decide(&self, txn: &Transaction, buf: &mut DecisionBuf) -> Decision {
        buf.clear();
        if let Some(reason) = self.status_hit(Some(&txn.card), txn.device.as_ref(), Some(&txn.user))
        {
            let decision = Decision { outcome: Outcome::Decline, reason, score: 0 };
            self.sets.load().live.stats.count(decision.outcome);
            return decision;
        }
        // The card's and the phone's keys are made every time; the token's and the user's only
        // if a rule reads their velocity, or a rule fires and its suppressions are asked.
        const PAYERS: [EntityKind; 4] =
            [EntityKind::Card, EntityKind::Token, EntityKind::Device, EntityKind::User];
        let v = &self.velocity;
        let card = v.key(EntityKind::Card, txn.card.as_bytes());
        let device = txn.device.as_ref().map(|d| v.key(EntityKind::Device, d.as_bytes()));
        let key_of = |kind| match kind {
            EntityKind::Card => Some(card),
            EntityKind::Token => txn.token.as_ref().map(|t| v.key(kind, t.as_bytes())),
            EntityKind::Device => device,
            EntityKind::User => Some(v.key(kind, txn.user.as_bytes())),
            _ => None,
        };
        let mut features = Features::new(u64::from(beijing_hour(txn.at)));
        features.amount = Some(txn.amount.fen());
        let sets = self.sets.load();
        let (live, shadow) = (&*sets.live, sets.shadow.as_deref());
        // Only what the rules read: the entities, and of each the windows.
        let read = |kind| live.windows_read(kind) | shadow.map_or(0, |s| s.windows_read(kind));
        let (mut kinds, mut reads, mut n) = ([EntityKind::Card; 4], [(card, 0); 4], 0);
        for kind in PAYERS {
            let windows = read(kind);
            if windows == 0 {
                continue;
            }
            if let Some((key, (at_kind, at_read))) =
                key_of(kind).zip(kinds.get_mut(n).zip(reads.get_mut(n)))
            {
                (*at_kind, *at_read) = (kind, (key, windows));
                n += 1;
            }
        }
        // Read together: a store may find them side by side.
        let mut snapshots = [None; 4];
        let (reads, snapshots) = (reads.get(..n).unwrap_or_default(), &mut snapshots[..]);
        if self.velocity.snapshots(reads, txn.at, snapshots).is_err() {
            // Velocity that cannot be read fails closed, like the status lists.
            return self.unavailable();
        }
        for (kind, snapshot) in kinds.into_iter().zip(snapshots.iter()).take(n) {
            features.set_velocity(kind, snapshot.as_ref());
        }
        if let Some(device) = device {
            features.device_age_hours =
                Some(self.device_age_hours(device, txn.device_registered_at, txn.at));
        }
        let input = EvalInput {
            context: Context::Payment,
            features: &features,
            mcc: Some(txn.mcc),
            channel: Some(txn.channel),
            auth: Some(txn.auth),
        };
        let present = || PAYERS.map(key_of);
        self.run(live, shadow, &input, &present, txn.at, buf)
    }

    /// Counts a payment in velocity (approved or declined apart) and in the loss log. A retried
    /// transaction id is counted once; returns `false` for a repeat.
    ///
    /// Velocity is kept for what can be read: the card always (it also remembers which ids were
    /// counted) and the device always (its first sighting dates a phone with no registration
    /// time), the token and the user only while a live or shadow rule reads them. A rule set
    /// that starts reading the token's or the user's velocity sees it from then on.
    ///
    /// # Errors
    ///
    /// [`RiskError::Store`] if the loss log cannot be written.
    pub fn record(&self, txn: &Transaction, approved: bool) -> Result<bool, RiskError> {
        let id = self.velocity.id_hash(txn.id.as_bytes());
        let amount = txn.amount.fen();
        let v = &self.velocity;
        let sets = self.sets.load();
        let read = |kind| {
            sets.live.reads_entity(kind)
                || sets.shadow.as_ref().is_some_and(|s| s.reads_entity(kind))
        };
        let mut entities = [v.key(EntityKind::Card, txn.card.as_bytes()); 4];
        let mut n = 1;
        let others = [
            (
                EntityKind::Token,
                txn.token.as_ref().map(TokenId::as_bytes).filter(|_| read(EntityKind::Token)),
            ),
            (EntityKind::Device, txn.device.as_ref().map(DeviceId::as_bytes)),
            (EntityKind::User, Some(txn.user.as_bytes()).filter(|_| read(EntityKind::User))),
        ];
        for (kind, entity) in others {
            if let Some(entity) = entity
                && let Some(slot) = entities.get_mut(n)
            {
                *slot = v.key(kind, entity);
                n += 1;
            }
        }
        let counted = entities.get(..n).unwrap_or(&entities);
        if !self.velocity.record(counted, id, txn.at, amount, approved)? {
            return Ok(false);
        }
        self.state.log(LoggedTransaction::of(txn, approved), self.config.log_retention)?;
        Ok(true)
    }

    /// Records a payment the issuer was asked about but whose answer never reached the payer
    /// (the service stopped in between) and that was therefore reversed: counted for velocity
    /// if it was not yet, and logged as not approved, replacing any approved entry, so no claim
    /// ever pays for it.
    ///
    /// # Errors
    ///
    /// [`RiskError::Store`] if a store fails.
    pub fn record_reversal(&self, txn: &Transaction) -> Result<(), RiskError> {
        self.record(txn, false)?;
        self.state.log(LoggedTransaction::of(txn, false), self.config.log_retention)?;
        Ok(())
    }

    /// Assesses a card binding or token provisioning: status lists (a card or device reported
    /// lost, a suspended user → decline), then the live set's provisioning rules. The attempt
    /// is counted for the `bind.*` velocity features whatever the outcome.
    pub fn assess_provisioning(
        &self,
        request: &ProvisioningRequest,
        buf: &mut DecisionBuf,
    ) -> Decision {
        buf.clear();
        let user = self.velocity.key(EntityKind::BindUser, request.user.as_bytes());
        let device = self.velocity.key(EntityKind::BindDevice, request.device.as_bytes());
        let decision = if let Some(reason) =
            self.status_hit(Some(&request.card), Some(&request.device), Some(&request.user))
        {
            Decision { outcome: Outcome::Decline, reason, score: 0 }
        } else {
            let mut features = Features::new(u64::from(beijing_hour(request.at)));
            features.device_cards = Some(u64::from(request.cards_on_device));
            let (Ok(by_user), Ok(by_device)) = (
                self.velocity.snapshot(user, request.at),
                self.velocity.snapshot(device, request.at),
            ) else {
                return self.unavailable();
            };
            features.set_velocity(EntityKind::BindUser, by_user.as_ref());
            features.set_velocity(EntityKind::BindDevice, by_device.as_ref());
            let device_key = self.velocity.key(EntityKind::Device, request.device.as_bytes());
            features.device_age_hours =
                Some(self.device_age_hours(device_key, request.device_registered_at, request.at));
            let input = EvalInput {
                context: Context::Provisioning,
                features: &features,
                mcc: None,
                channel: None,
                auth: None,
            };
            let sets = self.sets.load();
            self.run(&sets.live, sets.shadow.as_deref(), &input, &|| [None; 4], request.at, buf)
        };
        // Every attempt is its own (random) id, so attempts on different nodes never collide.
        let id = self.velocity.id_hash(cloudcard_core::TransactionId::random().as_bytes());
        let approved = decision.outcome != Outcome::Decline;
        if self.velocity.record(&[user, device], id, request.at, 0, approved).is_err() {
            return self.unavailable();
        }
        decision
    }

    /// Replaces the live rule set at once, with no pause for deciding threads; returns the old
    /// one, which the decline-rate monitor now compares against. A token's or user's velocity
    /// is kept only while some rule reads it (see [`Self::record`]): a new set that reads it
    /// counts from its swap on.
    pub fn swap_rules(&self, rules: RuleSet) -> Arc<RuleSet> {
        let rules = Arc::new(rules);
        let before =
            self.sets.rcu(|sets| Sets { live: Arc::clone(&rules), shadow: sets.shadow.clone() });
        let old = Arc::clone(&before.live);
        self.previous.store(Some(Arc::clone(&old)));
        old
    }

    /// Runs `rules` beside the live set: its would-be decisions are counted, never enforced.
    /// `None` stops shadowing.
    pub fn set_shadow(&self, rules: Option<RuleSet>) {
        for counter in [&self.shadow_stats.decisions, &self.shadow_stats.disagreements]
            .into_iter()
            .chain(&self.shadow_stats.outcomes)
        {
            counter.reset();
        }
        let rules = rules.map(Arc::new);
        self.sets.rcu(|sets| Sets { live: Arc::clone(&sets.live), shadow: rules.clone() });
    }

    /// What the shadow set would have done so far.
    #[must_use]
    pub fn shadow_report(&self) -> Option<ShadowReport> {
        let shadow = self.sets.load().shadow.clone()?;
        let s = &self.shadow_stats;
        Some(ShadowReport {
            version: shadow.version().to_string(),
            decisions: s.decisions.get(),
            disagreements: s.disagreements.get(),
            outcomes: s.outcomes.each_ref().map(Striped::get),
        })
    }

    /// Flags the live rule set if, over at least 1,000 decisions, it declines more than twice
    /// as often as the set it replaced did.
    #[must_use]
    pub fn decline_rate_alert(&self) -> Option<DeclineRateAlert> {
        let sets = self.sets.load();
        let live = &sets.live;
        let previous = self.previous.load_full()?;
        let (d, x) = (live.stats.decisions.get(), live.stats.declines.get());
        let (pd, px) = (previous.stats.decisions.get(), previous.stats.declines.get());
        if d < 1_000 || pd == 0 {
            return None;
        }
        // x / d > 2 · px / pd, in integers.
        let flagged = u128::from(x) * u128::from(pd) > 2 * u128::from(px) * u128::from(d);
        flagged.then(|| DeclineRateAlert {
            version: live.version().to_string(),
            rate: ratio(x, d),
            previous_version: previous.version().to_string(),
            previous_rate: ratio(px, pd),
        })
    }

    /// Turns off one rule for one entity (say, a merchant's known burst on one card) until
    /// `until`, on every node sharing the store.
    ///
    /// # Errors
    ///
    /// [`RiskError::Store`].
    pub fn suppress(
        &self,
        kind: EntityKind,
        id: &str,
        rule: &str,
        until: DateTime<Utc>,
    ) -> Result<(), RiskError> {
        Ok(self.state.suppress(self.velocity.key(kind, id.as_bytes()), rule, until)?)
    }

    /// Suspends a user: every payment and binding is declined until [`Self::resume_user`].
    ///
    /// # Errors
    ///
    /// [`RiskError::Store`].
    pub fn suspend_user(&self, user: &UserId) -> Result<(), RiskError> {
        Ok(self.state.set_suspended(user, true)?)
    }

    /// Lifts a user's suspension.
    ///
    /// # Errors
    ///
    /// [`RiskError::Store`].
    pub fn resume_user(&self, user: &UserId) -> Result<(), RiskError> {
        Ok(self.state.set_suspended(user, false)?)
    }

    /// Records a loss: from now on the card's or device's payments are declined, on every node
    /// sharing the store.
    ///
    /// # Errors
    ///
    /// [`RiskError::Store`].
    pub fn report_loss(
        &self,
        instrument: Instrument,
        user: &UserId,
        reported_at: DateTime<Utc>,
    ) -> Result<LossReport, RiskError> {
        self.state.mark_lost(&instrument, reported_at)?;
        Ok(LossReport { instrument, user: user.clone(), reported_at })
    }

    /// Takes a phone or card off the lost list (a phone found again); whether it was on it.
    /// Payments already logged keep their verdicts, and a claim filed stays filed.
    ///
    /// # Errors
    ///
    /// [`RiskError::Store`].
    pub fn clear_loss(&self, instrument: &Instrument) -> Result<bool, RiskError> {
        Ok(self.state.clear_lost(instrument)?)
    }

    /// Whether the card was reported lost.
    ///
    /// # Errors
    ///
    /// [`RiskError::Store`].
    pub fn is_card_lost(&self, card: &CardId) -> Result<bool, RiskError> {
        Ok(self.state.listed(Some(card), None, None)? == Some(Listed::LostCard))
    }

    /// Whether the device was reported lost.
    ///
    /// # Errors
    ///
    /// [`RiskError::Store`].
    pub fn is_device_lost(&self, device: &DeviceId) -> Result<bool, RiskError> {
        Ok(self.state.listed(None, Some(device), None)? == Some(Listed::LostDevice))
    }

    /// Drops loss-log entries past their retention, at most `limit`; how many went.
    ///
    /// # Errors
    ///
    /// [`RiskError::Store`].
    pub fn purge_log(&self, limit: usize) -> Result<usize, RiskError> {
        Ok(self.state.purge_log(self.clock.now(), limit)?)
    }

    /// The verdict on every logged transaction of the lost instrument: eligible for 72-hour
    /// protection when approved, made within the 72 hours up to and including the report
    /// instant, not verified by the cardholder's fingerprint or payment password, and not
    /// already in a claim.
    ///
    /// # Errors
    ///
    /// [`RiskError::Store`].
    pub fn assess_loss(&self, report: &LossReport) -> Result<Vec<Assessment>, RiskError> {
        Ok(self.state.assess(report)?)
    }

    /// Opens a claim for the eligible transactions of a loss.
    ///
    /// # Errors
    ///
    /// [`RiskError::NothingEligible`], or [`RiskError::Overflow`].
    pub fn file_claim(&self, report: &LossReport) -> Result<Claim, RiskError> {
        self.file_claim_as(&ClaimId::random(), report)
    }

    /// Opens a claim under an id the caller chose, so a retried flow files it once: a rerun
    /// finds its transactions claimed already.
    ///
    /// # Errors
    ///
    /// [`RiskError::NothingEligible`], or [`RiskError::Store`].
    pub fn file_claim_as(&self, id: &ClaimId, report: &LossReport) -> Result<Claim, RiskError> {
        self.state.file_claim(id, report, self.clock.now())?.ok_or(RiskError::NothingEligible)
    }

    /// Moves a claim on.
    ///
    /// # Errors
    ///
    /// [`RiskError::ClaimNotFound`] or [`RiskError::ClaimTransition`].
    pub fn advance_claim(&self, id: &ClaimId, event: ClaimEvent) -> Result<Claim, RiskError> {
        match self.state.advance_claim(id, event, self.clock.now()) {
            Ok(result) => result,
            Err(StoreError::Missing) => Err(RiskError::ClaimNotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// A claim.
    ///
    /// # Errors
    ///
    /// [`RiskError::Store`].
    pub fn claim(&self, id: &ClaimId) -> Result<Option<Claim>, RiskError> {
        Ok(self.state.claim(id)?)
    }

    /// Drops velocity state of entities idle for longer than the longest window.
    ///
    /// # Errors
    ///
    /// [`RiskError::Store`].
    pub fn evict_idle(&self) -> Result<usize, RiskError> {
        Ok(self.velocity.evict_idle(self.clock.now())?)
    }

    /// The decision when a store the rules need cannot be read: decline, failing closed.
    fn unavailable(&self) -> Decision {
        let decision =
            Decision { outcome: Outcome::Decline, reason: Reason::Unavailable, score: 0 };
        self.sets.load().live.stats.count(decision.outcome);
        decision
    }

    /// Replays `transactions` in order against `rules`, on fresh velocity state, counting each
    /// as approved unless declined (a challenge is taken as passed). Nothing live changes.
    ///
    /// # Errors
    ///
    /// [`RiskError::Windows`] only for a bad configuration.
    pub fn backtest(
        &self,
        rules: RuleSet,
        transactions: &[Transaction],
    ) -> Result<BacktestReport, RiskError> {
        let sandbox = Self::new(self.config.clone(), rules, self.clock.clone())?;
        let mut buf = sandbox.buffer();
        let mut report = BacktestReport::default();
        for txn in transactions {
            let decision = sandbox.decide(txn, &mut buf);
            report.decisions += 1;
            if let Some(slot) = report.outcomes.get_mut(outcome_index(decision.outcome)) {
                *slot += 1;
            }
            for fired in buf.fired() {
                *report.per_rule.entry(fired.rule.to_string()).or_default() += 1;
            }
            sandbox.record(txn, decision.outcome != Outcome::Decline)?;
        }
        Ok(report)
    }

    /// Evaluates `live` (and `shadow`, counted only) on `input`.
    fn run(
        &self,
        live: &RuleSet,
        shadow: Option<&RuleSet>,
        input: &EvalInput<'_>,
        entities: &dyn Fn() -> [Option<EntityKey>; 4],
        at: DateTime<Utc>,
        buf: &mut DecisionBuf,
    ) -> Decision {
        // Asked only when a rule fires, the entities' keys made then, once, and only if the
        // store turns any rule off; a store that cannot answer leaves the rule in force.
        let keys = std::cell::OnceCell::new();
        let suppressed = |rule: &str| {
            let (keys, n) = keys.get_or_init(|| {
                let (mut keys, mut n) = ([EntityKey::default(); 4], 0);
                if !self.state.suppresses_any() {
                    return (keys, n);
                }
                for key in entities().into_iter().flatten() {
                    if let Some(slot) = keys.get_mut(n) {
                        *slot = key;
                        n += 1;
                    }
                }
                (keys, n)
            });
            let keys = keys.get(..*n).unwrap_or_default();
            !keys.is_empty() && self.state.suppressed(keys, rule, at).unwrap_or(false)
        };
        let e = live.evaluate(input, &suppressed, Some(buf));
        let decision = combine(e.rules_outcome, e.score_outcome, e.score);
        live.stats.count(decision.outcome);
        if let Some(shadow) = shadow {
            let s = shadow.evaluate(input, &suppressed, None);
            let would = combine(s.rules_outcome, s.score_outcome, s.score).outcome;
            let stats = &self.shadow_stats;
            stats.decisions.add(1);
            if would != decision.outcome {
                stats.disagreements.add(1);
            }
            if let Some(c) = stats.outcomes.get(outcome_index(would)) {
                c.add(1);
            }
        }
        decision
    }

    fn status_hit(
        &self,
        card: Option<&CardId>,
        device: Option<&DeviceId>,
        user: Option<&UserId>,
    ) -> Option<Reason> {
        match self.state.listed(card, device, user) {
            Ok(None) => None,
            Ok(Some(Listed::LostCard)) => Some(Reason::LostCard),
            Ok(Some(Listed::LostDevice)) => Some(Reason::LostDevice),
            Ok(Some(Listed::SuspendedUser)) => Some(Reason::SuspendedUser),
            // A status list that cannot be read fails closed.
            Err(_) => Some(Reason::Unavailable),
        }
    }

    fn device_age_hours(
        &self,
        key: EntityKey,
        registered: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> u64 {
        let since = registered.or_else(|| {
            // Only the first sighting is wanted: no window summed.
            let snapshot = self.velocity.snapshot_windows(key, at, 0).ok().flatten()?;
            DateTime::from_timestamp(snapshot.first_seen, 0)
        });
        since.map_or(0, |since| whole_hours(since, at))
    }
}

/// The whole hours from `since` to `at`, 0 if `at` is not later: `(at - since).num_hours()`,
/// counted from the two timestamps without the calendar arithmetic a difference of dates does.
fn whole_hours(since: DateTime<Utc>, at: DateTime<Utc>) -> u64 {
    if at <= since {
        return 0;
    }
    // A second is whole only if `at` is as far into its second as `since` is into its own.
    let short = at.timestamp_subsec_nanos() < since.timestamp_subsec_nanos();
    let secs = at.timestamp().saturating_sub(since.timestamp()).saturating_sub(i64::from(short));
    u64::try_from(secs / 3_600).unwrap_or(0)
}

fn combine(rules: Outcome, score: Outcome, points: u32) -> Decision {
    let outcome = rules.max(score);
    let reason = if outcome == Outcome::Approve {
        Reason::Clear
    } else if score > rules {
        Reason::Score
    } else {
        Reason::Rules
    };
    Decision { outcome, reason, score: points }
}

const fn outcome_index(o: Outcome) -> usize {
    match o {
        Outcome::Approve => 0,
        Outcome::Challenge(_) => 1,
        Outcome::Review => 2,
        Outcome::Decline => 3,
    }
}

#[expect(clippy::cast_precision_loss, reason = "a rate for display")]
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::LostCard => "card reported lost",
            Self::LostDevice => "phone reported lost",
            Self::SuspendedUser => "user suspended",
            Self::Rules => "risk rules",
            Self::Score => "risk score",
            Self::Clear => "nothing found",
            Self::Unavailable => "risk checks unavailable",
        })
    }
}

#[cfg(test)]
mod tests;

//! Losing a phone or a card, unbinding a card, and the recovery of flows a crash interrupted.

use cloudcard_core::{CardId, ClaimId, Clock, DeviceId, TokenId, UserId};
use cloudcard_risk::{Instrument, LossReport};
use cloudcard_token::{Actor, TokenEvent};
use cloudcard_wallet::UnbindPrompt;

use crate::model::{LossOutcome, UnbindOutcome};
use crate::service::risk_card_key;
use crate::state::{FLOW_LEASE, Flow, Lost};
use crate::{CloudCard, Error};

/// What one [`CloudCard::run_due`] pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DueReport {
    /// Interrupted flows completed or rolled back.
    pub flows_recovered: usize,
    /// Flows that could not be finished this time (retried on the next pass).
    pub flows_failed: usize,
    /// Lapsed pending bindings, unbind tickets and codes deleted.
    pub wallet_purged: usize,
    /// Lapsed payment challenges deleted.
    pub challenges_purged: usize,
    /// Loss-log entries past their retention deleted.
    pub log_purged: usize,
    /// Lookup reports whose content expired.
    pub reports_purged: usize,
    /// "Report ready" messages sent (retried ones included).
    pub notices_sent: usize,
    /// Payments held for review that nobody decided in time: declined.
    pub reviews_lapsed: usize,
    /// Payment answers kept for terminals' retries, deleted after their 24 hours.
    pub answers_purged: usize,
    /// Lookup reports generated (banks' answers delivered, or their 24 hours up).
    pub lookups_ready: usize,
    /// Jobs of this pass that failed (a store or port outage); each is tried again on the
    /// next pass, and the others ran regardless.
    pub jobs_failed: usize,
}

/// How much of each kind one pass handles, so a pass stays short under any backlog.
const BATCH: usize = 1_000;

impl CloudCard {
    /// A lost phone (挂失): puts it on the lost list (its payments are declined at once, on
    /// every node), suspends every cloud card on it, arms 72-hour protection, lists the verdict
    /// on each recent transaction and opens a claim for the eligible ones. A phone found again
    /// is resumed with [`Self::resume_phone`]; one confirmed lost has its cloud cards deleted
    /// with [`Self::confirm_phone_lost`].
    ///
    /// # Errors
    ///
    /// [`Error::DeviceNotFound`], [`Error::Token`], [`Error::Store`].
    pub fn report_lost_phone(
        &self,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<LossOutcome, Error> {
        self.device_registered_at(user, device)?;
        self.run_loss(user, Lost::Device(device.clone()))
    }

    /// A phone reported lost and found again (解挂), after the user's payment-password check:
    /// off the lost list, and its cloud cards suspended by the loss report pay again. Returns
    /// them. A claim filed for it stays filed.
    ///
    /// # Errors
    ///
    /// [`Error::DeviceNotFound`]; [`Error::Wallet`] for a wrong or locked password.
    pub fn resume_phone(
        &self,
        user: &UserId,
        device: &DeviceId,
        password: &cloudcard_masking::Secret<String>,
    ) -> Result<Vec<TokenId>, Error> {
        self.device_registered_at(user, device)?;
        self.wallet.verify_payment_password(user, password)?;
        self.risk.clear_loss(&Instrument::Device(device.clone()))?;
        let mut resumed = Vec::new();
        for token in self.tokens.tokens_of_device(device)? {
            if token.status == cloudcard_token::TokenStatus::Suspended(Actor::LossReport) {
                self.tokens.apply(&token.id, TokenEvent::Resume(Actor::User))?;
                resumed.push(token.id);
            }
        }
        Ok(resumed)
    }

    /// A phone reported lost and confirmed lost (注销): its cloud cards are deleted and it
    /// leaves the user's devices, so it can never be resumed. It stays on the lost list, so
    /// nothing is ever provisioned on it again. Returns the tokens deleted.
    ///
    /// # Errors
    ///
    /// [`Error::DeviceNotFound`], [`Error::Token`], [`Error::Store`]. A phone not reported lost
    /// yet is reported lost first.
    pub fn confirm_phone_lost(
        &self,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<Vec<TokenId>, Error> {
        if !self.risk.is_device_lost(device)? {
            self.report_lost_phone(user, device)?;
        }
        self.remove_device(user, device)
    }

    /// A lost card: declines its further use, deletes all its tokens, arms 72-hour protection
    /// and opens a claim for the eligible transactions.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`] (not the user's card), [`Error::Token`], [`Error::Store`].
    pub fn report_lost_card(&self, user: &UserId, card: &CardId) -> Result<LossOutcome, Error> {
        self.wallet.card(user, card)?;
        self.run_loss(user, Lost::Card(card.clone()))
    }

    fn run_loss(&self, user: &UserId, lost: Lost) -> Result<LossOutcome, Error> {
        let (claim, reported_at) = (ClaimId::random(), self.clock.now());
        let flow = Flow::Loss {
            user: user.clone(),
            lost: lost.clone(),
            claim: claim.clone(),
            reported_at,
        };
        self.state.begin(&flow, self.clock.now())?;
        let outcome = self.carry_loss(user, &lost, &claim, reported_at)?;
        self.state.end(&flow)?;
        Ok(outcome)
    }

    /// The loss steps, each idempotent: the lost list, the tokens, the claim (filed under the
    /// flow's claim id, so a rerun never files a second one).
    fn carry_loss(
        &self,
        user: &UserId,
        lost: &Lost,
        claim: &ClaimId,
        reported_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<LossOutcome, Error> {
        let (report, cancelled) = match lost {
            Lost::Device(device) => {
                let report =
                    self.risk.report_loss(Instrument::Device(device.clone()), user, reported_at)?;
                let cancelled = self
                    .tokens
                    .apply_to_device(device, TokenEvent::Suspend(Actor::LossReport))?
                    .changed;
                (report, cancelled)
            }
            Lost::Card(card) => {
                // Risk knows the card by its wallet id for payments, and by a key derived from
                // the card number for bindings: a card reported lost is refused if bound again.
                if let Ok(record) = self.wallet.card_record(user, card) {
                    self.risk.report_loss(
                        Instrument::Card(risk_card_key(&record.fingerprint)?),
                        user,
                        reported_at,
                    )?;
                }
                let report =
                    self.risk.report_loss(Instrument::Card(card.clone()), user, reported_at)?;
                (report, self.delete_tokens_of(card, Actor::LossReport)?)
            }
        };
        self.protect(cancelled, &report, claim)
    }

    /// The first step of unbinding a card: "are you sure?".
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`].
    pub fn request_unbind(&self, user: &UserId, card: &CardId) -> Result<UnbindPrompt, Error> {
        Ok(self.wallet.request_unbind(user, card)?)
    }

    /// The second step: deletes the card's tokens, then removes the card from the wallet. Once
    /// the ticket is spent the flow is journaled, so a crash in between is carried forward by
    /// [`Self::run_due`]: no card ends up unbound with a live token.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`], [`Error::Token`], [`Error::Store`].
    pub fn confirm_unbind(
        &self,
        user: &UserId,
        card: &CardId,
        ticket: &str,
    ) -> Result<UnbindOutcome, Error> {
        self.wallet.take_unbind_ticket(user, card, ticket)?;
        let flow = Flow::Unbind { user: user.clone(), card: card.clone() };
        self.state.begin(&flow, self.clock.now())?;
        let deleted_tokens = self.delete_tokens_of(card, Actor::User)?;
        let removed = self.wallet.remove_card(user, card)?.ok_or(Error::CardNotFound)?;
        self.state.unlink_card(card)?;
        self.state.end(&flow)?;
        Ok(UnbindOutcome { removed, deleted_tokens })
    }

    /// Runs every timed job once: completes or rolls back flows a crash interrupted (those
    /// begun more than two minutes ago, so a flow still running on another node is left alone;
    /// an interrupted payment is reversed at the issuer), lapses payment reviews nobody
    /// decided, delivers the banks' lookup answers and generates reports at their deadline,
    /// retries "report ready" SMS, and deletes what lapsed (pending bindings, unbind tickets,
    /// codes, payment challenges, answers kept for retries, loss-log entries past retention,
    /// lookup report content past its 7 days). Call it at start-up and
    /// then every minute or so from one or more nodes; each pass handles at most 1,000 items of
    /// each kind, and a failure on one item never stops the others.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the journal itself cannot be read.
    pub fn run_due(&self) -> Result<DueReport, Error> {
        let now = self.clock.now();
        let mut report = DueReport::default();
        let lapsed = now.checked_sub_signed(FLOW_LEASE).unwrap_or(now);
        for flow in self.state.open_flows(lapsed, BATCH)? {
            match self.recover_flow(&flow).and_then(|()| Ok(self.state.end(&flow)?)) {
                Ok(()) => report.flows_recovered += 1,
                Err(_) => report.flows_failed += 1,
            }
        }
        // Each job on its own: a failure is counted and the next job runs.
        let mut failed = 0;
        let mut count = |done: Result<usize, Error>| {
            done.unwrap_or_else(|_| {
                failed += 1;
                0
            })
        };
        report.wallet_purged = count(self.wallet.purge_expired(BATCH).map_err(Error::from));
        report.challenges_purged =
            count(self.state.purge_challenges(now, BATCH).map_err(Error::from));
        report.reviews_lapsed = count(self.lapse_reviews(now));
        report.answers_purged = count(self.state.purge_outcomes(now, BATCH).map_err(Error::from));
        report.log_purged = count(self.risk.purge_log(BATCH).map_err(Error::from));
        report.reports_purged = count(self.lookup.purge_expired(now).map_err(Error::from));
        report.lookups_ready =
            count(self.dispatcher.pump(&self.lookup, now).map_err(Error::from).map(|events| {
                events
                    .iter()
                    .filter(|e| matches!(e, cloudcard_report::LookupEvent::ReportReady { .. }))
                    .count()
            }));
        report.notices_sent = count(self.send_notices());
        report.jobs_failed = failed;
        Ok(report)
    }

    /// Completes or undoes one journaled flow; safe to run more than once.
    pub(crate) fn recover_flow(&self, flow: &Flow) -> Result<(), Error> {
        match flow {
            Flow::Bind { user, card, token, device_registered_at } => {
                if self.wallet.card_record(user, card).is_ok() {
                    // The card made it: make sure the link does too.
                    self.state.link(user, card, token, *device_registered_at)?;
                } else {
                    self.delete_token(token, Actor::User)?;
                    self.state.unlink_token(card, token)?;
                }
                Ok(())
            }
            Flow::Unbind { user, card } => {
                self.delete_tokens_of(card, Actor::User)?;
                self.wallet.remove_card(user, card)?;
                Ok(self.state.unlink_card(card)?)
            }
            Flow::Loss { user, lost, claim, reported_at } => {
                self.carry_loss(user, lost, claim, *reported_at).map(drop)
            }
            Flow::Pay { txn } => {
                // The payer never had an answer: no charge may stand.
                self.issuer.reverse(&txn.id)?;
                Ok(self.risk.record_reversal(txn)?)
            }
        }
    }

    pub(crate) fn protect(
        &self,
        cancelled: Vec<TokenId>,
        report: &LossReport,
        claim: &ClaimId,
    ) -> Result<LossOutcome, Error> {
        let assessments = self.risk.assess_loss(report)?;
        let claim = match self.risk.file_claim_as(claim, report) {
            Ok(claim) => Some(claim),
            Err(cloudcard_risk::RiskError::NothingEligible) => self.risk.claim(claim)?,
            Err(e) => return Err(e.into()),
        };
        Ok(LossOutcome { cancelled_tokens: cancelled, assessments, claim })
    }

    pub(crate) fn delete_tokens_of(
        &self,
        card: &CardId,
        actor: Actor,
    ) -> Result<Vec<TokenId>, Error> {
        let mut deleted = Vec::new();
        for token in self.state.tokens_of(card)? {
            if self.delete_token(&token, actor)? {
                deleted.push(token);
            }
        }
        Ok(deleted)
    }

    /// Deletes a token; whether it was live. A missing or deleted token is fine.
    fn delete_token(&self, token: &TokenId, actor: Actor) -> Result<bool, Error> {
        match self.tokens.apply(token, TokenEvent::Delete(actor)) {
            Ok(_) => Ok(true),
            Err(
                cloudcard_token::TokenError::Lifecycle(cloudcard_token::LifecycleError::Deleted)
                | cloudcard_token::TokenError::NotFound,
            ) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

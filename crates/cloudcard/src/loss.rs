//! Losing a phone or a card, and unbinding a card, through the facade.

use cloudcard_core::{CardId, Clock, DeviceId, TokenId, UserId};
use cloudcard_risk::Instrument;
use cloudcard_token::{Actor, TokenEvent};
use cloudcard_wallet::UnbindPrompt;

use crate::service::{LossOutcome, UnbindOutcome, risk_card_key};
use crate::{CloudCard, Error};

impl CloudCard {
    /// A lost phone: cancels every cloud card on it (挂失、注销), so its payments are declined
    /// from now on, arms 72-hour protection, lists the verdict on each recent transaction and
    /// opens a claim for the eligible ones.
    ///
    /// # Errors
    ///
    /// [`Error::DeviceNotFound`], [`Error::Token`].
    pub fn report_lost_phone(
        &self,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<LossOutcome, Error> {
        self.device_registered_at(user, device)?;
        let cancelled =
            self.tokens.apply_to_device(device, TokenEvent::Delete(Actor::LossReport))?.changed;
        let report =
            self.risk.report_loss(Instrument::Device(device.clone()), user, self.clock.now());
        self.protect(cancelled, &report)
    }

    /// A lost card: deletes all its tokens, declines its further use, arms 72-hour protection
    /// and opens a claim for the eligible transactions.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`] (not the user's card), [`Error::Token`].
    pub fn report_lost_card(&self, user: &UserId, card: &CardId) -> Result<LossOutcome, Error> {
        self.wallet.card(user, card)?;
        let cancelled = self.delete_tokens_of(card, Actor::LossReport)?;
        let now = self.clock.now();
        // Risk knows the card by its wallet id for payments, and by a key derived from the card
        // number for bindings: a card reported lost is refused if anyone binds it again.
        let record = self.wallet.store().cards(user).into_iter().find(|c| c.id == *card);
        if let Some(record) = record {
            self.risk.report_loss(Instrument::Card(risk_card_key(&record.fingerprint)?), user, now);
        }
        let report = self.risk.report_loss(Instrument::Card(card.clone()), user, now);
        self.protect(cancelled, &report)
    }

    /// The first step of unbinding a card: "are you sure?".
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`].
    pub fn request_unbind(&self, user: &UserId, card: &CardId) -> Result<UnbindPrompt, Error> {
        Ok(self.wallet.request_unbind(user, card)?)
    }

    /// The second step: removes the card from the wallet and deletes its tokens.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`], [`Error::Token`].
    pub fn confirm_unbind(
        &self,
        user: &UserId,
        card: &CardId,
        ticket: &str,
    ) -> Result<UnbindOutcome, Error> {
        let removed = self.wallet.confirm_unbind(user, card, ticket)?;
        let deleted_tokens = self.delete_tokens_of(card, Actor::User)?;
        let mut links = self.links();
        for token in &deleted_tokens {
            links.token_card.remove(token);
        }
        links.card_tokens.remove(card);
        Ok(UnbindOutcome { removed, deleted_tokens })
    }

    pub(crate) fn protect(
        &self,
        cancelled: Vec<TokenId>,
        report: &cloudcard_risk::LossReport,
    ) -> Result<LossOutcome, Error> {
        let assessments = self.risk.assess_loss(report);
        let claim = match self.risk.file_claim(report) {
            Ok(claim) => Some(claim),
            Err(cloudcard_risk::RiskError::NothingEligible) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(LossOutcome { cancelled_tokens: cancelled, assessments, claim })
    }

    pub(crate) fn delete_tokens_of(
        &self,
        card: &CardId,
        actor: Actor,
    ) -> Result<Vec<TokenId>, Error> {
        let tokens = self.links_read().card_tokens.get(card).cloned().unwrap_or_default();
        let mut deleted = Vec::new();
        for token in tokens {
            match self.tokens.apply(&token, TokenEvent::Delete(actor)) {
                Ok(_) => deleted.push(token),
                Err(cloudcard_token::TokenError::Lifecycle(
                    cloudcard_token::LifecycleError::Deleted,
                )) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(deleted)
    }
}

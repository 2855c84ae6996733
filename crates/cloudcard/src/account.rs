//! The account, card, key and claim actions a wallet app and its operators need, each a facade
//! flow; and [`Danger`], the one fenced way past them to the domain services.

use std::sync::Arc;

use cloudcard_core::{CardId, ClaimId, DeviceId, PersonName, PhoneNumber, QueryId, ResidentId};
use cloudcard_core::{TerminalId, UserId};
use cloudcard_masking::Secret;
use cloudcard_report::{AuditEntry, LookupService, LookupStore};
use cloudcard_risk::{Claim, ClaimEvent, RiskEngine};
use cloudcard_token::{LukGrant, ReplenishRequest, TokenInfo, TokenService, TokenStore};
use cloudcard_wallet::{AccountView, CardView, DeviceRecord, TerminalRecord, Wallet, WalletStore};

use crate::{CloudCard, Error};

impl CloudCard {
    /// The user's account: verified name (masked), mobile (masked), password state.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`] (`UserNotFound`).
    pub fn account(&self, user: &UserId) -> Result<AccountView, Error> {
        Ok(self.wallet.account(user)?)
    }

    /// Sets the first payment password; weak ones (`123456`, `111111`, the birthday) are
    /// refused.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`]: `PasswordFormat`, `WrongPassword` if one is set already.
    pub fn set_payment_password(
        &self,
        user: &UserId,
        password: &Secret<String>,
    ) -> Result<(), Error> {
        Ok(self.wallet.set_payment_password(user, password)?)
    }

    /// Checks the payment password (before showing a card's details, say). Five wrong tries in
    /// a row lock it for three hours, on every node.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`]: `WrongPassword { remaining }`, `PasswordLocked { until }`.
    pub fn check_payment_password(
        &self,
        user: &UserId,
        password: &Secret<String>,
    ) -> Result<(), Error> {
        Ok(self.wallet.verify_payment_password(user, password)?)
    }

    /// Changes the payment password, given the current one.
    ///
    /// # Errors
    ///
    /// As [`Self::check_payment_password`], and `PasswordFormat`.
    pub fn change_payment_password(
        &self,
        user: &UserId,
        old: &Secret<String>,
        new: &Secret<String>,
    ) -> Result<(), Error> {
        Ok(self.wallet.change_payment_password(user, old, new)?)
    }

    /// Sends a password-reset code to the registered mobile.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`]: `OtpThrottled`, `UserNotFound`.
    pub fn request_password_reset(&self, user: &UserId) -> Result<(), Error> {
        Ok(self.wallet.request_password_reset(user)?)
    }

    /// Resets the payment password with the code sent to the registered mobile; lifts a lock.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`]: a code error, `PasswordFormat`.
    pub fn reset_payment_password(
        &self,
        user: &UserId,
        code: &str,
        new: &Secret<String>,
    ) -> Result<(), Error> {
        Ok(self.wallet.reset_payment_password(user, code, new)?)
    }

    /// The user's devices.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`] (`UserNotFound`).
    pub fn devices(&self, user: &UserId) -> Result<Vec<DeviceRecord>, Error> {
        Ok(self.wallet.devices(user)?)
    }

    /// The user's cards, masked, the default first.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`] (`UserNotFound`).
    pub fn cards(&self, user: &UserId) -> Result<Vec<CardView>, Error> {
        Ok(self.wallet.cards(user)?)
    }

    /// One of the user's cards, masked.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`] (`CardNotFound`).
    pub fn card(&self, user: &UserId, card: &CardId) -> Result<CardView, Error> {
        Ok(self.wallet.card(user, card)?)
    }

    /// Makes one of the user's cards the default.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`] (`CardNotFound`).
    pub fn set_default_card(&self, user: &UserId, card: &CardId) -> Result<(), Error> {
        Ok(self.wallet.set_default(user, card)?)
    }

    /// Adds a card already in the wallet to another of the user's phones, after a
    /// payment-password check and without binding it again: a new cloud card for the same card
    /// goes to that phone (never to one reported lost).
    ///
    /// # Errors
    ///
    /// [`Error::DeviceNotFound`], [`Error::DeviceLost`], [`Error::CardNotFound`];
    /// [`Error::Wallet`] for a wrong or locked password; [`Error::Token`]
    /// (`AlreadyProvisioned` if the phone has it, `NotActive` if no cloud card of the card is
    /// active to copy from).
    pub fn add_card_to_phone(
        &self,
        user: &UserId,
        card: &CardId,
        device: &DeviceId,
        password: &Secret<String>,
    ) -> Result<crate::BoundCard, Error> {
        let registered_at = self.device_registered_at(user, device)?;
        if self.risk.is_device_lost(device)? {
            return Err(Error::DeviceLost);
        }
        let view = self.wallet.card(user, card)?;
        self.wallet.verify_payment_password(user, password)?;
        let mut source = None;
        for token in self.state.tokens_of(card)? {
            if self.tokens.token(&token)?.status == cloudcard_token::TokenStatus::Active {
                source = Some(token);
                break;
            }
        }
        let source = source.ok_or(cloudcard_token::TokenError::NotActive)?;
        // Journaled as a binding whose card is already there: recovery links the token.
        let token_id = cloudcard_core::TokenId::random();
        let flow = crate::state::Flow::Bind {
            user: user.clone(),
            card: card.clone(),
            token: token_id.clone(),
            device_registered_at: Some(registered_at),
        };
        self.state.begin(&flow, self.clock.now())?;
        let provisioned =
            match self.tokens.provision_sibling(&source, device.clone(), Some(token_id)) {
                Ok(provisioned) => provisioned,
                Err(e) => {
                    // Nothing was provisioned: nothing to recover.
                    self.state.end(&flow)?;
                    return Err(e.into());
                }
            };
        self.state.link(user, card, &provisioned.token.id, Some(registered_at))?;
        self.state.end(&flow)?;
        Ok(crate::BoundCard {
            card: view,
            token: provisioned.token,
            device_card: provisioned.device_card,
        })
    }

    /// The cloud cards on one of the user's devices (masked token numbers, status, last 4).
    ///
    /// # Errors
    ///
    /// [`Error::DeviceNotFound`] unless the device is the user's.
    pub fn device_tokens(&self, user: &UserId, device: &DeviceId) -> Result<Vec<TokenInfo>, Error> {
        self.device_registered_at(user, device)?;
        Ok(self.tokens.tokens_of_device(device)?)
    }

    /// New limited-use keys for a phone's cloud card, on its authenticated request (MAC'd
    /// under its current key; five failures lock the token until it is provisioned again).
    ///
    /// # Errors
    ///
    /// [`Error::Token`]: the request does not verify, the token is not active, or locked.
    pub fn replenish(&self, request: &ReplenishRequest) -> Result<LukGrant, Error> {
        Ok(self.tokens.replenish(request)?)
    }

    /// A claim, for its user.
    ///
    /// # Errors
    ///
    /// [`Error::Risk`] (`ClaimNotFound`) if there is none, or it is another user's.
    pub fn claim(&self, user: &UserId, claim: &ClaimId) -> Result<Claim, Error> {
        match self.risk.claim(claim)? {
            Some(c) if c.report.user == *user => Ok(c),
            _ => Err(cloudcard_risk::RiskError::ClaimNotFound.into()),
        }
    }

    /// An operator's step on a claim: assess, pay in advance, settle or reject.
    ///
    /// # Errors
    ///
    /// [`Error::Risk`]: `ClaimNotFound`, or a step the claim's state does not allow.
    pub fn advance_claim(&self, claim: &ClaimId, event: ClaimEvent) -> Result<Claim, Error> {
        Ok(self.risk.advance_claim(claim, event)?)
    }

    /// The version of the lookup agreement the user must accept.
    #[must_use]
    pub fn lookup_agreement_version(&self) -> &str {
        &self.lookup.config().agreement_version
    }

    /// A lookup's audit trail (consent, checks, dispatches, answers, views, deletion), for its
    /// user. Never card data.
    ///
    /// # Errors
    ///
    /// [`Error::Lookup`] (`QueryNotFound`) if there is none, or it is another user's.
    pub fn lookup_audit_trail(
        &self,
        user: &UserId,
        query: &QueryId,
    ) -> Result<Vec<AuditEntry>, Error> {
        self.lookup.query(query, user)?;
        Ok(self.lookup.audit_trail(query)?)
    }

    /// Registers a POS terminal to its owner, with the code sent to the owner's mobile.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`]: a code or identity error, or the terminal is registered already.
    pub fn register_terminal(
        &self,
        terminal: TerminalId,
        owner: PersonName,
        owner_id: ResidentId,
        mobile: PhoneNumber,
        code: &str,
    ) -> Result<(), Error> {
        Ok(self.wallet.register_terminal(terminal, owner, owner_id, mobile, code)?)
    }

    /// Sends a terminal's owner the code that confirms a mobile for it.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`]: `OtpThrottled`, the daily SMS cap.
    pub fn send_terminal_mobile_code(
        &self,
        terminal: &TerminalId,
        mobile: &PhoneNumber,
    ) -> Result<(), Error> {
        Ok(self.wallet.send_terminal_mobile_code(terminal, mobile)?)
    }

    /// A POS terminal's record (owner masked).
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`] (`TerminalNotFound`).
    pub fn terminal(&self, terminal: &TerminalId) -> Result<TerminalRecord, Error> {
        Ok(self.wallet.terminal(terminal)?)
    }

    /// The domain services themselves, past every facade flow: a card removed here keeps its
    /// tokens, a token deleted here keeps its wallet card, a device removed here keeps paying.
    /// For operators' repair tools and for tests that check the stores directly; a wallet
    /// back end needs none of it.
    ///
    /// The services are not reachable any other way:
    ///
    /// ```compile_fail
    /// let cc = cloudcard::CloudCard::demo().build()?;
    /// cc.wallet(); // no such method: the wallet's own operations are behind `danger()`
    /// # Ok::<(), cloudcard::Error>(())
    /// ```
    #[must_use]
    pub const fn danger(&self) -> Danger<'_> {
        Danger { cc: self }
    }
}

/// The domain services behind a [`CloudCard`], past its flows: see [`CloudCard::danger`].
#[derive(Debug, Clone, Copy)]
pub struct Danger<'a> {
    cc: &'a CloudCard,
}

impl<'a> Danger<'a> {
    /// The wallet.
    #[must_use]
    pub fn wallet(&self) -> &'a Wallet<Arc<dyn WalletStore>> {
        &self.cc.wallet
    }

    /// The token service.
    #[must_use]
    pub const fn tokens(&self) -> &'a TokenService<Arc<dyn TokenStore>> {
        &self.cc.tokens
    }

    /// The risk engine.
    #[must_use]
    pub const fn risk(&self) -> &'a RiskEngine {
        &self.cc.risk
    }

    /// The card lookup.
    #[must_use]
    pub const fn lookup(&self) -> &'a LookupService<Arc<dyn LookupStore>> {
        &self.cc.lookup
    }
}

//! Cards: binding, listing, the default card, two-step unbinding; and devices.

use cloudcard_core::{CardId, DeviceId, IssuerTable, Pan, UserId};
use cloudcard_masking::{MaskPolicy, Secret};
use rand::RngExt;
use subtle::ConstantTimeEq;

use crate::WalletError;
use crate::bank::{BankVerdict, FourElements};
use crate::service::{
    BindRequest, BoundCard, CardView, PendingView, RemovedCard, UnbindPrompt, Wallet,
};
use crate::store::{CardRecord, DeviceRecord, PendingBinding, UnbindTicket, WalletStore};

impl<S: WalletStore> Wallet<S> {
    /// Starts binding a card: checks the account, the wallet's room and duplicates, names the
    /// bank and kind, and has the bank check the four elements and send its code to the reserved
    /// mobile.
    ///
    /// # Errors
    ///
    /// [`WalletError::NotRealNameVerified`], [`WalletError::CardAlreadyBound`],
    /// [`WalletError::WalletFull`], [`WalletError::CreditDetailsRequired`],
    /// [`WalletError::CardHolderMismatch`], [`WalletError::CardUnknown`].
    pub fn begin_binding(
        &self,
        user: &UserId,
        request: BindRequest,
    ) -> Result<PendingView, WalletError> {
        let now = self.clock.now();
        let record = self.user(user)?;
        let real = record.real_name.ok_or(WalletError::NotRealNameVerified)?;
        self.check_room(user, &request.pan)?;
        let known = IssuerTable::builtin().lookup(&request.pan);
        if known.is_some_and(|i| i.kind.is_credit())
            && (request.expiry.is_none() || request.cvn2.is_none())
        {
            return Err(WalletError::CreditDetailsRequired);
        }
        let elements = FourElements {
            pan: request.pan.clone(),
            name: real.name,
            id: real.id,
            reserved_mobile: request.reserved_mobile.clone(),
            expiry: request.expiry,
            cvn2: request.cvn2,
        };
        let (session, bank, kind) = match self.ports.bank.verify(&elements, now)? {
            BankVerdict::CodeSent { session, bank, kind } => (session, bank, kind),
            BankVerdict::Mismatch => return Err(WalletError::CardHolderMismatch),
            BankVerdict::UnknownCard => return Err(WalletError::CardUnknown),
        };
        // The table names bank and kind where it knows the BIN; the bank's answer otherwise.
        let (bank, kind) = known.map_or((bank, kind), |i| (i.bank, i.kind));
        let binding = PendingBinding {
            id: format!("bind_{:032x}", rand::rng().random::<u128>()),
            user: user.clone(),
            pan: request.pan,
            expiry: request.expiry,
            bank,
            kind,
            reserved_mobile: request.reserved_mobile,
            session,
            expires_at: now.checked_add_signed(self.config.binding_ttl).unwrap_or(now),
        };
        let view = PendingView {
            binding: binding.id.clone(),
            masked: binding.pan.masked(),
            bank,
            kind,
            expires_at: binding.expires_at,
        };
        self.store.put_binding(binding);
        Ok(view)
    }

    /// Confirms a binding with the bank's code: the card is bound (the default if it is the
    /// first). Returns its number once, for tokenization.
    ///
    /// # Errors
    ///
    /// [`WalletError::BindingExpired`], [`WalletError::OtpInvalid`], and the room checks of
    /// [`Self::begin_binding`] again.
    pub fn confirm_binding(
        &self,
        user: &UserId,
        binding: &str,
        code: &str,
    ) -> Result<BoundCard, WalletError> {
        let now = self.clock.now();
        let pending = self
            .store
            .binding(binding)
            .filter(|b| b.user == *user)
            .ok_or(WalletError::BindingExpired)?;
        if now >= pending.expires_at {
            self.store.remove_binding(binding);
            return Err(WalletError::BindingExpired);
        }
        if !self.ports.bank.confirm(&pending.session, code)? {
            return Err(WalletError::OtpInvalid);
        }
        self.store.remove_binding(binding);
        self.check_room(user, &pending.pan)?;
        let mut cards = self.store.cards(user);
        let record = CardRecord {
            id: CardId::random(),
            user: user.clone(),
            fingerprint: self.fingerprint(&pending.pan),
            masked: pending.pan.masked(),
            bank: pending.bank,
            kind: pending.kind,
            reserved_mobile: pending.reserved_mobile.clone(),
            is_default: cards.is_empty(),
            bound_at: now,
        };
        let card = view(&record);
        cards.push(record);
        self.store.put_cards(user, cards);
        Ok(BoundCard { card, pan: pending.pan, expiry: pending.expiry })
    }

    /// The user's cards, in binding order.
    ///
    /// # Errors
    ///
    /// [`WalletError::UserNotFound`].
    pub fn cards(&self, user: &UserId) -> Result<Vec<CardView>, WalletError> {
        self.user(user)?;
        Ok(self.store.cards(user).iter().map(view).collect())
    }

    /// One card's details.
    ///
    /// # Errors
    ///
    /// [`WalletError::CardNotFound`].
    pub fn card(&self, user: &UserId, card: &CardId) -> Result<CardView, WalletError> {
        self.store
            .cards(user)
            .iter()
            .find(|c| c.id == *card)
            .map(view)
            .ok_or(WalletError::CardNotFound)
    }

    /// Makes a card the default; exactly one card is default while any is bound.
    ///
    /// # Errors
    ///
    /// [`WalletError::CardNotFound`].
    pub fn set_default(&self, user: &UserId, card: &CardId) -> Result<(), WalletError> {
        let mut cards = self.store.cards(user);
        if !cards.iter().any(|c| c.id == *card) {
            return Err(WalletError::CardNotFound);
        }
        for c in &mut cards {
            c.is_default = c.id == *card;
        }
        self.store.put_cards(user, cards);
        Ok(())
    }

    /// The first step of unbinding: a single-use, short-lived ticket for "are you sure?".
    ///
    /// # Errors
    ///
    /// [`WalletError::CardNotFound`].
    pub fn request_unbind(
        &self,
        user: &UserId,
        card: &CardId,
    ) -> Result<UnbindPrompt, WalletError> {
        let found = self.card(user, card)?;
        let now = self.clock.now();
        let ticket = format!("{:032x}", rand::rng().random::<u128>());
        let expires_at = now.checked_add_signed(self.config.unbind_ticket_ttl).unwrap_or(now);
        self.store.put_ticket(UnbindTicket {
            ticket: ticket.clone(),
            user: user.clone(),
            card: card.clone(),
            expires_at,
        });
        Ok(UnbindPrompt { ticket: Secret::new(ticket), masked: found.masked, expires_at })
    }

    /// The second step: with a valid ticket, removes the card and everything tied to it from
    /// the wallet. Unbinding the default card promotes the earliest remaining card.
    ///
    /// # Errors
    ///
    /// [`WalletError::UnbindTicketInvalid`], [`WalletError::CardNotFound`].
    pub fn confirm_unbind(
        &self,
        user: &UserId,
        card: &CardId,
        ticket: &str,
    ) -> Result<RemovedCard, WalletError> {
        let stored = self.store.take_ticket(card).ok_or(WalletError::UnbindTicketInvalid)?;
        let matches = bool::from(stored.ticket.as_bytes().ct_eq(ticket.as_bytes()));
        if !matches || stored.user != *user || self.clock.now() >= stored.expires_at {
            return Err(WalletError::UnbindTicketInvalid);
        }
        let mut cards = self.store.cards(user);
        let index = cards.iter().position(|c| c.id == *card).ok_or(WalletError::CardNotFound)?;
        let removed = cards.remove(index);
        let mut new_default = None;
        if removed.is_default
            && let Some(first) = cards.first_mut()
        {
            first.is_default = true;
            new_default = Some(first.id.clone());
        }
        self.store.put_cards(user, cards);
        Ok(RemovedCard {
            card: removed.id,
            masked: removed.masked,
            bank: removed.bank,
            new_default,
        })
    }

    /// Registers a device to the user.
    ///
    /// # Errors
    ///
    /// [`WalletError::UserNotFound`].
    pub fn register_device(&self, user: &UserId, label: &str) -> Result<DeviceId, WalletError> {
        self.user(user)?;
        let mut devices = self.store.devices(user);
        let id = DeviceId::random();
        devices.push(DeviceRecord {
            id: id.clone(),
            user: user.clone(),
            label: label.to_owned(),
            registered_at: self.clock.now(),
        });
        self.store.put_devices(user, devices);
        Ok(id)
    }

    /// The user's devices.
    #[must_use]
    pub fn devices(&self, user: &UserId) -> Vec<DeviceRecord> {
        self.store.devices(user)
    }

    /// Removes a device.
    ///
    /// # Errors
    ///
    /// [`WalletError::DeviceNotFound`].
    pub fn remove_device(
        &self,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<DeviceRecord, WalletError> {
        let mut devices = self.store.devices(user);
        let index =
            devices.iter().position(|d| d.id == *device).ok_or(WalletError::DeviceNotFound)?;
        let removed = devices.remove(index);
        self.store.put_devices(user, devices);
        Ok(removed)
    }

    /// The keyed fingerprint of a card number.
    #[must_use]
    pub fn fingerprint(&self, pan: &Pan) -> [u8; 32] {
        self.card_mac.mac(&[b"cloudcard/wallet-card/v1", pan.expose_digits().as_bytes()])
    }

    pub(crate) fn check_room(&self, user: &UserId, pan: &Pan) -> Result<(), WalletError> {
        let cards = self.store.cards(user);
        let fingerprint = self.fingerprint(pan);
        if cards.iter().any(|c| bool::from(c.fingerprint.ct_eq(&fingerprint))) {
            return Err(WalletError::CardAlreadyBound);
        }
        if cards.len() >= self.config.max_cards {
            return Err(WalletError::WalletFull);
        }
        Ok(())
    }
}

fn view(c: &CardRecord) -> CardView {
    CardView {
        id: c.id.clone(),
        masked: c.masked.clone(),
        bank: c.bank,
        bank_name: IssuerTable::builtin().display_name(&c.bank).to_owned(),
        kind: c.kind,
        is_default: c.is_default,
        reserved_mobile: MaskPolicy::mobile().mask(c.reserved_mobile.expose()),
        bound_at: c.bound_at,
    }
}

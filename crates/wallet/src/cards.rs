//! Cards: binding, listing, the default card, two-step unbinding; and devices.

use cloudcard_core::{BindingId, CardId, DeviceId, IssuerTable, Pan, StoreError, UserId};
use cloudcard_masking::{MaskPolicy, Secret};
use rand::RngExt;
use subtle::ConstantTimeEq;

use crate::WalletError;
use crate::bank::{BankVerdict, FourElements};
use crate::model::{AddCard, CardRecord, DeviceRecord, PendingBinding, UnbindTicket};
use crate::service::{
    BindRequest, BoundCard, CardView, ConfirmedBinding, PendingView, RemovedCard, UnbindPrompt,
    Wallet,
};
use crate::store::WalletStore;

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
        self.begin_binding_on(user, None, request)
    }

    /// [`Self::begin_binding`] for a card that will live on `device`: the confirmation names
    /// the device again, so the cloud card goes to the phone the binding was started on.
    ///
    /// # Errors
    ///
    /// As [`Self::begin_binding`].
    pub fn begin_binding_on(
        &self,
        user: &UserId,
        device: Option<&DeviceId>,
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
        let id = BindingId::random();
        let binding = PendingBinding {
            id: id.clone(),
            user: user.clone(),
            pan: request.pan,
            expiry: request.expiry,
            bank,
            kind,
            reserved_mobile: request.reserved_mobile,
            session: Secret::new(session),
            expires_at: now.checked_add_signed(self.config.binding_ttl).unwrap_or(now),
            tries: 0,
            device: device.cloned(),
        };
        let view = PendingView {
            binding: id,
            masked: binding.pan.masked(),
            bank,
            kind,
            expires_at: binding.expires_at,
        };
        self.store.put_binding(&binding)?;
        Ok(view)
    }

    /// Confirms a binding with the bank's code: the card is bound (the default if it is the
    /// first). Returns its number once, for tokenization.
    ///
    /// # Errors
    ///
    /// [`WalletError::BindingExpired`], [`WalletError::OtpInvalid`],
    /// [`WalletError::CardAlreadyBound`], [`WalletError::WalletFull`].
    pub fn confirm_binding(
        &self,
        user: &UserId,
        binding: &BindingId,
        code: &str,
    ) -> Result<BoundCard, WalletError> {
        let confirmed = self.take_confirmed_binding(user, None, binding, code)?;
        let card = self.add_card(&confirmed.card)?;
        Ok(BoundCard { card, pan: confirmed.pan, expiry: confirmed.expiry })
    }

    /// The first half of [`Self::confirm_binding`], for flows that must act between the code
    /// and the card (the facade provisions the token first, so the card appears last): checks
    /// the bank's code and takes the pending binding (of two callers, one gets it). The card
    /// record it returns is not in the wallet yet; [`Self::add_card`] adds it.
    ///
    /// # Errors
    ///
    /// [`WalletError::BindingExpired`], [`WalletError::OtpInvalid`],
    /// [`WalletError::BindingOnOtherDevice`] (nothing is spent then), and the room checks of
    /// [`Self::begin_binding`].
    pub fn take_confirmed_binding(
        &self,
        user: &UserId,
        device: Option<&DeviceId>,
        binding: &BindingId,
        code: &str,
    ) -> Result<ConfirmedBinding, WalletError> {
        let now = self.clock.now();
        let binding = binding.as_str();
        let pending = self
            .store
            .binding(binding)?
            .filter(|b| b.user == *user)
            .ok_or(WalletError::BindingExpired)?;
        if pending.device.is_some() && pending.device.as_ref() != device {
            return Err(WalletError::BindingOnOtherDevice);
        }
        if now >= pending.expires_at {
            self.store.take_binding(binding)?;
            return Err(WalletError::BindingExpired);
        }
        if !self.ports.bank.confirm(pending.session.expose_secret(), code)? {
            // Five wrong codes end the binding: the card must be bound again from the start.
            return match self.store.record_binding_failure(binding, self.config.otp.max_tries) {
                Ok(Some(_)) => Err(WalletError::OtpInvalid),
                Ok(None) => Err(WalletError::OtpTooManyTries),
                Err(StoreError::Missing) => Err(WalletError::BindingExpired),
                Err(e) => Err(e.into()),
            };
        }
        let pending = self.store.take_binding(binding)?.ok_or(WalletError::BindingExpired)?;
        self.check_room(user, &pending.pan)?;
        let card = CardRecord {
            id: CardId::random(),
            user: user.clone(),
            fingerprint: self.fingerprint(&pending.pan),
            masked: pending.pan.masked(),
            bank: pending.bank,
            kind: pending.kind,
            reserved_mobile: pending.reserved_mobile.clone(),
            is_default: false,
            bound_at: now,
        };
        Ok(ConfirmedBinding {
            card,
            pan: pending.pan,
            expiry: pending.expiry,
            device: pending.device,
        })
    }

    /// Adds a confirmed card to its user's wallet, atomically checking the cap and duplicates;
    /// the first card becomes the default.
    ///
    /// # Errors
    ///
    /// [`WalletError::CardAlreadyBound`], [`WalletError::WalletFull`].
    pub fn add_card(&self, card: &CardRecord) -> Result<CardView, WalletError> {
        let mut record = card.clone();
        match self.store.add_card(&record, self.config.max_cards)? {
            AddCard::Added { is_default } => record.is_default = is_default,
            AddCard::Duplicate => return Err(WalletError::CardAlreadyBound),
            AddCard::Full => return Err(WalletError::WalletFull),
        }
        Ok(view(&record))
    }

    /// Removes a card from the wallet without a ticket: for the facade's flows that already
    /// checked the user's intent. Returns what went, if the card was there.
    ///
    /// # Errors
    ///
    /// [`WalletError::Store`].
    pub fn remove_card(
        &self,
        user: &UserId,
        card: &CardId,
    ) -> Result<Option<RemovedCard>, WalletError> {
        Ok(self.store.remove_card(user, card)?.map(|(removed, new_default)| RemovedCard {
            card: removed.id,
            masked: removed.masked,
            bank: removed.bank,
            new_default,
        }))
    }

    /// Checks and spends an unbind ticket ("are you sure?" answered yes).
    ///
    /// # Errors
    ///
    /// [`WalletError::UnbindTicketInvalid`], [`WalletError::CardNotFound`].
    pub fn take_unbind_ticket(
        &self,
        user: &UserId,
        card: &CardId,
        ticket: &str,
    ) -> Result<(), WalletError> {
        let stored = self.store.take_ticket(card)?.ok_or(WalletError::UnbindTicketInvalid)?;
        let matches = bool::from(stored.ticket.expose_secret().as_bytes().ct_eq(ticket.as_bytes()));
        if !matches || stored.user != *user || self.clock.now() >= stored.expires_at {
            return Err(WalletError::UnbindTicketInvalid);
        }
        self.card(user, card).map(drop)
    }

    /// The stored record of a card (with its keyed fingerprint).
    ///
    /// # Errors
    ///
    /// [`WalletError::CardNotFound`].
    pub fn card_record(&self, user: &UserId, card: &CardId) -> Result<CardRecord, WalletError> {
        self.store.cards(user)?.into_iter().find(|c| c.id == *card).ok_or(WalletError::CardNotFound)
    }

    /// The user's cards, in binding order.
    ///
    /// # Errors
    ///
    /// [`WalletError::UserNotFound`].
    pub fn cards(&self, user: &UserId) -> Result<Vec<CardView>, WalletError> {
        self.user(user)?;
        Ok(self.store.cards(user)?.iter().map(view).collect())
    }

    /// One card's details.
    ///
    /// # Errors
    ///
    /// [`WalletError::CardNotFound`].
    pub fn card(&self, user: &UserId, card: &CardId) -> Result<CardView, WalletError> {
        self.store
            .cards(user)?
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
        if self.store.set_default_card(user, card)? {
            Ok(())
        } else {
            Err(WalletError::CardNotFound)
        }
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
        let ticket = Secret::new(format!("{:032x}", rand::rng().random::<u128>()));
        let expires_at = now.checked_add_signed(self.config.unbind_ticket_ttl).unwrap_or(now);
        self.store.put_ticket(&UnbindTicket {
            ticket: ticket.clone(),
            user: user.clone(),
            card: card.clone(),
            expires_at,
        })?;
        Ok(UnbindPrompt { ticket, masked: found.masked, expires_at })
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
        self.take_unbind_ticket(user, card, ticket)?;
        self.remove_card(user, card)?.ok_or(WalletError::CardNotFound)
    }

    /// Registers a device to the user.
    ///
    /// # Errors
    ///
    /// [`WalletError::UserNotFound`].
    pub fn register_device(&self, user: &UserId, label: &str) -> Result<DeviceId, WalletError> {
        self.user(user)?;
        let id = DeviceId::random();
        self.store.add_device(&DeviceRecord {
            id: id.clone(),
            user: user.clone(),
            label: label.to_owned(),
            registered_at: self.clock.now(),
        })?;
        Ok(id)
    }

    /// The user's devices.
    ///
    /// # Errors
    ///
    /// [`WalletError::Store`].
    pub fn devices(&self, user: &UserId) -> Result<Vec<DeviceRecord>, WalletError> {
        Ok(self.store.devices(user)?)
    }

    /// One of the user's devices.
    ///
    /// # Errors
    ///
    /// [`WalletError::DeviceNotFound`], [`WalletError::Store`].
    pub fn device(&self, user: &UserId, device: &DeviceId) -> Result<DeviceRecord, WalletError> {
        self.store.device(user, device)?.ok_or(WalletError::DeviceNotFound)
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
        self.store.remove_device(user, device)?.ok_or(WalletError::DeviceNotFound)
    }

    /// A card reissued by its issuer under a new number: the wallet shows the new number from
    /// now on (same card id, default and binding time).
    ///
    /// # Errors
    ///
    /// [`WalletError::CardNotFound`].
    pub fn reissue_card(
        &self,
        user: &UserId,
        card: &CardId,
        new: &Pan,
    ) -> Result<CardView, WalletError> {
        if !self.store.reissue_card(user, card, self.fingerprint(new), &new.masked())? {
            return Err(WalletError::CardNotFound);
        }
        self.card(user, card)
    }

    /// The keyed fingerprint of a card number.
    #[must_use]
    pub fn fingerprint(&self, pan: &Pan) -> [u8; 32] {
        self.card_mac.mac(&[b"cloudcard/wallet-card/v1", pan.expose_digits().as_bytes()])
    }

    /// Deletes pending bindings, unbind tickets and codes that lapsed, at most `limit` of each
    /// kind; how many went.
    ///
    /// # Errors
    ///
    /// [`WalletError::Store`].
    pub fn purge_expired(&self, limit: usize) -> Result<usize, WalletError> {
        Ok(self.store.purge_expired(self.clock.now(), limit)?)
    }

    pub(crate) fn check_room(&self, user: &UserId, pan: &Pan) -> Result<(), WalletError> {
        let cards = self.store.cards(user)?;
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

//! The wallet service: accounts, payment passwords, codes, card binding and management, devices.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::{
    Bank, CardExpiry, CardId, CardKind, DeviceId, IssuerTable, Pan, PersonName, PhoneNumber,
    ResidentId, SharedClock, UserId,
};
use cloudcard_masking::{MaskPolicy, Secret};
use rand::RngExt;
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::WalletError;
use crate::bank::{BankGateway, BankVerdict, FourElements};
use crate::otp::{self, OtpPolicy};
use crate::password::{Argon2Cost, LockoutPolicy, PasswordHasher};
use crate::ports::{
    FaceSample, FaceVerifier, IdentityVerifier, Notifier, OtpPurpose, Sms, SmsBody, SmsGateway,
};
use crate::store::{
    CardRecord, DeviceRecord, InMemoryWalletStore, PendingBinding, RealName, UnbindTicket,
    UserRecord, WalletStore,
};

/// How the wallet is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletConfig {
    /// The most cards one wallet holds.
    pub max_cards: usize,
    /// How long a pending binding waits for its code.
    pub binding_ttl: TimeDelta,
    /// How long an unbind confirmation ticket is good.
    pub unbind_ticket_ttl: TimeDelta,
    /// Payment-password lockout.
    pub lockout: LockoutPolicy,
    /// One-time codes.
    pub otp: OtpPolicy,
    /// Password hashing cost.
    pub argon2: Argon2Cost,
}

impl Default for WalletConfig {
    /// 20 cards; bindings wait 10 minutes; tickets last 2 minutes; 5 tries then 3 hours locked;
    /// production argon2id cost.
    fn default() -> Self {
        Self {
            max_cards: 20,
            binding_ttl: TimeDelta::minutes(10),
            unbind_ticket_ttl: TimeDelta::minutes(2),
            lockout: LockoutPolicy::default(),
            otp: OtpPolicy::default(),
            argon2: Argon2Cost::PRODUCTION,
        }
    }
}

/// Secrets the embedder supplies.
pub struct WalletKeys {
    /// The server-side pepper for payment passwords (kept outside the database).
    pub pepper: Secret<Vec<u8>>,
    /// Keys the hashes of one-time codes.
    pub otp_key: Secret<[u8; 32]>,
    /// Keys the card-number fingerprints that find duplicates.
    pub card_key: Secret<[u8; 32]>,
}

impl fmt::Debug for WalletKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WalletKeys([REDACTED])")
    }
}

impl WalletKeys {
    /// Fresh random keys, for tests and examples.
    #[must_use]
    pub fn random() -> Self {
        let mut rng = rand::rng();
        Self {
            pepper: Secret::new(rng.random::<[u8; 32]>().to_vec()),
            otp_key: Secret::new(rng.random()),
            card_key: Secret::new(rng.random()),
        }
    }
}

/// The services the wallet talks to.
#[derive(Debug, Clone)]
pub struct WalletPorts {
    /// SMS.
    pub sms: Arc<dyn SmsGateway>,
    /// The identity authority.
    pub identity: Arc<dyn IdentityVerifier>,
    /// The face service.
    pub face: Arc<dyn FaceVerifier>,
    /// The banks.
    pub bank: Arc<dyn BankGateway>,
    /// Notifications.
    pub notifier: Arc<dyn Notifier>,
}

/// What a user asks to bind. The card number, expiry and CVN2 are typed by the user; the CVN2
/// is used for the bank's check and then dropped.
#[derive(Debug, Clone)]
pub struct BindRequest {
    /// The card.
    pub pan: Pan,
    /// Its expiry (required for credit cards).
    pub expiry: Option<CardExpiry>,
    /// Its CVN2 (required for credit cards).
    pub cvn2: Option<Secret<String>>,
    /// The mobile reserved at the bank.
    pub reserved_mobile: PhoneNumber,
}

/// A binding waiting for the bank's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingView {
    /// Quote it when confirming.
    pub binding: String,
    /// The card, masked.
    pub masked: String,
    /// Issuer.
    pub bank: Bank,
    /// Kind.
    pub kind: CardKind,
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
}

/// A card as the app lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardView {
    /// The card's id.
    pub id: CardId,
    /// First 4 and last 4.
    pub masked: String,
    /// Issuer.
    pub bank: Bank,
    /// The issuer's name.
    pub bank_name: String,
    /// Kind.
    pub kind: CardKind,
    /// Whether it is the default card.
    pub is_default: bool,
    /// The reserved mobile, masked.
    pub reserved_mobile: String,
    /// When bound.
    pub bound_at: DateTime<Utc>,
}

/// A freshly bound card, and its number for the facade to tokenize at once.
#[derive(Debug, Clone)]
pub struct BoundCard {
    /// The card as listed.
    pub card: CardView,
    /// The card number (prints masked).
    pub pan: Pan,
    /// Its expiry, if given.
    pub expiry: Option<CardExpiry>,
}

/// The "are you sure?" step of unbinding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnbindPrompt {
    /// Quote it to confirm.
    pub ticket: Secret<String>,
    /// The card, masked.
    pub masked: String,
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
}

/// What confirming an unbind removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedCard {
    /// The card's id (the facade deletes its tokens).
    pub card: CardId,
    /// The card, masked.
    pub masked: String,
    /// Issuer.
    pub bank: Bank,
    /// The card that became default instead, if any.
    pub new_default: Option<CardId>,
}

/// An account as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountView {
    /// The user.
    pub id: UserId,
    /// The registered mobile, masked.
    pub mobile: String,
    /// The verified name, masked.
    pub name: Option<String>,
    /// Whether real-name verified.
    pub real_name_verified: bool,
    /// Whether a payment password is set.
    pub has_payment_password: bool,
    /// Locked until, if locked.
    pub locked_until: Option<DateTime<Utc>>,
}

/// The wallet.
pub struct Wallet<S = InMemoryWalletStore> {
    pub(crate) config: WalletConfig,
    pub(crate) keys: WalletKeys,
    pub(crate) hasher: PasswordHasher,
    pub(crate) ports: WalletPorts,
    pub(crate) store: S,
    pub(crate) clock: SharedClock,
}

impl<S> fmt::Debug for Wallet<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wallet")
            .field("config", &self.config)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl<S: WalletStore> Wallet<S> {
    /// A wallet over `store`.
    #[must_use]
    pub fn new(
        config: WalletConfig,
        keys: WalletKeys,
        ports: WalletPorts,
        store: S,
        clock: SharedClock,
    ) -> Self {
        let hasher = PasswordHasher::new(config.argon2, keys.pepper.clone());
        Self { config, keys, hasher, ports, store, clock }
    }

    /// The store.
    pub const fn store(&self) -> &S {
        &self.store
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &WalletConfig {
        &self.config
    }

    /// Creates a user with a registered mobile.
    ///
    /// # Errors
    ///
    /// [`WalletError::MobileTaken`].
    pub fn create_user(&self, mobile: PhoneNumber) -> Result<UserId, WalletError> {
        if self.store.user_by_mobile(&mobile).is_some() {
            return Err(WalletError::MobileTaken);
        }
        let id = UserId::random();
        self.store.put_user(UserRecord {
            id: id.clone(),
            mobile,
            real_name: None,
            password: None,
            failed_passwords: 0,
            locked_until: None,
            created_at: self.clock.now(),
        });
        Ok(id)
    }

    /// Real-name verification: the identity authority confirms the name and resident ID.
    ///
    /// # Errors
    ///
    /// [`WalletError::UserNotFound`], [`WalletError::AlreadyVerified`],
    /// [`WalletError::IdentityRejected`].
    pub fn verify_real_name(
        &self,
        user: &UserId,
        name: PersonName,
        id: ResidentId,
    ) -> Result<(), WalletError> {
        let mut record = self.user(user)?;
        if record.real_name.is_some() {
            return Err(WalletError::AlreadyVerified);
        }
        if !self.ports.identity.verify(&name, &id)? {
            return Err(WalletError::IdentityRejected);
        }
        record.real_name = Some(RealName { name, id, verified_at: self.clock.now() });
        self.store.put_user(record);
        Ok(())
    }

    /// The account as the app shows it.
    ///
    /// # Errors
    ///
    /// [`WalletError::UserNotFound`].
    pub fn account(&self, user: &UserId) -> Result<AccountView, WalletError> {
        let r = self.user(user)?;
        Ok(AccountView {
            id: r.id,
            mobile: r.mobile.masked(),
            name: r.real_name.as_ref().map(|n| n.name.masked()),
            real_name_verified: r.real_name.is_some(),
            has_payment_password: r.password.is_some(),
            locked_until: r.locked_until.filter(|until| *until > self.clock.now()),
        })
    }

    /// Whether the user is real-name verified.
    ///
    /// # Errors
    ///
    /// [`WalletError::UserNotFound`].
    pub fn is_real_name_verified(&self, user: &UserId) -> Result<bool, WalletError> {
        Ok(self.user(user)?.real_name.is_some())
    }

    /// Sets the first payment password.
    ///
    /// # Errors
    ///
    /// [`WalletError::UserNotFound`], [`WalletError::PasswordFormat`], or
    /// [`WalletError::WrongPassword`] if one is set already (change it instead).
    pub fn set_payment_password(
        &self,
        user: &UserId,
        password: &Secret<String>,
    ) -> Result<(), WalletError> {
        let mut record = self.user(user)?;
        if record.password.is_some() {
            return Err(WalletError::WrongPassword { remaining: self.remaining(&record) });
        }
        record.password = Some(self.hasher.hash(password)?);
        self.store.put_user(record);
        Ok(())
    }

    /// Checks the payment password. Five wrong tries in a row lock it for three hours (by
    /// default); a right one resets the count.
    ///
    /// # Errors
    ///
    /// [`WalletError::PasswordLocked`], [`WalletError::WrongPassword`],
    /// [`WalletError::NoPassword`], [`WalletError::UserNotFound`].
    pub fn verify_payment_password(
        &self,
        user: &UserId,
        password: &Secret<String>,
    ) -> Result<(), WalletError> {
        let now = self.clock.now();
        let mut record = self.user(user)?;
        if let Some(until) = record.locked_until {
            if now < until {
                return Err(WalletError::PasswordLocked { until });
            }
            record.locked_until = None;
            record.failed_passwords = 0;
        }
        let stored = record.password.clone().ok_or(WalletError::NoPassword)?;
        if self.hasher.verify(password, &stored)? {
            record.failed_passwords = 0;
            self.store.put_user(record);
            return Ok(());
        }
        record.failed_passwords += 1;
        let lockout = self.config.lockout;
        let result = if record.failed_passwords >= lockout.max_failures {
            let until = now.checked_add_signed(lockout.lock_for).unwrap_or(now);
            record.locked_until = Some(until);
            Err(WalletError::PasswordLocked { until })
        } else {
            Err(WalletError::WrongPassword { remaining: self.remaining(&record) })
        };
        self.store.put_user(record);
        result
    }

    /// Changes the payment password, given the current one.
    ///
    /// # Errors
    ///
    /// As [`Self::verify_payment_password`], and [`WalletError::PasswordFormat`].
    pub fn change_payment_password(
        &self,
        user: &UserId,
        old: &Secret<String>,
        new: &Secret<String>,
    ) -> Result<(), WalletError> {
        let hash = self.hasher.hash(new)?;
        self.verify_payment_password(user, old)?;
        let mut record = self.user(user)?;
        record.password = Some(hash);
        self.store.put_user(record);
        Ok(())
    }

    /// Sends a reset code to the registered mobile.
    ///
    /// # Errors
    ///
    /// [`WalletError::OtpThrottled`], [`WalletError::UserNotFound`].
    pub fn request_password_reset(&self, user: &UserId) -> Result<(), WalletError> {
        self.send_otp(user, OtpPurpose::PasswordReset)
    }

    /// Resets the payment password with the code sent to the registered mobile; lifts a lock.
    ///
    /// # Errors
    ///
    /// A code error, [`WalletError::PasswordFormat`], [`WalletError::UserNotFound`].
    pub fn reset_payment_password(
        &self,
        user: &UserId,
        code: &str,
        new: &Secret<String>,
    ) -> Result<(), WalletError> {
        let hash = self.hasher.hash(new)?;
        self.verify_otp(user, OtpPurpose::PasswordReset, code)?;
        let mut record = self.user(user)?;
        record.password = Some(hash);
        record.failed_passwords = 0;
        record.locked_until = None;
        self.store.put_user(record);
        Ok(())
    }

    /// Sends a one-time code to the user's registered mobile.
    ///
    /// # Errors
    ///
    /// [`WalletError::OtpThrottled`], [`WalletError::UserNotFound`], a gateway error.
    pub fn send_otp(&self, user: &UserId, purpose: OtpPurpose) -> Result<(), WalletError> {
        let record = self.user(user)?;
        let now = self.clock.now();
        let code = otp::issue(
            &self.store,
            &self.keys.otp_key,
            &self.config.otp,
            user.as_str(),
            purpose,
            now,
        )?;
        self.ports.sms.send(Sms {
            to: record.mobile,
            body: SmsBody::Otp { purpose, code },
            at: now,
        })
    }

    /// Checks a one-time code sent by [`Self::send_otp`]; a right code is spent.
    ///
    /// # Errors
    ///
    /// [`WalletError::OtpInvalid`], [`WalletError::OtpExpired`],
    /// [`WalletError::OtpTooManyTries`].
    pub fn verify_otp(
        &self,
        user: &UserId,
        purpose: OtpPurpose,
        code: &str,
    ) -> Result<(), WalletError> {
        otp::verify(
            &self.store,
            &self.keys.otp_key,
            &self.config.otp,
            user.as_str(),
            purpose,
            code,
            self.clock.now(),
        )
    }

    /// A face check of a real-name verified user against their ID photo.
    ///
    /// # Errors
    ///
    /// [`WalletError::NotRealNameVerified`], [`WalletError::UserNotFound`], a port error.
    pub fn verify_face(&self, user: &UserId, sample: &FaceSample) -> Result<bool, WalletError> {
        let record = self.user(user)?;
        let real = record.real_name.ok_or(WalletError::NotRealNameVerified)?;
        self.ports.face.verify(&real.id, sample)
    }

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
        use hmac::{KeyInit, Mac};
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(
            self.keys.card_key.expose_secret(),
        )
        .unwrap_or_else(|_| <hmac::Hmac<sha2::Sha256> as KeyInit>::new(&Default::default()));
        mac.update(b"cloudcard/wallet-card/v1");
        mac.update(pan.expose_digits().as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub(crate) fn user(&self, user: &UserId) -> Result<UserRecord, WalletError> {
        self.store.user(user).ok_or(WalletError::UserNotFound)
    }

    fn check_room(&self, user: &UserId, pan: &Pan) -> Result<(), WalletError> {
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

    fn remaining(&self, record: &UserRecord) -> u32 {
        self.config.lockout.max_failures.saturating_sub(record.failed_passwords)
    }
}

fn view(c: &CardRecord) -> CardView {
    CardView {
        id: c.id.clone(),
        masked: c.masked.clone(),
        bank: c.bank,
        bank_name: IssuerTable::builtin().bank_name(&c.bank).unwrap_or(c.bank.code()).to_owned(),
        kind: c.kind,
        is_default: c.is_default,
        reserved_mobile: MaskPolicy::mobile().mask(c.reserved_mobile.expose()),
        bound_at: c.bound_at,
    }
}

#[cfg(test)]
mod tests;

//! The wallet service: accounts, payment passwords, codes, card binding and management, devices.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::messages::Messages;
use cloudcard_core::{
    Bank, BindingId, CardExpiry, CardId, CardKind, MacKey, Pan, PhoneNumber, SharedClock, UserId,
};
use cloudcard_masking::Secret;
use rand::RngExt;
use serde::Serialize;

use crate::WalletError;
use crate::bank::BankGateway;
use crate::model::UserRecord;
use crate::otp::OtpPolicy;
use crate::password::{Argon2Cost, LockoutPolicy, PasswordHasher};
use crate::ports::{FaceVerifier, IdentityVerifier, Notifier, OtpPurpose, Sms, SmsGateway};
use crate::store::{InMemoryWalletStore, WalletStore};

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
    pub binding: BindingId,
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

/// A binding whose code the bank confirmed: the card record to add, and the number once, for
/// tokenization.
#[derive(Debug, Clone)]
pub struct ConfirmedBinding {
    /// The card as it will be stored (not in the wallet yet).
    pub card: crate::model::CardRecord,
    /// The card number (prints masked).
    pub pan: Pan,
    /// Its expiry, if given.
    pub expiry: Option<CardExpiry>,
    /// The device the binding was started on, if it named one.
    pub device: Option<cloudcard_core::DeviceId>,
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
    pub(crate) hasher: PasswordHasher,
    /// Keys the hashes of one-time codes (and the tags of terminal mobiles).
    pub(crate) otp_mac: MacKey,
    /// Keys card-number fingerprints.
    pub(crate) card_mac: MacKey,
    /// Keys the hashes that find a user by mobile or identity (no personal data in keys).
    pub(crate) index_mac: MacKey,
    pub(crate) ports: WalletPorts,
    pub(crate) store: S,
    pub(crate) clock: SharedClock,
    /// How SMS and notifications are worded and signed.
    pub(crate) messages: Messages,
}

impl<S> fmt::Debug for Wallet<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wallet")
            .field("config", &self.config)
            .field("hasher", &self.hasher)
            .field("otp_mac", &self.otp_mac)
            .field("card_mac", &self.card_mac)
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
        let hasher = PasswordHasher::new(config.argon2, keys.pepper);
        let otp_mac = MacKey::new("one-time codes", &keys.otp_key);
        let card_mac = MacKey::new("card fingerprints", &keys.card_key);
        let index_key = Secret::new(card_mac.mac(&[b"cloudcard/wallet-index-key/v1"]));
        let index_mac = MacKey::new("wallet indexes", &index_key);
        let messages = Messages::default();
        Self { config, hasher, otp_mac, card_mac, index_mac, ports, store, clock, messages }
    }

    /// Words SMS and notifications with `messages` (default: Chinese, signed 【cloudcard】).
    #[must_use]
    pub fn with_messages(mut self, messages: Messages) -> Self {
        self.messages = messages;
        self
    }

    /// How SMS and notifications are worded and signed.
    #[must_use]
    pub const fn messages(&self) -> &Messages {
        &self.messages
    }

    /// A code's SMS to `to`, worded and signed.
    pub(crate) fn code_sms(
        &self,
        to: PhoneNumber,
        purpose: OtpPurpose,
        code: Secret<String>,
        now: DateTime<Utc>,
    ) -> Sms {
        let minutes = self.config.otp.ttl.num_minutes();
        Sms::code(&self.messages, to, purpose, code, minutes, now)
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

    pub(crate) fn user(&self, user: &UserId) -> Result<UserRecord, WalletError> {
        self.store.user(user)?.ok_or(WalletError::UserNotFound)
    }

    /// The keyed hash that finds a user by mobile.
    pub(crate) fn mobile_key(&self, mobile: &PhoneNumber) -> [u8; 32] {
        self.index_mac.mac(&[b"cloudcard/wallet-mobile/v1", mobile.expose().as_bytes()])
    }

    /// The keyed hash that holds one account per resident identity.
    pub(crate) fn identity_key(&self, id: &cloudcard_core::ResidentId) -> [u8; 32] {
        self.index_mac.mac(&[b"cloudcard/wallet-identity/v1", id.expose().as_bytes()])
    }
}

#[cfg(test)]
mod tests;

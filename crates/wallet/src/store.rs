//! The wallet store port: users, cards, pending bindings, unbind tickets, devices, OTPs and
//! POS terminals, as owned records.

use cloudcard_core::sync::MutexExt;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use cloudcard_core::{
    Bank, CardExpiry, CardId, CardKind, DeviceId, Pan, PersonName, PhoneNumber, ResidentId,
    TerminalId, UserId,
};
use serde::Serialize;

use crate::password::PasswordHash;
use crate::ports::OtpPurpose;
use crate::pos::UnbindCase;

/// A verified real name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RealName {
    /// The name (prints masked).
    pub name: PersonName,
    /// The resident ID (prints masked).
    pub id: ResidentId,
    /// When verified.
    pub verified_at: DateTime<Utc>,
}

/// A wallet user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user.
    pub id: UserId,
    /// The registered mobile.
    pub mobile: PhoneNumber,
    /// The verified real name, once verified.
    pub real_name: Option<RealName>,
    /// The payment password's hash.
    pub password: Option<PasswordHash>,
    /// Wrong passwords in a row.
    pub failed_passwords: u32,
    /// Locked until, after too many wrong passwords.
    pub locked_until: Option<DateTime<Utc>>,
    /// When created.
    pub created_at: DateTime<Utc>,
}

/// A card bound to a wallet. No card number: a keyed fingerprint finds duplicates, and the mask
/// is kept for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardRecord {
    /// The card's id in the wallet.
    pub id: CardId,
    /// Whose.
    pub user: UserId,
    /// A keyed HMAC of the card number.
    #[serde(skip)]
    pub fingerprint: [u8; 32],
    /// First 4 and last 4, grouped.
    pub masked: String,
    /// Issuer.
    pub bank: Bank,
    /// Kind.
    pub kind: CardKind,
    /// The reserved mobile (prints masked).
    pub reserved_mobile: PhoneNumber,
    /// Whether it is the default card.
    pub is_default: bool,
    /// When bound.
    pub bound_at: DateTime<Utc>,
}

/// A binding waiting for the bank's code. It holds the card number for the few minutes until
/// the facade provisions a token; a durable store must keep it encrypted.
#[derive(Debug, Clone)]
pub struct PendingBinding {
    /// The binding's id.
    pub id: String,
    /// Whose.
    pub user: UserId,
    /// The card.
    pub pan: Pan,
    /// Its expiry, if given.
    pub expiry: Option<CardExpiry>,
    /// Issuer.
    pub bank: Bank,
    /// Kind.
    pub kind: CardKind,
    /// The reserved mobile.
    pub reserved_mobile: PhoneNumber,
    /// The bank's session for the code.
    pub session: String,
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
}

/// An unbind confirmation ticket ("are you sure?").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnbindTicket {
    /// The ticket (an opaque random string; compared in constant time).
    pub ticket: String,
    /// Whose.
    pub user: UserId,
    /// For which card.
    pub card: CardId,
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
}

/// A device registered to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceRecord {
    /// The device.
    pub id: DeviceId,
    /// Whose.
    pub user: UserId,
    /// A label the user gave it.
    pub label: String,
    /// When registered.
    pub registered_at: DateTime<Utc>,
}

/// A live one-time code, stored hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpRecord {
    /// Keyed hash of the code.
    pub hash: [u8; 32],
    /// When issued.
    pub issued_at: DateTime<Utc>,
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
    /// Wrong tries so far.
    pub tries: u32,
}

/// A merchant's POS terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalRecord {
    /// The terminal's serial number.
    pub id: TerminalId,
    /// The merchant's contact name (prints masked).
    pub owner: PersonName,
    /// The owner's ID, for counter checks (prints masked).
    pub owner_id: ResidentId,
    /// The bound mobile, if any (prints masked).
    pub mobile: Option<PhoneNumber>,
    /// When bound.
    pub bound_at: DateTime<Utc>,
}

/// Where the wallet keeps its records.
pub trait WalletStore: Send + Sync {
    /// A user.
    fn user(&self, id: &UserId) -> Option<UserRecord>;
    /// The user registered with a mobile.
    fn user_by_mobile(&self, mobile: &PhoneNumber) -> Option<UserId>;
    /// Inserts or replaces a user.
    fn put_user(&self, user: UserRecord);
    /// A user's cards, in binding order.
    fn cards(&self, user: &UserId) -> Vec<CardRecord>;
    /// Replaces a user's cards.
    fn put_cards(&self, user: &UserId, cards: Vec<CardRecord>);
    /// A pending binding.
    fn binding(&self, id: &str) -> Option<PendingBinding>;
    /// Inserts or replaces a pending binding.
    fn put_binding(&self, binding: PendingBinding);
    /// Removes a pending binding.
    fn remove_binding(&self, id: &str) -> Option<PendingBinding>;
    /// Every pending binding of a user.
    fn bindings_of(&self, user: &UserId) -> Vec<PendingBinding>;
    /// Inserts an unbind ticket (replacing any for the same card).
    fn put_ticket(&self, ticket: UnbindTicket);
    /// Removes and returns the unbind ticket for a card.
    fn take_ticket(&self, card: &CardId) -> Option<UnbindTicket>;
    /// A user's devices.
    fn devices(&self, user: &UserId) -> Vec<DeviceRecord>;
    /// Replaces a user's devices.
    fn put_devices(&self, user: &UserId, devices: Vec<DeviceRecord>);
    /// The live code of `subject` (a user or terminal id) for `purpose`.
    fn otp(&self, subject: &str, purpose: OtpPurpose) -> Option<OtpRecord>;
    /// Sets or clears the live code.
    fn put_otp(&self, subject: &str, purpose: OtpPurpose, otp: Option<OtpRecord>);
    /// A terminal.
    fn terminal(&self, id: &TerminalId) -> Option<TerminalRecord>;
    /// Inserts or replaces a terminal.
    fn put_terminal(&self, terminal: TerminalRecord);
    /// An unbinding case.
    fn case(&self, id: &str) -> Option<UnbindCase>;
    /// Inserts or replaces an unbinding case.
    fn put_case(&self, case: UnbindCase);
}

#[derive(Debug, Default)]
struct Inner {
    users: HashMap<UserId, UserRecord>,
    mobiles: HashMap<PhoneNumber, UserId>,
    cards: HashMap<UserId, Vec<CardRecord>>,
    bindings: HashMap<String, PendingBinding>,
    tickets: HashMap<CardId, UnbindTicket>,
    devices: HashMap<UserId, Vec<DeviceRecord>>,
    otps: HashMap<(String, OtpPurpose), OtpRecord>,
    terminals: HashMap<TerminalId, TerminalRecord>,
    cases: HashMap<String, UnbindCase>,
}

/// The in-memory wallet store.
#[derive(Debug, Default)]
pub struct InMemoryWalletStore {
    inner: Mutex<Inner>,
}

impl InMemoryWalletStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock_unpoisoned()
    }

    /// Whether anything in the store still refers to `card`: a card record, a ticket. Used to
    /// prove an unbind left no trace.
    #[must_use]
    pub fn mentions_card(&self, card: &CardId) -> bool {
        let inner = self.lock();
        inner.tickets.contains_key(card) || inner.cards.values().flatten().any(|c| c.id == *card)
    }

    /// Whether any record holds this card fingerprint.
    #[must_use]
    pub fn mentions_fingerprint(&self, fingerprint: &[u8; 32]) -> bool {
        self.lock().cards.values().flatten().any(|c| c.fingerprint == *fingerprint)
    }
}

impl WalletStore for InMemoryWalletStore {
    fn user(&self, id: &UserId) -> Option<UserRecord> {
        self.lock().users.get(id).cloned()
    }
    fn user_by_mobile(&self, mobile: &PhoneNumber) -> Option<UserId> {
        self.lock().mobiles.get(mobile).cloned()
    }
    fn put_user(&self, user: UserRecord) {
        let mut inner = self.lock();
        inner.mobiles.insert(user.mobile.clone(), user.id.clone());
        inner.users.insert(user.id.clone(), user);
    }
    fn cards(&self, user: &UserId) -> Vec<CardRecord> {
        self.lock().cards.get(user).cloned().unwrap_or_default()
    }
    fn put_cards(&self, user: &UserId, cards: Vec<CardRecord>) {
        let mut inner = self.lock();
        if cards.is_empty() {
            inner.cards.remove(user);
        } else {
            inner.cards.insert(user.clone(), cards);
        }
    }
    fn binding(&self, id: &str) -> Option<PendingBinding> {
        self.lock().bindings.get(id).cloned()
    }
    fn put_binding(&self, binding: PendingBinding) {
        self.lock().bindings.insert(binding.id.clone(), binding);
    }
    fn remove_binding(&self, id: &str) -> Option<PendingBinding> {
        self.lock().bindings.remove(id)
    }
    fn bindings_of(&self, user: &UserId) -> Vec<PendingBinding> {
        self.lock().bindings.values().filter(|b| b.user == *user).cloned().collect()
    }
    fn put_ticket(&self, ticket: UnbindTicket) {
        self.lock().tickets.insert(ticket.card.clone(), ticket);
    }
    fn take_ticket(&self, card: &CardId) -> Option<UnbindTicket> {
        self.lock().tickets.remove(card)
    }
    fn devices(&self, user: &UserId) -> Vec<DeviceRecord> {
        self.lock().devices.get(user).cloned().unwrap_or_default()
    }
    fn put_devices(&self, user: &UserId, devices: Vec<DeviceRecord>) {
        self.lock().devices.insert(user.clone(), devices);
    }
    fn otp(&self, subject: &str, purpose: OtpPurpose) -> Option<OtpRecord> {
        self.lock().otps.get(&(subject.to_owned(), purpose)).cloned()
    }
    fn put_otp(&self, subject: &str, purpose: OtpPurpose, otp: Option<OtpRecord>) {
        let mut inner = self.lock();
        let key = (subject.to_owned(), purpose);
        match otp {
            Some(otp) => inner.otps.insert(key, otp),
            None => inner.otps.remove(&key),
        };
    }
    fn terminal(&self, id: &TerminalId) -> Option<TerminalRecord> {
        self.lock().terminals.get(id).cloned()
    }
    fn put_terminal(&self, terminal: TerminalRecord) {
        self.lock().terminals.insert(terminal.id.clone(), terminal);
    }
    fn case(&self, id: &str) -> Option<UnbindCase> {
        self.lock().cases.get(id).cloned()
    }
    fn put_case(&self, case: UnbindCase) {
        self.lock().cases.insert(case.id.clone(), case);
    }
}

impl<T: WalletStore + ?Sized> WalletStore for std::sync::Arc<T> {
    fn user(&self, id: &UserId) -> Option<UserRecord> {
        (**self).user(id)
    }
    fn user_by_mobile(&self, mobile: &PhoneNumber) -> Option<UserId> {
        (**self).user_by_mobile(mobile)
    }
    fn put_user(&self, user: UserRecord) {
        (**self).put_user(user)
    }
    fn cards(&self, user: &UserId) -> Vec<CardRecord> {
        (**self).cards(user)
    }
    fn put_cards(&self, user: &UserId, cards: Vec<CardRecord>) {
        (**self).put_cards(user, cards)
    }
    fn binding(&self, id: &str) -> Option<PendingBinding> {
        (**self).binding(id)
    }
    fn put_binding(&self, binding: PendingBinding) {
        (**self).put_binding(binding)
    }
    fn remove_binding(&self, id: &str) -> Option<PendingBinding> {
        (**self).remove_binding(id)
    }
    fn bindings_of(&self, user: &UserId) -> Vec<PendingBinding> {
        (**self).bindings_of(user)
    }
    fn put_ticket(&self, ticket: UnbindTicket) {
        (**self).put_ticket(ticket)
    }
    fn take_ticket(&self, card: &CardId) -> Option<UnbindTicket> {
        (**self).take_ticket(card)
    }
    fn devices(&self, user: &UserId) -> Vec<DeviceRecord> {
        (**self).devices(user)
    }
    fn put_devices(&self, user: &UserId, devices: Vec<DeviceRecord>) {
        (**self).put_devices(user, devices)
    }
    fn otp(&self, subject: &str, purpose: OtpPurpose) -> Option<OtpRecord> {
        (**self).otp(subject, purpose)
    }
    fn put_otp(&self, subject: &str, purpose: OtpPurpose, otp: Option<OtpRecord>) {
        (**self).put_otp(subject, purpose, otp)
    }
    fn terminal(&self, id: &TerminalId) -> Option<TerminalRecord> {
        (**self).terminal(id)
    }
    fn put_terminal(&self, terminal: TerminalRecord) {
        (**self).put_terminal(terminal)
    }
    fn case(&self, id: &str) -> Option<UnbindCase> {
        (**self).case(id)
    }
    fn put_case(&self, case: UnbindCase) {
        (**self).put_case(case)
    }
}

//! The wallet store port: users, cards, pending bindings, unbind tickets, devices, OTPs and
//! POS terminals, as owned records.

use chrono::{DateTime, Utc};
use cloudcard_core::StoreError;
use cloudcard_core::{CardId, DeviceId, TerminalId, UserId};

use crate::model::{
    AddCard, CardRecord, CodeCheck, DeviceRecord, OtpRecord, PasswordFailure, PendingBinding,
    RealName, TerminalRecord, UnbindCase, UnbindTicket, UserRecord,
};
use crate::password::LockoutPolicy;
use crate::ports::OtpPurpose;

mod kv;

pub(crate) use kv::beijing_day_number;
pub use kv::{InMemoryWalletStore, KvWalletStore};

/// Where the wallet keeps its records. Every method can fail with a [`StoreError`]; every rule
/// a race could break (a mobile or identity held once, a lockout after N failures, a code taken
/// once, a card added under the cap and only once) is one atomic method here, never a
/// read-modify-write in the service.
///
/// Personal data never appears in keys: mobiles and resident IDs are found by keyed hashes the
/// wallet computes.
pub trait WalletStore: Send + Sync {
    /// Adds a user whose mobile's keyed hash is `mobile_key`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Duplicate`] if the mobile (or the id) is taken.
    fn create_user(&self, user: &UserRecord, mobile_key: &[u8; 32]) -> Result<(), StoreError>;
    /// A user.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError>;
    /// The user registered with the mobile whose keyed hash is `mobile_key`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn user_by_mobile(&self, mobile_key: &[u8; 32]) -> Result<Option<UserId>, StoreError>;
    /// Records a verified real name, held by one account only.
    ///
    /// # Errors
    ///
    /// [`StoreError::Duplicate`] if another user holds the identity; [`StoreError::Conflict`]
    /// if this user is verified already; [`StoreError::Missing`].
    fn set_real_name(
        &self,
        user: &UserId,
        real: &RealName,
        identity_key: &[u8; 32],
    ) -> Result<(), StoreError>;
    /// Replaces a user if the stored one is still at `expected_version`; `record.version` must
    /// be the next.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`], [`StoreError::Missing`].
    fn update_user(&self, expected_version: u64, record: &UserRecord) -> Result<(), StoreError>;
    /// Counts a wrong payment password and locks once `policy.max_failures` are reached; a
    /// lapsed lock starts a fresh count.
    ///
    /// # Errors
    ///
    /// [`StoreError::Missing`].
    fn record_password_failure(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
    ) -> Result<PasswordFailure, StoreError>;
    /// Clears the failure count after a right password, unless a lock came first: then the
    /// lock's end.
    ///
    /// # Errors
    ///
    /// [`StoreError::Missing`].
    fn record_password_success(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// A user's cards, in binding order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn cards(&self, user: &UserId) -> Result<Vec<CardRecord>, StoreError>;
    /// Adds a card unless the wallet holds its fingerprint already or `max_cards` cards; the
    /// first card becomes the default.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn add_card(&self, card: &CardRecord, max_cards: usize) -> Result<AddCard, StoreError>;
    /// Removes a card and its unbind ticket; promotes the earliest remaining card if it was
    /// the default. Returns the card and the new default.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn remove_card(
        &self,
        user: &UserId,
        card: &CardId,
    ) -> Result<Option<(CardRecord, Option<CardId>)>, StoreError>;
    /// Makes a card the default; whether the user has it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn set_default_card(&self, user: &UserId, card: &CardId) -> Result<bool, StoreError>;
    /// Gives a card the number its issuer reissued it under (its keyed fingerprint and masked
    /// form); the card keeps its id, default and binding time. Whether the user has it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn reissue_card(
        &self,
        user: &UserId,
        card: &CardId,
        fingerprint: [u8; 32],
        masked: &str,
    ) -> Result<bool, StoreError>;

    /// Adds a pending binding.
    ///
    /// # Errors
    ///
    /// [`StoreError::Duplicate`].
    fn put_binding(&self, binding: &PendingBinding) -> Result<(), StoreError>;
    /// A pending binding.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn binding(&self, id: &str) -> Result<Option<PendingBinding>, StoreError>;
    /// Counts a wrong code for a pending binding; at `max_tries` the binding is deleted.
    /// Returns the tries left, or `None` if this failure ended it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Missing`] if there is no such binding (taken, lapsed or ended already).
    fn record_binding_failure(&self, id: &str, max_tries: u32) -> Result<Option<u32>, StoreError>;
    /// Removes and returns a pending binding: of two callers, one gets it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn take_binding(&self, id: &str) -> Result<Option<PendingBinding>, StoreError>;

    /// Adds an unbind ticket, replacing any for the same card.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn put_ticket(&self, ticket: &UnbindTicket) -> Result<(), StoreError>;
    /// Removes and returns the unbind ticket for a card.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn take_ticket(&self, card: &CardId) -> Result<Option<UnbindTicket>, StoreError>;

    /// Adds a device.
    ///
    /// # Errors
    ///
    /// [`StoreError::Duplicate`].
    fn add_device(&self, device: &DeviceRecord) -> Result<(), StoreError>;
    /// A user's devices, in registration order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn devices(&self, user: &UserId) -> Result<Vec<DeviceRecord>, StoreError>;
    /// One of a user's devices.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn device(&self, user: &UserId, device: &DeviceId) -> Result<Option<DeviceRecord>, StoreError>;
    /// Removes a device.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn remove_device(
        &self,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<Option<DeviceRecord>, StoreError>;

    /// Stores a fresh code for `subject` (a user or terminal id) and `purpose`, replacing the
    /// live one, unless the live one was issued less than `resend_after` ago: then when a new
    /// one may be sent.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn issue_code(
        &self,
        subject: &str,
        purpose: OtpPurpose,
        record: &OtpRecord,
        resend_after: chrono::TimeDelta,
    ) -> Result<Result<(), DateTime<Utc>>, StoreError>;
    /// Checks a code's keyed hash against the live one in constant time: a right code is
    /// spent, a wrong one counted, at most `max_tries`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn check_code(
        &self,
        subject: &str,
        purpose: OtpPurpose,
        hash: &[u8; 32],
        now: DateTime<Utc>,
        max_tries: u32,
    ) -> Result<CodeCheck, StoreError>;

    /// Counts one SMS to the mobile whose keyed hash is `mobile_key` on Beijing day `day`
    /// (days since 1970); `false`, counting nothing, once `cap` were sent that day.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn count_sms(&self, mobile_key: &[u8; 32], day: u32, cap: u32) -> Result<bool, StoreError>;
    /// Deletes pending bindings, unbind tickets and codes that lapsed before `now`, at most
    /// `limit` of each; how many went. Costs what lapsed, not what is stored.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn purge_expired(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError>;

    /// Adds a terminal.
    ///
    /// # Errors
    ///
    /// [`StoreError::Duplicate`] if it is registered already.
    fn create_terminal(&self, terminal: &TerminalRecord) -> Result<(), StoreError>;
    /// A terminal.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn terminal(&self, id: &TerminalId) -> Result<Option<TerminalRecord>, StoreError>;
    /// Replaces a terminal.
    ///
    /// # Errors
    ///
    /// [`StoreError::Missing`].
    fn put_terminal(&self, terminal: &TerminalRecord) -> Result<(), StoreError>;
    /// An unbinding case.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn case(&self, id: &str) -> Result<Option<UnbindCase>, StoreError>;
    /// Inserts or replaces an unbinding case.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn put_case(&self, case: &UnbindCase) -> Result<(), StoreError>;
}

impl<T: WalletStore + ?Sized> WalletStore for std::sync::Arc<T> {
    fn create_user(&self, user: &UserRecord, mobile_key: &[u8; 32]) -> Result<(), StoreError> {
        (**self).create_user(user, mobile_key)
    }
    fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        (**self).user(id)
    }
    fn user_by_mobile(&self, mobile_key: &[u8; 32]) -> Result<Option<UserId>, StoreError> {
        (**self).user_by_mobile(mobile_key)
    }
    fn set_real_name(
        &self,
        user: &UserId,
        real: &RealName,
        identity_key: &[u8; 32],
    ) -> Result<(), StoreError> {
        (**self).set_real_name(user, real, identity_key)
    }
    fn update_user(&self, expected_version: u64, record: &UserRecord) -> Result<(), StoreError> {
        (**self).update_user(expected_version, record)
    }
    fn record_password_failure(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
    ) -> Result<PasswordFailure, StoreError> {
        (**self).record_password_failure(user, now, policy)
    }
    fn record_password_success(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        (**self).record_password_success(user, now)
    }
    fn cards(&self, user: &UserId) -> Result<Vec<CardRecord>, StoreError> {
        (**self).cards(user)
    }
    fn add_card(&self, card: &CardRecord, max_cards: usize) -> Result<AddCard, StoreError> {
        (**self).add_card(card, max_cards)
    }
    fn remove_card(
        &self,
        user: &UserId,
        card: &CardId,
    ) -> Result<Option<(CardRecord, Option<CardId>)>, StoreError> {
        (**self).remove_card(user, card)
    }
    fn set_default_card(&self, user: &UserId, card: &CardId) -> Result<bool, StoreError> {
        (**self).set_default_card(user, card)
    }
    fn reissue_card(
        &self,
        user: &UserId,
        card: &CardId,
        fingerprint: [u8; 32],
        masked: &str,
    ) -> Result<bool, StoreError> {
        (**self).reissue_card(user, card, fingerprint, masked)
    }
    fn put_binding(&self, binding: &PendingBinding) -> Result<(), StoreError> {
        (**self).put_binding(binding)
    }
    fn binding(&self, id: &str) -> Result<Option<PendingBinding>, StoreError> {
        (**self).binding(id)
    }
    fn take_binding(&self, id: &str) -> Result<Option<PendingBinding>, StoreError> {
        (**self).take_binding(id)
    }
    fn record_binding_failure(&self, id: &str, max_tries: u32) -> Result<Option<u32>, StoreError> {
        (**self).record_binding_failure(id, max_tries)
    }
    fn put_ticket(&self, ticket: &UnbindTicket) -> Result<(), StoreError> {
        (**self).put_ticket(ticket)
    }
    fn take_ticket(&self, card: &CardId) -> Result<Option<UnbindTicket>, StoreError> {
        (**self).take_ticket(card)
    }
    fn add_device(&self, device: &DeviceRecord) -> Result<(), StoreError> {
        (**self).add_device(device)
    }
    fn devices(&self, user: &UserId) -> Result<Vec<DeviceRecord>, StoreError> {
        (**self).devices(user)
    }
    fn remove_device(
        &self,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        (**self).remove_device(user, device)
    }
    fn device(&self, user: &UserId, device: &DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        (**self).device(user, device)
    }
    fn issue_code(
        &self,
        subject: &str,
        purpose: OtpPurpose,
        record: &OtpRecord,
        resend_after: chrono::TimeDelta,
    ) -> Result<Result<(), DateTime<Utc>>, StoreError> {
        (**self).issue_code(subject, purpose, record, resend_after)
    }
    fn check_code(
        &self,
        subject: &str,
        purpose: OtpPurpose,
        hash: &[u8; 32],
        now: DateTime<Utc>,
        max_tries: u32,
    ) -> Result<CodeCheck, StoreError> {
        (**self).check_code(subject, purpose, hash, now, max_tries)
    }
    fn purge_expired(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        (**self).purge_expired(now, limit)
    }
    fn count_sms(&self, mobile_key: &[u8; 32], day: u32, cap: u32) -> Result<bool, StoreError> {
        (**self).count_sms(mobile_key, day, cap)
    }
    fn create_terminal(&self, terminal: &TerminalRecord) -> Result<(), StoreError> {
        (**self).create_terminal(terminal)
    }
    fn terminal(&self, id: &TerminalId) -> Result<Option<TerminalRecord>, StoreError> {
        (**self).terminal(id)
    }
    fn put_terminal(&self, terminal: &TerminalRecord) -> Result<(), StoreError> {
        (**self).put_terminal(terminal)
    }
    fn case(&self, id: &str) -> Result<Option<UnbindCase>, StoreError> {
        (**self).case(id)
    }
    fn put_case(&self, case: &UnbindCase) -> Result<(), StoreError> {
        (**self).put_case(case)
    }
}

//! [`KvWalletStore`]: the wallet store port over any [`Kv`], each atomic operation one
//! transaction.

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::store::{self, Kv, Txn, decode, due_key, encode, get_json, put_json, time_key};
use cloudcard_core::{
    Bank, BindingId, CardExpiry, CardId, CardKind, DeviceId, MemoryKv, Pan, PersonName,
    PhoneNumber, ResidentId, StoreError, TerminalId, UserId,
};
use cloudcard_masking::{ExposeSecret, Secret};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::WalletStore;
use crate::model::{
    AddCard, CardRecord, CodeCheck, DeviceRecord, OtpRecord, PasswordFailure, PendingBinding,
    RealName, TerminalRecord, UnbindCase, UnbindTicket, UserRecord,
};
use crate::password::{Argon2Cost, LockoutPolicy, PasswordHash};
use crate::ports::OtpPurpose;

const USERS: &str = "wallet_user";
const MOBILES: &str = "wallet_mobile";
const IDENTITIES: &str = "wallet_identity";
const CARDS: &str = "wallet_cards";
const BINDINGS: &str = "wallet_binding";
const BINDINGS_DUE: &str = "wallet_binding_due";
const TICKETS: &str = "wallet_ticket";
const TICKETS_DUE: &str = "wallet_ticket_due";
const DEVICES: &str = "wallet_devices";
const CODES: &str = "wallet_code";
const CODES_DUE: &str = "wallet_code_due";
const TERMINALS: &str = "wallet_terminal";
const SMS_DAY: &str = "wallet_sms_day";
const CASES: &str = "wallet_case";

/// The wallet store over a [`Kv`]. Records are written in a storage form that keeps every
/// value (the public types print masked); a durable backend seals them at rest.
#[derive(Debug, Clone, Default)]
pub struct KvWalletStore<K> {
    kv: K,
}

/// The in-memory wallet store.
pub type InMemoryWalletStore = KvWalletStore<MemoryKv>;

impl<K: Kv> KvWalletStore<K> {
    /// A wallet store over `kv`.
    pub const fn new_in(kv: K) -> Self {
        Self { kv }
    }

    /// Whether anything in the store still refers to `card`: a card record, a ticket. Proves
    /// an unbind left no trace.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    pub fn mentions_card(&self, card: &CardId) -> Result<bool, StoreError> {
        store::read(&self.kv, |txn| {
            if txn.get(TICKETS, card.as_bytes())?.is_some() {
                return Ok(true);
            }
            Ok(all_cards(txn)?.iter().any(|c| c.id == *card))
        })
    }

    /// Whether any card record holds this fingerprint.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    pub fn mentions_fingerprint(&self, fingerprint: &[u8; 32]) -> Result<bool, StoreError> {
        store::read(&self.kv, |txn| {
            Ok(all_cards(txn)?.iter().any(|c| c.fingerprint == *fingerprint))
        })
    }
}

impl InMemoryWalletStore {
    /// An empty in-memory store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

fn all_cards(txn: &mut dyn Txn) -> Result<Vec<CardRecord>, StoreError> {
    let mut out = Vec::new();
    for (_, value) in txn.range(CARDS, &[], &[u8::MAX], usize::MAX)? {
        let rows: Vec<CardRow> = decode(&value)?;
        for row in rows {
            out.push(row.into_record()?);
        }
    }
    Ok(out)
}

// Storage forms: plain values inside (sealed by durable backends), never printed.

fn parse<T>(
    text: &str,
    f: impl FnOnce(&str) -> Result<T, cloudcard_core::Error>,
) -> Result<T, StoreError> {
    f(text).map_err(|_| StoreError::Corrupt)
}

#[derive(Serialize, Deserialize)]
struct UserRow {
    id: UserId,
    mobile: String,
    real_name: Option<(String, String, DateTime<Utc>)>,
    password: Option<([u8; 16], [u8; 32], Argon2Cost)>,
    failed_passwords: u32,
    locked_until: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    version: u64,
}

impl UserRow {
    fn from_record(r: &UserRecord) -> Self {
        Self {
            id: r.id.clone(),
            mobile: r.mobile.expose().to_owned(),
            real_name: r
                .real_name
                .as_ref()
                .map(|n| (n.name.expose().to_owned(), n.id.expose().to_owned(), n.verified_at)),
            password: r.password.as_ref().map(|p| (p.salt, p.hash, p.cost)),
            failed_passwords: r.failed_passwords,
            locked_until: r.locked_until,
            created_at: r.created_at,
            version: r.version,
        }
    }

    fn into_record(self) -> Result<UserRecord, StoreError> {
        let real_name = match self.real_name {
            Some((name, id, verified_at)) => Some(RealName {
                name: parse(&name, PersonName::parse)?,
                id: parse(&id, ResidentId::parse)?,
                verified_at,
            }),
            None => None,
        };
        Ok(UserRecord {
            id: self.id,
            mobile: parse(&self.mobile, PhoneNumber::parse)?,
            real_name,
            password: self.password.map(|(salt, hash, cost)| PasswordHash { salt, hash, cost }),
            failed_passwords: self.failed_passwords,
            locked_until: self.locked_until,
            created_at: self.created_at,
            version: self.version,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct CardRow {
    id: CardId,
    user: UserId,
    fingerprint: [u8; 32],
    masked: String,
    bank: Bank,
    kind: CardKind,
    reserved_mobile: String,
    is_default: bool,
    bound_at: DateTime<Utc>,
}

impl CardRow {
    fn from_record(c: &CardRecord) -> Self {
        Self {
            id: c.id.clone(),
            user: c.user.clone(),
            fingerprint: c.fingerprint,
            masked: c.masked.clone(),
            bank: c.bank,
            kind: c.kind,
            reserved_mobile: c.reserved_mobile.expose().to_owned(),
            is_default: c.is_default,
            bound_at: c.bound_at,
        }
    }

    fn into_record(self) -> Result<CardRecord, StoreError> {
        Ok(CardRecord {
            id: self.id,
            user: self.user,
            fingerprint: self.fingerprint,
            masked: self.masked,
            bank: self.bank,
            kind: self.kind,
            reserved_mobile: parse(&self.reserved_mobile, PhoneNumber::parse)?,
            is_default: self.is_default,
            bound_at: self.bound_at,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct BindingRow {
    id: BindingId,
    user: UserId,
    pan: String,
    expiry: Option<CardExpiry>,
    bank: Bank,
    kind: CardKind,
    reserved_mobile: String,
    #[serde(serialize_with = "ExposeSecret::serialize")]
    session: Secret<String>,
    expires_at: DateTime<Utc>,
    tries: u32,
    device: Option<DeviceId>,
}

impl BindingRow {
    fn from_record(b: &PendingBinding) -> Self {
        Self {
            id: b.id.clone(),
            user: b.user.clone(),
            pan: b.pan.expose_digits().to_owned(),
            expiry: b.expiry,
            bank: b.bank,
            kind: b.kind,
            reserved_mobile: b.reserved_mobile.expose().to_owned(),
            session: b.session.clone(),
            expires_at: b.expires_at,
            tries: b.tries,
            device: b.device.clone(),
        }
    }

    fn into_record(self) -> Result<PendingBinding, StoreError> {
        Ok(PendingBinding {
            id: self.id,
            user: self.user,
            pan: parse(&self.pan, Pan::parse)?,
            expiry: self.expiry,
            bank: self.bank,
            kind: self.kind,
            reserved_mobile: parse(&self.reserved_mobile, PhoneNumber::parse)?,
            session: self.session,
            expires_at: self.expires_at,
            tries: self.tries,
            device: self.device,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct TicketRow {
    #[serde(serialize_with = "ExposeSecret::serialize")]
    ticket: Secret<String>,
    user: UserId,
    card: CardId,
    expires_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct TerminalRow {
    id: TerminalId,
    owner: String,
    owner_id: String,
    mobile: Option<String>,
    bound_at: DateTime<Utc>,
}

impl TerminalRow {
    fn from_record(t: &TerminalRecord) -> Self {
        Self {
            id: t.id.clone(),
            owner: t.owner.expose().to_owned(),
            owner_id: t.owner_id.expose().to_owned(),
            mobile: t.mobile.as_ref().map(|m| m.expose().to_owned()),
            bound_at: t.bound_at,
        }
    }

    fn into_record(self) -> Result<TerminalRecord, StoreError> {
        Ok(TerminalRecord {
            id: self.id,
            owner: parse(&self.owner, PersonName::parse)?,
            owner_id: parse(&self.owner_id, ResidentId::parse)?,
            mobile: self.mobile.map(|m| parse(&m, PhoneNumber::parse)).transpose()?,
            bound_at: self.bound_at,
        })
    }
}

fn get_user(txn: &mut dyn Txn, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
    get_json::<UserRow>(txn, USERS, id.as_bytes())?.map(UserRow::into_record).transpose()
}

fn put_user(txn: &mut dyn Txn, user: &UserRecord) -> Result<(), StoreError> {
    put_json(txn, USERS, user.id.as_bytes(), &UserRow::from_record(user))
}

fn get_cards(txn: &mut dyn Txn, user: &UserId) -> Result<Vec<CardRecord>, StoreError> {
    get_json::<Vec<CardRow>>(txn, CARDS, user.as_bytes())?
        .unwrap_or_default()
        .into_iter()
        .map(CardRow::into_record)
        .collect()
}

fn put_cards(txn: &mut dyn Txn, user: &UserId, cards: &[CardRecord]) -> Result<(), StoreError> {
    let key = user.as_bytes();
    if cards.is_empty() {
        txn.delete(CARDS, key)?;
        return Ok(());
    }
    let rows: Vec<CardRow> = cards.iter().map(CardRow::from_record).collect();
    put_json(txn, CARDS, key, &rows)
}

/// Devices are kept one per key, `user \0 registration time \0 device`, so a user's devices
/// come in registration order and one device is a single read.
fn device_prefix(user: &UserId) -> Vec<u8> {
    let mut k = user.as_bytes().to_vec();
    k.push(0);
    k
}

/// A device as stored: the time as milliseconds, read on every payment without parsing text.
#[derive(Serialize, Deserialize)]
struct DeviceRow {
    id: DeviceId,
    user: UserId,
    label: String,
    registered_ms: i64,
}

impl DeviceRow {
    fn from_record(d: &DeviceRecord) -> Self {
        Self {
            id: d.id.clone(),
            user: d.user.clone(),
            label: d.label.clone(),
            registered_ms: d.registered_at.timestamp_millis(),
        }
    }

    fn into_record(self) -> Result<DeviceRecord, StoreError> {
        Ok(DeviceRecord {
            registered_at: DateTime::from_timestamp_millis(self.registered_ms)
                .ok_or(StoreError::Corrupt)?,
            id: self.id,
            user: self.user,
            label: self.label,
        })
    }
}

fn get_device(txn: &mut dyn Txn, key: &[u8]) -> Result<Option<DeviceRecord>, StoreError> {
    get_json::<DeviceRow>(txn, DEVICES, key)?.map(DeviceRow::into_record).transpose()
}

fn get_devices(txn: &mut dyn Txn, user: &UserId) -> Result<Vec<DeviceRecord>, StoreError> {
    let prefix = device_prefix(user);
    txn.range(DEVICES, &prefix, &store::prefix_end(&prefix), usize::MAX)?
        .into_iter()
        .map(|(_, v)| decode::<DeviceRow>(&v).and_then(DeviceRow::into_record))
        .collect()
}

fn device_key(device: &DeviceRecord) -> Vec<u8> {
    let mut k = device_prefix(&device.user);
    k.extend_from_slice(&time_key(device.registered_at));
    k.extend_from_slice(device.id.as_bytes());
    k
}

fn code_key(subject: &str, purpose: OtpPurpose) -> Vec<u8> {
    let mut k = subject.as_bytes().to_vec();
    k.push(0);
    k.push(purpose as u8);
    k
}

/// Pops up to `limit` entries of a due index before `now`; for each, `expire` deletes the
/// record if it really lapsed (a replaced record has its own later entry).
fn purge(
    txn: &mut dyn Txn,
    due: &'static str,
    now: DateTime<Utc>,
    limit: usize,
    mut expire: impl FnMut(&mut dyn Txn, &[u8]) -> Result<bool, StoreError>,
) -> Result<usize, StoreError> {
    let mut count = 0;
    for (_, id) in store::take_due(txn, due, now, limit)? {
        if expire(txn, &id)? {
            count += 1;
        }
    }
    Ok(count)
}

impl<K: Kv> WalletStore for KvWalletStore<K> {
    fn create_user(&self, user: &UserRecord, mobile_key: &[u8; 32]) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| {
            if txn.get(MOBILES, mobile_key)?.is_some()
                || txn.get(USERS, user.id.as_bytes())?.is_some()
            {
                return Err(StoreError::Duplicate);
            }
            txn.put(MOBILES, mobile_key, user.id.as_bytes())?;
            put_user(txn, user)
        })
    }

    fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        store::read(&self.kv, |txn| get_user(txn, id))
    }

    fn user_by_mobile(&self, mobile_key: &[u8; 32]) -> Result<Option<UserId>, StoreError> {
        store::read(&self.kv, |txn| {
            txn.get(MOBILES, mobile_key)?.map(|id| store::decode_id(&id)).transpose()
        })
    }

    fn set_real_name(
        &self,
        user: &UserId,
        real: &RealName,
        identity_key: &[u8; 32],
    ) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| {
            let mut record = get_user(txn, user)?.ok_or(StoreError::Missing)?;
            if record.real_name.is_some() {
                return Err(StoreError::Conflict);
            }
            if txn.get(IDENTITIES, identity_key)?.is_some() {
                return Err(StoreError::Duplicate);
            }
            txn.put(IDENTITIES, identity_key, user.as_bytes())?;
            record.real_name = Some(real.clone());
            record.version = record.version.saturating_add(1);
            put_user(txn, &record)
        })
    }

    fn update_user(&self, expected_version: u64, record: &UserRecord) -> Result<(), StoreError> {
        if expected_version.checked_add(1) != Some(record.version) {
            return Err(StoreError::Conflict);
        }
        store::write(&self.kv, |txn| {
            let stored = get_user(txn, &record.id)?.ok_or(StoreError::Missing)?;
            if stored.version != expected_version {
                return Err(StoreError::Conflict);
            }
            put_user(txn, record)
        })
    }

    fn record_password_failure(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
    ) -> Result<PasswordFailure, StoreError> {
        store::write(&self.kv, |txn| {
            let mut record = get_user(txn, user)?.ok_or(StoreError::Missing)?;
            if let Some(until) = record.locked_until {
                if now < until {
                    return Ok(PasswordFailure::Locked { until });
                }
                record.locked_until = None;
                record.failed_passwords = 0;
            }
            record.failed_passwords = record.failed_passwords.saturating_add(1);
            record.version = record.version.saturating_add(1);
            let outcome = if record.failed_passwords >= policy.max_failures {
                let until = now.checked_add_signed(policy.lock_for).unwrap_or(now);
                record.locked_until = Some(until);
                PasswordFailure::Locked { until }
            } else {
                PasswordFailure::Counted {
                    remaining: policy.max_failures.saturating_sub(record.failed_passwords),
                }
            };
            put_user(txn, &record)?;
            Ok(outcome)
        })
    }

    fn record_password_success(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        store::write(&self.kv, |txn| {
            let mut record = get_user(txn, user)?.ok_or(StoreError::Missing)?;
            if let Some(until) = record.locked_until.filter(|until| now < *until) {
                return Ok(Some(until));
            }
            if record.failed_passwords != 0 || record.locked_until.is_some() {
                record.failed_passwords = 0;
                record.locked_until = None;
                record.version = record.version.saturating_add(1);
                put_user(txn, &record)?;
            }
            Ok(None)
        })
    }

    fn cards(&self, user: &UserId) -> Result<Vec<CardRecord>, StoreError> {
        store::read(&self.kv, |txn| get_cards(txn, user))
    }

    fn add_card(&self, card: &CardRecord, max_cards: usize) -> Result<AddCard, StoreError> {
        store::write(&self.kv, |txn| {
            let mut cards = get_cards(txn, &card.user)?;
            if cards.iter().any(|c| bool::from(c.fingerprint.ct_eq(&card.fingerprint))) {
                return Ok(AddCard::Duplicate);
            }
            if cards.len() >= max_cards {
                return Ok(AddCard::Full);
            }
            let mut card = card.clone();
            card.is_default = cards.is_empty();
            let (is_default, user) = (card.is_default, card.user.clone());
            cards.push(card);
            put_cards(txn, &user, &cards)?;
            Ok(AddCard::Added { is_default })
        })
    }

    fn remove_card(
        &self,
        user: &UserId,
        card: &CardId,
    ) -> Result<Option<(CardRecord, Option<CardId>)>, StoreError> {
        store::write(&self.kv, |txn| {
            txn.delete(TICKETS, card.as_bytes())?;
            let mut cards = get_cards(txn, user)?;
            let Some(index) = cards.iter().position(|c| c.id == *card) else {
                return Ok(None);
            };
            let removed = cards.remove(index);
            let mut new_default = None;
            if removed.is_default
                && let Some(first) = cards.first_mut()
            {
                first.is_default = true;
                new_default = Some(first.id.clone());
            }
            put_cards(txn, user, &cards)?;
            Ok(Some((removed, new_default)))
        })
    }

    fn reissue_card(
        &self,
        user: &UserId,
        card: &CardId,
        fingerprint: [u8; 32],
        masked: &str,
    ) -> Result<bool, StoreError> {
        store::write(&self.kv, |txn| {
            let mut cards = get_cards(txn, user)?;
            let Some(record) = cards.iter_mut().find(|c| c.id == *card) else { return Ok(false) };
            record.fingerprint = fingerprint;
            masked.clone_into(&mut record.masked);
            put_cards(txn, user, &cards)?;
            Ok(true)
        })
    }

    fn set_default_card(&self, user: &UserId, card: &CardId) -> Result<bool, StoreError> {
        store::write(&self.kv, |txn| {
            let mut cards = get_cards(txn, user)?;
            if !cards.iter().any(|c| c.id == *card) {
                return Ok(false);
            }
            for c in &mut cards {
                c.is_default = c.id == *card;
            }
            put_cards(txn, user, &cards)?;
            Ok(true)
        })
    }

    fn put_binding(&self, binding: &PendingBinding) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| {
            let id = binding.id.as_bytes();
            if txn.get(BINDINGS, id)?.is_some() {
                return Err(StoreError::Duplicate);
            }
            put_json(txn, BINDINGS, id, &BindingRow::from_record(binding))?;
            txn.put(BINDINGS_DUE, &due_key(binding.expires_at, id), id)
        })
    }

    fn binding(&self, id: &str) -> Result<Option<PendingBinding>, StoreError> {
        store::read(&self.kv, |txn| {
            get_json::<BindingRow>(txn, BINDINGS, id.as_bytes())?
                .map(BindingRow::into_record)
                .transpose()
        })
    }

    fn record_binding_failure(&self, id: &str, max_tries: u32) -> Result<Option<u32>, StoreError> {
        store::write(&self.kv, |txn| {
            let Some(mut row) = get_json::<BindingRow>(txn, BINDINGS, id.as_bytes())? else {
                return Err(StoreError::Missing);
            };
            row.tries = row.tries.saturating_add(1);
            if row.tries >= max_tries {
                txn.delete(BINDINGS, id.as_bytes())?;
                txn.delete(BINDINGS_DUE, &due_key(row.expires_at, id.as_bytes()))?;
                return Ok(None);
            }
            put_json(txn, BINDINGS, id.as_bytes(), &row)?;
            Ok(Some(max_tries - row.tries))
        })
    }

    fn take_binding(&self, id: &str) -> Result<Option<PendingBinding>, StoreError> {
        store::write(&self.kv, |txn| {
            let found = get_json::<BindingRow>(txn, BINDINGS, id.as_bytes())?;
            let Some(row) = found else { return Ok(None) };
            txn.delete(BINDINGS, id.as_bytes())?;
            txn.delete(BINDINGS_DUE, &due_key(row.expires_at, id.as_bytes()))?;
            row.into_record().map(Some)
        })
    }

    fn put_ticket(&self, ticket: &UnbindTicket) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| {
            let card = ticket.card.as_bytes();
            let row = TicketRow {
                ticket: ticket.ticket.clone(),
                user: ticket.user.clone(),
                card: ticket.card.clone(),
                expires_at: ticket.expires_at,
            };
            put_json(txn, TICKETS, card, &row)?;
            txn.put(TICKETS_DUE, &due_key(ticket.expires_at, card), card)
        })
    }

    fn take_ticket(&self, card: &CardId) -> Result<Option<UnbindTicket>, StoreError> {
        store::write(&self.kv, |txn| {
            let key = card.as_bytes();
            let Some(row) = get_json::<TicketRow>(txn, TICKETS, key)? else { return Ok(None) };
            txn.delete(TICKETS, key)?;
            Ok(Some(UnbindTicket {
                ticket: row.ticket,
                user: row.user,
                card: row.card,
                expires_at: row.expires_at,
            }))
        })
    }

    fn add_device(&self, device: &DeviceRecord) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| {
            let index = store::key(&[b"by-id", device.id.as_bytes()]);
            if txn.contains(DEVICES, &index)? {
                return Err(StoreError::Duplicate);
            }
            txn.put(DEVICES, &index, &device_key(device))?;
            put_json(txn, DEVICES, &device_key(device), &DeviceRow::from_record(device))
        })
    }

    fn device(&self, user: &UserId, device: &DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        store::read(&self.kv, |txn| {
            let index = store::key(&[b"by-id", device.as_bytes()]);
            let Some(key) = txn.get(DEVICES, &index)? else { return Ok(None) };
            Ok(get_device(txn, &key)?.filter(|d| d.user == *user))
        })
    }

    fn devices(&self, user: &UserId) -> Result<Vec<DeviceRecord>, StoreError> {
        store::read(&self.kv, |txn| get_devices(txn, user))
    }

    fn remove_device(
        &self,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        store::write(&self.kv, |txn| {
            let index = store::key(&[b"by-id", device.as_bytes()]);
            let Some(key) = txn.get(DEVICES, &index)? else { return Ok(None) };
            let Some(found) = get_device(txn, &key)? else {
                return Ok(None);
            };
            if found.user != *user {
                return Ok(None);
            }
            txn.delete(DEVICES, &index)?;
            txn.delete(DEVICES, &key)?;
            Ok(Some(found))
        })
    }

    fn issue_code(
        &self,
        subject: &str,
        purpose: OtpPurpose,
        record: &OtpRecord,
        resend_after: TimeDelta,
    ) -> Result<Result<(), DateTime<Utc>>, StoreError> {
        store::write(&self.kv, |txn| {
            let key = code_key(subject, purpose);
            if let Some(live) = get_json::<OtpRecord>(txn, CODES, &key)? {
                let retry_at =
                    live.issued_at.checked_add_signed(resend_after).unwrap_or(live.issued_at);
                if record.issued_at < retry_at && record.issued_at < live.expires_at {
                    return Ok(Err(retry_at));
                }
            }
            put_json(txn, CODES, &key, record)?;
            txn.put(CODES_DUE, &due_key(record.expires_at, &key), &key)?;
            Ok(Ok(()))
        })
    }

    fn check_code(
        &self,
        subject: &str,
        purpose: OtpPurpose,
        hash: &[u8; 32],
        now: DateTime<Utc>,
        max_tries: u32,
    ) -> Result<CodeCheck, StoreError> {
        store::write(&self.kv, |txn| {
            let key = code_key(subject, purpose);
            let Some(mut record) = get_json::<OtpRecord>(txn, CODES, &key)? else {
                return Ok(CodeCheck::Expired);
            };
            if now >= record.expires_at {
                txn.delete(CODES, &key)?;
                return Ok(CodeCheck::Expired);
            }
            if record.tries >= max_tries {
                return Ok(CodeCheck::TooManyTries);
            }
            if bool::from(hash.ct_eq(&record.hash)) {
                txn.delete(CODES, &key)?;
                return Ok(CodeCheck::Accepted);
            }
            record.tries = record.tries.saturating_add(1);
            let spent = record.tries >= max_tries;
            put_json(txn, CODES, &key, &record)?;
            Ok(CodeCheck::Wrong { spent })
        })
    }

    fn count_sms(&self, mobile_key: &[u8; 32], day: u32, cap: u32) -> Result<bool, StoreError> {
        // Keyed by day first, so past days are purged by one range.
        let mut key = day.to_be_bytes().to_vec();
        key.extend_from_slice(mobile_key);
        store::write(&self.kv, |txn| {
            let sent = txn
                .get(SMS_DAY, &key)?
                .map_or(0, |v| v.try_into().map(u32::from_be_bytes).unwrap_or(u32::MAX));
            if sent >= cap {
                return Ok(false);
            }
            txn.put(SMS_DAY, &key, &(sent + 1).to_be_bytes())?;
            Ok(true)
        })
    }

    fn purge_expired(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        store::write(&self.kv, |txn| {
            let today = beijing_day_number(now);
            for (key, _) in txn.range(SMS_DAY, &[], &today.to_be_bytes(), limit)? {
                txn.delete(SMS_DAY, &key)?;
            }
            let bindings = purge(txn, BINDINGS_DUE, now, limit, |txn, id| {
                let lapsed =
                    get_json::<BindingRow>(txn, BINDINGS, id)?.is_some_and(|b| b.expires_at <= now);
                if lapsed {
                    txn.delete(BINDINGS, id)?;
                }
                Ok(lapsed)
            })?;
            let tickets = purge(txn, TICKETS_DUE, now, limit, |txn, id| {
                let lapsed =
                    get_json::<TicketRow>(txn, TICKETS, id)?.is_some_and(|t| t.expires_at <= now);
                if lapsed {
                    txn.delete(TICKETS, id)?;
                }
                Ok(lapsed)
            })?;
            let codes = purge(txn, CODES_DUE, now, limit, |txn, key| {
                let lapsed =
                    get_json::<OtpRecord>(txn, CODES, key)?.is_some_and(|c| c.expires_at <= now);
                if lapsed {
                    txn.delete(CODES, key)?;
                }
                Ok(lapsed)
            })?;
            Ok(bindings + tickets + codes)
        })
    }

    fn create_terminal(&self, terminal: &TerminalRecord) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| {
            let key = terminal.id.as_bytes();
            if txn.get(TERMINALS, key)?.is_some() {
                return Err(StoreError::Duplicate);
            }
            put_json(txn, TERMINALS, key, &TerminalRow::from_record(terminal))
        })
    }

    fn terminal(&self, id: &TerminalId) -> Result<Option<TerminalRecord>, StoreError> {
        store::read(&self.kv, |txn| {
            get_json::<TerminalRow>(txn, TERMINALS, id.as_bytes())?
                .map(TerminalRow::into_record)
                .transpose()
        })
    }

    fn put_terminal(&self, terminal: &TerminalRecord) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| {
            let key = terminal.id.as_bytes();
            if txn.get(TERMINALS, key)?.is_none() {
                return Err(StoreError::Missing);
            }
            put_json(txn, TERMINALS, key, &TerminalRow::from_record(terminal))
        })
    }

    fn case(&self, id: &str) -> Result<Option<UnbindCase>, StoreError> {
        store::read(&self.kv, |txn| get_json(txn, CASES, id.as_bytes()))
    }

    fn put_case(&self, case: &UnbindCase) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| txn.put(CASES, case.id.as_bytes(), &encode(case)?))
    }
}

/// Days since 1970 of the Beijing calendar day `at` falls on.
pub(crate) fn beijing_day_number(at: DateTime<Utc>) -> u32 {
    let days = cloudcard_core::beijing_date(at).signed_duration_since(chrono::NaiveDate::default());
    u32::try_from(days.num_days()).unwrap_or(0)
}

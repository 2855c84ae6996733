//! [`KvTokenStore`]: the token store port over any [`Kv`] (in memory, SQLite, PostgreSQL).

use cloudcard_core::store::{self, Kv, Txn, get_json, key, prefix_end, put_json};
use cloudcard_core::{DeviceId, TokenId};

use crate::record::{Fingerprint, TokenRecord};
use crate::store::{Admission, Spend};
use crate::{StoreError, TokenNumber, TokenStatus, TokenStore};

const RECORDS: &str = "token";
const NUMBERS: &str = "token_number";
const BY_FINGERPRINT: &str = "token_fingerprint";
const BY_DEVICE: &str = "token_device";

/// The token store over a [`Kv`]: records by id, with indexes by number, fingerprint and
/// device kept in the same transaction as the record, so they always agree.
#[derive(Debug, Clone)]
pub struct KvTokenStore<K> {
    kv: K,
}

impl<K: Kv> KvTokenStore<K> {
    /// A token store over `kv`.
    pub const fn new(kv: K) -> Self {
        Self { kv }
    }

    fn records_under(
        &self,
        table: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<TokenRecord>, StoreError> {
        store::read(&self.kv, |txn| records_under(txn, table, prefix))
    }
}

/// The records an index lists under `prefix`.
fn records_under(
    txn: &mut dyn Txn,
    table: &'static str,
    prefix: &[u8],
) -> Result<Vec<TokenRecord>, StoreError> {
    let entries = txn.range(table, prefix, &prefix_end(prefix), usize::MAX)?;
    let mut out = Vec::with_capacity(entries.len());
    for (_, id) in entries {
        if let Some(record) = get_json::<TokenRecord>(txn, RECORDS, &id)? {
            out.push(record);
        }
    }
    Ok(out)
}

/// Puts a new record and its index entries in, unless its number or id is taken.
fn put_new(txn: &mut dyn Txn, record: &TokenRecord) -> Result<(), StoreError> {
    let number = record.number.expose_digit_bytes();
    let id = id_key(&record.id);
    if txn.get(NUMBERS, number)?.is_some() || txn.get(RECORDS, id)?.is_some() {
        return Err(StoreError::Duplicate);
    }
    txn.put(NUMBERS, number, id)?;
    put_json(txn, RECORDS, id, record)?;
    txn.put(BY_FINGERPRINT, &fingerprint_key(&record.fingerprint, &record.id), id)?;
    txn.put(BY_DEVICE, &device_key(&record.domain.device, &record.id), id)
}

fn fingerprint_key(fingerprint: &Fingerprint, id: &TokenId) -> Vec<u8> {
    let mut k = fingerprint.0.to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

fn device_key(device: &DeviceId, id: &TokenId) -> Vec<u8> {
    key(&[device.as_bytes(), id.as_bytes()])
}

fn device_prefix(device: &DeviceId) -> Vec<u8> {
    let mut k = device.as_bytes().to_vec();
    k.push(0);
    k
}

fn id_key(id: &TokenId) -> &[u8] {
    id.as_bytes()
}

fn get(txn: &mut dyn Txn, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
    get_json(txn, RECORDS, id_key(id))
}

impl<K: Kv> TokenStore for KvTokenStore<K> {
    fn insert(&self, record: TokenRecord) -> Result<(), StoreError> {
        store::write(&self.kv, |txn| put_new(txn, &record))
    }

    /// One write transaction: the card's tokens read, the number checked and the record put
    /// in together (write transactions are serializable, across nodes too).
    fn provision(
        &self,
        record: TokenRecord,
        number: &Fingerprint,
    ) -> Result<Admission, StoreError> {
        store::write(&self.kv, |txn| {
            let siblings = records_under(txn, BY_FINGERPRINT, &record.fingerprint.0)?;
            let Admission::Added(par) = Admission::among(&record, &siblings) else {
                return Ok(Admission::OnDevice);
            };
            if !txn.range(BY_FINGERPRINT, &number.0, &prefix_end(&number.0), 1)?.is_empty() {
                return Err(StoreError::Duplicate);
            }
            put_new(txn, &TokenRecord { par, ..record.clone() })?;
            Ok(Admission::Added(par))
        })
    }

    fn get(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        store::read(&self.kv, |txn| get(txn, id))
    }

    /// One write transaction: the record read, decided on and written back together.
    fn spend_by_number(
        &self,
        number: &TokenNumber,
        decide: &mut dyn FnMut(&TokenRecord) -> Option<Spend>,
    ) -> Result<Option<TokenId>, StoreError> {
        store::write(&self.kv, |txn| {
            let Some(id) = txn.get(NUMBERS, number.expose_digit_bytes())? else { return Ok(None) };
            let Some(mut record) = get_json::<TokenRecord>(txn, RECORDS, &id)? else {
                return Ok(None);
            };
            if let Some(spend) = decide(&record) {
                spend.apply(&mut record)?;
                put_json(txn, RECORDS, id_key(&record.id), &record)?;
            }
            Ok(Some(record.id))
        })
    }

    fn get_by_number(&self, number: &TokenNumber) -> Result<Option<TokenRecord>, StoreError> {
        store::read(&self.kv, |txn| match txn.get(NUMBERS, number.expose_digit_bytes())? {
            Some(id) => get_json(txn, RECORDS, &id),
            None => Ok(None),
        })
    }

    fn number_taken(&self, number: &TokenNumber) -> Result<bool, StoreError> {
        store::read(&self.kv, |txn| Ok(txn.get(NUMBERS, number.expose_digit_bytes())?.is_some()))
    }

    fn by_fingerprint(&self, fingerprint: &Fingerprint) -> Result<Vec<TokenRecord>, StoreError> {
        self.records_under(BY_FINGERPRINT, &fingerprint.0)
    }

    fn by_device(&self, device: &DeviceId) -> Result<Vec<TokenRecord>, StoreError> {
        self.records_under(BY_DEVICE, &device_prefix(device))
    }

    fn compare_and_set(
        &self,
        expected_version: u64,
        record: TokenRecord,
    ) -> Result<(), StoreError> {
        if expected_version.checked_add(1) != Some(record.version) {
            return Err(StoreError::Conflict);
        }
        store::write(&self.kv, |txn| {
            let stored = get(txn, &record.id)?.ok_or(StoreError::Missing)?;
            if stored.version != expected_version {
                return Err(StoreError::Conflict);
            }
            if record.status == TokenStatus::Deleted {
                // A deleted token leaves the indexes: nothing finds it by card or device.
                txn.delete(BY_FINGERPRINT, &fingerprint_key(&stored.fingerprint, &record.id))?;
                txn.delete(BY_DEVICE, &device_key(&stored.domain.device, &record.id))?;
            } else if stored.fingerprint != record.fingerprint {
                txn.delete(BY_FINGERPRINT, &fingerprint_key(&stored.fingerprint, &record.id))?;
                txn.put(
                    BY_FINGERPRINT,
                    &fingerprint_key(&record.fingerprint, &record.id),
                    id_key(&record.id),
                )?;
            }
            put_json(txn, RECORDS, id_key(&record.id), &record)
        })
    }

    fn ids(&self) -> Result<Vec<TokenId>, StoreError> {
        store::read(&self.kv, |txn| {
            txn.range(RECORDS, &[], &[u8::MAX], usize::MAX)?
                .into_iter()
                .map(|(k, _)| store::decode_id(&k))
                .collect()
        })
    }
}

//! The storage contract every cloudcard store port is built on: a transactional, ordered
//! key-value space ([`Kv`]) that a backend (in memory, SQLite, PostgreSQL) provides, and the one
//! [`StoreError`] all stores return.
//!
//! Domain crates define their own store ports with atomic domain operations (take a code once,
//! count a password failure, add a card under its cap) and implement them once, over any
//! [`Kv`]: each operation reads, decides and writes inside one [`Kv::write`] transaction, so
//! two threads or two nodes can never interleave inside it, and several records that change
//! together commit together or not at all.
//!
//! Keys are chosen by the domain crates and never hold personal data in clear (ids, keyed
//! hashes, times); values are opaque bytes that a durable backend seals at rest.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use crate::sync::RwLockExt;

/// Why a store could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record changed since it was read: reread and retry.
    #[error("record version conflict")]
    Conflict,
    /// A record with that id (or a unique field) already exists.
    #[error("record already exists")]
    Duplicate,
    /// No such record.
    #[error("record not found")]
    Missing,
    /// A stored record could not be read back (damaged, or written by other keys).
    #[error("stored record is unreadable")]
    Corrupt,
    /// The store was opened with keys other than the ones it was created with.
    #[error("store was created with other keys")]
    WrongKeys,
    /// The store's schema is newer than this build understands.
    #[error("store schema version {found} is newer than this build's {supported}")]
    SchemaTooNew {
        /// The version found.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// The backend failed (I/O, connection, database error); the source says how.
    #[error("store backend failed")]
    Backend(#[source] Arc<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// A backend failure keeping `source`.
    pub fn backend(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Arc::new(source))
    }

    /// Whether retrying the same call may succeed (a conflict or a passing outage).
    #[must_use]
    pub const fn is_transient(&self) -> bool {
        matches!(self, Self::Conflict | Self::Backend(_))
    }
}

impl PartialEq for StoreError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Backend(a), Self::Backend(b)) => a.to_string() == b.to_string(),
            (
                Self::SchemaTooNew { found: a, supported: b },
                Self::SchemaTooNew { found: c, supported: d },
            ) => a == c && b == d,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Eq for StoreError {}

/// A named key space inside a [`Kv`].
pub type Table = &'static str;

/// One entry of a range read: key and value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The operations available inside a transaction.
pub trait Txn {
    /// The value under `key`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`], [`StoreError::Corrupt`].
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Whether `key` is present (a backend may answer without copying the value).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`].
    fn contains(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.get(table, key)?.is_some())
    }

    /// Sets `key` to `value` (a write transaction only).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`]; [`StoreError::Conflict`] inside a read transaction.
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    /// Removes `key`; whether it was there.
    ///
    /// # Errors
    ///
    /// As [`Self::put`].
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError>;

    /// Entries with `from <= key < to`, in key order, at most `limit` of them.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`], [`StoreError::Corrupt`].
    fn range(
        &mut self,
        table: Table,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError>;
}

/// The body of a transaction.
pub type TxnFn<'a> = dyn FnMut(&mut dyn Txn) -> Result<(), StoreError> + 'a;

/// A transactional, ordered key-value space: what every store port is built on.
///
/// A write transaction is serializable: no other write runs inside it, on this node or (for a
/// shared database) on any other, and it commits whole or not at all. If the body returns an
/// error, nothing it wrote is kept.
pub trait Kv: Send + Sync + fmt::Debug {
    /// Runs `body` over a consistent snapshot.
    ///
    /// # Errors
    ///
    /// Whatever `body` returns, or [`StoreError::Backend`].
    fn read(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError>;

    /// Runs `body` in a write transaction and commits it if `body` succeeds.
    ///
    /// A backend shared by several nodes may run `body` again, on a fresh transaction, when
    /// the database refused to commit the first run for a conflict with another node's
    /// write; `body` must therefore take everything it decides from the transaction.
    ///
    /// # Errors
    ///
    /// Whatever `body` returns, or [`StoreError::Backend`] (nothing was written then).
    fn write(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError>;
}

impl<K: Kv + ?Sized> Kv for Arc<K> {
    fn read(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError> {
        (**self).read(body)
    }
    fn write(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError> {
        (**self).write(body)
    }
}

/// Runs `body` in a read transaction of `kv` and returns its result.
///
/// # Errors
///
/// Whatever `body` or the backend returns.
pub fn read<R>(
    kv: &(impl Kv + ?Sized),
    body: impl FnMut(&mut dyn Txn) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    run(|txn| kv.read(txn), body)
}

/// Runs `body` in a write transaction of `kv` and returns its result once committed.
///
/// # Errors
///
/// Whatever `body` or the backend returns; nothing is written then.
pub fn write<R>(
    kv: &(impl Kv + ?Sized),
    body: impl FnMut(&mut dyn Txn) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    run(|txn| kv.write(txn), body)
}

/// Runs `body` through `start` (a read or a write transaction) and hands back what it made.
fn run<R>(
    start: impl FnOnce(&mut TxnFn<'_>) -> Result<(), StoreError>,
    mut body: impl FnMut(&mut dyn Txn) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let mut out = None;
    start(&mut |txn| {
        out = Some(body(txn)?);
        Ok(())
    })?;
    out.ok_or(StoreError::Missing)
}

/// Reads a JSON value.
///
/// # Errors
///
/// [`StoreError::Corrupt`] if the bytes are not a `T`; the backend's error.
pub fn get_json<T: serde::de::DeserializeOwned>(
    txn: &mut dyn Txn,
    table: Table,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    txn.get(table, key)?.map(|bytes| decode(&bytes)).transpose()
}

/// Writes a JSON value.
///
/// # Errors
///
/// The backend's error.
pub fn put_json<T: serde::Serialize>(
    txn: &mut dyn Txn,
    table: Table,
    key: &[u8],
    value: &T,
) -> Result<(), StoreError> {
    txn.put(table, key, &encode(value)?)
}

/// A value as JSON bytes.
///
/// # Errors
///
/// [`StoreError::Corrupt`] if `value` cannot be written as JSON.
pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    encode_after(Vec::with_capacity(128), value)
}

/// `prefix` followed by `value` as JSON bytes: a record with a fixed-size head (a digest, a
/// version) in one allocation.
///
/// # Errors
///
/// [`StoreError::Corrupt`] if `value` cannot be written as JSON.
pub fn encode_after<T: serde::Serialize>(
    mut prefix: Vec<u8>,
    value: &T,
) -> Result<Vec<u8>, StoreError> {
    serde_json::to_writer(&mut prefix, value).map_err(|_| StoreError::Corrupt)?;
    Ok(prefix)
}

/// A value from JSON bytes.
///
/// # Errors
///
/// [`StoreError::Corrupt`].
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|_| StoreError::Corrupt)
}

/// Tag of the packed form written by [`encode_keys`] (JSON never starts with it).
const PACKED_KEYS: u8 = 1;

/// Several keys in one value (an index entry naming the entries it covers): a tag, then each
/// key as a 2-byte big-endian length and its bytes.
///
/// # Errors
///
/// [`StoreError::Corrupt`] if a key is longer than 65,535 bytes.
pub fn encode_keys<K: AsRef<[u8]>>(keys: &[K]) -> Result<Vec<u8>, StoreError> {
    let len = keys.iter().map(|k| k.as_ref().len() + 2).sum::<usize>() + 1;
    let mut out = Vec::with_capacity(len);
    out.push(PACKED_KEYS);
    for key in keys {
        let key = key.as_ref();
        let n = u16::try_from(key.len()).map_err(|_| StoreError::Corrupt)?;
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(key);
    }
    Ok(out)
}

/// The keys of an [`encode_keys`] value; a JSON list of byte arrays (how such values were
/// written before) is read too.
///
/// # Errors
///
/// [`StoreError::Corrupt`] if the value is cut short or neither form.
pub fn decode_keys(bytes: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
    let Some((&PACKED_KEYS, mut rest)) = bytes.split_first() else {
        return decode(bytes);
    };
    let mut keys = Vec::new();
    while let Some((len, after)) = rest.split_first_chunk::<2>() {
        let n = usize::from(u16::from_be_bytes(*len));
        let key = after.get(..n).ok_or(StoreError::Corrupt)?;
        keys.push(key.to_vec());
        rest = after.get(n..).unwrap_or_default();
    }
    if rest.is_empty() { Ok(keys) } else { Err(StoreError::Corrupt) }
}

/// An id stored as its text (an index entry's value, or a key).
///
/// # Errors
///
/// [`StoreError::Corrupt`] if the bytes are not a valid `T`.
pub fn decode_id<T: std::str::FromStr>(bytes: &[u8]) -> Result<T, StoreError> {
    std::str::from_utf8(bytes).ok().and_then(|text| text.parse().ok()).ok_or(StoreError::Corrupt)
}

/// A time as an 8-byte key part that sorts in time order (milliseconds since 1970, offset so
/// that times before it sort first too).
#[must_use]
pub fn time_key(at: chrono::DateTime<chrono::Utc>) -> [u8; 8] {
    let millis = at.timestamp_millis();
    (millis as u64 ^ (1 << 63)).to_be_bytes()
}

/// The key of `id`'s entry in a due index: when it falls due, then the id (so entries due at
/// one instant stay apart).
#[must_use]
pub fn due_key(at: chrono::DateTime<chrono::Utc>, id: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + id.len());
    key.extend_from_slice(&time_key(at));
    key.extend_from_slice(id);
    key
}

/// Takes up to `limit` entries of a due index — keys that start with a [`time_key`] — due
/// before `before`, oldest first: each leaves the index and comes back as (key, value), the
/// value naming what came due. What expires costs what it takes, whatever else is waiting.
///
/// # Errors
///
/// The backend's error.
pub fn take_due(
    txn: &mut dyn Txn,
    index: Table,
    before: chrono::DateTime<chrono::Utc>,
    limit: usize,
) -> Result<Vec<Entry>, StoreError> {
    let due = txn.range(index, &[], &time_key(before), limit)?;
    for (key, _) in &due {
        txn.delete(index, key)?;
    }
    Ok(due)
}

/// `parts` joined with a 0 byte, for composite keys of text parts that hold no 0 byte.
#[must_use]
pub fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(part);
    }
    out
}

/// The smallest key greater than every key that starts with `prefix` (for prefix ranges).
#[must_use]
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    vec![u8::MAX; prefix.len().saturating_add(1)]
}

/// Where a durable store gets its key-encryption key: a key file, an environment variable, or
/// the embedder's KMS. The key never lives in the database; the database keeps its data keys
/// only wrapped by it.
pub trait KeySource: Send + Sync + fmt::Debug {
    /// The 32-byte key-encryption key.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the key cannot be had (file unreadable, variable unset or
    /// malformed, KMS down).
    fn key_encryption_key(&self) -> Result<cloudcard_masking::Secret<[u8; 32]>, StoreError>;
}

#[cfg(feature = "testing")]
pub mod testing;

mod keys;
pub mod seal;

pub use keys::{EnvKey, KeyFile, KeySourceError, StaticKey, parse_hex_key, push_hex};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// The tables of a [`MemoryKv`]: a short list searched by name. A space holds a few dozen
/// tables, so a scan comparing lengths first is cheaper than hashing the name on every access.
#[derive(Debug, Default)]
struct Tables(Vec<(Table, Map)>);

impl Tables {
    fn get(&self, table: Table) -> Option<&Map> {
        self.0.iter().find(|(name, _)| *name == table).map(|(_, map)| map)
    }

    fn get_mut(&mut self, table: Table) -> Option<&mut Map> {
        self.0.iter_mut().find(|(name, _)| *name == table).map(|(_, map)| map)
    }

    /// The table, created empty if absent (always `Some`).
    fn entry(&mut self, table: Table) -> Option<&mut Map> {
        let at = match self.0.iter().position(|(name, _)| *name == table) {
            Some(at) => at,
            None => {
                self.0.push((table, Map::new()));
                self.0.len().saturating_sub(1)
            }
        };
        self.0.get_mut(at).map(|(_, map)| map)
    }
}

/// The in-memory [`Kv`]: for tests, demos and one process. Reads share a lock; a write
/// transaction holds it alone and undoes its writes if its body fails.
#[derive(Debug, Default)]
pub struct MemoryKv {
    tables: RwLock<Tables>,
}

impl MemoryKv {
    /// An empty space.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries `table` holds.
    #[must_use]
    pub fn len(&self, table: Table) -> usize {
        self.tables.read_unpoisoned().get(table).map_or(0, BTreeMap::len)
    }
}

struct ReadTxn<'a>(&'a Tables);

impl Txn for ReadTxn<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.get(table).and_then(|t| t.get(key)).cloned())
    }
    fn contains(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.0.get(table).is_some_and(|t| t.contains_key(key)))
    }
    fn put(&mut self, _: Table, _: &[u8], _: &[u8]) -> Result<(), StoreError> {
        Err(StoreError::Conflict)
    }
    fn delete(&mut self, _: Table, _: &[u8]) -> Result<bool, StoreError> {
        Err(StoreError::Conflict)
    }
    fn range(
        &mut self,
        table: Table,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        Ok(range(self.0, table, from, to, limit))
    }
}

fn range(tables: &Tables, table: Table, from: &[u8], to: &[u8], limit: usize) -> Vec<Entry> {
    if from >= to {
        return Vec::new();
    }
    tables.get(table).map_or_else(Vec::new, |t| {
        t.range(from.to_vec()..to.to_vec())
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// A write transaction over the locked tables, with the old values to put back on failure.
struct WriteTxn<'a> {
    tables: &'a mut Tables,
    undo: Vec<(Table, Vec<u8>, Option<Vec<u8>>)>,
}

impl Txn for WriteTxn<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tables.get(table).and_then(|t| t.get(key)).cloned())
    }
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        use std::collections::btree_map::Entry as Slot;
        let t = self.tables.entry(table).ok_or(StoreError::Corrupt)?;
        // One walk down the tree, whether the key is new or an update.
        let (key, old) = match t.entry(key.to_vec()) {
            Slot::Occupied(mut slot) => {
                let old = slot.insert(value.to_vec());
                (slot.key().clone(), Some(old))
            }
            Slot::Vacant(slot) => {
                let key = slot.key().clone();
                slot.insert(value.to_vec());
                (key, None)
            }
        };
        self.undo.push((table, key, old));
        Ok(())
    }
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        let old = self.tables.get_mut(table).and_then(|t| t.remove(key));
        let existed = old.is_some();
        if existed {
            self.undo.push((table, key.to_vec(), old));
        }
        Ok(existed)
    }
    fn range(
        &mut self,
        table: Table,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        Ok(range(self.tables, table, from, to, limit))
    }
}

impl Kv for MemoryKv {
    fn read(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError> {
        let tables = self.tables.read_unpoisoned();
        body(&mut ReadTxn(&tables))
    }

    fn write(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError> {
        let mut tables = self.tables.write_unpoisoned();
        let mut txn = WriteTxn { tables: &mut tables, undo: Vec::new() };
        let result = body(&mut txn);
        if result.is_err() {
            let WriteTxn { tables, undo } = txn;
            for (table, key, old) in undo.into_iter().rev() {
                let Some(t) = tables.entry(table) else { continue };
                match old {
                    Some(value) => t.insert(key, value),
                    None => t.remove(&key),
                };
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_due_index_gives_up_what_fell_due_oldest_first_once() {
        use chrono::{TimeDelta, TimeZone, Utc};
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let kv = MemoryKv::new();
        write(&kv, |t| {
            for (i, id) in [b"c", b"a", b"b"].into_iter().enumerate() {
                let at = t0 + TimeDelta::minutes(i64::try_from(i).unwrap());
                t.put("due", &due_key(at, id), id)?;
            }
            Ok(())
        })
        .unwrap();
        let before = t0 + TimeDelta::seconds(90);
        let taken = write(&kv, |t| take_due(t, "due", before, 10)).unwrap();
        let ids: Vec<&[u8]> = taken.iter().map(|(_, id)| id.as_slice()).collect();
        assert_eq!(ids, [b"c", b"a"], "due before 90 s, oldest first");
        assert!(write(&kv, |t| take_due(t, "due", before, 10)).unwrap().is_empty(), "taken once");
        assert_eq!(kv.len("due"), 1, "the later entry waits");
        let later = t0 + TimeDelta::hours(1);
        assert_eq!(write(&kv, |t| take_due(t, "due", later, 0)).unwrap().len(), 0, "a limit of 0");
    }

    #[test]
    fn keys_pack_and_unpack_and_the_json_form_still_reads() {
        let keys = vec![b"card:1".to_vec(), Vec::new(), vec![0xff; 300]];
        let packed = encode_keys(&keys).unwrap();
        assert_eq!(decode_keys(&packed).unwrap(), keys);
        assert_eq!(decode_keys(&encode(&keys).unwrap()).unwrap(), keys);
        assert_eq!(decode_keys(&packed[..packed.len() - 1]), Err(StoreError::Corrupt));
        assert_eq!(decode_keys(&[PACKED_KEYS, 0]), Err(StoreError::Corrupt));
        assert_eq!(decode_keys(b"not json"), Err(StoreError::Corrupt));
        assert_eq!(encode_keys(&[vec![0; 70_000]]), Err(StoreError::Corrupt));
    }

    #[test]
    fn a_failed_write_keeps_nothing() {
        let kv = MemoryKv::new();
        write(&kv, |t| t.put("a", b"k", b"1")).unwrap();
        let err = write(&kv, |t| {
            t.put("a", b"k", b"2")?;
            t.put("a", b"j", b"3")?;
            t.delete("a", b"k")?;
            Err::<(), _>(StoreError::Conflict)
        });
        assert_eq!(err, Err(StoreError::Conflict));
        assert_eq!(read(&kv, |t| t.get("a", b"k")).unwrap(), Some(b"1".to_vec()));
        assert_eq!(read(&kv, |t| t.get("a", b"j")).unwrap(), None);
    }

    #[test]
    fn reads_cannot_write_and_ranges_are_ordered() {
        let kv = MemoryKv::new();
        assert_eq!(read(&kv, |t| t.put("a", b"k", b"1")), Err(StoreError::Conflict));
        write(&kv, |t| {
            for k in [b"b2", b"a1", b"b1", b"c1"] {
                t.put("a", k, b"")?;
            }
            Ok(())
        })
        .unwrap();
        let keys: Vec<_> = read(&kv, |t| t.range("a", b"b", &prefix_end(b"b"), 10))
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec![b"b1".to_vec(), b"b2".to_vec()]);
    }

    #[test]
    fn time_keys_sort_in_time_order() {
        use chrono::TimeZone;
        let a = chrono::Utc.timestamp_opt(-5, 0).unwrap();
        let b = chrono::Utc.timestamp_opt(5, 0).unwrap();
        let c = chrono::Utc.timestamp_opt(1_000_000, 0).unwrap();
        assert!(time_key(a) < time_key(b) && time_key(b) < time_key(c));
        assert_eq!(prefix_end(&[1, 255]), vec![2]);
    }
}

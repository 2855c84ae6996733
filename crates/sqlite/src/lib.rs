#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use cloudcard_core::masking::Secret;
use cloudcard_core::store::{Entry, Kv, Table, Txn, TxnFn};
use cloudcard_core::sync::MutexExt;
use cloudcard_core::{KeySource, StoreError};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use cloudcard_core::store::seal::{Sealer, unwrap_or_new_key, value_aad as aad};
pub use cloudcard_core::store::{EnvKey, KeyFile, KeySourceError, StaticKey};

/// The newest schema this build knows; [`SqliteKv::open`] migrates older files up to it.
pub const SCHEMA_VERSION: u32 = 1;

/// Each migration takes the schema from its index to the next version.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the sealed key-value records, and the wrapped keys.
    "CREATE TABLE kv (tbl TEXT NOT NULL, k BLOB NOT NULL, v BLOB NOT NULL, PRIMARY KEY (tbl, k)) WITHOUT ROWID;
     CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, v BLOB NOT NULL) WITHOUT ROWID;",
];

/// How long a write waits for another process's write before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The name of the wrapped storage data key in `meta`.
const DATA_KEY: &str = "data-key";

/// A [`Kv`] in one SQLite file. See the crate docs.
pub struct SqliteKv {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    sealer: Sealer,
    kek: Sealer,
}

impl fmt::Debug for SqliteKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteKv").field("path", &self.path).finish_non_exhaustive()
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::backend(e)
}

impl SqliteKv {
    /// Opens (or creates) the database at `path`, migrating an older schema, and unwraps its
    /// data key with the key-encryption key from `keys` (a new file gets a fresh data key).
    ///
    /// # Errors
    ///
    /// [`StoreError::SchemaTooNew`] for a file written by a newer build;
    /// [`StoreError::WrongKeys`] if `keys` is not the key the file was created with;
    /// [`StoreError::Backend`] for I/O and database errors.
    pub fn open(path: impl AsRef<Path>, keys: &dyn KeySource) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut writer = connect(&path)?;
        migrate(&mut writer)?;
        let kek = Sealer::new(&keys.key_encryption_key()?);
        let data_key = unwrap_or_create(&mut writer, &kek, DATA_KEY)?;
        Ok(Self {
            sealer: Sealer::new(&data_key),
            kek,
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A named 32-byte key kept in the file wrapped by the key-encryption key: created at
    /// random on first use, the same on every later open. Services take their data and MAC
    /// keys from here, so one key-encryption key opens everything.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`], [`StoreError::WrongKeys`].
    pub fn key(&self, name: &str) -> Result<Secret<[u8; 32]>, StoreError> {
        let mut conn = self.writer.lock_unpoisoned();
        unwrap_or_create(&mut conn, &self.kek, &format!("key:{name}"))
    }

    fn reader(&self) -> Result<Connection, StoreError> {
        match self.readers.lock_unpoisoned().pop() {
            Some(conn) => Ok(conn),
            None => connect(&self.path),
        }
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(backend)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(backend)?;
    // Deleted rows are overwritten, so a destroyed report key or a crypto-shredded record
    // leaves no copy in free pages.
    conn.pragma_update(None, "secure_delete", "ON").map_err(backend)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    let found: u32 =
        tx.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(backend)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql).map_err(backend)?;
        let next = u32::try_from(version).unwrap_or(u32::MAX).saturating_add(1);
        tx.pragma_update(None, "user_version", next).map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

/// The key named `name` in `meta`, unwrapped with `kek`; created at random if absent.
fn unwrap_or_create(
    conn: &mut Connection,
    kek: &Sealer,
    name: &str,
) -> Result<Secret<[u8; 32]>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    let aad = format!("cloudcard/sqlite/{name}");
    let stored: Option<Vec<u8>> = tx
        .query_row("SELECT v FROM meta WHERE name = ?1", params![name], |row| row.get(0))
        .optional()
        .map_err(backend)?;
    let (key, new) = unwrap_or_new_key(kek, aad.as_bytes(), stored.as_deref())?;
    if let Some(wrapped) = new {
        tx.execute("INSERT INTO meta (name, v) VALUES (?1, ?2)", params![name, wrapped])
            .map_err(backend)?;
    }
    tx.commit().map_err(backend)?;
    Ok(key)
}

/// A transaction on one connection, sealing values on the way in and opening them on the way
/// out. The table and key are the associated data, so a sealed value moved to another row does
/// not open.
struct SqlTxn<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    sealer: &'a Sealer,
    writable: bool,
}

impl Txn for SqlTxn<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT v FROM kv WHERE tbl = ?1 AND k = ?2")
            .map_err(backend)?;
        let sealed: Option<Vec<u8>> =
            stmt.query_row(params![table, key], |row| row.get(0)).optional().map_err(backend)?;
        sealed.map(|s| self.sealer.open(&aad(table, key), &s)).transpose()
    }

    fn contains(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT 1 FROM kv WHERE tbl = ?1 AND k = ?2")
            .map_err(backend)?;
        stmt.exists(params![table, key]).map_err(backend)
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        if !self.writable {
            return Err(StoreError::Conflict);
        }
        let sealed = self.sealer.seal(&aad(table, key), value)?;
        let mut stmt = self
            .tx
            .prepare_cached("INSERT OR REPLACE INTO kv (tbl, k, v) VALUES (?1, ?2, ?3)")
            .map_err(backend)?;
        stmt.execute(params![table, key, sealed]).map_err(backend)?;
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        if !self.writable {
            return Err(StoreError::Conflict);
        }
        let mut stmt =
            self.tx.prepare_cached("DELETE FROM kv WHERE tbl = ?1 AND k = ?2").map_err(backend)?;
        Ok(stmt.execute(params![table, key]).map_err(backend)? > 0)
    }

    fn range(
        &mut self,
        table: Table,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT k, v FROM kv WHERE tbl = ?1 AND k >= ?2 AND k < ?3 ORDER BY k LIMIT ?4",
            )
            .map_err(backend)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![table, from, to, limit], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?))
            })
            .map_err(backend)?;
        let mut out = Vec::new();
        for row in rows {
            let (k, sealed) = row.map_err(backend)?;
            let value = self.sealer.open(&aad(table, &k), &sealed)?;
            out.push((k, value));
        }
        Ok(out)
    }
}

impl Kv for SqliteKv {
    fn read(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError> {
        // When no write is under way, read on the writer's connection: its page cache is warm,
        // where a reader's must reload every page a write changed.
        let idle_writer = match self.writer.try_lock() {
            Ok(conn) => Some(conn),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        if let Some(mut conn) = idle_writer {
            let tx =
                conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(backend)?;
            let out = body(&mut SqlTxn { tx: &tx, sealer: &self.sealer, writable: false });
            tx.rollback().map_err(backend)?;
            return out;
        }
        let mut conn = self.reader()?;
        let result = (|| {
            let tx =
                conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(backend)?;
            let out = body(&mut SqlTxn { tx: &tx, sealer: &self.sealer, writable: false });
            tx.rollback().map_err(backend)?;
            out
        })();
        // A connection that failed mid-transaction is dropped rather than reused.
        if !matches!(result, Err(StoreError::Backend(_))) {
            self.readers.lock_unpoisoned().push(conn);
        }
        result
    }

    fn write(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError> {
        let mut conn = self.writer.lock_unpoisoned();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
        body(&mut SqlTxn { tx: &tx, sealer: &self.sealer, writable: true })?;
        tx.commit().map_err(backend)
    }
}

#[cfg(test)]
mod tests;

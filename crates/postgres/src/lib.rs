#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::fmt;
use std::time::Duration;

use cloudcard_core::masking::Secret;
use cloudcard_core::store::seal::{Sealer, unwrap_or_new_key, value_aad};
use cloudcard_core::store::{Entry, Kv, Table, Txn, TxnFn};
use cloudcard_core::{KeySource, StoreError};
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{IsolationLevel, NoTls};
use r2d2_postgres::PostgresConnectionManager;

#[cfg(feature = "testing")]
pub mod testing;

/// The newest schema this build knows; [`PostgresKv::open`] migrates older databases to it.
pub const SCHEMA_VERSION: u32 = 1;

/// Each migration takes the schema from its index to the next version.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the sealed key-value records, and the wrapped keys.
    "CREATE TABLE cloudcard_kv (
         tbl TEXT NOT NULL, k BYTEA NOT NULL, v BYTEA NOT NULL, PRIMARY KEY (tbl, k));
     CREATE TABLE cloudcard_meta (name TEXT PRIMARY KEY, v BYTEA NOT NULL);",
];

/// The advisory lock every node takes to migrate, so two nodes starting at once migrate once.
const MIGRATION_LOCK: i64 = 0x636c_6f75_6463_6172; // "cloudcar"

/// How long a write transaction keeps being run again after serialization conflicts before
/// the call fails with [`StoreError::Conflict`]. PostgreSQL lets one of any set of conflicting
/// transactions commit, so the system always progresses; the pauses between runs (random, up to
/// a doubling ceiling of 64 ms) keep one call from losing every time.
const RETRY_BUDGET: Duration = Duration::from_secs(10);

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// Connection settings of a [`PostgresKv`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolOptions {
    /// The most connections this node opens (default 8).
    pub max_size: u32,
    /// How long a call waits for a free connection before failing (default 10 s).
    pub connection_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self { max_size: 8, connection_timeout: Duration::from_secs(10) }
    }
}

/// A [`Kv`] in a PostgreSQL database, shared by every node that opens it. See the crate docs.
pub struct PostgresKv {
    pool: Pool,
    sealer: Sealer,
    kek: Sealer,
}

impl fmt::Debug for PostgresKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection string may hold a password: it is not kept, nor printed.
        f.debug_struct("PostgresKv").field("pool", &self.pool.state()).finish_non_exhaustive()
    }
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::backend(e)
}

/// Whether the database refused a statement or commit for a conflict with another
/// transaction, so the whole transaction may be run again.
fn is_conflict(e: &postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

impl PostgresKv {
    /// Connects to the database at `url` (a libpq connection string or URL) with the default
    /// [`PoolOptions`], migrates its schema, and unwraps its data key with the key-encryption
    /// key from `keys` (a new database gets a fresh data key).
    ///
    /// # Errors
    ///
    /// As [`Self::open_with`].
    pub fn open(url: &str, keys: &dyn KeySource) -> Result<Self, StoreError> {
        Self::open_with(url, keys, &PoolOptions::default())
    }

    /// As [`Self::open`], with connection settings.
    ///
    /// # Errors
    ///
    /// [`StoreError::SchemaTooNew`] for a database written by a newer build;
    /// [`StoreError::WrongKeys`] if `keys` is not the key the database was created with;
    /// [`StoreError::Backend`] if the URL is malformed or the server cannot be reached.
    pub fn open_with(
        url: &str,
        keys: &dyn KeySource,
        options: &PoolOptions,
    ) -> Result<Self, StoreError> {
        let config: postgres::Config = url.parse().map_err(backend)?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(options.max_size)
            // Connections open as calls need them, up to the maximum; one is kept ready.
            .min_idle(Some(1))
            .connection_timeout(options.connection_timeout)
            .build(manager)
            .map_err(backend)?;
        migrate(&pool)?;
        let kek = Sealer::new(&keys.key_encryption_key()?);
        let data_key = unwrap_or_create(&pool, &kek, "data-key")?;
        Ok(Self { pool, sealer: Sealer::new(&data_key), kek })
    }

    /// A named 32-byte key kept in the database wrapped by the key-encryption key: created at
    /// random by whichever node asks first, the same for every node afterwards.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`], [`StoreError::WrongKeys`].
    pub fn key(&self, name: &str) -> Result<Secret<[u8; 32]>, StoreError> {
        unwrap_or_create(&self.pool, &self.kek, &format!("key:{name}"))
    }

    fn connection(
        &self,
    ) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, StoreError> {
        self.pool.get().map_err(backend)
    }
}

fn migrate(pool: &Pool) -> Result<(), StoreError> {
    let mut conn = pool.get().map_err(backend)?;
    let mut tx = conn.transaction().map_err(backend)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(backend)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS cloudcard_schema (version INTEGER NOT NULL)")
        .map_err(backend)?;
    let found: Option<i32> =
        tx.query_one("SELECT max(version) FROM cloudcard_schema", &[]).map_err(backend)?.get(0);
    let found = u32::try_from(found.unwrap_or(0)).map_err(|_| StoreError::Corrupt)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql).map_err(backend)?;
        let next = i32::try_from(version).map_err(|_| StoreError::Corrupt)?.saturating_add(1);
        tx.execute("DELETE FROM cloudcard_schema", &[]).map_err(backend)?;
        tx.execute("INSERT INTO cloudcard_schema (version) VALUES ($1)", &[&next])
            .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

/// The key named `name` in the meta table, unwrapped with `kek`; created at random if absent.
/// Two nodes creating it at once agree on the one that was stored first.
fn unwrap_or_create(pool: &Pool, kek: &Sealer, name: &str) -> Result<Secret<[u8; 32]>, StoreError> {
    let aad = format!("cloudcard/postgres/{name}");
    let mut conn = pool.get().map_err(backend)?;
    let select = "SELECT v FROM cloudcard_meta WHERE name = $1";
    let stored: Option<Vec<u8>> =
        conn.query_opt(select, &[&name]).map_err(backend)?.map(|row| row.get(0));
    if let Some(wrapped) = stored {
        return unwrap_or_new_key(kek, aad.as_bytes(), Some(&wrapped)).map(|(key, _)| key);
    }
    let (_, wrapped) = unwrap_or_new_key(kek, aad.as_bytes(), None)?;
    conn.execute(
        "INSERT INTO cloudcard_meta (name, v) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        &[&name, &wrapped],
    )
    .map_err(backend)?;
    let winner: Vec<u8> = conn.query_one(select, &[&name]).map_err(backend)?.get(0);
    unwrap_or_new_key(kek, aad.as_bytes(), Some(&winner)).map(|(key, _)| key)
}

/// A transaction sealing values on the way in and opening them on the way out, with the table
/// and key as associated data. It remembers whether the database refused a statement for a
/// conflict, so the caller knows the transaction may be run again.
struct PgTxn<'a, 'c> {
    tx: &'a mut postgres::Transaction<'c>,
    sealer: &'a Sealer,
    writable: bool,
    conflict: bool,
}

impl PgTxn<'_, '_> {
    fn fail(&mut self, e: postgres::Error) -> StoreError {
        self.conflict |= is_conflict(&e);
        backend(e)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<postgres::Row>, StoreError> {
        match self.tx.query_typed(sql, params) {
            Ok(rows) => Ok(rows),
            Err(e) => Err(self.fail(e)),
        }
    }
}

impl Txn for PgTxn<'_, '_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.query(
            "SELECT v FROM cloudcard_kv WHERE tbl = $1 AND k = $2",
            &[(&table, Type::TEXT), (&key, Type::BYTEA)],
        )?;
        let Some(row) = rows.first() else { return Ok(None) };
        let sealed: &[u8] = row.try_get(0).map_err(backend)?;
        self.sealer.open(&value_aad(table, key), sealed).map(Some)
    }

    fn contains(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        let rows = self.query(
            "SELECT 1 FROM cloudcard_kv WHERE tbl = $1 AND k = $2",
            &[(&table, Type::TEXT), (&key, Type::BYTEA)],
        )?;
        Ok(!rows.is_empty())
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        if !self.writable {
            return Err(StoreError::Conflict);
        }
        let sealed = self.sealer.seal(&value_aad(table, key), value)?;
        self.query(
            "INSERT INTO cloudcard_kv (tbl, k, v) VALUES ($1, $2, $3)
             ON CONFLICT (tbl, k) DO UPDATE SET v = EXCLUDED.v",
            &[(&table, Type::TEXT), (&key, Type::BYTEA), (&sealed, Type::BYTEA)],
        )?;
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        if !self.writable {
            return Err(StoreError::Conflict);
        }
        let rows = self.query(
            "DELETE FROM cloudcard_kv WHERE tbl = $1 AND k = $2 RETURNING 1",
            &[(&table, Type::TEXT), (&key, Type::BYTEA)],
        )?;
        Ok(!rows.is_empty())
    }

    fn range(
        &mut self,
        table: Table,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.query(
            "SELECT k, v FROM cloudcard_kv WHERE tbl = $1 AND k >= $2 AND k < $3
             ORDER BY k LIMIT $4",
            &[(&table, Type::TEXT), (&from, Type::BYTEA), (&to, Type::BYTEA), (&limit, Type::INT8)],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let k: Vec<u8> = row.try_get(0).map_err(backend)?;
            let sealed: &[u8] = row.try_get(1).map_err(backend)?;
            let value = self.sealer.open(&value_aad(table, &k), sealed)?;
            out.push((k, value));
        }
        Ok(out)
    }
}

impl Kv for PostgresKv {
    /// A read-only snapshot (`REPEATABLE READ`).
    fn read(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError> {
        let mut conn = self.connection()?;
        let mut tx = conn
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(backend)?;
        let out = body(&mut PgTxn {
            tx: &mut tx,
            sealer: &self.sealer,
            writable: false,
            conflict: false,
        });
        tx.rollback().map_err(backend)?;
        out
    }

    /// A `SERIALIZABLE` transaction: the database aborts one of two transactions that would
    /// not have given the same result one after the other, and the aborted one is run again
    /// from the start (with a short random pause, for up to ten seconds), so to every caller each
    /// write transaction happens whole, at one instant, on every node.
    fn write(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let mut ceiling_ms = 1u64;
        loop {
            let committed = {
                let mut conn = self.connection()?;
                let mut tx = conn
                    .build_transaction()
                    .isolation_level(IsolationLevel::Serializable)
                    .start()
                    .map_err(backend)?;
                let mut txn =
                    PgTxn { tx: &mut tx, sealer: &self.sealer, writable: true, conflict: false };
                let outcome = body(&mut txn);
                let conflict = txn.conflict;
                match outcome {
                    Ok(()) => tx.commit().map_err(|e| (is_conflict(&e), backend(e))),
                    // Dropping the transaction rolls it back.
                    Err(e) => Err((conflict, e)),
                }
            };
            match committed {
                Ok(()) => return Ok(()),
                Err((true, _)) if started.elapsed() < RETRY_BUDGET => {
                    std::thread::sleep(Duration::from_millis(rand::random_range(0..=ceiling_ms)));
                    ceiling_ms = (ceiling_ms * 2).min(64);
                }
                Err((true, _)) => return Err(StoreError::Conflict),
                Err((false, e)) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests;

#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cloudcard_core::StoreError;
use cloudcard_risk::{
    EntityKey, EntityKind, SharedRecord, Snapshot, VelocityPort, WindowSet, count_payment,
    shared_entity_key, shared_id_hash, shared_snapshot,
};

#[cfg(feature = "testing")]
pub mod testing;

/// How long one payment's count keeps being redone after other nodes changed its entities.
const RETRY_BUDGET: Duration = Duration::from_secs(10);

/// Velocity in Redis. See the crate docs.
pub struct RedisVelocityStore {
    pool: r2d2::Pool<redis::Client>,
    prefix: String,
    windows: WindowSet,
    ttl_ms: u64,
}

impl fmt::Debug for RedisVelocityStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisVelocityStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::backend(e)
}

impl RedisVelocityStore {
    /// Connects to Redis at `url`; every key this store writes starts with `prefix` and `:`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the URL is malformed or the server cannot be reached.
    pub fn open(url: &str, prefix: &str, windows: WindowSet) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(backend)?;
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(client)
            .map_err(backend)?;
        let ttl_ms = u64::try_from(windows.longest().num_milliseconds())
            .unwrap_or(u64::MAX / 2)
            .saturating_add(60_000);
        Ok(Self { pool, prefix: prefix.to_owned(), windows, ttl_ms })
    }

    fn redis_key(&self, key: EntityKey) -> String {
        format!("{}:{:016x}", self.prefix, u64::from_be_bytes(key.to_bytes()))
    }

    fn connection(&self) -> Result<r2d2::PooledConnection<redis::Client>, StoreError> {
        self.pool.get().map_err(backend)
    }

    /// Every key of this store.
    fn keys(&self, conn: &mut redis::Connection) -> Result<Vec<String>, StoreError> {
        scan(conn, &format!("{}:*", self.prefix))
    }
}

/// Every key matching `pattern`, by `SCAN` (never `KEYS`, which blocks the server).
fn scan(conn: &mut redis::Connection, pattern: &str) -> Result<Vec<String>, StoreError> {
    let iter: redis::Iter<'_, String> = redis::cmd("SCAN")
        .cursor_arg(0)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(1_000)
        .clone()
        .iter(conn)
        .map_err(backend)?;
    iter.map(|key| key.map_err(backend)).collect()
}

impl VelocityPort for RedisVelocityStore {
    fn windows(&self) -> &WindowSet {
        &self.windows
    }

    fn key(&self, kind: EntityKind, id: &[u8]) -> EntityKey {
        shared_entity_key(kind, id)
    }

    fn id_hash(&self, id: &[u8]) -> u64 {
        shared_id_hash(id)
    }

    fn snapshot(&self, key: EntityKey, now: DateTime<Utc>) -> Result<Option<Snapshot>, StoreError> {
        let mut conn = self.connection()?;
        let bytes: Option<Vec<u8>> =
            redis::cmd("GET").arg(self.redis_key(key)).query(&mut *conn).map_err(backend)?;
        bytes.map(|b| shared_snapshot(&self.windows, &b, now)).transpose()
    }

    fn record(
        &self,
        keys: &[EntityKey],
        id_hash: u64,
        at: DateTime<Utc>,
        amount: u64,
        approved: bool,
    ) -> Result<bool, StoreError> {
        let names: Vec<String> = keys.iter().map(|k| self.redis_key(*k)).collect();
        if names.is_empty() {
            return Ok(false);
        }
        let mut conn = self.connection()?;
        let started = std::time::Instant::now();
        loop {
            redis::cmd("WATCH").arg(&names).exec(&mut *conn).map_err(backend)?;
            let stored: Vec<Option<Vec<u8>>> =
                redis::cmd("MGET").arg(&names).query(&mut *conn).map_err(backend)?;
            let stored: Vec<Option<&[u8]>> = stored.iter().map(Option::as_deref).collect();
            let Some(counted) =
                count_payment(&self.windows, &stored, id_hash, at, amount, approved)?
            else {
                redis::cmd("UNWATCH").exec(&mut *conn).map_err(backend)?;
                return Ok(false);
            };
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (name, bytes) in names.iter().zip(counted) {
                if let Some(bytes) = bytes {
                    pipe.cmd("SET").arg(name).arg(bytes).arg("PX").arg(self.ttl_ms).ignore();
                }
            }
            // `None`: a watched entity changed on another node; count again on fresh values.
            let done: Option<()> = pipe.query(&mut *conn).map_err(backend)?;
            if done.is_some() {
                return Ok(true);
            }
            if started.elapsed() > RETRY_BUDGET {
                return Err(StoreError::Conflict);
            }
        }
    }

    /// Entities also leave by their TTL; this drops those idle by the store's own clock now.
    fn evict_idle(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut conn = self.connection()?;
        let mut evicted = 0;
        for name in self.keys(&mut conn)? {
            let bytes: Option<Vec<u8>> =
                redis::cmd("GET").arg(&name).query(&mut *conn).map_err(backend)?;
            let idle = bytes.is_none_or(|b| {
                SharedRecord::load(&self.windows, Some(&b), now).map_or(true, |r| r.idle_at(now))
            });
            if idle {
                let n: usize = redis::cmd("DEL").arg(&name).query(&mut *conn).map_err(backend)?;
                evicted += n;
            }
        }
        Ok(evicted)
    }

    fn tracked(&self) -> Result<usize, StoreError> {
        let mut conn = self.connection()?;
        Ok(self.keys(&mut conn)?.len())
    }
}

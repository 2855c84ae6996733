//! The service shared by many nodes: every store on PostgreSQL, velocity optionally on Redis.

use std::sync::Arc;

use cloudcard_core::KeySource;
use cloudcard_postgres::{PoolOptions, PostgresKv};
use cloudcard_redis::RedisVelocityStore;
use cloudcard_risk::{RiskConfig, VelocityPort};

use crate::builder::CloudCardBuilder;
use crate::{CloudCard, Error};

impl<S> CloudCardBuilder<S> {
    /// Builds a service node on the PostgreSQL database at `url` (a libpq connection string
    /// or URL): every record lives in the database, sealed at rest, and the service keys are
    /// kept in it wrapped by the key-encryption key from `keys`. Every node opened on the same
    /// database with the same key is one system: a card, a token's counter, a lockout, a
    /// challenge or a lookup means the same on each, and any node may run
    /// [`CloudCard::run_due`] (two running it at once never handle one item twice).
    ///
    /// ```no_run
    /// use cloudcard::core::store::EnvKey;
    /// use cloudcard::{CloudCard, CloudCardBuilder};
    ///
    /// /// `production`: `CloudCard::builder()` with every port set.
    /// fn node(production: CloudCardBuilder) -> Result<CloudCard, cloudcard::Error> {
    ///     production
    ///         .redis_velocity("redis://cache.internal:6379/")?
    ///         .open_postgres("postgres://wallet@db.internal/cloudcard", &EnvKey::new("KEK"))
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Store`]: [`StoreError::WrongKeys`](cloudcard_core::StoreError::WrongKeys) for
    /// another key, [`StoreError::SchemaTooNew`](cloudcard_core::StoreError::SchemaTooNew), or
    /// the server unreachable; otherwise as [`CloudCardBuilder::build`].
    pub fn open_postgres(self, url: &str, keys: &dyn KeySource) -> Result<CloudCard, Error> {
        self.open_postgres_with(url, keys, &PoolOptions::default())
    }

    /// As [`Self::open_postgres`], with connection pool settings.
    ///
    /// # Errors
    ///
    /// As [`Self::open_postgres`].
    pub fn open_postgres_with(
        self,
        url: &str,
        keys: &dyn KeySource,
        options: &PoolOptions,
    ) -> Result<CloudCard, Error> {
        let kv = Arc::new(PostgresKv::open_with(url, keys, options)?);
        self.open_on(kv.clone(), &|name| kv.key(name))
    }

    /// Counts risk velocity in Redis at `url` (keys under `cloudcard:velocity`) rather than in
    /// the database: every node sees every node's counts.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the URL is malformed or the server cannot be reached.
    pub fn redis_velocity(self, url: &str) -> Result<Self, Error> {
        self.redis_velocity_under(url, "cloudcard:velocity")
    }

    /// As [`Self::redis_velocity`], with the keys under `prefix` (one Redis for several
    /// deployments, or for tests).
    ///
    /// # Errors
    ///
    /// As [`Self::redis_velocity`].
    pub fn redis_velocity_under(self, url: &str, prefix: &str) -> Result<Self, Error> {
        let windows = RiskConfig::default().windows;
        let store = RedisVelocityStore::open(url, prefix, windows)?;
        Ok(self.velocity(Arc::new(store) as Arc<dyn VelocityPort>))
    }
}

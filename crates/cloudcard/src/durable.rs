//! The durable service: every store on one SQLite file.

use std::path::Path;
use std::sync::Arc;

use cloudcard_core::KeySource;
use cloudcard_sqlite::SqliteKv;

use crate::builder::CloudCardBuilder;
use crate::{CloudCard, Error};

impl<S> CloudCardBuilder<S> {
    /// Builds the durable service on the SQLite file at `path`: every record (users, cards,
    /// tokens, links, challenges, status lists, the loss log, claims, the flow journal) lives
    /// in the file, sealed at rest, and the service's own keys (vault data key, fingerprint,
    /// PAR and LUK master keys, password pepper, code and card keys) are kept in it wrapped by
    /// the key-encryption key from `keys`. Opening the same file again, in this process or
    /// after a crash, continues where it was; [`CloudCard::run_due`] runs once on open to finish
    /// what a crash interrupted.
    ///
    /// Keys set on the builder are ignored: the file's own keys are what open its records.
    ///
    /// # Errors
    ///
    /// [`Error::Store`]: [`StoreError::WrongKeys`](cloudcard_core::StoreError::WrongKeys) for
    /// another key, [`StoreError::SchemaTooNew`](cloudcard_core::StoreError::SchemaTooNew),
    /// or an I/O error; otherwise as [`CloudCardBuilder::build_on`].
    pub fn open(self, path: impl AsRef<Path>, keys: &dyn KeySource) -> Result<CloudCard, Error> {
        let kv = Arc::new(SqliteKv::open(path, keys)?);
        self.open_on(kv.clone(), &|name| kv.key(name))
    }
}

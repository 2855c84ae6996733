//! Every store port's conformance suite on PostgreSQL: the same suites the in-memory and
//! SQLite backends pass (`crates/sqlite/tests/conformance.rs`), each store on a fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::{Arc, Mutex};

use cloudcard_core::store::StaticKey;
use cloudcard_core::store::testing::kv_suite;
use cloudcard_postgres::PostgresKv;
use cloudcard_postgres::testing::TestDatabase;
use cloudcard_report::KvLookupStore;
use cloudcard_risk::{KvRiskStore, KvVelocityStore, WindowSet};
use cloudcard_token::KvTokenStore;
use cloudcard_wallet::KvWalletStore;

/// Fresh databases for one suite, dropped when it ends.
struct Databases {
    test: &'static str,
    spare: Mutex<Option<TestDatabase>>,
    made: Mutex<Vec<TestDatabase>>,
}

impl Databases {
    /// `None` when no server is configured (the test then says it was skipped).
    fn new(test: &'static str) -> Option<Self> {
        let first = TestDatabase::create(test)?;
        Some(Self { test, spare: Mutex::new(Some(first)), made: Mutex::new(Vec::new()) })
    }

    fn open(&self) -> Arc<PostgresKv> {
        let spare = self.spare.lock().unwrap().take();
        let db = spare.unwrap_or_else(|| TestDatabase::create(self.test).unwrap());
        let kv = Arc::new(PostgresKv::open(db.url(), &StaticKey::new([5; 32])).unwrap());
        self.made.lock().unwrap().push(db);
        kv
    }
}

#[test]
fn kv_on_postgres() {
    let Some(dbs) = Databases::new("conformance-kv") else { return };
    kv_suite(&|| dbs.open());
}

#[test]
fn token_store_on_postgres() {
    let Some(dbs) = Databases::new("conformance-token") else { return };
    cloudcard_token::testing::token_store_suite(&|| Arc::new(KvTokenStore::new(dbs.open())));
}

#[test]
fn wallet_store_on_postgres() {
    let Some(dbs) = Databases::new("conformance-wallet") else { return };
    cloudcard_wallet::testing::wallet_store_suite(&|| Arc::new(KvWalletStore::new_in(dbs.open())));
}

#[test]
fn risk_store_on_postgres() {
    let Some(dbs) = Databases::new("conformance-risk") else { return };
    cloudcard_risk::testing::risk_store_suite(&|| Arc::new(KvRiskStore::new_in(dbs.open())));
}

#[test]
fn lookup_store_on_postgres() {
    let Some(dbs) = Databases::new("conformance-lookup") else { return };
    cloudcard_report::testing::lookup_store_suite(&|| Arc::new(KvLookupStore::new_in(dbs.open())));
}

#[test]
fn velocity_on_postgres() {
    let Some(dbs) = Databases::new("conformance-velocity") else { return };
    cloudcard_risk::testing::velocity_suite(&|| {
        Arc::new(KvVelocityStore::new(dbs.open(), WindowSet::default()))
    });
}

/// Purging 10 lapsed codes among 200 live ones reads the 10, not the 200.
#[test]
fn a_purge_costs_what_lapsed_on_postgres() {
    let Some(dbs) = Databases::new("conformance-purge") else { return };
    cloudcard_wallet::testing::purge_costs_what_lapsed(dbs.open(), 200);
}

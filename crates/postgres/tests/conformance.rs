//! Every store port's conformance suite on PostgreSQL: the same suites the in-memory and
//! SQLite backends pass (`crates/sqlite/tests/conformance.rs`), each store on a fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::{Arc, Mutex};

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard_core::Kv;
use cloudcard_core::store::StaticKey;
use cloudcard_core::store::testing::{CountingKv, kv_suite};
use cloudcard_postgres::PostgresKv;
use cloudcard_postgres::testing::TestDatabase;
use cloudcard_report::KvLookupStore;
use cloudcard_risk::{KvRiskStore, KvVelocityStore, WindowSet};
use cloudcard_token::KvTokenStore;
use cloudcard_wallet::{KvWalletStore, OtpRecord, WalletStore};

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

/// Purging 10 lapsed codes among 2,000 live ones reads the 10, not the 2,000.
#[test]
fn a_purge_costs_what_lapsed_on_postgres() {
    let Some(dbs) = Databases::new("conformance-purge") else { return };
    let counting = Arc::new(CountingKv::new(dbs.open() as Arc<dyn Kv>));
    let store = KvWalletStore::new_in(counting.clone());
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
    for i in 0..210 {
        let issued = if i < 10 { t0 - TimeDelta::minutes(10) } else { t0 };
        let code = OtpRecord {
            hash: [1; 32],
            issued_at: issued,
            expires_at: issued + TimeDelta::minutes(5),
            tries: 0,
        };
        store
            .issue_code(
                &format!("usr_{i}"),
                cloudcard_wallet::OtpPurpose::Payment,
                &code,
                TimeDelta::zero(),
            )
            .unwrap()
            .unwrap();
    }
    counting.take_count();
    assert_eq!(store.purge_expired(t0, 1_000).unwrap(), 10);
    assert!(counting.take_count() <= 10, "the purge read only what lapsed");
}

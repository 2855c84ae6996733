//! Every store port's conformance suite, on the in-memory backend and on SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cloudcard_core::store::testing::kv_suite;
use cloudcard_core::{Kv, MemoryKv};
use cloudcard_report::KvLookupStore;
use cloudcard_risk::KvRiskStore;
use cloudcard_sqlite::{SqliteKv, StaticKey};
use cloudcard_token::{InMemoryTokenStore, KvTokenStore};
use cloudcard_wallet::KvWalletStore;

/// Fresh SQLite files in one throwaway directory, removed when the suite ends.
struct Files {
    dir: PathBuf,
    count: Mutex<u32>,
}

impl Files {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("cloudcard-conf-{tag}-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir, count: Mutex::new(0) }
    }

    fn open(&self) -> Arc<SqliteKv> {
        let mut n = self.count.lock().unwrap();
        *n += 1;
        Arc::new(
            SqliteKv::open(self.dir.join(format!("{n}.db")), &StaticKey::new([5; 32])).unwrap(),
        )
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn memory() -> Arc<dyn Kv> {
    Arc::new(MemoryKv::new())
}

#[test]
fn kv_on_memory_and_sqlite() {
    kv_suite(&MemoryKv::new);
    let files = Files::new("kv");
    kv_suite(&|| files.open());
}

#[test]
fn token_store_on_memory_and_sqlite() {
    cloudcard_token::testing::token_store_suite(&|| Arc::new(InMemoryTokenStore::new()));
    cloudcard_token::testing::token_store_suite(&|| Arc::new(KvTokenStore::new(memory())));
    let files = Files::new("token");
    cloudcard_token::testing::token_store_suite(&|| Arc::new(KvTokenStore::new(files.open())));
}

#[test]
fn wallet_store_on_memory_and_sqlite() {
    cloudcard_wallet::testing::wallet_store_suite(&|| Arc::new(KvWalletStore::new_in(memory())));
    let files = Files::new("wallet");
    cloudcard_wallet::testing::wallet_store_suite(&|| {
        Arc::new(KvWalletStore::new_in(files.open()))
    });
}

#[test]
fn risk_store_on_memory_and_sqlite() {
    cloudcard_risk::testing::risk_store_suite(&|| {
        Arc::new(cloudcard_risk::InMemoryRiskStore::new())
    });
    cloudcard_risk::testing::risk_store_suite(&|| Arc::new(KvRiskStore::new_in(memory())));
    let files = Files::new("risk");
    cloudcard_risk::testing::risk_store_suite(&|| Arc::new(KvRiskStore::new_in(files.open())));
}

#[test]
fn lookup_store_on_memory_and_sqlite() {
    cloudcard_report::testing::lookup_store_suite(&|| Arc::new(KvLookupStore::new_in(memory())));
    let files = Files::new("lookup");
    cloudcard_report::testing::lookup_store_suite(&|| {
        Arc::new(KvLookupStore::new_in(files.open()))
    });
}

/// Purging 10 lapsed codes among 2,000 live ones reads the 10, not the 2,000.
#[test]
fn a_purge_costs_what_lapsed() {
    let files = Files::new("purge");
    cloudcard_wallet::testing::purge_costs_what_lapsed(memory(), 2_000);
    cloudcard_wallet::testing::purge_costs_what_lapsed(files.open(), 2_000);
}

#[test]
fn velocity_on_memory_and_sqlite() {
    use cloudcard_risk::{KvVelocityStore, VelocityStore, WindowSet};
    cloudcard_risk::testing::velocity_suite(&|| Arc::new(VelocityStore::new(WindowSet::default())));
    cloudcard_risk::testing::velocity_suite(&|| {
        Arc::new(KvVelocityStore::new(memory(), WindowSet::default()))
    });
    let files = Files::new("velocity");
    cloudcard_risk::testing::velocity_suite(&|| {
        Arc::new(KvVelocityStore::new(files.open(), WindowSet::default()))
    });
}

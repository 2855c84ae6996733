//! The velocity conformance suite on Redis: the same suite the in-memory, SQLite and
//! PostgreSQL backends pass, each store under a fresh key prefix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use cloudcard_redis::RedisVelocityStore;
use cloudcard_redis::testing::TestNamespace;
use cloudcard_risk::WindowSet;

#[test]
fn velocity_on_redis() {
    let Some(first) = TestNamespace::create("conformance-redis") else { return };
    let made = Mutex::new(vec![first]);
    let count = Mutex::new(0u32);
    cloudcard_risk::testing::velocity_suite(&|| {
        let mut n = count.lock().unwrap();
        *n += 1;
        let made = made.lock().unwrap();
        let ns = made.first().unwrap();
        let prefix = format!("{}:{n}", ns.prefix());
        Arc::new(RedisVelocityStore::open(ns.url(), &prefix, WindowSet::default()).unwrap())
    });
}

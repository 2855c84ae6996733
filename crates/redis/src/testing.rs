//! A Redis namespace for one test.
//!
//! The server is named by `CLOUDCARD_TEST_REDIS` (e.g. `redis://127.0.0.1:6379/`). Each
//! [`TestNamespace`] is a key prefix of its own whose keys are deleted when it goes. Without
//! the variable, [`TestNamespace::create`] says the test was skipped and returns `None`; with
//! `CLOUDCARD_REQUIRE_SERVERS=1` (as CI sets it) a missing or unreachable server fails instead.
#![allow(clippy::panic, clippy::expect_used)]

/// The variable naming the test server.
pub const SERVER_VAR: &str = "CLOUDCARD_TEST_REDIS";

/// A key prefix for one test, its keys deleted on drop.
#[derive(Debug)]
pub struct TestNamespace {
    url: String,
    prefix: String,
}

impl TestNamespace {
    /// A fresh namespace, or `None` (with a note on stderr) when no server is set.
    ///
    /// # Panics
    ///
    /// If a server is required but not set, or set but unreachable.
    #[must_use]
    pub fn create(test: &str) -> Option<Self> {
        let required = std::env::var("CLOUDCARD_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
        let Ok(url) = std::env::var(SERVER_VAR) else {
            assert!(!required, "{test}: {SERVER_VAR} is not set, and the servers are required");
            eprintln!(
                "{test}: SKIPPED, no Redis server: set {SERVER_VAR}=redis://127.0.0.1:6379/ to run it"
            );
            return None;
        };
        let client = redis::Client::open(url.as_str()).expect("a valid Redis URL");
        let mut conn = client
            .get_connection()
            .unwrap_or_else(|e| panic!("{test}: Redis at {SERVER_VAR} unreachable: {e}"));
        let _: String = redis::cmd("PING").query(&mut conn).expect("Redis answers");
        Some(Self { url, prefix: format!("cloudcard-test-{}", rand::random::<u64>()) })
    }

    /// The server's URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// This test's key prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else { return };
        let Ok(mut conn) = client.get_connection() else { return };
        let Ok(keys) = crate::scan(&mut conn, &format!("{}*", self.prefix)) else { return };
        for key in keys {
            let _: Result<(), _> = redis::cmd("DEL").arg(key).query(&mut conn);
        }
    }
}

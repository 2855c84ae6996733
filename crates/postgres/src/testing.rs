//! Throwaway databases for tests that need a real PostgreSQL server.
//!
//! The server is named by the `CLOUDCARD_TEST_POSTGRES` environment variable: a connection
//! string for a role that may create databases, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`. Each [`TestDatabase`] is a new database on
//! that server, dropped when it goes. Without the variable, [`TestDatabase::create`] says the
//! test was skipped and how to run it, and returns `None`; with `CLOUDCARD_REQUIRE_SERVERS=1`
//! (as CI sets it) a missing variable or an unreachable server fails the test instead.
#![allow(clippy::panic, clippy::expect_used)]

use postgres::NoTls;

/// The variable naming the test server.
pub const SERVER_VAR: &str = "CLOUDCARD_TEST_POSTGRES";

/// The variable that turns a skip into a failure.
pub const REQUIRE_VAR: &str = "CLOUDCARD_REQUIRE_SERVERS";

/// Whether tests must fail rather than skip when a server is missing.
#[must_use]
pub fn servers_required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// A database made for one test and dropped after it.
#[derive(Debug)]
pub struct TestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// A fresh, empty database, or `None` (with a note on stderr) when no server is set.
    ///
    /// # Panics
    ///
    /// If a server is required but not set, or set but unreachable.
    #[must_use]
    pub fn create(test: &str) -> Option<Self> {
        let Ok(admin) = std::env::var(SERVER_VAR) else {
            assert!(
                !servers_required(),
                "{test}: {SERVER_VAR} is not set, and {REQUIRE_VAR}=1 requires the server"
            );
            eprintln!(
                "{test}: SKIPPED, no PostgreSQL server: set {SERVER_VAR}=postgres://postgres@127.0.0.1:5432/postgres to run it"
            );
            return None;
        };
        let name = format!("cloudcard_test_{}", rand::random::<u64>());
        let mut client = postgres::Client::connect(&admin, NoTls)
            .unwrap_or_else(|e| panic!("{test}: PostgreSQL at {SERVER_VAR} unreachable: {e}"));
        client.batch_execute(&format!("CREATE DATABASE {name}")).expect("create the database");
        let mut config: postgres::Config = admin.parse().expect("a valid connection string");
        config.dbname(&name);
        let url = config_url(&config, &name);
        Some(Self { admin, name, url })
    }

    /// The connection string of this database.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A key-value connection string for `config` with its database set to `name`.
fn config_url(config: &postgres::Config, name: &str) -> String {
    let mut parts = Vec::new();
    for host in config.get_hosts() {
        if let postgres::config::Host::Tcp(h) = host {
            parts.push(format!("host={h}"));
        }
        #[cfg(unix)]
        if let postgres::config::Host::Unix(p) = host {
            parts.push(format!("host={}", p.display()));
        }
    }
    if let Some(port) = config.get_ports().first() {
        parts.push(format!("port={port}"));
    }
    if let Some(user) = config.get_user() {
        parts.push(format!("user={user}"));
    }
    if let Some(password) = config.get_password() {
        parts.push(format!("password={}", String::from_utf8_lossy(password)));
    }
    parts.push(format!("dbname={name}"));
    parts.join(" ")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, NoTls) {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

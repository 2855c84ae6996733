//! N provisions (10,000 by default) into an in-memory vault, for counting their instructions
//! under callgrind, as `pay_count` does for payments.
//!
//! ```text
//! cargo build --release -p cloudcard-benches --example provision_count
//! valgrind --tool=callgrind \
//!     --toggle-collect='cloudcard_token::service::TokenService<S>::provision' \
//!     target/release/examples/provision_count 10000
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../benches/common/mod.rs"]
mod common;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use cloudcard_core::{IssuerTable, ManualClock};
use cloudcard_token::{ProvisionRequest, TokenBin, TokenConfig, TokenKeys, TokenService};

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let config = TokenConfig::new(TokenBin::new("990001", IssuerTable::builtin()).unwrap());
    let tokens: TokenService =
        TokenService::new(config, TokenKeys::random(), Default::default(), clock);
    for i in 0..n {
        std::hint::black_box(
            tokens.provision(ProvisionRequest::new(common::pan(i), common::device(i))).unwrap(),
        );
    }
}

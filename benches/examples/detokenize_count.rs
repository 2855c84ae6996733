//! N detokenizations (10,000 by default) of cryptograms verified beforehand, over a vault of as
//! many tokens, for counting their instructions under callgrind, as `provision_count` does for
//! provisions.
//!
//! ```text
//! cargo build --release -p cloudcard-benches --example detokenize_count
//! valgrind --tool=callgrind \
//!     --toggle-collect='cloudcard_token::service::TokenService<S>::detokenize' \
//!     target/release/examples/detokenize_count 10000
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../benches/common/mod.rs"]
mod common;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use cloudcard_core::{Amount, Currency, IssuerTable, ManualClock};
use cloudcard_token::{
    Channel, PaymentData, ProvisionRequest, TokenBin, TokenConfig, TokenKeys, TokenService,
};

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let config = TokenConfig::new(TokenBin::new("990001", IssuerTable::builtin()).unwrap());
    let tokens: TokenService =
        TokenService::new(config, TokenKeys::random(), Default::default(), clock.clone());
    let data = PaymentData {
        amount: Amount::from_fen(1_000),
        currency: Currency::CNY,
        merchant: "mch_count".parse().unwrap(),
        channel: Channel::Nfc,
        unpredictable_number: 7,
        timestamp: cloudcard_core::Clock::now(&*clock),
        cvm: Default::default(),
    };
    let verified: Vec<_> = (0..n)
        .map(|i| {
            let provisioned =
                tokens.provision(ProvisionRequest::new(common::pan(i), common::device(i))).unwrap();
            let mut card = provisioned.device_card;
            tokens.verify(&common::device(i), &card.cryptogram(data.clone()).unwrap()).unwrap()
        })
        .collect();
    for proof in verified {
        std::hint::black_box(tokens.detokenize(proof).unwrap());
    }
}

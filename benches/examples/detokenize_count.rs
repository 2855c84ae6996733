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

use cloudcard_token::ProvisionRequest;

fn main() {
    let (n, clock, tokens) = common::counting_tokens();
    let data = common::payment_at(cloudcard_core::Clock::now(&*clock));
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

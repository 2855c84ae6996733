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

use cloudcard_token::ProvisionRequest;

fn main() {
    let (n, _, tokens) = common::counting_tokens();
    for i in 0..n {
        std::hint::black_box(
            tokens.provision(ProvisionRequest::new(common::pan(i), common::device(i))).unwrap(),
        );
    }
}

//! The lookup from an attacker's side of its public API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use cloudcard_report::Counts;

#[test]
fn counts_at_their_limit_do_not_overflow() {
    let counts = Counts { debit: u32::MAX, credit: u32::MAX, prepaid: 1 };
    assert_eq!(counts.total(), u32::MAX);
}

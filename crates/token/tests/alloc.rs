//! Checking a cryptogram allocates nothing once its token's key is kept, and a token in the
//! in-memory store takes a bounded number of heap bytes (its record, its prepared key and its
//! four index entries): counted with a counting global allocator, per thread, so that the test
//! harness's own threads (which may allocate while this test runs) are not counted.
#![allow(unsafe_code, clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use cloudcard_core::{DeviceId, Pan};
use cloudcard_masking::checks::luhn_check_digit;
use cloudcard_token::ProvisionRequest;

struct Counting;

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates.
    static TALLY: Cell<(usize, isize)> = const { Cell::new((0, 0)) };
}

fn tally(allocated: usize, bytes: isize) {
    let _ = TALLY.try_with(|t| {
        let (n, live) = t.get();
        t.set((n + allocated, live + bytes));
    });
}

/// Allocations made and bytes live on this thread.
fn tallied() -> (usize, isize) {
    TALLY.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to the system allocator; only a tally is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        tally(1, layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        tally(0, -(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        tally(1, new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn pan(i: u64) -> Pan {
    let mut digits = format!("62{i:016}");
    digits.push(char::from(luhn_check_digit(digits.as_bytes()).unwrap()));
    digits.parse().unwrap()
}

#[test]
fn a_cryptogram_is_checked_without_allocating() {
    let probe = tallied().0;
    drop(std::hint::black_box(vec![0_u8; 16]));
    assert_eq!(tallied().0, probe + 1, "the tally counts");

    let (clock, tokens) = common::service();
    let phone = common::phone();
    let mut card = tokens.provision(ProvisionRequest::new(pan(1), phone.clone())).unwrap();
    // The first cryptogram under the key derives it and keeps it beside the record.
    let first = card.device_card.cryptogram(common::pay(&clock, 100)).unwrap();
    tokens.verify(&phone, &first).unwrap();
    let cryptograms: Vec<_> =
        (0..5).map(|_| card.device_card.cryptogram(common::pay(&clock, 100)).unwrap()).collect();
    let before = tallied().0;
    for c in &cryptograms {
        std::hint::black_box(tokens.verify(&phone, c).unwrap());
    }
    assert_eq!(tallied().0 - before, 0, "allocations in 5 checks");
}

#[test]
fn a_token_takes_a_bounded_number_of_heap_bytes() {
    const TOKENS: u64 = 20_000;
    let (_, tokens) = common::service();
    let before = tallied().1;
    for i in 0..TOKENS {
        let device: DeviceId = format!("dev_{i}").parse().unwrap();
        tokens.provision(ProvisionRequest::new(pan(i), device)).unwrap();
    }
    let per_token = (tallied().1 - before) / TOKENS as isize;
    // Its record and prepared key, 424 bytes inline in its shard's slab, whose chunks double
    // up to 1,024 records: at 20,000 tokens (about 78 in each of 256 shards) the slabs hold
    // 112 slots a shard, 70% used, 608 bytes a token. Its four index entries (by number, id,
    // fingerprint and phone), 16 bytes each and a control byte, in tables 61% full at this
    // size: 113 bytes. (The token bench counts 586 bytes a token in a vault of a million,
    // whose slabs are full.) Before records were kept inline and indexes held slots instead
    // of ids, a token took 1,209-1,415 bytes.
    assert!(per_token <= 800, "{per_token} bytes a token");
}

//! Redaction's extra memory is linear with a small constant on adversarial input: counted with
//! a counting global allocator (bytes, not time), per thread, so that the test harness's own
//! threads (which may allocate while this test runs) are not counted.
#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use cloudcard_masking::Redactor;

struct Counting;

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates.
    static COUNTS: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

fn count(bytes: usize) {
    let _ = COUNTS.try_with(|c| {
        let (n, b) = c.get();
        c.set((n + 1, b + bytes));
    });
}

fn counts() -> (usize, usize) {
    COUNTS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn adversarial_lines_cost_at_most_one_copy_of_the_input() {
    let probe = counts();
    drop(std::hint::black_box(vec![0_u8; 16]));
    assert_eq!(counts(), (probe.0 + 1, probe.1 + 16), "the counter counts");
    let redactor = Redactor::new().with_mobiles(true).with_resident_ids(true);
    for line in [
        "1 ".repeat(100_000),
        "1-".repeat(100_000),
        "12 3-".repeat(40_000),
        "62000000000000051 ".repeat(10_000),
        "6200 0000 0000 0005 ".repeat(10_000),
    ] {
        let (allocs, bytes) = counts();
        let out = redactor.redact(&line);
        let (after_allocs, after_bytes) = counts();
        let (used_allocs, used_bytes) = (after_allocs - allocs, after_bytes - bytes);
        assert_eq!(out.len(), line.len());
        // At most the output copy (and the string it becomes): no per-group bookkeeping.
        assert!(used_allocs <= 2, "{used_allocs} allocations");
        assert!(used_bytes <= line.len() + 64, "{used_bytes} bytes for {} of input", line.len());
    }
}

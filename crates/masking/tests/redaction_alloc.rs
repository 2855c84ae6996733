//! Redaction's extra memory is linear with a small constant on adversarial input: counted with
//! a counting global allocator (bytes, not time). This file holds one test so that no other
//! test's allocations are counted.
#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use cloudcard_masking::Redactor;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn adversarial_lines_cost_at_most_one_copy_of_the_input() {
    let redactor = Redactor::new().with_mobiles(true).with_resident_ids(true);
    for line in [
        "1 ".repeat(100_000),
        "1-".repeat(100_000),
        "12 3-".repeat(40_000),
        "62000000000000051 ".repeat(10_000),
        "6200 0000 0000 0005 ".repeat(10_000),
    ] {
        let (allocs, bytes) = (ALLOCATIONS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst));
        let out = redactor.redact(&line);
        let used_allocs = ALLOCATIONS.load(Ordering::SeqCst) - allocs;
        let used_bytes = BYTES.load(Ordering::SeqCst) - bytes;
        assert_eq!(out.len(), line.len());
        // At most the output copy (and the string it becomes): no per-group bookkeeping.
        assert!(used_allocs <= 2, "{used_allocs} allocations");
        assert!(used_bytes <= line.len() + 64, "{used_bytes} bytes for {} of input", line.len());
    }
}

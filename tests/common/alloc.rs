//! A counting global allocator for the zero-allocation tests: it counts
//! every allocation and reallocation made by the armed thread. Counting is
//! per thread, so tests running in parallel do not disturb each other.
//! `LT_ALLOC_TRACE=1` prints a backtrace for each counted allocation.
//!
//! A test binary that includes this module (`mod common;` with
//! `common/alloc.rs` below it) installs the allocator for the whole binary.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // `LT_ALLOC_TRACE=1` prints where each counted allocation came
            // from (disarmed while capturing: the capture allocates).
            armed.set(false);
            if std::env::var_os("LT_ALLOC_TRACE").is_some() {
                eprintln!("{}", std::backtrace::Backtrace::force_capture());
            }
            armed.set(true);
        }
    });
}

// SAFETY: every method forwards to the system allocator unchanged; the
// bookkeeping touches only const-initialised thread-locals, which never
// allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by this thread while running `f`.
pub fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    COUNT.with(Cell::get)
}

/// Start counting this thread's allocations from zero (for code that runs
/// on a thread the test does not control, through a callback).
pub fn arm() {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
}

/// Stop counting on this thread; the allocations counted since [`arm`].
pub fn disarm() -> u64 {
    ARMED.with(|a| a.set(false));
    COUNT.with(Cell::get)
}

/// Allocations counted on this thread since [`arm`] (still counting).
pub fn counted() -> u64 {
    COUNT.with(Cell::get)
}

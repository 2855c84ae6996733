//! Locks that carry on after a panic elsewhere.
//!
//! Every cloudcard store replaces whole records under its locks, so a thread that panicked while
//! holding one cannot have left a record half-written; the data behind a poisoned lock is as
//! good as before. Library code must not panic on it either.
//!
//! # Reads under one hold
//!
//! Taking or releasing a lock is an atomic read-modify-write, and on x86 such an instruction
//! waits for every load before it. A path that reads several large tables one lock after
//! another therefore waits out their cache misses one at a time. Where a hot path reads
//! several, cloudcard's in-memory stores take the locks first (in a fixed order), read every
//! table, and only then write: the misses overlap.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// [`Mutex::lock`] that recovers the guard from a poisoned lock.
pub trait MutexExt<T: ?Sized> {
    /// Locks, poisoned or not.
    fn lock_unpoisoned(&self) -> MutexGuard<'_, T>;
}

impl<T: ?Sized> MutexExt<T> for Mutex<T> {
    fn lock_unpoisoned(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// [`RwLock::read`] and [`RwLock::write`] that recover the guard from a poisoned lock.
pub trait RwLockExt<T: ?Sized> {
    /// Locks for reading, poisoned or not.
    fn read_unpoisoned(&self) -> RwLockReadGuard<'_, T>;
    /// Locks for writing, poisoned or not.
    fn write_unpoisoned(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T: ?Sized> RwLockExt<T> for RwLock<T> {
    fn read_unpoisoned(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_unpoisoned(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A value alone on its cache lines (two of them, for CPUs that fetch lines in pairs): the
/// locks of a sharded store, side by side in an array, so that threads working different
/// shards do not pass one line back and forth.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

impl<T> core::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_still_opens() {
        let lock = std::sync::Arc::new(Mutex::new(1));
        let l = lock.clone();
        let _ = std::thread::spawn(move || {
            let _guard = l.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(lock.is_poisoned());
        assert_eq!(*lock.lock_unpoisoned(), 1);
        let rw = RwLock::new(2);
        *rw.write_unpoisoned() += 1;
        assert_eq!(*rw.read_unpoisoned(), 3);
    }
}

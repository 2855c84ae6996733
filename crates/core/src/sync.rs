//! Locks that carry on after a panic elsewhere, and values read without a lock.
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

/// A value read far more often than it changes (a key ring, the lists every decision reads),
/// read without a lock: a reader writes nothing another reader shares. A change copies the
/// value, changes the copy and swaps it in, one change at a time, so none is lost; a reader
/// sees the value before a change or after it, whole.
#[derive(Debug, Default)]
pub struct CopyOnWrite<T> {
    current: arc_swap::ArcSwap<T>,
    changing: Mutex<()>,
}

/// A [`CopyOnWrite`] value as it was loaded.
#[derive(Debug)]
pub struct Loaded<T>(arc_swap::Guard<std::sync::Arc<T>>);

impl<T> core::ops::Deref for Loaded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Clone> CopyOnWrite<T> {
    /// Holds `value`.
    #[must_use]
    pub fn new(value: T) -> Self {
        Self { current: arc_swap::ArcSwap::from_pointee(value), changing: Mutex::new(()) }
    }

    /// The value now (kept whole while the guard lives, whatever changes meanwhile).
    #[must_use]
    pub fn load(&self) -> Loaded<T> {
        Loaded(self.current.load())
    }

    /// Changes the value by `change`; what `change` answers.
    pub fn change<R>(&self, change: impl FnOnce(&mut T) -> R) -> R {
        self.try_change(|value| Ok::<R, core::convert::Infallible>(change(value)))
            .unwrap_or_else(|never| match never {})
    }

    /// Changes the value by `change` if it succeeds; unchanged if it fails.
    ///
    /// # Errors
    ///
    /// What `change` returns.
    pub fn try_change<R, E>(&self, change: impl FnOnce(&mut T) -> Result<R, E>) -> Result<R, E> {
        let _one_at_a_time = self.changing.lock_unpoisoned();
        let mut value = T::clone(&self.current.load());
        let answer = change(&mut value)?;
        self.current.store(std::sync::Arc::new(value));
        Ok(answer)
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

    #[test]
    fn changes_made_at_once_are_all_kept_and_a_failed_one_is_none() {
        let value = CopyOnWrite::new(Vec::<u32>::new());
        let before = value.load();
        std::thread::scope(|s| {
            for t in 0..8 {
                let value = &value;
                s.spawn(move || (0..100).for_each(|i| value.change(|v| v.push(t * 100 + i))));
            }
        });
        let mut all = value.load().clone();
        all.sort_unstable();
        assert_eq!(all, (0..800).collect::<Vec<_>>());
        assert!(before.is_empty(), "a guard keeps the value it loaded");
        let failed = value.try_change(|v| {
            v.clear();
            Err::<(), _>("refused")
        });
        assert_eq!(failed, Err("refused"));
        assert_eq!(value.load().len(), 800, "a failed change is none");
        assert_eq!(
            value.change(|v| {
                v.push(800);
                v.len()
            }),
            801
        );
    }
}

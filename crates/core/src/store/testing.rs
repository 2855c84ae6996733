//! The conformance suite every [`Kv`] backend must pass, and helpers for the domain crates'
//! store suites. Behind the `testing` feature; its checks panic on failure, as tests do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test suite: a failed check panics"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use super::{Entry, Kv, StoreError, Table, Txn, TxnFn, prefix_end, read, write};

/// Runs `f(i)` on `threads` threads released together; their results in thread order.
pub fn race<T: Send + 'static>(
    threads: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (f, barrier) = (f.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                f(i)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// A [`Kv`] wrapper counting the entries its range reads return: what a purge or a queue read
/// costs.
#[derive(Debug)]
pub struct CountingKv<K> {
    inner: K,
    ranged: AtomicUsize,
}

impl<K: Kv> CountingKv<K> {
    /// Wraps `inner`.
    pub fn new(inner: K) -> Self {
        Self { inner, ranged: AtomicUsize::new(0) }
    }

    /// Entries returned by range reads since the last call.
    pub fn take_count(&self) -> usize {
        self.ranged.swap(0, Ordering::SeqCst)
    }
}

struct CountingTxn<'a> {
    inner: &'a mut dyn Txn,
    ranged: &'a AtomicUsize,
}

impl Txn for CountingTxn<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(table, key)
    }
    fn contains(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        self.inner.contains(table, key)
    }
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.inner.put(table, key, value)
    }
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        self.inner.delete(table, key)
    }
    fn range(
        &mut self,
        table: Table,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let out = self.inner.range(table, from, to, limit)?;
        self.ranged.fetch_add(out.len(), Ordering::SeqCst);
        Ok(out)
    }
}

impl<K: Kv> Kv for CountingKv<K> {
    fn read(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError> {
        let ranged = &self.ranged;
        self.inner.read(&mut |txn| body(&mut CountingTxn { inner: txn, ranged }))
    }
    fn write(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError> {
        let ranged = &self.ranged;
        self.inner.write(&mut |txn| body(&mut CountingTxn { inner: txn, ranged }))
    }
}

/// The [`Kv`] conformance suite: `make` returns a fresh, empty backend each call.
pub fn kv_suite<K: Kv + 'static>(make: &dyn Fn() -> K) {
    crud(&make());
    ranges(&make());
    rollback(&make());
    counter_under_threads(Arc::new(make()));
    readers_see_whole_writes(Arc::new(make()));
}

fn crud(kv: &impl Kv) {
    assert_eq!(read(kv, |t| t.get("a", b"k")).unwrap(), None);
    write(kv, |t| t.put("a", b"k", b"v1")).unwrap();
    assert_eq!(read(kv, |t| t.get("a", b"k")).unwrap(), Some(b"v1".to_vec()));
    assert!(read(kv, |t| t.contains("a", b"k")).unwrap());
    assert_eq!(read(kv, |t| t.get("b", b"k")).unwrap(), None, "tables are apart");
    write(kv, |t| t.put("a", b"k", b"v2")).unwrap();
    assert_eq!(read(kv, |t| t.get("a", b"k")).unwrap(), Some(b"v2".to_vec()));
    assert!(write(kv, |t| t.delete("a", b"k")).unwrap());
    assert!(!write(kv, |t| t.delete("a", b"k")).unwrap());
    assert!(!read(kv, |t| t.contains("a", b"k")).unwrap());
    assert_eq!(
        read(kv, |t| t.put("a", b"k", b"x")),
        Err(StoreError::Conflict),
        "reads cannot write"
    );
    write(kv, |t| t.put("a", &[0, 255, 7], &[])).unwrap();
    assert_eq!(
        read(kv, |t| t.get("a", &[0, 255, 7])).unwrap(),
        Some(Vec::new()),
        "binary keys, empty values"
    );
}

fn ranges(kv: &impl Kv) {
    write(kv, |t| {
        for k in [&b"b2"[..], b"a1", b"b1", b"c1", b"b"] {
            t.put("r", k, k)?;
        }
        Ok(())
    })
    .unwrap();
    let keys = |from: &[u8], to: &[u8], limit| -> Vec<Vec<u8>> {
        read(kv, |t| t.range("r", from, to, limit)).unwrap().into_iter().map(|(k, _)| k).collect()
    };
    let b = prefix_end(b"b");
    assert_eq!(keys(b"b", &b, 10), vec![b"b".to_vec(), b"b1".to_vec(), b"b2".to_vec()]);
    assert_eq!(keys(b"b", &b, 2), vec![b"b".to_vec(), b"b1".to_vec()]);
    assert_eq!(keys(b"", &[255], 10).len(), 5);
    assert!(keys(b"c", b"b", 10).is_empty());
    let entries = read(kv, |t| t.range("r", b"c", &[255], 10)).unwrap();
    assert_eq!(entries, vec![(b"c1".to_vec(), b"c1".to_vec())], "values come with keys");
}

fn rollback(kv: &impl Kv) {
    write(kv, |t| t.put("t", b"kept", b"1")).unwrap();
    let failed = write(kv, |t| {
        t.put("t", b"kept", b"2")?;
        t.put("t", b"new", b"3")?;
        t.delete("t", b"kept")?;
        Err::<(), _>(StoreError::Duplicate)
    });
    assert_eq!(failed, Err(StoreError::Duplicate));
    assert_eq!(read(kv, |t| t.get("t", b"kept")).unwrap(), Some(b"1".to_vec()));
    assert_eq!(read(kv, |t| t.get("t", b"new")).unwrap(), None);
}

fn counter_under_threads<K: Kv + 'static>(kv: Arc<K>) {
    let per = 40;
    let k = kv.clone();
    race(8, move |_| {
        for _ in 0..per {
            write(&*k, |t| {
                let n = t.get("c", b"n")?.map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap()));
                t.put("c", b"n", &(n + 1).to_be_bytes())
            })
            .unwrap();
        }
    });
    let n = read(&*kv, |t| t.get("c", b"n")).unwrap().unwrap();
    assert_eq!(u64::from_be_bytes(n.try_into().unwrap()), 8 * per, "no lost update");
}

fn readers_see_whole_writes<K: Kv + 'static>(kv: Arc<K>) {
    write(&*kv, |t| {
        t.put("p", b"x", &0u64.to_be_bytes())?;
        t.put("p", b"y", &0u64.to_be_bytes())
    })
    .unwrap();
    let k = kv.clone();
    race(8, move |i| {
        for n in 0..30u64 {
            if i % 2 == 0 {
                write(&*k, |t| {
                    t.put("p", b"x", &n.to_be_bytes())?;
                    t.put("p", b"y", &n.to_be_bytes())
                })
                .unwrap();
            } else {
                let (x, y) = read(&*k, |t| Ok((t.get("p", b"x")?, t.get("p", b"y")?))).unwrap();
                assert_eq!(x, y, "a read sees a write whole or not at all");
            }
        }
    });
}

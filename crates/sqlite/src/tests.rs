use super::*;
use cloudcard_core::store;

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cloudcard-sqlite-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn values_survive_reopen_and_never_rest_in_clear() {
    let dir = temp_dir();
    let path = dir.join("db");
    let kek = StaticKey::new([1; 32]);
    {
        let kv = SqliteKv::open(&path, &kek).unwrap();
        store::write(&kv, |t| t.put("t", b"k1", b"6222021234567890128")).unwrap();
    }
    let kv = SqliteKv::open(&path, &kek).unwrap();
    assert_eq!(
        store::read(&kv, |t| t.get("t", b"k1")).unwrap(),
        Some(b"6222021234567890128".to_vec())
    );
    drop(kv);
    for file in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        assert!(!bytes.windows(19).any(|w| w == b"6222021234567890128"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn other_keys_fail_closed() {
    let dir = temp_dir();
    let path = dir.join("db");
    SqliteKv::open(&path, &StaticKey::new([1; 32])).unwrap();
    assert_eq!(SqliteKv::open(&path, &StaticKey::new([2; 32])).unwrap_err(), StoreError::WrongKeys);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_newer_schema_is_refused_and_an_older_one_migrates() {
    let dir = temp_dir();
    let path = dir.join("db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    }
    assert_eq!(
        SqliteKv::open(&path, &StaticKey::new([1; 32])).unwrap_err(),
        StoreError::SchemaTooNew { found: SCHEMA_VERSION + 1, supported: SCHEMA_VERSION }
    );
    let older = dir.join("older");
    Connection::open(&older).unwrap();
    let kv = SqliteKv::open(&older, &StaticKey::new([1; 32])).unwrap();
    let version: u32 =
        kv.writer.lock_unpoisoned().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_write_keeps_nothing_and_a_moved_value_does_not_open() {
    let dir = temp_dir();
    let kv = SqliteKv::open(dir.join("db"), &StaticKey::new([1; 32])).unwrap();
    store::write(&kv, |t| t.put("t", b"a", b"1")).unwrap();
    let err = store::write(&kv, |t| {
        t.put("t", b"a", b"2")?;
        t.put("t", b"b", b"3")?;
        Err::<(), _>(StoreError::Conflict)
    });
    assert_eq!(err, Err(StoreError::Conflict));
    assert_eq!(store::read(&kv, |t| t.get("t", b"a")).unwrap(), Some(b"1".to_vec()));
    assert_eq!(store::read(&kv, |t| t.get("t", b"b")).unwrap(), None);
    {
        let conn = kv.writer.lock_unpoisoned();
        conn.execute("UPDATE kv SET k = X'62' WHERE tbl = 't' AND k = X'61'", []).unwrap();
    }
    assert_eq!(store::read(&kv, |t| t.get("t", b"b")), Err(StoreError::Corrupt));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn named_keys_are_stable_across_opens() {
    let dir = temp_dir();
    let kek = StaticKey::new([3; 32]);
    let first = SqliteKv::open(dir.join("db"), &kek).unwrap().key("vault").unwrap();
    let kv = SqliteKv::open(dir.join("db"), &kek).unwrap();
    assert_eq!(kv.key("vault").unwrap().expose_secret(), first.expose_secret());
    assert_ne!(kv.key("other").unwrap().expose_secret(), first.expose_secret());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_writers_lose_no_update() {
    let dir = temp_dir();
    let kv = std::sync::Arc::new(SqliteKv::open(dir.join("db"), &StaticKey::new([1; 32])).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let kv = kv.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    store::write(&*kv, |t| {
                        let n = t
                            .get("c", b"n")?
                            .map_or(0, |v| u32::from_be_bytes(v.try_into().unwrap()));
                        t.put("c", b"n", &(n + 1).to_be_bytes())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let n = store::read(&*kv, |t| t.get("c", b"n")).unwrap().unwrap();
    assert_eq!(u32::from_be_bytes(n.try_into().unwrap()), 200);
    std::fs::remove_dir_all(&dir).unwrap();
}

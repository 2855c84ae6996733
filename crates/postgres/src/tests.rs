use cloudcard_core::StoreError;
use cloudcard_core::store::StaticKey;
use cloudcard_core::store::{self, Kv as _};

use super::*;

#[test]
fn a_database_opens_again_with_its_key_and_refuses_another() {
    let Some(db) = testing::TestDatabase::create("pg-reopen") else { return };
    let kek = StaticKey::new([7; 32]);
    {
        let kv = PostgresKv::open(db.url(), &kek).unwrap();
        store::write(&kv, |txn| txn.put("t", b"k", b"kept")).unwrap();
        let key = kv.key("token/data").unwrap();
        let again = PostgresKv::open(db.url(), &kek).unwrap();
        assert_eq!(again.key("token/data").unwrap().expose_secret(), key.expose_secret());
    }
    let kv = PostgresKv::open(db.url(), &kek).unwrap();
    assert_eq!(store::read(&kv, |txn| txn.get("t", b"k")).unwrap().as_deref(), Some(&b"kept"[..]));
    assert_eq!(
        PostgresKv::open(db.url(), &StaticKey::new([8; 32])).err(),
        Some(StoreError::WrongKeys)
    );
}

#[test]
fn a_newer_schema_is_refused_and_nothing_is_in_clear() {
    let Some(db) = testing::TestDatabase::create("pg-schema") else { return };
    let kek = StaticKey::new([7; 32]);
    let kv = PostgresKv::open(db.url(), &kek).unwrap();
    store::write(&kv, |txn| txn.put("t", b"k", b"6222021234567890128")).unwrap();
    let mut client = postgres::Client::connect(db.url(), NoTls).unwrap();
    let rows = client.query("SELECT v FROM cloudcard_kv", &[]).unwrap();
    for row in rows {
        let v: Vec<u8> = row.get(0);
        assert!(!v.windows(6).any(|w| w == b"622202"), "the value is sealed");
    }
    client.execute("UPDATE cloudcard_schema SET version = 99", &[]).unwrap();
    assert_eq!(
        PostgresKv::open(db.url(), &kek).err(),
        Some(StoreError::SchemaTooNew { found: 99, supported: SCHEMA_VERSION })
    );
    drop(kv);
}

#[test]
fn a_read_cannot_write_and_an_unreachable_server_is_an_error() {
    let Some(db) = testing::TestDatabase::create("pg-read") else { return };
    let kv = PostgresKv::open(db.url(), &StaticKey::new([7; 32])).unwrap();
    assert_eq!(store::read(&kv, |txn| txn.put("t", b"k", b"v")), Err(StoreError::Conflict));
    let options = PoolOptions { max_size: 1, connection_timeout: Duration::from_millis(300) };
    let down =
        PostgresKv::open_with("host=127.0.0.1 port=1 user=x", &StaticKey::new([7; 32]), &options);
    assert!(matches!(down, Err(StoreError::Backend(_))));
    kv.read(&mut |_| Ok(())).unwrap();
}

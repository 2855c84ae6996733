//! Unit tests, compiled only under `#[cfg(test)]` (see the parent module).
#![cfg(test)]

use super::*;

#[test]
fn debug_display_and_serde_are_redacted() {
    let s = Secret::new(String::from("938271"));
    assert_eq!(format!("{s:?}"), REDACTED);
    assert_eq!(s.to_string(), REDACTED);
    let mut json = Vec::new();
    redacted(&s, &mut serde_json::Serializer::new(&mut json)).unwrap();
    assert_eq!(json, b"\"[REDACTED]\"");
    assert_eq!(format!("{:?}", s.serialize_exposed()), REDACTED);
}

#[test]
fn exposed_serialization_is_explicit() {
    let s = Secret::new(String::from("938271"));
    assert_eq!(serde_json::to_string(&s.serialize_exposed()).unwrap(), "\"938271\"");
}

#[test]
fn deserializes_the_plain_value() {
    let s: Secret<String> = serde_json::from_str("\"pw\"").unwrap();
    assert_eq!(s.expose_secret(), "pw");
}

#[test]
fn equality_is_by_value() {
    let a = Secret::new(vec![1u8, 2, 3]);
    assert_eq!(a, Secret::new(vec![1, 2, 3]));
    assert_ne!(a, Secret::new(vec![1, 2, 4]));
    assert_ne!(a, Secret::new(vec![1, 2]));
    assert!(bool::from(a.ct_eq(&a.clone())));
}

#[test]
fn drop_zeroizes_the_value() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct Probe(Arc<AtomicBool>);
    impl Zeroize for Probe {
        fn zeroize(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    let wiped = Arc::new(AtomicBool::new(false));
    let secret = Secret::new(Probe(Arc::clone(&wiped)));
    assert!(!wiped.load(Ordering::SeqCst));
    drop(secret);
    assert!(wiped.load(Ordering::SeqCst));
}

//! [`MacKey`]: a keyed HMAC-SHA256, prepared once, that never prints its key; [`KeyedMac`]:
//! its keyed state alone, for keys kept by the million.

use core::fmt;

use cloudcard_masking::Secret;
use hmac::block_api::HmacCore;
use hmac::digest::block_api::CoreProxy;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// An HMAC-SHA256 key, prepared once: card fingerprints, payment account references,
/// limited-use keys, hashes of one-time codes. Its `Debug` shows only its purpose.
///
/// ```
/// use cloudcard_core::MacKey;
/// use cloudcard_core::masking::Secret;
///
/// let key = MacKey::new("fingerprint", &Secret::new([7; 32]));
/// assert_eq!(key.mac(&[b"62", b"00"]), key.mac(&[b"6200"]));
/// assert_eq!(format!("{key:?}"), "MacKey(fingerprint, [REDACTED])");
/// ```
///
/// It keeps the keyed state at block level (the inner and outer hash states after the padded
/// key, 80 bytes), without the partial-block buffer a running MAC needs: 96 bytes a key.
#[derive(Clone)]
pub struct MacKey {
    purpose: &'static str,
    keyed: KeyedMac,
}

impl MacKey {
    /// A MAC key for `purpose` (shown in `Debug`) from 32 bytes of key material.
    #[must_use]
    pub fn new(purpose: &'static str, key: &Secret<[u8; 32]>) -> Self {
        Self { purpose, keyed: KeyedMac::new(key) }
    }

    /// HMAC-SHA256 over the concatenation of `parts`.
    #[must_use]
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        self.keyed.mac(parts)
    }

    /// HMAC-SHA256 over whatever `feed` hands to the update function, in order: for messages
    /// built field by field without a buffer.
    #[must_use]
    pub fn mac_with(&self, feed: impl FnOnce(&mut dyn FnMut(&[u8]))) -> [u8; 32] {
        self.keyed.mac_with(feed)
    }

    /// The keyed state alone, without the purpose.
    #[must_use]
    pub const fn keyed(&self) -> &KeyedMac {
        &self.keyed
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacKey({}, [REDACTED])", self.purpose)
    }
}

/// A [`MacKey`]'s keyed state alone, without the purpose it prints (80 bytes): for keys kept
/// by the million, such as each token's prepared limited-use key. Its `Debug` shows no key, and
/// its hash states are zeroized when it is dropped.
///
/// ```
/// use cloudcard_core::{KeyedMac, MacKey};
/// use cloudcard_core::masking::Secret;
///
/// let key = Secret::new([7; 32]);
/// let keyed = KeyedMac::new(&key);
/// assert_eq!(keyed.mac(&[b"6200"]), MacKey::new("fingerprint", &key).mac(&[b"6200"]));
/// assert_eq!(format!("{:?}", KeyedMac::new(&key)), "KeyedMac([REDACTED])");
/// ```
#[derive(Clone)]
pub struct KeyedMac(HmacCore<Sha256>);

impl KeyedMac {
    /// The keyed state of 32 bytes of key material.
    #[must_use]
    pub fn new(key: &Secret<[u8; 32]>) -> Self {
        // HMAC takes keys of any length and 32 bytes is below its block size, so this cannot
        // fail; the instance keyed with zeroes is never reached.
        Self(
            <HmacCore<Sha256> as KeyInit>::new_from_slice(key.expose_secret())
                .unwrap_or_else(|_| <HmacCore<Sha256> as KeyInit>::new(&Default::default())),
        )
    }

    /// HMAC-SHA256 over the concatenation of `parts`.
    #[must_use]
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        self.mac_with(|update| {
            for part in parts {
                update(part);
            }
        })
    }

    /// HMAC-SHA256 over whatever `feed` hands to the update function, in order.
    #[must_use]
    pub fn mac_with(&self, feed: impl FnOnce(&mut dyn FnMut(&[u8]))) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::compose(self.0.clone(), Default::default());
        feed(&mut |part| mac.update(part));
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for KeyedMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyedMac([REDACTED])")
    }
}

const _: () = assert!(size_of::<MacKey>() <= 96, "a prepared key stays 96 bytes");
const _: () = assert!(size_of::<KeyedMac>() <= 80, "a keyed state stays 80 bytes");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_raw_hmac_and_rfc_4231() {
        // RFC 4231 test case 2 needs a 4-byte key; check the raw primitive there and that
        // MacKey feeds it the same way.
        let mut raw = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        raw.update(b"what do ya want for nothing?");
        let out: [u8; 32] = raw.finalize().into_bytes().into();
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

        let key = MacKey::new("t", &Secret::new([3; 32]));
        let mut raw = <Hmac<Sha256> as KeyInit>::new_from_slice(&[3; 32]).unwrap();
        raw.update(b"abc");
        let expected: [u8; 32] = raw.finalize().into_bytes().into();
        assert_eq!(key.mac(&[b"a", b"bc"]), expected);
        assert_eq!(key.mac_with(|u| u(b"abc")), expected);
        assert_ne!(MacKey::new("t", &Secret::new([4; 32])).mac(&[b"abc"]), expected);
    }
}

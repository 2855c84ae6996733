//! Key material: the data-key ring that encrypts the vault and the MAC keys behind
//! fingerprints, payment account references and limited-use keys.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, AeadInOut, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use cloudcard_core::text::InlineBytes;
use cloudcard_masking::Secret;
use rand::Rng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use cloudcard_core::MacKey;

use crate::TokenError;

/// 32 bytes of key material, zeroized on drop and never printed.
pub type KeyBytes = Secret<[u8; 32]>;

/// Which version of the data key encrypted a vault record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyVersion(pub u32);

impl fmt::Display for KeyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A PAN encrypted at rest: AES-256-GCM under one data-key version, a fresh 96-bit nonce, the
/// token id as associated data. `ciphertext` ends with the 16-byte tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The data key that sealed it.
    pub key_version: KeyVersion,
    /// The per-record nonce.
    pub nonce: [u8; 12],
    /// Ciphertext and tag.
    pub ciphertext: Ciphertext,
}

/// The most ciphertext (with its tag) held inline: a 19-digit PAN and an expiry take 41 bytes.
const INLINE_CIPHERTEXT: usize = 48;
/// The length of an AES-GCM tag.
const TAG: usize = 16;

/// Sealed bytes, the tag included: inline when they fit (every sealed PAN), so that opening a
/// record reads no second allocation, else on the heap. Which one is fixed by the length.
/// Stored as a sequence of bytes either way.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ciphertext(Bytes);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Bytes {
    /// Up to 48 bytes.
    Inline(InlineBytes<INLINE_CIPHERTEXT>),
    /// More.
    Heap(Vec<u8>),
}

impl Default for Bytes {
    fn default() -> Self {
        Self::Inline(InlineBytes::default())
    }
}

impl Ciphertext {
    /// Holds `bytes`.
    #[must_use]
    pub fn new(bytes: &[u8]) -> Self {
        Self(InlineBytes::new(bytes).map_or_else(|| Bytes::Heap(bytes.to_vec()), Bytes::Inline))
    }

    /// Destroys the bytes (crypto-shredding): none are left.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Whether the bytes are held inline.
    #[must_use]
    pub const fn is_inline(&self) -> bool {
        matches!(self.0, Bytes::Inline(..))
    }
}

impl core::ops::Deref for Ciphertext {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Bytes::Inline(bytes) => bytes.as_bytes(),
            Bytes::Heap(bytes) => bytes,
        }
    }
}

impl core::ops::DerefMut for Ciphertext {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Bytes::Inline(bytes) => bytes.as_bytes_mut(),
            Bytes::Heap(bytes) => bytes,
        }
    }
}

impl Serialize for Ciphertext {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Ciphertext {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<u8>::deserialize(deserializer).map(|bytes| Self::new(&bytes))
    }
}

#[derive(Clone)]
struct RingEntry {
    cipher: Aes256Gcm,
    retired: bool,
}

/// Versioned AES-256-GCM data keys. New records are sealed under the current (newest active)
/// version; records under older active versions still open, and [`crate::TokenService::rewrap`]
/// moves them to the current one. A record under an unknown or retired version fails closed.
///
/// ```
/// use cloudcard_masking::Secret;
/// use cloudcard_token::{KeyRing, KeyVersion};
///
/// let mut ring = KeyRing::new(KeyVersion(1), &Secret::new([1; 32]));
/// let sealed = ring.seal(b"tok_1", b"6200000000000005")?;
/// ring.add(KeyVersion(2), &Secret::new([2; 32]))?;
/// assert_eq!(ring.current(), KeyVersion(2));
/// assert_eq!(&ring.open(b"tok_1", &sealed)?[..], b"6200000000000005");
/// ring.retire(KeyVersion(1))?;
/// assert!(ring.open(b"tok_1", &sealed).is_err());
/// # Ok::<(), cloudcard_token::TokenError>(())
/// ```
///
/// A copy holds the same keys (each zeroized when dropped, the copy's too): a service changes
/// a copy and swaps it in, so that sealing and opening lock nothing.
#[derive(Clone)]
pub struct KeyRing {
    keys: BTreeMap<KeyVersion, RingEntry>,
    current: KeyVersion,
}

impl KeyRing {
    /// A ring holding one data key.
    #[must_use]
    pub fn new(version: KeyVersion, key: &KeyBytes) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(version, RingEntry { cipher: cipher(key), retired: false });
        Self { keys, current: version }
    }

    /// Adds a data key and makes it current. Versions only go up.
    ///
    /// # Errors
    ///
    /// [`TokenError::KeyVersion`] if `version` is not above every version in the ring.
    pub fn add(&mut self, version: KeyVersion, key: &KeyBytes) -> Result<(), TokenError> {
        if self.keys.keys().next_back().is_some_and(|&v| v >= version) {
            return Err(TokenError::KeyVersion);
        }
        self.keys.insert(version, RingEntry { cipher: cipher(key), retired: false });
        self.current = version;
        Ok(())
    }

    /// Retires a data key: records still under it no longer open. The current key cannot be
    /// retired; add a newer one first.
    ///
    /// # Errors
    ///
    /// [`TokenError::KeyVersion`] for the current or an unknown version.
    pub fn retire(&mut self, version: KeyVersion) -> Result<(), TokenError> {
        if version == self.current {
            return Err(TokenError::KeyVersion);
        }
        let entry = self.keys.get_mut(&version).ok_or(TokenError::KeyVersion)?;
        entry.retired = true;
        Ok(())
    }

    /// The version new records are sealed under.
    #[must_use]
    pub const fn current(&self) -> KeyVersion {
        self.current
    }

    /// Seals `plaintext` under the current key with a fresh random nonce, binding `aad`.
    ///
    /// # Errors
    ///
    /// [`TokenError::Crypto`] if encryption fails.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, TokenError> {
        let entry = self.keys.get(&self.current).ok_or(TokenError::KeyVersion)?;
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed_len = plaintext.len().checked_add(TAG).filter(|&n| n <= INLINE_CIPHERTEXT);
        let ciphertext = match sealed_len {
            // Sealed in place where it is kept inline (every card number and expiry): nothing
            // goes through the heap.
            Some(len) => {
                let mut buffer = Zeroizing::new([0u8; INLINE_CIPHERTEXT]);
                let (body, rest) = buffer.split_at_mut(plaintext.len());
                body.copy_from_slice(plaintext);
                let tag = entry
                    .cipher
                    .encrypt_inout_detached(&nonce.into(), aad, body.into())
                    .map_err(|_| TokenError::Crypto)?;
                rest.get_mut(..TAG).ok_or(TokenError::Crypto)?.copy_from_slice(&tag);
                Ciphertext::new(buffer.get(..len).ok_or(TokenError::Crypto)?)
            }
            None => Ciphertext::new(
                &entry
                    .cipher
                    .encrypt(&nonce.into(), Payload { msg: plaintext, aad })
                    .map_err(|_| TokenError::Crypto)?,
            ),
        };
        Ok(Sealed { key_version: self.current, nonce, ciphertext })
    }

    /// Opens a sealed record bound to `aad`.
    ///
    /// # Errors
    ///
    /// [`TokenError::UnknownKey`] or [`TokenError::RetiredKey`] for a record under a key the
    /// ring cannot use; [`TokenError::Crypto`] if the record or its associated data was altered.
    pub fn open(&self, aad: &[u8], sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, TokenError> {
        self.opening(sealed)?
            .cipher
            .decrypt(&sealed.nonce.into(), Payload { msg: &sealed.ciphertext, aad })
            .map(Zeroizing::new)
            .map_err(|_| TokenError::Crypto)
    }

    /// Opens a sealed record bound to `aad` and hands its plaintext to `read`: in place, in a
    /// zeroized buffer that never reaches the heap, when it is held inline (every sealed card
    /// number). The errors of [`Self::open`].
    pub(crate) fn open_with<R>(
        &self,
        aad: &[u8],
        sealed: &Sealed,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, TokenError> {
        if !sealed.ciphertext.is_inline() {
            return self.open(aad, sealed).map(|plain| read(plain.as_slice()));
        }
        let entry = self.opening(sealed)?;
        let len = sealed.ciphertext.len().checked_sub(TAG).ok_or(TokenError::Crypto)?;
        let (body, tag) = sealed.ciphertext.split_at_checked(len).ok_or(TokenError::Crypto)?;
        let mut buffer = Zeroizing::new([0u8; INLINE_CIPHERTEXT]);
        let plain = buffer.get_mut(..len).ok_or(TokenError::Crypto)?;
        plain.copy_from_slice(body);
        let tag = tag.try_into().map_err(|_| TokenError::Crypto)?;
        entry
            .cipher
            .decrypt_inout_detached(&sealed.nonce.into(), aad, plain.into(), tag)
            .map_err(|_| TokenError::Crypto)?;
        Ok(read(plain))
    }

    /// The key that opens `sealed`: [`TokenError::UnknownKey`] if the ring has none of its
    /// version, [`TokenError::RetiredKey`] if it is retired.
    fn opening(&self, sealed: &Sealed) -> Result<&RingEntry, TokenError> {
        let entry = self.keys.get(&sealed.key_version).ok_or(TokenError::UnknownKey)?;
        if entry.retired {
            return Err(TokenError::RetiredKey);
        }
        Ok(entry)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let versions: Vec<_> = self.keys.iter().map(|(v, e)| (v.0, e.retired)).collect();
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field("versions_retired", &versions)
            .finish_non_exhaustive()
    }
}

fn cipher(key: &KeyBytes) -> Aes256Gcm {
    Aes256Gcm::new(key.expose_secret().into())
}

/// Everything the token service keys with, supplied by the embedder: the data-key ring that
/// encrypts PANs, and three independent MAC keys.
#[derive(Debug)]
pub struct TokenKeys {
    /// Encrypts PANs in the vault.
    pub data_keys: KeyRing,
    /// Keys the PAN fingerprint that finds a card's tokens without decrypting.
    pub fingerprint_key: MacKey,
    /// Keys the payment account reference shared by one card's tokens.
    pub par_key: MacKey,
    /// The master key limited-use keys are derived from.
    pub luk_master_key: MacKey,
}

impl TokenKeys {
    /// Keys from raw material: the first data key (version 1) and the three MAC keys.
    #[must_use]
    pub fn new(
        data_key: &KeyBytes,
        fingerprint: &KeyBytes,
        par: &KeyBytes,
        luk_master: &KeyBytes,
    ) -> Self {
        Self {
            data_keys: KeyRing::new(KeyVersion(1), data_key),
            fingerprint_key: MacKey::new("fingerprint", fingerprint),
            par_key: MacKey::new("par", par),
            luk_master_key: MacKey::new("luk-master", luk_master),
        }
    }

    /// Fresh random keys, for tests, examples and simulations. Production embedders supply
    /// keys from their key management.
    #[must_use]
    pub fn random() -> Self {
        let mut rng = rand::rng();
        let mut key = || {
            let mut k = [0u8; 32];
            rng.fill_bytes(&mut k);
            Secret::new(k)
        };
        Self::new(&key(), &key(), &key(), &key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let ring = KeyRing::new(KeyVersion(7), &Secret::new([9; 32]));
        let sealed = ring.seal(b"tok_a", b"pan").unwrap();
        assert_eq!(sealed.key_version, KeyVersion(7));
        assert_eq!(sealed.ciphertext.len(), 3 + 16);
        assert!(sealed.ciphertext.is_inline());
        assert_eq!(&ring.open(b"tok_a", &sealed).unwrap()[..], b"pan");
        assert_eq!(ring.open(b"tok_b", &sealed).unwrap_err(), TokenError::Crypto);
        let mut bad = sealed.clone();
        bad.ciphertext[0] ^= 1;
        assert_eq!(ring.open(b"tok_a", &bad).unwrap_err(), TokenError::Crypto);
        let mut bad = sealed.clone();
        bad.key_version = KeyVersion(8);
        assert_eq!(ring.open(b"tok_a", &bad).unwrap_err(), TokenError::UnknownKey);
    }

    #[test]
    fn sealed_in_place_or_not_it_is_aes_gcm_ciphertext_and_tag() {
        let ring = KeyRing::new(KeyVersion(1), &Secret::new([9; 32]));
        let cipher = Aes256Gcm::new(&[9; 32].into());
        // Up to 32 bytes are sealed in place, longer on the heap.
        for len in 0..=40u8 {
            let plain: Vec<u8> = (0..len).collect();
            let sealed = ring.seal(b"tok_a", &plain).unwrap();
            assert_eq!(sealed.ciphertext.len(), plain.len() + TAG);
            assert_eq!(sealed.ciphertext.is_inline(), len <= 32, "{len}");
            let opened = cipher
                .decrypt(&sealed.nonce.into(), Payload { msg: &sealed.ciphertext, aad: b"tok_a" })
                .unwrap();
            assert_eq!(opened, plain, "{len}");
        }
    }

    #[test]
    fn opened_in_place_or_not_a_record_reads_as_sealed_and_refuses_as_open_does() {
        let mut ring = KeyRing::new(KeyVersion(1), &Secret::new([9; 32]));
        for len in [0, 19, 25, 32, 33, 100] {
            let plain: Vec<u8> = (0..len).collect();
            let sealed = ring.seal(b"tok_a", &plain).unwrap();
            assert_eq!(ring.open_with(b"tok_a", &sealed, <[u8]>::to_vec).unwrap(), plain);
            let mut bad = sealed.clone();
            bad.ciphertext[0] ^= 1;
            for (aad, record) in [(&b"tok_b"[..], &sealed), (b"tok_a", &bad)] {
                assert_eq!(ring.open_with(aad, record, |_| ()), Err(TokenError::Crypto));
            }
        }
        let old = ring.seal(b"tok_a", b"6222021234567890128").unwrap();
        ring.add(KeyVersion(2), &Secret::new([2; 32])).unwrap();
        ring.retire(KeyVersion(1)).unwrap();
        assert_eq!(ring.open_with(b"tok_a", &old, |_| ()), Err(TokenError::RetiredKey));
        let other = Sealed { key_version: KeyVersion(3), ..old };
        assert_eq!(ring.open_with(b"tok_a", &other, |_| ()), Err(TokenError::UnknownKey));
        let short = Sealed { ciphertext: Ciphertext::new(&[1; 15]), ..other };
        let short = Sealed { key_version: KeyVersion(2), ..short };
        assert_eq!(ring.open_with(b"tok_a", &short, |_| ()), Err(TokenError::Crypto));
    }

    #[test]
    fn nonces_are_fresh() {
        let ring = KeyRing::new(KeyVersion(1), &Secret::new([1; 32]));
        let a = ring.seal(b"t", b"x").unwrap();
        let b = ring.seal(b"t", b"x").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn rotation_rules() {
        let mut ring = KeyRing::new(KeyVersion(1), &Secret::new([1; 32]));
        assert_eq!(ring.add(KeyVersion(1), &Secret::new([2; 32])), Err(TokenError::KeyVersion));
        ring.add(KeyVersion(2), &Secret::new([2; 32])).unwrap();
        assert_eq!(ring.retire(KeyVersion(2)), Err(TokenError::KeyVersion));
        assert_eq!(ring.retire(KeyVersion(5)), Err(TokenError::KeyVersion));
        ring.retire(KeyVersion(1)).unwrap();
        let dbg = format!("{ring:?}");
        assert!(dbg.contains("current: KeyVersion(2)"), "{dbg}");
    }

    #[test]
    fn keys_never_print() {
        let keys = TokenKeys::new(
            &Secret::new([0xab; 32]),
            &Secret::new([0xcd; 32]),
            &Secret::new([0xef; 32]),
            &Secret::new([0x12; 32]),
        );
        let dbg = format!("{keys:?}");
        for needle in ["171", "205", "239", "ab, ab", "abab", "cdcd", "efef", "1212"] {
            assert!(!dbg.contains(needle), "{dbg}");
        }
        assert!(dbg.contains("MacKey(fingerprint, [REDACTED])"));
    }

    #[test]
    fn ciphertext_is_stored_as_bytes_inline_or_not() {
        let ring = KeyRing::new(KeyVersion(1), &Secret::new([5; 32]));
        let pan = ring.seal(b"tok_1", b"6212345678900000003|12/30").unwrap();
        assert!(pan.ciphertext.is_inline(), "a sealed PAN is held inline");
        let long = ring.seal(b"tok_1", &[7; 100]).unwrap();
        assert!(!long.ciphertext.is_inline());
        for sealed in [pan, long] {
            let json = serde_json::to_string(&sealed.ciphertext).unwrap();
            // As the byte vector it replaced was stored.
            assert_eq!(json, serde_json::to_string(&sealed.ciphertext.to_vec()).unwrap());
            let back: Ciphertext = serde_json::from_str(&json).unwrap();
            assert_eq!(back, sealed.ciphertext);
            assert_eq!(
                ring.open(b"tok_1", &Sealed { ciphertext: back, ..sealed.clone() }).unwrap(),
                ring.open(b"tok_1", &sealed).unwrap()
            );
        }
        let mut shredded = Ciphertext::new(&[1; 41]);
        shredded.clear();
        assert!(shredded.is_empty());
    }
}

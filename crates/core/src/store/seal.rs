//! AES-256-GCM sealing of values at rest, and keys kept wrapped beside the records they open:
//! what every durable backend (SQLite, PostgreSQL) does the same way.

use crate::StoreError;
use crate::masking::Secret;
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};

/// Seals and opens values: a fresh random 96-bit nonce per seal, stored in front of the
/// ciphertext and tag.
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    /// A sealer under `key`.
    #[must_use]
    pub fn new(key: &Secret<[u8; 32]>) -> Self {
        Self { cipher: Aes256Gcm::new(key.expose_secret().into()) }
    }

    /// Seals `plain` bound to `aad`: nonce, ciphertext and tag.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] if the cipher refuses (a value too long).
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        let nonce: [u8; 12] = rand::random();
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plain, aad })
            .map_err(|_| StoreError::Corrupt)?;
        let mut out = Vec::with_capacity(12 + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`Self::seal`] made with the same `aad`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] if it was damaged, moved or sealed under another key.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (nonce, body) = sealed.split_at_checked(12).ok_or(StoreError::Corrupt)?;
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| StoreError::Corrupt)?;
        self.cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: body, aad })
            .map_err(|_| StoreError::Corrupt)
    }
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([REDACTED])")
    }
}

/// A key sealed under a key-encryption key, as a store keeps it.
pub type WrappedKey = Vec<u8>;

/// A 32-byte key kept in a store wrapped (sealed) by a key-encryption key.
///
/// `wrapped` is what the store holds under the key's name, `None` if it holds nothing yet:
/// then a fresh random key is made and its wrapped form is handed back for the store to keep.
/// `aad` names the key, so a wrapped key copied under another name does not open.
///
/// # Errors
///
/// [`StoreError::WrongKeys`] if `wrapped` does not open under `kek` (another key-encryption
/// key); [`StoreError::Corrupt`] if it opens to something other than 32 bytes.
pub fn unwrap_or_new_key(
    kek: &Sealer,
    aad: &[u8],
    wrapped: Option<&[u8]>,
) -> Result<(Secret<[u8; 32]>, Option<WrappedKey>), StoreError> {
    match wrapped {
        Some(wrapped) => {
            let plain =
                zeroize::Zeroizing::new(kek.open(aad, wrapped).map_err(|_| StoreError::WrongKeys)?);
            let key: [u8; 32] = plain.as_slice().try_into().map_err(|_| StoreError::Corrupt)?;
            Ok((Secret::new(key), None))
        }
        None => {
            let key = Secret::new(rand::random::<[u8; 32]>());
            let wrapped = kek.seal(aad, key.expose_secret())?;
            Ok((key, Some(wrapped)))
        }
    }
}

/// The associated data of a value: its table and key, so a sealed value moved to another row
/// does not open.
#[must_use]
pub fn value_aad(table: &str, key: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(table.len() + 1 + key.len());
    aad.extend_from_slice(table.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_place() {
        let sealer = Sealer::new(&Secret::new([7; 32]));
        let sealed = sealer.seal(&value_aad("t", b"k"), b"card").unwrap();
        assert!(!sealed.windows(4).any(|w| w == b"card"), "nothing in clear");
        assert_eq!(sealer.open(&value_aad("t", b"k"), &sealed).unwrap(), b"card");
        assert_eq!(sealer.open(&value_aad("t", b"j"), &sealed), Err(StoreError::Corrupt));
        let other = Sealer::new(&Secret::new([8; 32]));
        assert_eq!(other.open(&value_aad("t", b"k"), &sealed), Err(StoreError::Corrupt));
        assert_eq!(sealer.open(b"", &[1, 2, 3]), Err(StoreError::Corrupt), "too short");
    }

    #[test]
    fn a_wrapped_key_is_made_once_and_opens_only_under_its_kek() {
        let kek = Sealer::new(&Secret::new([1; 32]));
        let (key, wrapped) = unwrap_or_new_key(&kek, b"name", None).unwrap();
        let wrapped = wrapped.unwrap();
        let (again, nothing_new) = unwrap_or_new_key(&kek, b"name", Some(&wrapped)).unwrap();
        assert_eq!(key.expose_secret(), again.expose_secret());
        assert!(nothing_new.is_none());
        let other = Sealer::new(&Secret::new([2; 32]));
        assert_eq!(
            unwrap_or_new_key(&other, b"name", Some(&wrapped)).err(),
            Some(StoreError::WrongKeys)
        );
        assert_eq!(
            unwrap_or_new_key(&kek, b"other", Some(&wrapped)).err(),
            Some(StoreError::WrongKeys),
            "a key copied under another name"
        );
    }
}

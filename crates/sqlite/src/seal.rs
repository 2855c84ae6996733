//! AES-256-GCM sealing of values at rest.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use cloudcard_core::StoreError;
use cloudcard_core::masking::Secret;

/// Seals and opens values: a fresh random 96-bit nonce per seal, stored in front of the
/// ciphertext and tag.
pub(crate) struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    pub(crate) fn new(key: &Secret<[u8; 32]>) -> Self {
        Self { cipher: Aes256Gcm::new(key.expose_secret().into()) }
    }

    pub(crate) fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, StoreError> {
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

    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (nonce, body) = sealed.split_at_checked(12).ok_or(StoreError::Corrupt)?;
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| StoreError::Corrupt)?;
        self.cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: body, aad })
            .map_err(|_| StoreError::Corrupt)
    }
}

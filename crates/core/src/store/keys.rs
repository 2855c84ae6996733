//! Key sources: where the key-encryption key comes from.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::masking::Secret;
use crate::{KeySource, StoreError};
use rand::RngExt;
use zeroize::Zeroizing;

/// Why a key source could not give its key. Never holds the key or its text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeySourceError {
    /// The key file could not be read or created.
    #[error("key file could not be read or created")]
    File(#[source] std::io::Error),
    /// The key file does not hold exactly 32 bytes.
    #[error("key file must hold exactly 32 bytes")]
    FileLength,
    /// The environment variable is not set.
    #[error("key variable is not set")]
    Unset,
    /// The environment variable is not 64 hex digits.
    #[error("key variable must be 64 hex digits")]
    Malformed,
}

/// A key file: 32 random bytes, created with mode 0600 when absent.
#[derive(Debug, Clone)]
pub struct KeyFile {
    path: PathBuf,
}

impl KeyFile {
    /// The key in the file at `path` (created on first use).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self { path: path.as_ref().to_path_buf() }
    }
}

impl KeySource for KeyFile {
    fn key_encryption_key(&self) -> Result<Secret<[u8; 32]>, StoreError> {
        let err = |e| StoreError::backend(KeySourceError::File(e));
        match std::fs::File::open(&self.path) {
            Ok(mut file) => {
                let mut bytes = Zeroizing::new(Vec::with_capacity(32));
                file.read_to_end(&mut bytes).map_err(err)?;
                let key: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError::backend(KeySourceError::FileLength))?;
                Ok(Secret::new(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Secret::new(rand::rng().random::<[u8; 32]>());
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&self.path).map_err(err)?;
                file.write_all(key.expose_secret()).map_err(err)?;
                file.sync_all().map_err(err)?;
                Ok(key)
            }
            Err(e) => Err(err(e)),
        }
    }
}

/// A key in an environment variable, as 64 hex digits.
#[derive(Debug, Clone)]
pub struct EnvKey {
    var: String,
}

impl EnvKey {
    /// The key in the variable `var`.
    pub fn new(var: impl Into<String>) -> Self {
        Self { var: var.into() }
    }
}

impl KeySource for EnvKey {
    fn key_encryption_key(&self) -> Result<Secret<[u8; 32]>, StoreError> {
        let text = Zeroizing::new(
            std::env::var(&self.var).map_err(|_| StoreError::backend(KeySourceError::Unset))?,
        );
        parse_hex_key(&text).map(Secret::new).map_err(StoreError::backend)
    }
}

/// Appends `bytes` to `out` as lowercase hex, two digits a byte: how keys are written where
/// [`parse_hex_key`] reads them, and how digests become text in ids and tags.
pub fn push_hex(bytes: &[u8], out: &mut String) {
    use std::fmt::Write;
    out.reserve(bytes.len() * 2);
    for b in bytes {
        // Writing to a `String` cannot fail.
        let _ = write!(out, "{b:02x}");
    }
}

/// 64 hex digits (surrounding white space ignored) as 32 bytes: how a key is written in an
/// environment variable or in a payload for a device.
///
/// # Errors
///
/// [`KeySourceError::Malformed`] unless `text` is 64 hex digits.
pub fn parse_hex_key(text: &str) -> Result<[u8; 32], KeySourceError> {
    let text = text.trim().as_bytes();
    let mut key = [0u8; 32];
    if text.len() != 64 {
        return Err(KeySourceError::Malformed);
    }
    for (byte, pair) in key.iter_mut().zip(text.chunks_exact(2)) {
        let hex = |c: u8| (c as char).to_digit(16);
        match (pair.first().copied().and_then(hex), pair.get(1).copied().and_then(hex)) {
            (Some(hi), Some(lo)) => *byte = u8::try_from(hi * 16 + lo).unwrap_or(0),
            _ => return Err(KeySourceError::Malformed),
        }
    }
    Ok(key)
}

/// A key the embedder holds (from its own KMS or secret store).
pub struct StaticKey {
    key: Secret<[u8; 32]>,
}

impl StaticKey {
    /// Wraps 32 bytes of key material.
    #[must_use]
    pub fn new(key: [u8; 32]) -> Self {
        Self { key: Secret::new(key) }
    }
}

impl fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticKey([REDACTED])")
    }
}

impl KeySource for StaticKey {
    fn key_encryption_key(&self) -> Result<Secret<[u8; 32]>, StoreError> {
        Ok(Secret::new(*self.key.expose_secret()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_created_private_and_read_back() {
        let dir = std::env::temp_dir().join(format!("cloudcard-keyfile-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = KeyFile::new(dir.join("kek"));
        let first = source.key_encryption_key().unwrap();
        let again = source.key_encryption_key().unwrap();
        assert_eq!(first.expose_secret(), again.expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("kek")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.join("short"), [1, 2, 3]).unwrap();
        assert!(KeyFile::new(dir.join("short")).key_encryption_key().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hex_written_is_hex_read() {
        let key: [u8; 32] = std::array::from_fn(|i| u8::try_from(i * 8).unwrap());
        let mut text = String::from("x");
        push_hex(&key, &mut text);
        assert_eq!(&text[..5], "x0008", "appended, two lowercase digits a byte");
        assert_eq!(parse_hex_key(&text[1..]).unwrap(), key);
        assert!(text[1..].bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
    }

    #[test]
    fn an_env_key_is_64_hex_digits() {
        // Distinct variable names: tests run in parallel in one process.
        let name = format!("CLOUDCARD_TEST_KEK_{}", rand::random::<u32>());
        assert!(EnvKey::new(&name).key_encryption_key().is_err());
        assert!(EnvKey::new("PATH").key_encryption_key().is_err(), "PATH is not a key");
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let key = parse_hex_key(&format!(" {hex}\n")).unwrap();
        assert_eq!(key[..4], [0x00, 0x11, 0x22, 0x33]);
        assert_eq!(key[31], 0xff);
        assert!(parse_hex_key(&hex[1..]).is_err());
        assert!(parse_hex_key(&hex.replace('0', "g")).is_err());
    }
}

//! Payment passwords: argon2id with a per-user salt and a server-side pepper.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use chrono::TimeDelta;
use cloudcard_masking::Secret;
use rand::Rng;
use subtle::ConstantTimeEq;

use crate::WalletError;

/// A stored payment-password hash: argon2id output, its salt and the cost it was made with.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    pub(crate) salt: [u8; 16],
    pub(crate) hash: [u8; 32],
    pub(crate) cost: Argon2Cost,
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PasswordHash(argon2id m={} t={} p={}, [REDACTED])",
            self.cost.memory_kib, self.cost.iterations, self.cost.lanes
        )
    }
}

/// The argon2id cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Argon2Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub lanes: u32,
}

impl Argon2Cost {
    /// The production cost: 19 MiB, 2 passes, 1 lane — OWASP's argon2id baseline. A 6-digit
    /// password has only a million values, so the hash alone cannot protect it against a stolen
    /// database: the pepper (kept outside the database) and the lockout after 5 wrong tries do.
    /// The hash's job is to make each guess cost memory and time on whoever holds both.
    pub const PRODUCTION: Self = Self { memory_kib: 19 * 1024, iterations: 2, lanes: 1 };

    /// A cheap cost for tests and examples. Never for real passwords.
    pub const TESTING: Self = Self { memory_kib: 64, iterations: 1, lanes: 1 };
}

/// Hashes and checks payment passwords.
pub struct PasswordHasher {
    cost: Argon2Cost,
    pepper: Secret<Vec<u8>>,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("cost", &self.cost)
            .field("pepper", &self.pepper)
            .finish()
    }
}

impl PasswordHasher {
    /// A hasher at `cost` with the server-side `pepper`.
    #[must_use]
    pub const fn new(cost: Argon2Cost, pepper: Secret<Vec<u8>>) -> Self {
        Self { cost, pepper }
    }

    /// Hashes a password under a fresh random salt.
    ///
    /// # Errors
    ///
    /// [`WalletError::PasswordFormat`] unless it is 6 digits; [`WalletError::Hashing`].
    pub fn hash(&self, password: &Secret<String>) -> Result<PasswordHash, WalletError> {
        check_format(password)?;
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let hash = self.derive(password, &salt, self.cost)?;
        Ok(PasswordHash { salt, hash, cost: self.cost })
    }

    /// Whether `password` matches `stored`, compared in constant time.
    ///
    /// # Errors
    ///
    /// [`WalletError::Hashing`].
    pub fn verify(
        &self,
        password: &Secret<String>,
        stored: &PasswordHash,
    ) -> Result<bool, WalletError> {
        if check_format(password).is_err() {
            return Ok(false);
        }
        let hash = self.derive(password, &stored.salt, stored.cost)?;
        Ok(bool::from(hash.ct_eq(&stored.hash)))
    }

    fn derive(
        &self,
        password: &Secret<String>,
        salt: &[u8],
        cost: Argon2Cost,
    ) -> Result<[u8; 32], WalletError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.lanes, Some(32))
            .map_err(|_| WalletError::Hashing)?;
        let argon = Argon2::new_with_secret(
            self.pepper.expose_secret(),
            Algorithm::Argon2id,
            Version::V0x13,
            params,
        )
        .map_err(|_| WalletError::Hashing)?;
        let mut out = [0u8; 32];
        argon
            .hash_password_into(password.expose_secret().as_bytes(), salt, &mut out)
            .map_err(|_| WalletError::Hashing)?;
        Ok(out)
    }
}

fn check_format(password: &Secret<String>) -> Result<(), WalletError> {
    let p = password.expose_secret();
    if p.len() == 6 && p.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(WalletError::PasswordFormat)
    }
}

/// The lockout rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Wrong tries in a row that lock the password.
    pub max_failures: u32,
    /// How long it stays locked.
    pub lock_for: TimeDelta,
}

impl Default for LockoutPolicy {
    /// 5 tries, 3 hours.
    fn default() -> Self {
        Self { max_failures: 5, lock_for: TimeDelta::hours(3) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Secret<String> {
        Secret::new(s.to_owned())
    }

    #[test]
    fn production_cost_round_trip() {
        let hasher = PasswordHasher::new(Argon2Cost::PRODUCTION, Secret::new(b"pepper".to_vec()));
        let stored = hasher.hash(&pw("246810")).unwrap();
        assert!(hasher.verify(&pw("246810"), &stored).unwrap());
        assert!(!hasher.verify(&pw("246811"), &stored).unwrap());
    }

    #[test]
    fn salts_differ_and_pepper_matters() {
        let hasher = PasswordHasher::new(Argon2Cost::TESTING, Secret::new(b"pepper".to_vec()));
        let a = hasher.hash(&pw("123456")).unwrap();
        let b = hasher.hash(&pw("123456")).unwrap();
        assert_ne!(a, b);
        let other = PasswordHasher::new(Argon2Cost::TESTING, Secret::new(b"other".to_vec()));
        assert!(!other.verify(&pw("123456"), &a).unwrap());
        assert!(!format!("{a:?}").contains("123456"));
    }

    #[test]
    fn only_six_digits() {
        let hasher = PasswordHasher::new(Argon2Cost::TESTING, Secret::new(Vec::new()));
        for bad in ["12345", "1234567", "12345a", "１２３４５６"] {
            assert_eq!(hasher.hash(&pw(bad)), Err(WalletError::PasswordFormat), "{bad}");
        }
    }
}

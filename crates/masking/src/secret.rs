//! [`Secret<T>`]: a value that never prints.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// The fixed text that stands in for a secret in `Debug`, `Display` and serde output.
pub const REDACTED: &str = "[REDACTED]";

/// A value that must never print: a key, an OTP, a password, a CVN2.
///
/// - `Debug`, `Display` and `Serialize` write [`REDACTED`], so a `#[derive(Debug, Serialize)]`
///   on a struct that holds a `Secret` never leaks it.
/// - The value is reached only through [`Secret::expose_secret`] (easy to grep for in review),
///   and serialized in the clear only through the explicit [`ExposeSecret`] wrapper.
/// - The value is zeroized when the `Secret` is dropped.
/// - Equality on byte-like values (`String`, `Vec<u8>`, `[u8; N]`) runs in constant time.
///
/// ```
/// use cloudcard_masking::Secret;
///
/// #[derive(Debug, serde::Serialize)]
/// struct Login {
///     user: String,
///     password: Secret<String>,
/// }
///
/// let login = Login { user: "u1".into(), password: Secret::new("123456".into()) };
/// assert_eq!(format!("{login:?}"), r#"Login { user: "u1", password: [REDACTED] }"#);
/// assert_eq!(serde_json::to_string(&login)?, r#"{"user":"u1","password":"[REDACTED]"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
pub struct Secret<T: Zeroize> {
    value: T,
}

impl<T: Zeroize> Secret<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        Self { value }
    }

    /// The plain value. Every call site is a place where the secret leaves its wrapper.
    pub const fn expose_secret(&self) -> &T {
        &self.value
    }

    /// A view that serializes the plain value, for the one place that must send it (an
    /// encrypted channel to the bank, say). Nothing else serializes it.
    pub const fn serialize_exposed(&self) -> ExposeSecret<'_, T> {
        ExposeSecret(self)
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Self::new(self.value.clone())
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T: Zeroize + AsRef<[u8]>> ConstantTimeEq for Secret<T> {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.value.as_ref().ct_eq(other.value.as_ref())
    }
}

impl<T: Zeroize + AsRef<[u8]>> PartialEq for Secret<T> {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.ct_eq(other))
    }
}

impl<T: Zeroize + AsRef<[u8]>> Eq for Secret<T> {}

impl<T: Zeroize> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de, T: Zeroize + Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self::new)
    }
}

/// The explicit opt-in that serializes a [`Secret`]'s plain value.
///
/// Made by [`Secret::serialize_exposed`], or used as a field attribute:
/// `#[serde(serialize_with = "cloudcard_masking::ExposeSecret::serialize")]`.
///
/// ```
/// use cloudcard_masking::{ExposeSecret, Secret};
///
/// #[derive(serde::Serialize)]
/// struct ToBank {
///     #[serde(serialize_with = "ExposeSecret::serialize")]
///     cvn2: Secret<String>,
/// }
///
/// let msg = ToBank { cvn2: Secret::new("123".into()) };
/// assert_eq!(serde_json::to_string(&msg)?, r#"{"cvn2":"123"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
pub struct ExposeSecret<'a, T: Zeroize>(&'a Secret<T>);

impl<T: Zeroize + Serialize> ExposeSecret<'_, T> {
    /// Serializes the plain value of `secret`; for `#[serde(serialize_with = ...)]`.
    ///
    /// # Errors
    ///
    /// Whatever the serializer returns.
    pub fn serialize<S: Serializer>(secret: &Secret<T>, serializer: S) -> Result<S::Ok, S::Error> {
        secret.value.serialize(serializer)
    }
}

impl<T: Zeroize> fmt::Debug for ExposeSecret<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T: Zeroize + Serialize> Serialize for ExposeSecret<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.value.serialize(serializer)
    }
}

#[cfg(test)]
mod tests;

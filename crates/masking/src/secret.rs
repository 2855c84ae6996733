//! [`Secret<T>`]: a value that never prints.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// The fixed text that stands in for a secret in `Debug`, `Display` and serde output.
pub const REDACTED: &str = "[REDACTED]";

/// A value that must never print: a key, an OTP, a password, a CVN2.
///
/// - `Debug` and `Display` write [`REDACTED`], so a `#[derive(Debug)]` on a struct that holds a
///   `Secret` never leaks it.
/// - It has no `Serialize`: a struct deriving `Serialize` around a secret does not compile
///   until its field opts in, to [`redacted`] (output for people) or to the plain value through
///   [`ExposeSecret`]. Nothing writes `[REDACTED]` by accident and loses the value on the way
///   back. It deserializes the plain value.
/// - The value is reached only through [`Secret::expose_secret`] (easy to grep for in review).
/// - The value is zeroized when the `Secret` is dropped.
/// - Equality on byte-like values (`String`, `Vec<u8>`, `[u8; N]`) runs in constant time.
///
/// ```
/// use cloudcard_masking::Secret;
///
/// #[derive(Debug, serde::Serialize)]
/// struct Login {
///     user: String,
///     #[serde(serialize_with = "cloudcard_masking::redacted")]
///     password: Secret<String>,
/// }
///
/// let login = Login { user: "u1".into(), password: Secret::new("123456".into()) };
/// assert_eq!(format!("{login:?}"), r#"Login { user: "u1", password: [REDACTED] }"#);
/// assert_eq!(serde_json::to_string(&login)?, r#"{"user":"u1","password":"[REDACTED]"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// Without the attribute the derive does not compile:
///
/// ```compile_fail
/// use cloudcard_masking::Secret;
///
/// #[derive(serde::Serialize)]
/// struct Login {
///     password: Secret<String>,
/// }
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

// `Secret` has no `Serialize`: a record that derives `Serialize` around a secret does not
// compile until the field says which it means — `serialize_with = "redacted"` for output that
// shows `[REDACTED]`, or `ExposeSecret::serialize` to write the plain value on purpose. So a
// secret is never written as `[REDACTED]` by accident and lost on the way back.

/// Serializes a [`Secret`] as `[REDACTED]`: the explicit choice for output meant for people
/// and logs. `#[serde(serialize_with = "cloudcard_masking::redacted")]`.
///
/// # Errors
///
/// Whatever the serializer returns.
pub fn redacted<T: Zeroize, S: Serializer>(
    _: &Secret<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(REDACTED)
}

/// [`redacted`] for an optional secret.
///
/// # Errors
///
/// Whatever the serializer returns.
pub fn redacted_option<T: Zeroize, S: Serializer>(
    secret: &Option<Secret<T>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_some(REDACTED),
        None => serializer.serialize_none(),
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

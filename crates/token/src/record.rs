//! The stored form of a token.

use std::fmt;

use chrono::{DateTime, Utc};
use cloudcard_core::TokenId;
use cloudcard_core::text::Ascii;
use serde::{Deserialize, Serialize};

use crate::cryptogram::ReplayWindow;
use crate::keys::Sealed;
use crate::luk::LukState;
use crate::{Domain, TokenNumber, TokenStatus};

/// A keyed HMAC-SHA256 of a PAN: finds a card's tokens without decrypting anything, and
/// reveals nothing of the PAN without the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint(pub [u8; 32]);

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, ..] = self.0;
        write!(f, "Fingerprint({a:02x}{b:02x}{c:02x}{d:02x}…)")
    }
}

/// A payment account reference: one value shared by all tokens of one card account, so an
/// acquirer can link them without ever seeing the PAN. 29 characters: `CC01` and 25 base-32
/// characters of a keyed HMAC of the PAN. Held inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Par([u8; Par::LEN]);

impl Par {
    /// Its length in characters.
    pub const LEN: usize = 29;

    /// The reference written as `text`: `CC01` and 25 characters of the base-32 alphabet.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let base32 = |b: &u8| b.is_ascii_uppercase() || (b'2'..=b'7').contains(b);
        let ok = text.starts_with("CC01") && text.bytes().skip(4).all(|b| base32(&b));
        text.as_bytes().try_into().ok().filter(|_| ok).map(Self)
    }

    /// A reference made of `CC01` and base-32 characters by this crate.
    pub(crate) const fn of_alphabet(text: [u8; Self::LEN]) -> Self {
        Self(text)
    }

    /// The reference as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever held.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for Par {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Par({})", self.as_str())
    }
}

impl fmt::Display for Par {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Par {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Par {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = cloudcard_core::text::text(deserializer)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("not a payment account reference"))
    }
}

/// A card's last four digits, for display, held inline; none once its token is deleted.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Last4(Ascii<4>);

impl Last4 {
    /// The last four digits of a card number's `digits` (all of them if fewer); `None` unless
    /// they are ASCII digits.
    #[must_use]
    pub fn of(digits: &str) -> Option<Self> {
        let tail = digits.get(digits.len().saturating_sub(4)..)?;
        let ascii = Ascii::new(tail).filter(|_| tail.bytes().all(|b| b.is_ascii_digit()))?;
        Some(Self(ascii))
    }

    /// The digits as text ("" once shredded).
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl core::ops::Deref for Last4 {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<&str> for Last4 {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Last4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Last4({})", self.as_str())
    }
}

impl fmt::Display for Last4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Last4 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Last4 {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = cloudcard_core::text::text(deserializer)?;
        Self::of(&text)
            .filter(|l| l.len() == text.len())
            .ok_or_else(|| serde::de::Error::custom("not the last digits of a card"))
    }
}

/// One token as the store keeps it. Every update goes through
/// [`TokenStore::compare_and_set`](crate::TokenStore::compare_and_set) on `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The token's id.
    pub id: TokenId,
    /// The token number (whole in the stored record).
    #[serde(serialize_with = "TokenNumber::serialize_plain")]
    pub number: TokenNumber,
    /// Lifecycle state.
    pub status: TokenStatus,
    /// Where it may be used.
    pub domain: Domain,
    /// The PAN's fingerprint (changes when the card is reissued).
    pub fingerprint: Fingerprint,
    /// The account reference (stays when the card is reissued).
    pub par: Par,
    /// The PAN and card expiry, encrypted.
    pub sealed_pan: Sealed,
    /// The PAN's last four digits, for display.
    pub pan_last4: Last4,
    /// The limited-use key in force.
    pub luk: LukState,
    /// ATCs accepted.
    pub replay: ReplayWindow,
    /// When provisioned.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// Bumped by one on every update.
    pub version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_and_last_digits_read_and_write_as_text() {
        let par = Par::parse("CC01ABCDEFGHIJKLMNOPQRSTUVWXY").unwrap();
        let json = serde_json::to_string(&par).unwrap();
        assert_eq!(json, "\"CC01ABCDEFGHIJKLMNOPQRSTUVWXY\"");
        assert_eq!(serde_json::from_str::<Par>(&json).unwrap(), par);
        for bad in [
            "CC01ABC",
            "XX01ABCDEFGHIJKLMNOPQRSTUVWXY",
            "CC01abcdefghijklmnopqrstuvwxy",
            "CC01ABCDEFGHIJKLMNOPQRSTUVWX1",
        ] {
            assert!(Par::parse(bad).is_none(), "{bad}");
        }
        let last4 = Last4::of("6222021234567890128").unwrap();
        assert_eq!((last4.as_str(), format!("{last4:?}")), ("0128", "Last4(0128)".to_owned()));
        let json = serde_json::to_string(&last4).unwrap();
        assert_eq!(serde_json::from_str::<Last4>(&json).unwrap(), last4);
        assert_eq!(Last4::of("12").unwrap().as_str(), "12");
        assert!(Last4::of("12a4").is_none());
        assert!(serde_json::from_str::<Last4>("\"12345\"").is_err(), "five digits are not four");
        assert_eq!(serde_json::from_str::<Last4>("\"\"").unwrap(), Last4::default());
    }
}

//! The stored form of a token.

use std::fmt;

use chrono::{DateTime, Utc};
use cloudcard_core::TokenId;
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
/// characters of a keyed HMAC of the PAN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Par(pub String);

impl fmt::Display for Par {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
    pub pan_last4: String,
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

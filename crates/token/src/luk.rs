//! Limited-use keys: derived per token and key sequence, bounded in count, amount and time.

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::{Amount, TokenId};
use cloudcard_masking::Secret;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyBytes, MacKey};

/// How far one limited-use key goes before the device must replenish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LukPolicy {
    /// Transactions per key.
    pub max_transactions: u32,
    /// Cumulative amount per key.
    pub max_amount: Amount,
    /// Time to live of a key from its issue.
    pub ttl: TimeDelta,
}

impl Default for LukPolicy {
    /// 10 transactions, ¥10,000 and 3 days per key.
    fn default() -> Self {
        Self {
            max_transactions: 10,
            max_amount: Amount::from_fen(1_000_000),
            ttl: TimeDelta::days(3),
        }
    }
}

/// The cloud's account of the key in use on a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LukState {
    /// The key sequence, from 1.
    pub key_seq: u32,
    /// When this key was issued.
    pub issued_at: DateTime<Utc>,
    /// Cryptograms accepted under this key.
    pub used_count: u32,
    /// Their cumulative amount.
    pub used_amount: Amount,
    /// Replenish requests refused for a bad MAC since the last good one.
    #[serde(default)]
    pub replenish_failures: u32,
    /// Cryptograms the device made but the cloud never saw, as of the last replenishment.
    #[serde(default)]
    pub unpresented: u32,
}

impl LukState {
    /// A fresh key state.
    #[must_use]
    pub const fn new(key_seq: u32, issued_at: DateTime<Utc>) -> Self {
        Self {
            key_seq,
            issued_at,
            used_count: 0,
            used_amount: Amount::ZERO,
            replenish_failures: 0,
            unpresented: 0,
        }
    }
}

/// The MAC a device puts on its replenish request, under the limited-use key it holds:
/// HMAC-SHA256(LUK, label ‖ len ‖ token id ‖ len ‖ device id ‖ key sequence ‖ count ‖ nonce).
pub(crate) fn replenish_mac(
    luk: &KeyBytes,
    token: &TokenId,
    device: &cloudcard_core::DeviceId,
    key_seq: u32,
    count: u32,
    nonce: &[u8; 16],
) -> [u8; 32] {
    let part = |s: &str| u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes();
    MacKey::new("luk", luk).mac(&[
        b"cloudcard/replenish/v1",
        &part(token.as_str()),
        token.as_str().as_bytes(),
        &part(device.as_str()),
        device.as_str().as_bytes(),
        &key_seq.to_be_bytes(),
        &count.to_be_bytes(),
        nonce,
    ])
}

/// A limited-use key delivered to a device, with its limits.
#[derive(Debug, Clone)]
pub struct LukGrant {
    /// The token it is for.
    pub token: TokenId,
    /// Its sequence number.
    pub key_seq: u32,
    /// The key itself. Never printed.
    pub luk: KeyBytes,
    /// The policy it was issued under.
    pub policy: LukPolicy,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// LUK = HMAC-SHA256(master, label ‖ len(token id) ‖ token id ‖ key sequence).
pub(crate) fn derive(master: &MacKey, token: &TokenId, key_seq: u32) -> KeyBytes {
    let id = token.as_str().as_bytes();
    let len = u8::try_from(id.len()).unwrap_or(u8::MAX);
    Secret::new(master.mac(&[b"cloudcard/luk/v1", &[len], id, &key_seq.to_be_bytes()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_per_token_and_sequence() {
        let master = MacKey::new("m", &Secret::new([1; 32]));
        let a: TokenId = "tok_a".parse().unwrap();
        let b: TokenId = "tok_b".parse().unwrap();
        let k = |t: &TokenId, s| *derive(&master, t, s).expose_secret();
        assert_eq!(k(&a, 1), k(&a, 1));
        assert_ne!(k(&a, 1), k(&a, 2));
        assert_ne!(k(&a, 1), k(&b, 1));
        let other = MacKey::new("m", &Secret::new([2; 32]));
        assert_ne!(k(&a, 1), *derive(&other, &a, 1).expose_secret());
    }
}

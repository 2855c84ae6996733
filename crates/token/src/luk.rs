//! Limited-use keys: derived per token and key sequence, bounded in count, amount and time.

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::{Amount, TokenId};
use cloudcard_masking::Secret;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyBytes, MacKey};
use cloudcard_core::sync::Padded;

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

/// Limited-use keys prepared for MACing, by token: verifying a cryptogram then costs the MAC
/// of its message alone, not a derivation and a key setup first. An entry is a pure function
/// of the master key, the token and the key sequence, so it is never wrong, only absent (a new
/// sequence replaces it); nothing here is state a restart loses. The states are zeroized when
/// dropped. Bounded: a full shard gives up an entry for each new one, so memory stays at most
/// `SHARDS × PER_SHARD` prepared keys whatever the number of tokens.
pub(crate) struct PreparedLuks {
    shards: [Padded<std::sync::Mutex<Prepared>>; SHARDS],
}

/// One shard's prepared keys: by token, with the key sequence each is for.
type Prepared = std::collections::HashMap<TokenId, (u32, MacKey)>;

const SHARDS: usize = 16;
const PER_SHARD: usize = 4_096;

impl PreparedLuks {
    pub(crate) fn new() -> Self {
        Self { shards: std::array::from_fn(|_| Padded::default()) }
    }

    /// The prepared key for `token` under `key_seq`, derived on first use.
    pub(crate) fn get(&self, master: &MacKey, token: &TokenId, key_seq: u32) -> MacKey {
        use cloudcard_core::sync::MutexExt;
        // Token ids end in random characters: their last byte spreads them over the shards.
        let last = token.as_str().as_bytes().last().copied().unwrap_or(0);
        let Some(shard) = self.shards.get(usize::from(last) % SHARDS) else {
            return MacKey::new("luk", &derive(master, token, key_seq));
        };
        if let Some((seq, key)) = shard.lock_unpoisoned().get(token)
            && *seq == key_seq
        {
            return key.clone();
        }
        let key = MacKey::new("luk", &derive(master, token, key_seq));
        let mut map = shard.lock_unpoisoned();
        if map.len() >= PER_SHARD && !map.contains_key(token) {
            // Full: one arbitrary entry makes room (a table's first entry is wherever its
            // random hash put it), so a miss never pays for emptying the shard.
            if let Some(evicted) = map.keys().next().cloned() {
                map.remove(&evicted);
            }
        }
        map.insert(token.clone(), (key_seq, key.clone()));
        key
    }
}

impl core::fmt::Debug for PreparedLuks {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PreparedLuks([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prepared_key_is_the_derived_key_for_its_sequence() {
        let master = MacKey::new("m", &Secret::new([1; 32]));
        let luks = PreparedLuks::new();
        let a: TokenId = "tok_a".parse().unwrap();
        let fresh = |s| MacKey::new("luk", &derive(&master, &a, s)).mac(&[b"msg"]);
        for seq in [1, 1, 2, 2, 1] {
            assert_eq!(luks.get(&master, &a, seq).mac(&[b"msg"]), fresh(seq), "sequence {seq}");
        }
        // Past its bound a shard gives up old entries, and still answers right.
        for i in 0..(PER_SHARD + 10) {
            let t: TokenId = format!("tok_{i}a").parse().unwrap();
            let k = MacKey::new("luk", &derive(&master, &t, 1)).mac(&[b"m"]);
            assert_eq!(luks.get(&master, &t, 1).mac(&[b"m"]), k);
        }
        let held: usize = luks.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        // Every id here ends in 'a': one shard, full, never over its bound.
        assert_eq!(held, PER_SHARD);
        assert_eq!(format!("{luks:?}"), "PreparedLuks([REDACTED])");
    }

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

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
/// dropped.
///
/// Direct-mapped: a token the service drew has one place, named by its id's random bits, and
/// a newcomer there takes it over; a lookup or a miss hashes nothing, scans nothing and
/// allocates nothing, and memory stays at `SHARDS × PER_SHARD` prepared keys whatever the
/// number of tokens. A token whose id was not drawn (`tok_` and 32 hex digits) has no place:
/// its key is derived each time.
pub(crate) struct PreparedLuks {
    shards: [Padded<std::sync::Mutex<Vec<Option<Held>>>>; SHARDS],
}

/// A prepared key in its place, with the token and sequence it is for.
struct Held {
    token: u128,
    key_seq: u32,
    key: MacKey,
}

/// Many small shards: two threads checking two cards seldom share a lock.
const SHARDS: usize = 256;
const PER_SHARD: usize = 256;

impl PreparedLuks {
    pub(crate) fn new() -> Self {
        Self { shards: std::array::from_fn(|_| Padded::default()) }
    }

    /// The shard and the place in it for a drawn id's bits.
    const fn place(bits: u128) -> (usize, usize) {
        ((bits % SHARDS as u128) as usize, ((bits / SHARDS as u128) % PER_SHARD as u128) as usize)
    }

    /// The prepared key for `token` under `key_seq`, derived on first use.
    pub(crate) fn get(&self, master: &MacKey, token: &TokenId, key_seq: u32) -> MacKey {
        use cloudcard_core::sync::MutexExt;
        let derived = || MacKey::new("luk", &derive(master, token, key_seq));
        let Some(bits) = token.bits() else { return derived() };
        let (shard, at) = Self::place(bits);
        let Some(shard) = self.shards.get(shard) else { return derived() };
        if let Some(Some(held)) = shard.lock_unpoisoned().get(at)
            && held.token == bits
            && held.key_seq == key_seq
        {
            return held.key.clone();
        }
        let key = derived();
        let mut places = shard.lock_unpoisoned();
        if places.is_empty() {
            // A shard's places are made on its first key, not with the service.
            places.resize_with(PER_SHARD, || None);
        }
        if let Some(place) = places.get_mut(at) {
            *place = Some(Held { token: bits, key_seq, key: key.clone() });
        }
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
        let fresh = |t: &TokenId, s| MacKey::new("luk", &derive(&master, t, s)).mac(&[b"msg"]);
        // A drawn id has a place; any other id is derived each time; both answer right.
        let drawn = TokenId::from_bits(0xfeed);
        let named: TokenId = "tok_a".parse().unwrap();
        for t in [&drawn, &named] {
            for seq in [1, 1, 2, 2, 1] {
                assert_eq!(luks.get(&master, t, seq).mac(&[b"msg"]), fresh(t, seq), "{seq}");
            }
        }
        let held = |luks: &PreparedLuks| -> usize {
            luks.shards.iter().map(|s| s.lock().unwrap().iter().flatten().count()).sum()
        };
        assert_eq!(held(&luks), 1, "only the drawn id is held");
        // Ids that share a place take it from each other, and still answer right; one shard
        // never holds more than its places.
        let luks = PreparedLuks::new();
        let shared = |i: u128| TokenId::from_bits(3 + i * (SHARDS * PER_SHARD) as u128);
        for round in 0..2 {
            for i in 0..3 {
                let t = shared(i);
                assert_eq!(luks.get(&master, &t, 1).mac(&[b"msg"]), fresh(&t, 1), "{round} {i}");
            }
        }
        assert_eq!(held(&luks), 1);
        for i in 0..(PER_SHARD as u128 + 10) {
            let t = TokenId::from_bits(5 + i * SHARDS as u128); // all in shard 5
            assert_eq!(
                luks.get(&master, &t, 1).mac(&[b"m"]),
                MacKey::new("luk", &derive(&master, &t, 1)).mac(&[b"m"])
            );
        }
        assert_eq!(luks.shards[5].lock().unwrap().iter().flatten().count(), PER_SHARD);
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

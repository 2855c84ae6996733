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
        token.as_bytes(),
        &part(device.as_str()),
        device.as_bytes(),
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
    let id = token.as_bytes();
    let len = u8::try_from(id.len()).unwrap_or(u8::MAX);
    Secret::new(master.mac(&[b"cloudcard/luk/v1", &[len], id, &key_seq.to_be_bytes()]))
}

/// Limited-use keys prepared for MACing, by token: verifying a cryptogram then costs the MAC
/// of its message alone, not a derivation and a key setup first. An entry is a pure function
/// of the master key, the token and the key sequence, so it is never wrong, only absent (a new
/// sequence replaces it); nothing here is state a restart loses. The states are zeroized when
/// dropped.
///
/// Direct-mapped by token number (a number names one token for good: numbers are never
/// reused): a token has one place, and a newcomer there takes it over. A lookup hashes
/// nothing, scans nothing, allocates nothing and reads nothing of the token's record; memory
/// stays at `SHARDS × PER_SHARD` prepared keys whatever the number of tokens.
pub(crate) struct PreparedLuks {
    shards: [Padded<std::sync::Mutex<Vec<Option<Held>>>>; SHARDS],
}

/// A prepared key in its place, with the token number and sequence it is for.
struct Held {
    number: u64,
    key_seq: u32,
    key: MacKey,
}

/// Many small shards: two threads checking two cards seldom share a lock.
const SHARDS: usize = 256;
const PER_SHARD: usize = 256;
const _: () = assert!(SHARDS <= 256 && PER_SHARD <= 256, "a place is named by two bytes");

impl PreparedLuks {
    pub(crate) fn new() -> Self {
        Self { shards: std::array::from_fn(|_| Padded::default()) }
    }

    /// The shard and the place in it for a token number's key: its low 64 bits mixed, so
    /// that numbers sharing a prefix spread.
    fn place(number: u64) -> (usize, usize) {
        let mixed = number.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes();
        let [shard, place, ..] = mixed;
        (usize::from(shard) % SHARDS, usize::from(place) % PER_SHARD)
    }

    /// `use_key` given the prepared key of `token` (whose number's key is `number`) under
    /// `key_seq`, derived on first use. A hit uses it where it lies, without a copy.
    pub(crate) fn with<R>(
        &self,
        master: &MacKey,
        token: &TokenId,
        number: u64,
        key_seq: u32,
        use_key: impl FnOnce(&MacKey) -> R,
    ) -> R {
        use cloudcard_core::sync::MutexExt;
        let derived = || MacKey::new("luk", &derive(master, token, key_seq));
        let (shard, at) = Self::place(number);
        let Some(shard) = self.shards.get(shard) else { return use_key(&derived()) };
        {
            let places = shard.lock_unpoisoned();
            if let Some(Some(held)) = places.get(at)
                && held.number == number
                && held.key_seq == key_seq
            {
                return use_key(&held.key);
            }
        }
        let key = derived();
        let answer = use_key(&key);
        let mut places = shard.lock_unpoisoned();
        if places.is_empty() {
            // A shard's places are made on its first key, not with the service.
            places.resize_with(PER_SHARD, || None);
        }
        if let Some(place) = places.get_mut(at) {
            *place = Some(Held { number, key_seq, key });
        }
        answer
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
        let mac = |luks: &PreparedLuks, t: &TokenId, number, s| {
            luks.with(&master, t, number, s, |key| key.mac(&[b"msg"]))
        };
        let (a, b): (TokenId, TokenId) = ("tok_a".parse().unwrap(), TokenId::from_bits(0xfeed));
        for seq in [1, 1, 2, 2, 1] {
            assert_eq!(mac(&luks, &a, 6_200, seq), fresh(&a, seq), "sequence {seq}");
            assert_eq!(mac(&luks, &b, 6_201, seq), fresh(&b, seq), "sequence {seq}");
        }
        let held = |luks: &PreparedLuks| -> usize {
            luks.shards.iter().map(|s| s.lock().unwrap().iter().flatten().count()).sum()
        };
        assert!((1..=2).contains(&held(&luks)), "one place each, or one shared");
        // Many tokens over few places: each newcomer takes a place over, every answer is
        // still right, and no more keys are held than there are places.
        let luks = PreparedLuks::new();
        for round in 0..2 {
            for i in 0..(3 * SHARDS * PER_SHARD / 2) as u64 {
                let t = TokenId::from_bits(u128::from(i));
                if i % 97 == 0 || round == 0 {
                    assert_eq!(mac(&luks, &t, 9_900 + i, 1), fresh(&t, 1), "{round} {i}");
                }
            }
        }
        let held = held(&luks);
        assert!(held <= SHARDS * PER_SHARD && held > SHARDS * PER_SHARD / 2, "{held}");
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

//! Limited-use keys: derived per token and key sequence, bounded in count, amount and time.

use core::num::NonZeroU32;

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::{Amount, KeyedMac, TokenId};
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
fn derive(master: &MacKey, token: &TokenId, key_seq: u32) -> KeyBytes {
    let id = token.as_bytes();
    let len = u8::try_from(id.len()).unwrap_or(u8::MAX);
    Secret::new(master.mac(&[b"cloudcard/luk/v1", &[len], id, &key_seq.to_be_bytes()]))
}

/// The master key limited-use keys are derived from, with a tag naming it that is kept with
/// each key prepared from it: a key prepared under one master is never used under another.
#[derive(Debug)]
pub(crate) struct LukMaster {
    key: MacKey,
    tag: u32,
}

impl LukMaster {
    pub(crate) fn new(key: MacKey) -> Self {
        let [a, b, c, d, ..] = key.mac(&[b"cloudcard/luk-master-tag/v1"]);
        Self { key, tag: u32::from_be_bytes([a, b, c, d]) }
    }

    /// The master key itself, for the service's other MACs under it.
    pub(crate) const fn key(&self) -> &MacKey {
        &self.key
    }

    /// `token`'s limited-use key under `key_seq`.
    pub(crate) fn derive(&self, token: &TokenId, key_seq: u32) -> KeyBytes {
        derive(&self.key, token, key_seq)
    }
}

/// A token's limited-use key prepared for MACing, as a store keeps it beside the token's
/// record (see [`TokenStore::spend_by_number_keyed`](crate::TokenStore::spend_by_number_keyed)):
/// verifying a cryptogram of that token again then costs the MAC of its message alone, not a
/// derivation and a key setup first, and reads nothing but the record's own memory.
///
/// What it holds is a pure function of the service's master key, the token and the key
/// sequence, kept with a tag of the master and the sequence: it is never wrong, only absent or
/// stale (a new sequence or another master makes a new one). Nothing in it is state a restart
/// loses. It is never serialized, its `Debug` shows no key, and the key is zeroized when
/// dropped.
#[derive(Debug, Default)]
pub struct PreparedLuk(Option<KeptLuk>);

#[derive(Debug)]
struct KeptLuk {
    master: u32,
    /// Sequences start from 1; a key under 0 (which no token is issued) is never kept.
    key_seq: NonZeroU32,
    key: KeyedMac,
}

const _: () = assert!(size_of::<PreparedLuk>() <= 88, "a prepared key kept in 88 bytes");

impl PreparedLuk {
    /// `use_key` given `token`'s key under `key_seq` from `master`: the one kept here, or one
    /// derived now and kept if `keep` says so (the sequence in force).
    pub(crate) fn with<R>(
        &mut self,
        master: &LukMaster,
        token: &TokenId,
        key_seq: u32,
        keep: bool,
        use_key: impl FnOnce(&KeyedMac) -> R,
    ) -> R {
        if let Some(kept) = &self.0
            && kept.master == master.tag
            && kept.key_seq.get() == key_seq
        {
            return use_key(&kept.key);
        }
        let key = KeyedMac::new(&master.derive(token, key_seq));
        let answer = use_key(&key);
        if let Some(key_seq) = NonZeroU32::new(key_seq).filter(|_| keep) {
            self.0 = Some(KeptLuk { master: master.tag, key_seq, key });
        }
        answer
    }

    /// The sequence of the key kept, if one is.
    #[cfg(test)]
    pub(crate) fn kept_sequence(&self) -> Option<u32> {
        self.0.as_ref().map(|kept| kept.key_seq.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prepared_key_is_the_derived_key_for_its_sequence_and_master() {
        let master = LukMaster::new(MacKey::new("m", &Secret::new([1; 32])));
        let other = LukMaster::new(MacKey::new("m", &Secret::new([2; 32])));
        let (tag, other_tag) = (master.tag, other.tag);
        assert_ne!(tag, other_tag);
        let fresh =
            |m: &LukMaster, t: &TokenId, s| MacKey::new("luk", &m.derive(t, s)).mac(&[b"msg"]);
        let a: TokenId = "tok_a".parse().unwrap();
        let mut prepared = PreparedLuk::default();
        let mut mac = |m: &LukMaster, s, keep| prepared.with(m, &a, s, keep, |k| k.mac(&[b"msg"]));
        // Kept only when asked; every answer is the derived key's, whatever is kept.
        assert_eq!(mac(&master, 1, false), fresh(&master, &a, 1));
        for (seq, keep) in [(1, true), (1, true), (2, false), (1, false), (2, true), (1, true)] {
            assert_eq!(mac(&master, seq, keep), fresh(&master, &a, seq), "{seq}");
            // A key kept under one master is never the answer under another.
            assert_eq!(mac(&other, seq, false), fresh(&other, &a, seq), "{seq}");
        }
        let kept = |p: &PreparedLuk| p.0.as_ref().map(|k| (k.master, k.key_seq.get()));
        assert_eq!(kept(&prepared), Some((tag, 1)));
        // A sequence of 0 (no token's) is answered and never kept.
        let zero = prepared.with(&master, &a, 0, true, |k| k.mac(&[b"msg"]));
        assert_eq!(zero, fresh(&master, &a, 0));
        assert_eq!(kept(&prepared), Some((tag, 1)));
        prepared.with(&other, &a, 3, true, |_| ());
        assert_eq!(kept(&prepared), Some((other_tag, 3)));
        let expected = format!(
            "PreparedLuk(Some(KeptLuk {{ master: {other_tag}, key_seq: 3, key: KeyedMac([REDACTED]) }}))"
        );
        assert_eq!(format!("{prepared:?}"), expected);
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

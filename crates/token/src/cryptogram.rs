//! Cryptograms: what the device computes per payment, and the replay window the cloud keeps.

use chrono::{DateTime, Utc};
use cloudcard_core::{Amount, Currency, DeviceId, MerchantId, TokenId};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use cloudcard_core::KeyedMac;

use crate::keys::KeyBytes;
use crate::luk::LukGrant;
use crate::{Channel, Rejection, TokenError, TokenNumber};

/// Length of the truncated MAC.
pub const CRYPTOGRAM_LEN: usize = 8;

/// How the phone verified its holder before making a cryptogram (consumer-device cardholder
/// verification). The cryptogram's MAC covers it, so the server reads it from there and from
/// nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cvm {
    /// No verification (small contactless payments).
    #[default]
    None,
    /// The phone's unlock passcode.
    DevicePasscode,
    /// The phone's fingerprint or face check.
    Biometric,
}

impl Cvm {
    /// Its one-byte code in the MAC-covered message.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::None => 0,
            Self::DevicePasscode => 1,
            Self::Biometric => 2,
        }
    }
}

/// The payment a cryptogram authenticates, as the merchant's terminal presents it, and how the
/// phone verified its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentData {
    /// The amount.
    pub amount: Amount,
    /// Its currency.
    pub currency: Currency,
    /// The merchant.
    pub merchant: MerchantId,
    /// How the payment is made.
    pub channel: Channel,
    /// The terminal's unpredictable number.
    pub unpredictable_number: u32,
    /// When the device made the cryptogram.
    pub timestamp: DateTime<Utc>,
    /// How the phone verified its holder for this payment.
    #[serde(default)]
    pub cvm: Cvm,
}

/// A payment cryptogram: the token number, the key sequence and ATC it was made under, the
/// payment data, and an 8-byte HMAC-SHA256 under the limited-use key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cryptogram {
    /// The token paying (whole on the wire: the cloud looks the token up by it).
    #[serde(serialize_with = "TokenNumber::serialize_plain")]
    pub token_number: TokenNumber,
    /// The limited-use key's sequence.
    pub key_seq: u32,
    /// The application transaction counter.
    pub atc: u32,
    /// What is paid.
    pub data: PaymentData,
    /// The truncated MAC.
    pub mac: [u8; CRYPTOGRAM_LEN],
}

/// What the phone holds for one cloud card: the token number, the current limited-use key and
/// the application transaction counter. Never the PAN.
#[derive(Debug, Clone)]
pub struct DeviceCard {
    pub(crate) token: TokenId,
    pub(crate) device: DeviceId,
    pub(crate) token_number: TokenNumber,
    pub(crate) key_seq: u32,
    pub(crate) luk: KeyBytes,
    pub(crate) atc: u32,
    pub(crate) used_under_key: u32,
}

/// A device's request for the next limited-use key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplenishRequest {
    /// The token.
    pub token: TokenId,
    /// The device asking.
    pub device: DeviceId,
    /// The key sequence the device holds.
    pub key_seq: u32,
    /// How many cryptograms the device made under it.
    pub transactions_under_key: u32,
    /// A fresh random value, so no two requests carry the same MAC.
    pub nonce: [u8; 16],
    /// HMAC-SHA256 under the device's current limited-use key over all of the above: the
    /// device proves it holds the key before it gets the next one.
    pub mac: [u8; 32],
}

impl DeviceCard {
    pub(crate) fn new(device: DeviceId, token_number: TokenNumber, grant: LukGrant) -> Self {
        Self {
            token: grant.token,
            device,
            token_number,
            key_seq: grant.key_seq,
            luk: grant.luk,
            atc: 0,
            used_under_key: 0,
        }
    }

    /// The token's id.
    #[must_use]
    pub const fn token(&self) -> &TokenId {
        &self.token
    }

    /// The token number the phone presents.
    #[must_use]
    pub const fn token_number(&self) -> &TokenNumber {
        &self.token_number
    }

    /// The current key sequence.
    #[must_use]
    pub const fn key_seq(&self) -> u32 {
        self.key_seq
    }

    /// The last ATC used.
    #[must_use]
    pub const fn atc(&self) -> u32 {
        self.atc
    }

    /// Makes the cryptogram for a payment, advancing the ATC.
    ///
    /// # Errors
    ///
    /// [`TokenError::CounterExhausted`] when the ATC has no values left.
    pub fn cryptogram(&mut self, data: PaymentData) -> Result<Cryptogram, TokenError> {
        let atc = self.atc.checked_add(1).ok_or(TokenError::CounterExhausted)?;
        let mac = compute_mac(&self.luk, &self.token_number, self.key_seq, atc, &data);
        self.atc = atc;
        self.used_under_key = self.used_under_key.saturating_add(1);
        Ok(Cryptogram {
            token_number: self.token_number.clone(),
            key_seq: self.key_seq,
            atc,
            data,
            mac,
        })
    }

    /// The request for the next key, reporting this device's count under the current one.
    #[must_use]
    pub fn replenish_request(&self) -> ReplenishRequest {
        let nonce: [u8; 16] = rand::random();
        let mac = crate::luk::replenish_mac(
            &self.luk,
            &self.token,
            &self.device,
            self.key_seq,
            self.used_under_key,
            &nonce,
        );
        ReplenishRequest {
            token: self.token.clone(),
            device: self.device.clone(),
            key_seq: self.key_seq,
            transactions_under_key: self.used_under_key,
            nonce,
            mac,
        }
    }

    /// Installs a replenished key.
    ///
    /// # Errors
    ///
    /// [`TokenError::NotFound`] if the grant is for another token.
    pub fn install(&mut self, grant: LukGrant) -> Result<(), TokenError> {
        if grant.token != self.token {
            return Err(TokenError::NotFound);
        }
        self.key_seq = grant.key_seq;
        self.luk = grant.luk;
        self.used_under_key = 0;
        Ok(())
    }
}

/// The canonical, unambiguous message: a version label, then every field in a fixed order,
/// variable-length fields prefixed by their length, integers big-endian.
fn message_parts(
    token_number: &TokenNumber,
    key_seq: u32,
    atc: u32,
    data: &PaymentData,
    mut sink: impl FnMut(&[u8]),
) {
    let number = token_number.expose_digit_bytes();
    let merchant = data.merchant.as_bytes();
    sink(b"cloudcard/cryptogram/v1");
    sink(&[u8::try_from(number.len()).unwrap_or(u8::MAX)]);
    sink(number);
    sink(&key_seq.to_be_bytes());
    sink(&atc.to_be_bytes());
    sink(&data.amount.fen().to_be_bytes());
    sink(&data.currency.numeric().to_be_bytes());
    sink(&[u8::try_from(merchant.len()).unwrap_or(u8::MAX)]);
    sink(merchant);
    sink(&[data.channel.code()]);
    sink(&data.unpredictable_number.to_be_bytes());
    sink(&data.timestamp.timestamp_millis().to_be_bytes());
    sink(&[data.cvm.code()]);
}

pub(crate) fn compute_mac(
    luk: &KeyBytes,
    token_number: &TokenNumber,
    key_seq: u32,
    atc: u32,
    data: &PaymentData,
) -> [u8; CRYPTOGRAM_LEN] {
    mac_under(&KeyedMac::new(luk), token_number, key_seq, atc, data)
}

/// The cryptogram MAC under a limited-use key already prepared.
fn mac_under(
    luk: &KeyedMac,
    token_number: &TokenNumber,
    key_seq: u32,
    atc: u32,
    data: &PaymentData,
) -> [u8; CRYPTOGRAM_LEN] {
    // Laid out in one buffer on the stack and MACed in one pass. Ids are at most 64 bytes, so
    // the longest message is 140; one that did not fit would be fed part by part instead.
    let mut message = [0u8; 160];
    let mut len = 0;
    message_parts(token_number, key_seq, atc, data, |part| {
        if let Some(room) = message.get_mut(len..len + part.len()) {
            room.copy_from_slice(part);
        }
        len += part.len(); // past the buffer once any part missed it
    });
    let full = match message.get(..len) {
        Some(whole) => luk.mac(&[whole]),
        None => luk.mac_with(|update| message_parts(token_number, key_seq, atc, data, update)),
    };
    let mut out = [0u8; CRYPTOGRAM_LEN];
    for (o, b) in out.iter_mut().zip(full.iter()) {
        *o = *b;
    }
    out
}

/// Whether `cryptogram`'s MAC is right under `luk` (prepared), compared in constant time.
pub(crate) fn mac_matches(luk: &KeyedMac, cryptogram: &Cryptogram) -> bool {
    let expected = mac_under(
        luk,
        &cryptogram.token_number,
        cryptogram.key_seq,
        cryptogram.atc,
        &cryptogram.data,
    );
    bool::from(expected.ct_eq(&cryptogram.mac))
}

/// Replay protection by ATC: the highest ATC accepted and a 64-wide bitmap of the ones just
/// below it, so a cryptogram delayed in transit is still accepted once while a replay never is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReplayWindow {
    highest: u32,
    seen: u64,
}

impl ReplayWindow {
    /// How far below the highest ATC a cryptogram may arrive.
    pub const WIDTH: u32 = 64;

    /// Accepts `atc` once: marks it seen, or says why not.
    ///
    /// # Errors
    ///
    /// [`Rejection::Replay`] for an ATC already seen (or 0); [`Rejection::OutsideWindow`] for
    /// one 64 or more below the highest seen.
    pub fn accept(&mut self, atc: u32) -> Result<(), Rejection> {
        if atc == 0 {
            return Err(Rejection::Replay);
        }
        if atc > self.highest {
            let shift = atc - self.highest;
            self.seen = if shift >= Self::WIDTH { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.highest = atc;
            return Ok(());
        }
        let back = self.highest - atc;
        if back >= Self::WIDTH {
            return Err(Rejection::OutsideWindow);
        }
        let bit = 1u64 << back;
        if self.seen & bit != 0 {
            return Err(Rejection::Replay);
        }
        self.seen |= bit;
        Ok(())
    }

    /// The highest ATC accepted so far.
    #[must_use]
    pub const fn highest(&self) -> u32 {
        self.highest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn window_accepts_each_atc_once() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.accept(0), Err(Rejection::Replay));
        assert_eq!(w.accept(5), Ok(()));
        assert_eq!(w.accept(5), Err(Rejection::Replay));
        assert_eq!(w.accept(3), Ok(()));
        assert_eq!(w.accept(3), Err(Rejection::Replay));
        assert_eq!(w.accept(100), Ok(()));
        assert_eq!(w.accept(37), Ok(()));
        assert_eq!(w.accept(36), Err(Rejection::OutsideWindow));
        assert_eq!(w.accept(5), Err(Rejection::OutsideWindow));
        assert_eq!(w.highest(), 100);
    }

    #[test]
    fn the_message_in_one_buffer_is_the_message_part_by_part() {
        let luk = KeyedMac::new(&cloudcard_masking::Secret::new([9; 32]));
        for (number, merchant) in [
            ("6200000000000005", "mch_1".to_owned()),
            ("6205500000000000004", format!("mch_{}", "x".repeat(60))), // the longest there is
        ] {
            let number = TokenNumber::parse(number).unwrap();
            let data = PaymentData {
                amount: cloudcard_core::Amount::from_fen(1_234),
                currency: cloudcard_core::Currency::CNY,
                merchant: merchant.parse().unwrap(),
                channel: cloudcard_core::Channel::Qr,
                unpredictable_number: 0xdead_beef,
                timestamp: chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap(),
                cvm: Cvm::default(),
            };
            let parts = luk.mac_with(|update| message_parts(&number, 3, 17, &data, update));
            assert_eq!(mac_under(&luk, &number, 3, 17, &data)[..], parts[..CRYPTOGRAM_LEN]);
        }
    }

    proptest! {
        #[test]
        fn window_never_accepts_twice(atcs in prop::collection::vec(1u32..300, 0..200)) {
            let mut w = ReplayWindow::default();
            let mut accepted = HashSet::new();
            for atc in atcs {
                if w.accept(atc).is_ok() {
                    prop_assert!(accepted.insert(atc), "atc {} accepted twice", atc);
                } else {
                    // Refused only if seen, or too far behind the highest.
                    prop_assert!(accepted.contains(&atc) || w.highest() - atc >= ReplayWindow::WIDTH);
                }
            }
        }
    }
}

//! What leaves the cloud for a phone: a provisioned cloud card, or its next limited-use key, as
//! a serializable payload the embedder sends over its own secure channel to the device SDK,
//! which rebuilds its [`DeviceCard`] from it.
//!
//! The limited-use key is in the payload, so a payload is made only by an explicit export
//! ([`DeviceCard::export_for_delivery`], [`LukGrant::export_for_delivery`]); it still never
//! prints: its `Debug` shows `[REDACTED]`.

use std::fmt;

use chrono::{DateTime, Utc};
use cloudcard_core::{DeviceId, TokenId};
use cloudcard_masking::Secret;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{DeviceCard, LukGrant, LukPolicy, TokenError, TokenNumber};

/// A limited-use key on its way to a phone: 64 hex digits on the wire, `[REDACTED]` in `Debug`.
#[derive(Clone)]
pub struct ExportedKey(Secret<[u8; 32]>);

impl fmt::Debug for ExportedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExportedKey([REDACTED])")
    }
}

impl Serialize for ExportedKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut hex = zeroize::Zeroizing::new(String::with_capacity(64));
        cloudcard_core::store::push_hex(self.0.expose_secret(), &mut hex);
        serializer.serialize_str(&hex)
    }
}

impl<'de> Deserialize<'de> for ExportedKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = zeroize::Zeroizing::new(cloudcard_core::text::text(deserializer)?.into_owned());
        let key = cloudcard_core::store::parse_hex_key(&text)
            .map_err(|_| serde::de::Error::custom("a key is 64 hex digits"))?;
        Ok(Self(Secret::new(key)))
    }
}

/// A provisioned cloud card for the phone: everything its [`DeviceCard`] holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CardDelivery {
    /// The token.
    pub token: TokenId,
    /// The phone it is for.
    pub device: DeviceId,
    /// The token number the phone presents.
    #[serde(serialize_with = "TokenNumber::serialize_plain")]
    pub token_number: TokenNumber,
    /// The key's sequence.
    pub key_seq: u32,
    /// The limited-use key.
    pub key: ExportedKey,
    /// The last counter used.
    pub atc: u32,
    /// Cryptograms made under the current key.
    pub used_under_key: u32,
}

/// The next limited-use key for a phone's cloud card.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyDelivery {
    /// The token.
    pub token: TokenId,
    /// The key's sequence.
    pub key_seq: u32,
    /// The key.
    pub key: ExportedKey,
    /// How far it goes.
    pub policy: LukPolicy,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl DeviceCard {
    /// The payload that carries this cloud card to the phone, its key included: for the
    /// embedder's secure channel to the device, and nowhere else.
    #[must_use]
    pub fn export_for_delivery(&self) -> CardDelivery {
        CardDelivery {
            token: self.token.clone(),
            device: self.device.clone(),
            token_number: self.token_number.clone(),
            key_seq: self.key_seq,
            key: ExportedKey(Secret::new(*self.luk.expose_secret())),
            atc: self.atc,
            used_under_key: self.used_under_key,
        }
    }

    /// The cloud card on the phone, rebuilt from its payload.
    #[must_use]
    pub fn from_delivery(delivery: CardDelivery) -> Self {
        Self {
            token: delivery.token,
            device: delivery.device,
            token_number: delivery.token_number,
            key_seq: delivery.key_seq,
            luk: delivery.key.0,
            atc: delivery.atc,
            used_under_key: delivery.used_under_key,
        }
    }

    /// Installs a key delivered to the phone.
    ///
    /// # Errors
    ///
    /// As [`Self::install`].
    pub fn install_delivered(&mut self, delivery: KeyDelivery) -> Result<(), TokenError> {
        self.install(LukGrant {
            token: delivery.token,
            key_seq: delivery.key_seq,
            luk: delivery.key.0,
            policy: delivery.policy,
            expires_at: delivery.expires_at,
        })
    }
}

impl LukGrant {
    /// The payload that carries this key to the phone: for the embedder's secure channel to
    /// the device, and nowhere else.
    #[must_use]
    pub fn export_for_delivery(&self) -> KeyDelivery {
        KeyDelivery {
            token: self.token.clone(),
            key_seq: self.key_seq,
            key: ExportedKey(Secret::new(*self.luk.expose_secret())),
            policy: self.policy,
            expires_at: self.expires_at,
        }
    }
}

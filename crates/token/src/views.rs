//! What the token service takes and gives: its configuration, requests and results.

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::{Amount, CardExpiry, DeviceId, MerchantId, Pan, TokenId};
use serde::Serialize;

use crate::cryptogram::DeviceCard;
use crate::luk::LukPolicy;
use crate::record::{Last4, Par};
use crate::{Channel, ChannelSet, Domain, LifecycleError, TokenBin, TokenNumber, TokenStatus};

/// How the token service is set up.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// The range token numbers are drawn from, already checked against the issuer table.
    pub token_bin: TokenBin,
    /// Limits of each limited-use key.
    pub luk_policy: LukPolicy,
    /// How far a cryptogram's time may be from the cloud's clock.
    pub max_cryptogram_age: TimeDelta,
}

impl TokenConfig {
    /// A configuration drawing from `token_bin`, with the default key policy and a 10-minute
    /// cryptogram age limit.
    #[must_use]
    pub fn new(token_bin: TokenBin) -> Self {
        Self {
            token_bin,
            luk_policy: LukPolicy::default(),
            max_cryptogram_age: TimeDelta::minutes(10),
        }
    }
}

/// A request to provision a cloud card for a device.
#[derive(Debug, Clone)]
pub struct ProvisionRequest {
    /// The card.
    pub pan: Pan,
    /// Its expiry, if known.
    pub expiry: Option<CardExpiry>,
    /// The device the token will live on.
    pub device: DeviceId,
    /// The channels it may pay through (at least one).
    pub channels: ChannelSet,
    /// The one merchant it may pay, if any.
    pub merchant: Option<MerchantId>,
    /// The most one payment may be.
    pub max_amount: Option<Amount>,
    /// When the token stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// The token's id, when the caller chooses it (a flow that must find the token again after
    /// a crash); random otherwise.
    pub id: Option<TokenId>,
}

impl ProvisionRequest {
    /// A token for `pan` on `device`, usable through every channel, with no other limit.
    #[must_use]
    pub fn new(pan: Pan, device: DeviceId) -> Self {
        Self {
            pan,
            expiry: None,
            device,
            channels: ChannelSet::all(),
            merchant: None,
            max_amount: None,
            expires_at: None,
            id: None,
        }
    }
}

/// A token as callers see it: no PAN, no key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The token's id.
    pub id: TokenId,
    /// The token number (prints masked).
    pub number: TokenNumber,
    /// Lifecycle state.
    pub status: TokenStatus,
    /// Where it may be used.
    pub domain: Domain,
    /// The payment account reference shared by the card's tokens.
    pub par: Par,
    /// The card's last four digits.
    pub pan_last4: Last4,
    /// The limited-use key sequence in force.
    pub key_seq: u32,
    /// When provisioned.
    pub created_at: DateTime<Utc>,
}

/// A newly provisioned token and what its device holds.
#[derive(Debug)]
pub struct Provisioned {
    /// The token.
    pub token: TokenInfo,
    /// The phone's side: token number, first limited-use key, ATC.
    pub device_card: DeviceCard,
}

/// Proof that a cryptogram verified: only [`TokenService::verify`](crate::TokenService::verify) makes one, and only with one
/// may [`TokenService::detokenize`](crate::TokenService::detokenize) hand out the PAN — once:
/// detokenizing takes the proof, and it cannot be copied.
#[derive(Debug, PartialEq, Eq)]
pub struct VerifiedCryptogram {
    pub(crate) token: TokenId,
    pub(crate) device: DeviceId,
    pub(crate) amount: Amount,
    pub(crate) merchant: MerchantId,
    pub(crate) channel: Channel,
    pub(crate) atc: u32,
    pub(crate) cvm: crate::Cvm,
    /// The token's number as the cryptogram carried it, when it did: the store may find the
    /// record by it.
    pub(crate) number: Option<crate::TokenNumber>,
}

impl VerifiedCryptogram {
    /// How the phone verified its holder, as the MAC-covered data says.
    #[must_use]
    pub const fn cvm(&self) -> crate::Cvm {
        self.cvm
    }

    /// The token that paid.
    #[must_use]
    pub const fn token(&self) -> &TokenId {
        &self.token
    }

    /// The device it paid from.
    #[must_use]
    pub const fn device(&self) -> &DeviceId {
        &self.device
    }

    /// The amount authenticated.
    #[must_use]
    pub const fn amount(&self) -> Amount {
        self.amount
    }

    /// The merchant authenticated.
    #[must_use]
    pub const fn merchant(&self) -> &MerchantId {
        &self.merchant
    }

    /// The channel authenticated.
    #[must_use]
    pub const fn channel(&self) -> Channel {
        self.channel
    }

    /// The ATC accepted.
    #[must_use]
    pub const fn atc(&self) -> u32 {
        self.atc
    }
}

/// A verified cryptogram kept while its payment waits for a step-up: the proof's fields under a
/// MAC only the token service can make, so a stored one cannot be forged or altered. Turn it
/// back into a proof with [`TokenService::resume`](crate::TokenService::resume).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeldCryptogram {
    pub(crate) token: TokenId,
    pub(crate) device: DeviceId,
    pub(crate) amount: Amount,
    pub(crate) merchant: MerchantId,
    pub(crate) channel: Channel,
    pub(crate) atc: u32,
    pub(crate) cvm: crate::Cvm,
    pub(crate) tag: [u8; 32],
}

impl HeldCryptogram {
    /// The token that paid.
    #[must_use]
    pub const fn token(&self) -> &TokenId {
        &self.token
    }
}

/// The card behind a token, for the issuer's authorization only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingCard {
    /// The card number (prints masked).
    pub pan: Pan,
    /// Its expiry, if known.
    pub expiry: Option<CardExpiry>,
}

/// What a bulk lifecycle call did to each token it touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkOutcome {
    /// Tokens that moved.
    pub changed: Vec<TokenId>,
    /// Tokens left as they were, and why (already deleted tokens are not listed).
    pub unchanged: Vec<(TokenId, LifecycleError)>,
}

/// What [`TokenService::rewrap`](crate::TokenService::rewrap) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RewrapReport {
    /// Records moved to the current key.
    pub rewrapped: usize,
    /// Records already under it.
    pub current: usize,
    /// Records that could not be opened (unknown or retired key, or altered): left alone.
    pub failed: usize,
}

//! Errors of the token service.

use crate::LifecycleError;

/// What went wrong in the token service. Messages are lowercase and hold no card number, token
/// number or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No token with that id or number.
    #[error("token not found")]
    NotFound,
    /// A cryptogram failed verification. The message is deliberately opaque: tell the device
    /// and the merchant only this, and log [`TokenError::rejection`] internally.
    #[error("cryptogram invalid")]
    CryptogramInvalid(Rejection),
    /// The token is not active, so it gets no new keys and cannot be detokenized.
    #[error("token is not active")]
    NotActive,
    /// An illegal lifecycle transition.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// A replenish request whose key sequence or transaction count does not match the cloud's.
    #[error("replenish refused: device and cloud disagree on the key in use")]
    ReplenishMismatch,
    /// A replenish request whose MAC does not verify under the key in use.
    #[error("replenish request invalid")]
    ReplenishInvalid,
    /// Too many invalid replenish requests: the token gets no new key; provision it again.
    #[error("replenishment locked after too many invalid requests")]
    ReplenishLocked,
    /// A request from a device the token is not bound to.
    #[error("token is bound to another device")]
    WrongDevice,
    /// The card already has a live token on this device.
    #[error("card already has a token on this device")]
    AlreadyProvisioned,
    /// A provisioning request with no channel allowed.
    #[error("a token needs at least one allowed channel")]
    NoChannel,
    /// A token BIN prefix that is not 4–8 digits, or too long for the card.
    #[error("token bin range is malformed or too long for the card")]
    BinRange,
    /// A token BIN range that overlaps an issuer BIN.
    #[error("token bin range overlaps an issuer bin")]
    BinRangeOverlap,
    /// A token number that is not a Luhn-valid 13–19 digit number.
    #[error("token number is malformed")]
    TokenNumber,
    /// No unused token number could be drawn.
    #[error("could not draw an unused token number")]
    NumberSpaceExhausted,
    /// A key version that is not above the ring's newest, or that cannot be retired.
    #[error("key version is out of order or in use")]
    KeyVersion,
    /// A vault record under a key version the ring does not hold.
    #[error("vault record is under an unknown key")]
    UnknownKey,
    /// A vault record under a retired key version.
    #[error("vault record is under a retired key")]
    RetiredKey,
    /// Encryption failed, or a vault record or its binding was altered.
    #[error("vault record failed authentication")]
    Crypto,
    /// The application transaction counter of a device card ran out.
    #[error("transaction counter exhausted; provision a new token")]
    CounterExhausted,
    /// A record kept changing under concurrent updates.
    #[error("token is busy; try again")]
    Contention,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TokenError {
    /// The specific reason behind [`TokenError::CryptogramInvalid`], for internal diagnostics.
    #[must_use]
    pub const fn rejection(&self) -> Option<Rejection> {
        match self {
            Self::CryptogramInvalid(r) => Some(*r),
            _ => None,
        }
    }
}

/// Why a cryptogram was rejected: a diagnostic for the operator's logs, holding no secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rejection {
    /// No token has that number.
    UnknownToken,
    /// The token is suspended or deleted.
    NotActive,
    /// Presented from a device other than the token's.
    WrongDevice,
    /// The channel is outside the token's domain.
    ChannelNotAllowed,
    /// The merchant is not the token's bound merchant.
    WrongMerchant,
    /// The amount exceeds the token's maximum per payment.
    OverMaxAmount,
    /// The token's domain expired.
    TokenExpired,
    /// The cryptogram's time is too far from the cloud's clock.
    Stale,
    /// Made under a key sequence that is not the current one.
    WrongKeySequence,
    /// The limited-use key has been used for its maximum number of transactions.
    LukCountExhausted,
    /// The limited-use key's cumulative amount would be exceeded.
    LukAmountExhausted,
    /// The limited-use key's time to live has passed.
    LukExpired,
    /// The MAC does not match the data.
    BadMac,
    /// The ATC was already accepted.
    Replay,
    /// The ATC is older than the replay window.
    OutsideWindow,
}

/// A store failure: the one error every cloudcard store returns.
pub use cloudcard_core::StoreError;

//! What the engine is asked about: payments and card-binding requests.

use chrono::{DateTime, Utc};
use cloudcard_core::{
    Amount, CardId, Channel, DeviceId, MerchantId, TokenId, TransactionId, UserId,
};
use serde::{Deserialize, Serialize};

/// How the user authenticated a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Authentication {
    /// No cardholder verification (small contactless payments).
    None,
    /// The phone's fingerprint check.
    Fingerprint,
    /// An SMS one-time code (a stolen phone receives it too).
    Otp,
    /// The 6-digit payment password.
    PaymentPassword,
}

impl Authentication {
    /// Whether this proves the cardholder was present: fingerprint or payment password. An OTP
    /// does not, since a thief holding the phone receives it.
    #[must_use]
    pub const fn proves_cardholder(self) -> bool {
        matches!(self, Self::Fingerprint | Self::PaymentPassword)
    }
}

/// A merchant category code (ISO 18245), e.g. 5411 for supermarkets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Mcc(pub u16);

/// One payment, as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The transaction's id; a retry carries the same id.
    pub id: TransactionId,
    /// The funding card.
    pub card: CardId,
    /// The token paid with, if any.
    pub token: Option<TokenId>,
    /// The device paid from, if any.
    pub device: Option<DeviceId>,
    /// The paying user.
    pub user: UserId,
    /// The amount.
    pub amount: Amount,
    /// The merchant.
    pub merchant: MerchantId,
    /// The merchant's category.
    pub mcc: Mcc,
    /// How the payment was made.
    pub channel: Channel,
    /// When.
    pub at: DateTime<Utc>,
    /// How the user authenticated it.
    pub auth: Authentication,
    /// When the device was registered to the wallet, if known; otherwise its age counts from
    /// when the engine first saw it.
    pub device_registered_at: Option<DateTime<Utc>>,
}

/// A request to bind a card or provision a token, assessed before it goes ahead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningRequest {
    /// The user binding.
    pub user: UserId,
    /// The device it is for.
    pub device: DeviceId,
    /// The card.
    pub card: CardId,
    /// How many cards are already bound on the device.
    pub cards_on_device: u32,
    /// When the device was registered to the wallet, if known.
    pub device_registered_at: Option<DateTime<Utc>>,
    /// When.
    pub at: DateTime<Utc>,
}

impl std::fmt::Display for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "no verification",
            Self::Fingerprint => "fingerprint",
            Self::Otp => "sms code",
            Self::PaymentPassword => "payment password",
        })
    }
}

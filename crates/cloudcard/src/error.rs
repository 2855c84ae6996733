//! The one error type of the facade.

use cloudcard_risk::Outcome;

/// Everything that can go wrong through the facade. Each domain crate's error converts in with
/// `?`; messages are lowercase and hold no card number, key, code, password, ID or mobile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value did not parse.
    #[error(transparent)]
    Core(#[from] cloudcard_core::Error),
    /// The token service refused.
    #[error(transparent)]
    Token(#[from] cloudcard_token::TokenError),
    /// The wallet refused.
    #[error(transparent)]
    Wallet(#[from] cloudcard_wallet::WalletError),
    /// The card lookup refused.
    #[error(transparent)]
    Lookup(#[from] cloudcard_report::LookupError),
    /// The risk engine refused (rules or claims).
    #[error(transparent)]
    Risk(#[from] cloudcard_risk::RiskError),
    /// Risk checks refused a card binding.
    #[error("card binding refused by risk checks")]
    BindingRefused(Outcome),
    /// No such card, or not this user's.
    #[error("card not found")]
    CardNotFound,
    /// No such device, or not this user's.
    #[error("device not found")]
    DeviceNotFound,
    /// The device was reported lost: nothing new is provisioned on it.
    #[error("this device was reported lost")]
    DeviceLost,
    /// No such pending challenge, or it was answered already.
    #[error("no pending challenge with that id")]
    ChallengeNotFound,
    /// A challenge answered with the wrong kind of proof.
    #[error("this challenge needs a different check")]
    WrongChallengeAnswer,
    /// The fingerprint check on the phone failed.
    #[error("fingerprint check failed")]
    FingerprintFailed,
    /// A port failed.
    #[error("{0} is unavailable")]
    PortUnavailable(&'static str),
    /// A store failed (an outage, or a record that cannot be read back).
    #[error("store failed")]
    Store(#[from] cloudcard_core::StoreError),
    /// The builder was given an invalid setting.
    #[error("configuration: {0}")]
    Config(&'static str),
    /// A production builder was built without everything production needs (keys and real
    /// ports); the message names what is missing. [`CloudCard::demo`](crate::CloudCard::demo)
    /// builds with simulators instead.
    #[error("service not configured; set: {0}")]
    NotConfigured(String),
}

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
    /// The wallet refused. (A card or device that is not the user's is
    /// [`Error::CardNotFound`] / [`Error::DeviceNotFound`], whichever crate noticed.)
    #[error(transparent)]
    Wallet(cloudcard_wallet::WalletError),
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
    /// The terminal's transaction id was already used for another payment.
    #[error("transaction id already used for another payment")]
    DuplicateTransaction,
    /// No such payment held for review (decided already, or lapsed).
    #[error("no payment held for review with that id")]
    ReviewNotFound,
    /// A challenge answered with the wrong kind of proof.
    #[error("this challenge needs a different check")]
    WrongChallengeAnswer,
    /// The fingerprint check on the phone failed.
    #[error("fingerprint check failed")]
    FingerprintFailed,
    /// A port (the issuer, SMS, a bank, an identity service) failed; the source says why.
    #[error(transparent)]
    PortUnavailable(#[from] cloudcard_core::PortError),
    /// A store failed (an outage, or a record that cannot be read back).
    #[error("store failed")]
    Store(#[from] cloudcard_core::StoreError),
    /// The builder was given an invalid setting.
    #[error("configuration: {0}")]
    Config(&'static str),
    /// A production builder was built without everything production needs (keys and real
    /// ports); the message names what is missing. `CloudCard::demo` (feature `demo`) builds
    /// with simulators instead.
    #[error("service not configured; set: {0}")]
    NotConfigured(String),
}

impl From<cloudcard_wallet::WalletError> for Error {
    fn from(e: cloudcard_wallet::WalletError) -> Self {
        match e {
            cloudcard_wallet::WalletError::CardNotFound => Self::CardNotFound,
            cloudcard_wallet::WalletError::DeviceNotFound => Self::DeviceNotFound,
            // One variant per meaning: a port failed, whichever crate called it.
            cloudcard_wallet::WalletError::PortUnavailable(e) => Self::PortUnavailable(e),
            other => Self::Wallet(other),
        }
    }
}

/// What kind of failure an [`Error`] is, for an embedder mapping errors to its own answers
/// (an HTTP status, a retry policy, an alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input did not parse or does not fit (a malformed id, card number or amount).
    Invalid,
    /// No such record, or not the caller's.
    NotFound,
    /// Refused by a rule: a wrong or expired code or password, a lock, a limit, a decline.
    Refused,
    /// An outage: a store or an outside service failed; the same request may succeed later.
    Unavailable,
    /// The service itself is wrong: damaged records, other keys, a missing setting.
    Internal,
}

impl Error {
    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        use cloudcard_wallet::WalletError as W;
        if self.is_transient() {
            return ErrorKind::Unavailable;
        }
        match self {
            Self::Core(_) => ErrorKind::Invalid,
            Self::CardNotFound
            | Self::DeviceNotFound
            | Self::ChallengeNotFound
            | Self::ReviewNotFound
            | Self::Wallet(W::UserNotFound | W::TerminalNotFound | W::CaseNotFound)
            | Self::Token(cloudcard_token::TokenError::NotFound)
            | Self::Lookup(
                cloudcard_report::LookupError::QueryNotFound
                | cloudcard_report::LookupError::NotOwner,
            )
            | Self::Risk(cloudcard_risk::RiskError::ClaimNotFound) => ErrorKind::NotFound,
            Self::Store(_)
            | Self::Config(_)
            | Self::NotConfigured(_)
            | Self::Token(cloudcard_token::TokenError::Store(_))
            | Self::Wallet(W::Store(_))
            | Self::Risk(cloudcard_risk::RiskError::Store(_))
            | Self::Lookup(cloudcard_report::LookupError::Store(_)) => ErrorKind::Internal,
            _ => ErrorKind::Refused,
        }
    }

    /// Whether the same request may succeed if sent again as it is: an outage (a store or an
    /// outside service that failed, a write that lost a race and can be rerun), not a refusal.
    /// A refusal (a wrong code, a declined binding, a card not found) stays one on retry.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        use cloudcard_core::StoreError as S;
        let store = |e: &S| e.is_transient();
        match self {
            Self::Store(e)
            | Self::Token(cloudcard_token::TokenError::Store(e))
            | Self::Wallet(cloudcard_wallet::WalletError::Store(e))
            | Self::Risk(cloudcard_risk::RiskError::Store(e))
            | Self::Lookup(cloudcard_report::LookupError::Store(e)) => store(e),
            Self::PortUnavailable(_) => true,
            _ => false,
        }
    }
}

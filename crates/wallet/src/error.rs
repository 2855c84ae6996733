//! Errors of the wallet.

use chrono::{DateTime, Utc};

/// Why a wallet operation was refused. Messages are lowercase and never hold a card number,
/// CVN2, OTP, password, ID number or mobile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// No such user.
    #[error("user not found")]
    UserNotFound,
    /// A mobile already registered to another user.
    #[error("this mobile is already registered")]
    MobileTaken,
    /// The user has not passed real-name verification.
    #[error("real-name verification is required")]
    NotRealNameVerified,
    /// The identity service did not confirm the name and ID.
    #[error("name and id could not be verified")]
    IdentityRejected,
    /// The user is already real-name verified.
    #[error("the user is already real-name verified")]
    AlreadyVerified,
    /// A payment password that is not 6 digits.
    #[error("the payment password must be 6 digits")]
    PasswordFormat,
    /// No payment password is set.
    #[error("no payment password is set")]
    NoPassword,
    /// A wrong payment password.
    #[error("wrong payment password; {remaining} tries left")]
    WrongPassword {
        /// Tries left before the lock.
        remaining: u32,
    },
    /// Too many wrong passwords in a row.
    #[error("payment password locked until {until}")]
    PasswordLocked {
        /// When the lock lifts.
        until: DateTime<Utc>,
    },
    /// A wrong one-time code.
    #[error("wrong verification code")]
    OtpInvalid,
    /// An expired one-time code, or none issued.
    #[error("verification code expired; request a new one")]
    OtpExpired,
    /// Too many wrong codes.
    #[error("too many wrong codes; request a new one")]
    OtpTooManyTries,
    /// A new code requested too soon.
    #[error("a new code may be sent from {retry_at}")]
    OtpThrottled {
        /// When a new code may be sent.
        retry_at: DateTime<Utc>,
    },
    /// The card is already in this wallet.
    #[error("this card is already in the wallet")]
    CardAlreadyBound,
    /// The wallet holds its maximum of cards.
    #[error("the wallet holds its maximum number of cards")]
    WalletFull,
    /// A credit card without its expiry or CVN2.
    #[error("a credit card needs its expiry date and cvn2")]
    CreditDetailsRequired,
    /// The bank did not match the card to the account's name, ID and reserved mobile.
    #[error("the card does not match the account holder")]
    CardHolderMismatch,
    /// The bank does not know the card.
    #[error("the bank does not recognise this card")]
    CardUnknown,
    /// No such pending binding, or it expired.
    #[error("binding not found or expired; start again")]
    BindingExpired,
    /// No such card in the wallet.
    #[error("card not found")]
    CardNotFound,
    /// An unbind ticket that is wrong, used, expired or for another card.
    #[error("unbind confirmation is invalid or expired")]
    UnbindTicketInvalid,
    /// No such device.
    #[error("device not found")]
    DeviceNotFound,
    /// No such terminal.
    #[error("terminal not found")]
    TerminalNotFound,
    /// A terminal serial already bound.
    #[error("terminal is already registered")]
    TerminalTaken,
    /// No such unbinding case.
    #[error("unbinding case not found")]
    CaseNotFound,
    /// Evidence of the wrong kind for the case's channel.
    #[error("this evidence does not fit the chosen channel")]
    WrongEvidence,
    /// Evidence that does not verify.
    #[error("verification failed")]
    VerificationFailed,
    /// An illegal step for an unbinding case.
    #[error("an unbinding case cannot move from {from} by {event}")]
    CaseTransition {
        /// The case's state.
        from: &'static str,
        /// What was attempted.
        event: &'static str,
    },
    /// A port (bank, SMS, identity or face service, notifier) failed; the source says why.
    #[error(transparent)]
    PortUnavailable(#[from] cloudcard_core::PortError),
    /// Password hashing failed.
    #[error("password hashing failed")]
    Hashing,
    /// A payment password that is easy to guess: one digit repeated, a run, the birth date,
    /// the end of the ID number or of the mobile, or the previous password.
    #[error("this payment password is too easy to guess; choose another")]
    WeakPassword,
    /// A binding confirmed from a device other than the one it was started on.
    #[error("this binding was started on another device")]
    BindingOnOtherDevice,
    /// The mobile received its most codes for today.
    #[error("too many codes sent to this mobile today; try again tomorrow")]
    SmsDailyCap,
    /// This identity already holds an account.
    #[error("this identity already holds an account")]
    IdentityTaken,
    /// The wallet store failed.
    #[error("wallet store failed")]
    Store(#[from] cloudcard_core::StoreError),
}

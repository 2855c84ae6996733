//! What the facade's flows take and answer: requests, outcomes and their reasons, as plain
//! data. The service, its state and every flow module depend on this module; it depends on
//! none of them.

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::{
    Amount, CardId, ChallengeId, DeviceId, MerchantId, TokenId, TransactionId, UserId,
};
use cloudcard_masking::Secret;
use cloudcard_risk::{Assessment, ChallengeMethod, Claim, Mcc, Reason};
use cloudcard_token::{Cryptogram, DeviceCard, TokenInfo};
use cloudcard_wallet::{CardView, RemovedCard};
use serde::Serialize;

/// How long a payment held for review waits for an operator's decision; then it is declined.
pub const REVIEW_TTL: TimeDelta = TimeDelta::minutes(30);

/// A card bound and tokenized for a device.
#[derive(Debug)]
pub struct BoundCard {
    /// The card as the wallet lists it.
    pub card: CardView,
    /// The cloud card's token.
    pub token: TokenInfo,
    /// What the phone keeps: token number, limited-use key, ATC. Never the card number.
    pub device_card: DeviceCard,
}

/// A payment presented by the phone.
#[derive(Debug, Clone)]
pub struct PaymentRequest {
    /// The paying user.
    pub user: UserId,
    /// The phone.
    pub device: DeviceId,
    /// The cryptogram the phone made.
    pub cryptogram: Cryptogram,
    /// The merchant's category.
    pub mcc: Mcc,
    /// The terminal's id for this payment. A terminal that did not hear the answer sends the
    /// same request again with the same id, and gets the first answer back.
    pub transaction: TransactionId,
}

/// How long an answer is kept for a terminal's retry.
pub const OUTCOME_RETENTION: TimeDelta = TimeDelta::hours(24);

/// How a payment ended (or where it waits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum PaymentOutcome {
    /// Approved by risk and by the issuer.
    Approved {
        /// The transaction.
        transaction: TransactionId,
        /// The issuer's authorization code.
        auth_code: String,
        /// The card charged.
        card: CardId,
        /// The amount.
        amount: Amount,
    },
    /// Declined.
    Declined {
        /// The transaction.
        transaction: TransactionId,
        /// Why.
        reason: DeclineReason,
    },
    /// Risk asks the user to step up; answer with [`CloudCard::step_up`](crate::CloudCard::step_up).
    ChallengeRequired {
        /// The transaction.
        transaction: TransactionId,
        /// The challenge to answer.
        challenge: ChallengeId,
        /// How to answer it.
        method: ChallengeMethod,
    },
    /// Held for an operator to review ([`CloudCard::review_payment`](crate::CloudCard::review_payment)); declined if nobody
    /// decides by `review_by`.
    HeldForReview {
        /// The transaction.
        transaction: TransactionId,
        /// When the hold lapses.
        review_by: DateTime<Utc>,
    },
}

/// A payment held for review, as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldPayment {
    /// The transaction.
    pub transaction: TransactionId,
    /// Whose.
    pub user: UserId,
    /// Which wallet card.
    pub card: CardId,
    /// How much.
    pub amount: Amount,
    /// Where.
    pub merchant: MerchantId,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// When the hold lapses.
    pub review_by: DateTime<Utc>,
}

/// An operator's decision on a held payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewDecision {
    /// Send it to the issuer.
    Approve,
    /// Refuse it.
    Decline,
}

/// Why a payment was declined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    /// Risk checks declined it.
    Risk(Reason),
    /// The issuer declined it.
    Issuer(String),
    /// An operator declined it on review.
    Review,
    /// The phone's own, genuine cryptogram, for a cloud card that is suspended or deleted (by
    /// the user, the wallet or the issuer).
    CardInactive,
}

/// An answer to a payment challenge.
#[derive(Debug, Clone)]
pub enum StepUp {
    /// A new cryptogram from the phone for the same payment, made after its fingerprint
    /// check: the MAC covers the biometric verification, so nobody can claim it without the
    /// phone's key.
    Fingerprint {
        /// The cryptogram, with [`Cvm::Biometric`](cloudcard_token::Cvm::Biometric).
        cryptogram: Cryptogram,
    },
    /// The SMS code sent for the challenge.
    Otp {
        /// The code.
        code: Secret<String>,
    },
    /// The payment password.
    PaymentPassword {
        /// The password.
        password: Secret<String>,
    },
}

/// What a loss report did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LossOutcome {
    /// Tokens stopped: suspended for a lost phone (挂失), deleted for a lost card.
    pub cancelled_tokens: Vec<TokenId>,
    /// The verdict on each logged transaction of the lost instrument.
    pub assessments: Vec<Assessment>,
    /// The 72-hour protection claim, if any transaction is eligible.
    pub claim: Option<Claim>,
}

/// What unbinding a card removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnbindOutcome {
    /// The wallet's part.
    pub removed: RemovedCard,
    /// The card's tokens, deleted.
    pub deleted_tokens: Vec<TokenId>,
}

impl std::fmt::Display for PaymentOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Approved { amount, auth_code, .. } => {
                write!(f, "approved ¥{amount} (authorization {auth_code})")
            }
            Self::ChallengeRequired { method, .. } => write!(f, "confirm by {method}"),
            Self::HeldForReview { review_by, .. } => {
                let at = review_by.with_timezone(&cloudcard_core::BEIJING);
                write!(f, "held for review until {} (Beijing)", at.format("%H:%M"))
            }
            Self::Declined { reason, .. } => write!(f, "{reason}"),
        }
    }
}

impl std::fmt::Display for DeclineReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Risk(reason) => write!(f, "declined: {reason}"),
            Self::Issuer(reason) => write!(f, "declined by the issuer: {reason}"),
            Self::Review => f.write_str("declined on review"),
            Self::CardInactive => f.write_str("declined: this cloud card is suspended or deleted"),
        }
    }
}

//! Ports of the facade: the issuer's authorization.

use std::fmt;

use cloudcard_core::{Amount, CardExpiry, MerchantId, Pan, TransactionId};

use crate::Error;

/// What the issuer is asked to authorize: the real card number, only after a verified
/// cryptogram and a risk approval.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// The transaction.
    pub transaction: TransactionId,
    /// The card (prints masked).
    pub pan: Pan,
    /// Its expiry, if known.
    pub expiry: Option<CardExpiry>,
    /// The amount.
    pub amount: Amount,
    /// The merchant.
    pub merchant: MerchantId,
}

/// The issuer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerDecision {
    /// Approved, with an authorization code.
    Approved {
        /// The six-character authorization code.
        auth_code: String,
    },
    /// Declined by the issuer.
    Declined {
        /// The issuer's reason (no card data).
        reason: String,
    },
}

/// The card issuer's authorization system.
pub trait IssuerAuthorizer: Send + Sync + fmt::Debug {
    /// Authorizes a payment.
    ///
    /// # Errors
    ///
    /// [`Error::PortUnavailable`] if the issuer cannot be reached.
    fn authorize(&self, request: &AuthorizationRequest) -> Result<IssuerDecision, Error>;

    /// Reverses an authorization whose answer never reached the payer (the service stopped
    /// after asking): the issuer releases any hold it placed. Reversing a transaction the
    /// issuer never saw, or one already reversed, does nothing and succeeds.
    ///
    /// # Errors
    ///
    /// [`Error::PortUnavailable`] if the issuer cannot be reached; the reversal is retried by
    /// the next [`CloudCard::run_due`](crate::CloudCard::run_due).
    fn reverse(&self, transaction: &TransactionId) -> Result<(), Error>;
}

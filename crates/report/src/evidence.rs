//! Typed evidence: a face check, an SMS OTP or a payment-password check, each naming the user,
//! the query and the time it was made.

use std::marker::PhantomData;

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::{QueryId, UserId};
use cloudcard_masking::Secret;

use crate::LookupError;

/// Marker: a face (liveness) check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {}
/// Marker: an SMS one-time code to the registered mobile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Otp {}
/// Marker: the payment password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Password {}

/// The result of one check of kind `K`, made for `user` and `query` at `at`. Only the lookup
/// makes these, from the answer of its [`Verifier`]: no caller can assemble one from a user, a
/// query and a boolean, nor deserialize one:
///
/// ```compile_fail
/// use cloudcard_report::{Evidence, Password};
/// let forged: Evidence<Password> =
///     Evidence::new("usr_1".parse().unwrap(), "qry_1".parse().unwrap(), chrono::Utc::now(), true);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence<K> {
    /// Who was checked.
    pub user: UserId,
    /// For which query.
    pub query: QueryId,
    /// When.
    pub at: DateTime<Utc>,
    /// Whether the check passed.
    pub passed: bool,
    kind: PhantomData<K>,
}

/// What checks the user's credentials for the lookup: the embedder's wallet (the facade wires
/// its own). Each answer is whether the check passed; an `Err` is an outage or a lock.
pub trait Verifier: Send + Sync + std::fmt::Debug {
    /// A face (liveness) check of `user` against their ID photo, from the app's sample.
    ///
    /// # Errors
    ///
    /// [`LookupError::VerificationFailed`] when the check cannot be made.
    fn face(&self, user: &UserId, sample: &Secret<String>) -> Result<bool, LookupError>;
    /// The SMS code sent to `user`'s registered mobile for the lookup (spent when right).
    ///
    /// # Errors
    ///
    /// As [`Self::face`].
    fn code(&self, user: &UserId, code: &Secret<String>) -> Result<bool, LookupError>;
    /// `user`'s payment password.
    ///
    /// # Errors
    ///
    /// As [`Self::face`] (a locked password is an error, not a `false`).
    fn password(&self, user: &UserId, password: &Secret<String>) -> Result<bool, LookupError>;
}

impl<K> Evidence<K> {
    /// Evidence of a check the lookup's verifier answered.
    #[must_use]
    pub(crate) const fn new(user: UserId, query: QueryId, at: DateTime<Utc>, passed: bool) -> Self {
        Self { user, query, at, passed, kind: PhantomData }
    }

    /// Checks that the evidence passed, is `user`'s, is for `query`, and is at most `max_age`
    /// old at `now`.
    pub(crate) fn check(
        &self,
        user: &UserId,
        query: &QueryId,
        now: DateTime<Utc>,
        max_age: TimeDelta,
        what: &'static str,
    ) -> Result<(), LookupError> {
        if self.user != *user || self.query != *query {
            return Err(LookupError::EvidenceMismatch(what));
        }
        if now - self.at > max_age || self.at > now {
            return Err(LookupError::EvidenceStale(what));
        }
        if !self.passed {
            return Err(LookupError::VerificationFailed(what));
        }
        Ok(())
    }
}

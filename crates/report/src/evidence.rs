//! Typed evidence: a face check, an SMS OTP or a payment-password check, each naming the user,
//! the query and the time it was made.

use std::marker::PhantomData;

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::{QueryId, UserId};
use serde::{Deserialize, Serialize};

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

/// The result of one check of kind `K`, made for `user` and `query` at `at`. The wallet makes
/// these after running the check; the lookup only reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence<K> {
    /// Who was checked.
    pub user: UserId,
    /// For which query.
    pub query: QueryId,
    /// When.
    pub at: DateTime<Utc>,
    /// Whether the check passed.
    pub passed: bool,
    #[serde(skip)]
    kind: PhantomData<K>,
}

impl<K> Evidence<K> {
    /// Evidence of a check.
    #[must_use]
    pub const fn new(user: UserId, query: QueryId, at: DateTime<Utc>, passed: bool) -> Self {
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

//! Errors of the lookup.

use chrono::{DateTime, Utc};
use cloudcard_core::Bank;

/// Why a lookup step was refused. Messages are lowercase and hold no personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// The lookup is served only in the wallet app.
    #[error("the card lookup is offered only in the app")]
    ChannelNotServed,
    /// The user has not passed real-name verification.
    #[error("real-name verification is required")]
    NotRealNameVerified,
    /// The user's region does not take part.
    #[error("the card lookup is not open in this region")]
    RegionNotParticipating,
    /// No bank was chosen.
    #[error("choose at least one bank")]
    NoBankChosen,
    /// A chosen bank does not take part.
    #[error("bank {0} does not take part in the card lookup")]
    BankNotParticipating(Bank),
    /// A new query too soon after the last report.
    #[error("a new query may be made from {earliest}")]
    RequeryTooSoon {
        /// The earliest time a new query is accepted.
        earliest: DateTime<Utc>,
    },
    /// No such query.
    #[error("query not found")]
    QueryNotFound,
    /// The agreement accepted is not the current one.
    #[error("the current authorization agreement must be accepted")]
    AgreementVersion,
    /// Evidence for another user or another query.
    #[error("{0} does not belong to this user and query")]
    EvidenceMismatch(&'static str),
    /// Evidence older than 5 minutes (or from the future).
    #[error("{0} is too old; verify again")]
    EvidenceStale(&'static str),
    /// A check that did not pass.
    #[error("{0} did not pass")]
    VerificationFailed(&'static str),
    /// A view by someone other than the owner.
    #[error("the report may be viewed only by its owner")]
    NotOwner,
    /// The report is not generated yet.
    #[error("the report is not ready yet")]
    ReportNotReady,
    /// The report's content has been deleted.
    #[error("the report has expired")]
    ReportExpired,
    /// An answer from a bank that was not asked.
    #[error("that bank was not asked in this query")]
    UnknownBank,
    /// Sealing or opening the report failed.
    #[error("report content failed authentication")]
    Crypto,
    /// The user has a query open already: one at a time.
    #[error("a card lookup is already under way")]
    QueryOpen,
    /// The lookup store failed.
    #[error("lookup store failed")]
    Store(#[from] cloudcard_core::StoreError),
}

#![doc = include_str!("../README.md")]
#![doc = ""]
#![doc = "## The workspace"]
#![doc = include_str!("../../../README.md")]
#![forbid(unsafe_code)]

mod account;
mod builder;
#[cfg(feature = "demo")]
pub mod demo;
#[cfg(feature = "sqlite")]
mod durable;
mod error;
mod issuer;
mod lookup;
mod loss;
mod model;
mod ports;
mod service;
#[cfg(feature = "postgres")]
mod shared;
mod state;

pub use account::Danger;
#[cfg(feature = "demo")]
pub use builder::Demo;
pub use builder::{CloudCardBuilder, Production};
#[cfg(feature = "demo")]
pub use demo::SimulatedIssuer;
pub use error::{Error, ErrorKind};
pub use issuer::{IssuerEvent, IssuerEventOutcome};
pub use loss::DueReport;
pub use model::{
    BoundCard, DeclineReason, HeldPayment, LossOutcome, OUTCOME_RETENTION, PaymentOutcome,
    PaymentRequest, REVIEW_TTL, ReviewDecision, StepUp, UnbindOutcome,
};
pub use ports::{AuthorizationRequest, IssuerAuthorizer, IssuerDecision};
pub use service::CloudCard;

/// Card numbers, issuers, money, people, ids and time.
pub use cloudcard_core as core;
/// Secrets, masks and redaction.
pub use cloudcard_masking as masking;
#[cfg(feature = "postgres")]
pub use cloudcard_postgres as postgres;
#[cfg(feature = "postgres")]
pub use cloudcard_redis as redis;
/// The one-click card lookup.
pub use cloudcard_report as report;
/// Real-time risk and loss protection.
pub use cloudcard_risk as risk;
#[cfg(feature = "sqlite")]
pub use cloudcard_sqlite as sqlite;
/// Cloud-card tokens, vault, keys and cryptograms.
pub use cloudcard_token as token;
/// Accounts, cards, devices and POS terminals.
pub use cloudcard_wallet as wallet;

pub use cloudcard_core::{
    Amount, Bank, CardId, CardKind, Channel, Clock, Currency, DeviceId, KeySource, ManualClock,
    MerchantId, Pan, PhoneNumber, ResidentId, StoreError, SystemClock, TransactionId, UserId,
};
pub use cloudcard_masking::{Secret, redact};
pub use cloudcard_report::{Region, Report};
pub use cloudcard_risk::{Authentication, ChallengeMethod, Mcc, Outcome};
pub use cloudcard_token::{Cryptogram, DeviceCard, PaymentData};
pub use cloudcard_wallet::{BindRequest, CardView, FaceSample};

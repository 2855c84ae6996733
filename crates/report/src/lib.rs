#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod config;
mod dispatch;
mod error;
mod evidence;
mod model;
mod service;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{LookupConfig, Region, RequestChannel};
pub use dispatch::{
    BankQuery, Behaviour, Dispatcher, IdDocument, IdType, IdentityBook, IdentityDirectory,
    LookupConnector, Reply, SimulatedBank,
};
pub use error::LookupError;
pub use evidence::{Evidence, Face, Otp, Password, Verifier};
pub use model::{
    BankAnswer, BankStatus, Counts, FoundCard, HeldAnswer, PendingAnswer, Report, ReportCard,
    ReportKind, UsageStatus,
};
pub use service::{Applicant, Application, Consent, LookupEvent, LookupService, QueryView};
pub use store::{
    AuditEntry, AuditEvent, BankEntry, ContentKey, InMemoryLookupStore, KvLookupStore, LookupStore,
    QueryRecord, QueryState, Queue, SealedReport,
};

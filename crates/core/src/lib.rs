#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod amount;
mod bank;
mod card;
mod clock;
mod error;
mod id;
mod issuer;
mod mac;
mod map;
pub mod messages;
mod pan;
mod person;
pub mod store;
pub mod sync;
pub mod text;

pub use amount::Amount;
pub use bank::{Bank, BankCode, CardKind};
pub use card::{CardExpiry, Channel, Currency};
pub use clock::{
    BEIJING, Clock, ManualClock, SharedClock, SystemClock, beijing_date, beijing_day_start,
    beijing_hour,
};
pub use error::{Error, PortError};
pub use id::{
    BindingId, CardId, CaseId, ChallengeId, ClaimId, DeviceId, MerchantId, QueryId, RequestId,
    RuleId, TerminalId, TokenId, TransactionId, UserId,
};
pub use issuer::{IssuerInfo, IssuerTable};
pub use mac::{KeyedMac, MacKey};
pub use map::{RandomKeyHasher, RandomKeyMap, keyed_hash};
pub use pan::Pan;
pub use person::{PersonName, PhoneNumber, ResidentId};
pub use store::{KeySource, Kv, MemoryKv, StoreError};

/// The masking crate, re-exported whole so that users of `cloudcard-core` name one crate.
pub use cloudcard_masking as masking;

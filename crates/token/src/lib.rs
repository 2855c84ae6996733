#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod cryptogram;
mod delivery;
mod domain;
mod error;
mod keys;
mod kv_store;
mod lifecycle;
mod luk;
mod number;
mod record;
mod service;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod views;

pub use cryptogram::{
    CRYPTOGRAM_LEN, Cryptogram, Cvm, DeviceCard, PaymentData, ReplayWindow, ReplenishRequest,
};
pub use delivery::{CardDelivery, ExportedKey, KeyDelivery};
pub use domain::{Channel, ChannelSet, Domain};
pub use error::{Rejection, StoreError, TokenError};
pub use keys::{Ciphertext, KeyBytes, KeyRing, KeyVersion, MacKey, Sealed, TokenKeys};
pub use kv_store::KvTokenStore;
pub use lifecycle::{Actor, LifecycleError, TokenEvent, TokenStatus, transition};
pub use luk::{LukGrant, LukPolicy, LukState, PreparedLuk};
pub use number::{TokenBin, TokenNumber};
pub use record::{Fingerprint, Last4, Par, TokenRecord};
pub use service::TokenService;
pub use store::{Admission, InMemoryTokenStore, Spend, SpendCheck, TokenStore};
pub use views::{
    BulkOutcome, FundingCard, HeldCryptogram, ProvisionRequest, Provisioned, RewrapReport,
    TokenConfig, TokenInfo, VerifiedCryptogram,
};

#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod account;
mod bank;
mod cards;
mod error;
mod model;
mod otp;
mod password;
mod ports;
mod pos;
mod service;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use bank::{
    BankGateway, BankVerdict, DEMO_PEOPLE, FourElements, SimulatedBankGateway, SimulatedCard,
    demo_cards,
};
pub use error::WalletError;
pub use model::{
    AddCard, CardRecord, CaseEvent, CaseState, CodeCheck, DeviceRecord, OtpRecord, PasswordFailure,
    PendingBinding, RealName, TerminalRecord, UnbindCase, UnbindChannel, UnbindEvidence,
    UnbindReason, UnbindTicket, UserRecord, case_transition,
};
pub use otp::OtpPolicy;
pub use password::{Argon2Cost, LockoutPolicy, PasswordHash, PasswordHasher};
pub use ports::{
    FaceSample, FaceVerifier, IdentityVerifier, InMemoryNotifier, InMemoryOutbox, Notification,
    Notifier, NotifyChannel, OtpPurpose, PeopleRegistry, Sms, SmsBody, SmsGateway,
};
pub use service::{
    AccountView, BindRequest, BoundCard, CardView, ConfirmedBinding, PendingView, RemovedCard,
    UnbindPrompt, Wallet, WalletConfig, WalletKeys, WalletPorts,
};
pub use store::{InMemoryWalletStore, KvWalletStore, WalletStore};

#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod account;
mod bank;
mod cards;
mod error;
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
pub use otp::OtpPolicy;
pub use password::{Argon2Cost, LockoutPolicy, PasswordHash, PasswordHasher};
pub use ports::{
    FaceSample, FaceVerifier, IdentityVerifier, InMemoryNotifier, InMemoryOutbox, Notification,
    Notifier, NotifyChannel, OtpPurpose, PeopleRegistry, Sms, SmsBody, SmsGateway,
};
pub use pos::{
    CaseEvent, CaseState, UnbindCase, UnbindChannel, UnbindEvidence, UnbindReason, case_transition,
};
pub use service::{
    AccountView, BindRequest, BoundCard, CardView, ConfirmedBinding, PendingView, RemovedCard,
    UnbindPrompt, Wallet, WalletConfig, WalletKeys, WalletPorts,
};
pub use store::{
    AddCard, CardRecord, CodeCheck, DeviceRecord, InMemoryWalletStore, KvWalletStore, OtpRecord,
    PasswordFailure, PendingBinding, RealName, TerminalRecord, UnbindTicket, UserRecord,
    WalletStore,
};

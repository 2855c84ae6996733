//! The wallet's records and the values its operations answer with: plain data with no
//! behaviour beyond checks on itself, so the store, the service and every flow depend on this
//! module and it depends on none of them.

use chrono::{DateTime, Utc};
use cloudcard_core::{
    Bank, BindingId, CardExpiry, CardId, CardKind, CaseId, DeviceId, Pan, PersonName, PhoneNumber,
    ResidentId, TerminalId, UserId,
};
use cloudcard_masking::Secret;
use serde::{Deserialize, Serialize};

use crate::WalletError;
use crate::password::PasswordHash;
use crate::ports::{FaceSample, NotifyChannel};

/// A verified real name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RealName {
    /// The name (prints masked).
    pub name: PersonName,
    /// The resident ID (prints masked).
    pub id: ResidentId,
    /// When verified.
    pub verified_at: DateTime<Utc>,
}

/// A wallet user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user.
    pub id: UserId,
    /// The registered mobile.
    pub mobile: PhoneNumber,
    /// The verified real name, once verified.
    pub real_name: Option<RealName>,
    /// The payment password's hash.
    pub password: Option<PasswordHash>,
    /// Wrong passwords in a row.
    pub failed_passwords: u32,
    /// Locked until, after too many wrong passwords.
    pub locked_until: Option<DateTime<Utc>>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// Bumped by one on every update (compare-and-set).
    pub version: u64,
}

/// A card bound to a wallet. No card number: a keyed fingerprint finds duplicates, and the mask
/// is kept for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardRecord {
    /// The card's id in the wallet.
    pub id: CardId,
    /// Whose.
    pub user: UserId,
    /// A keyed HMAC of the card number.
    #[serde(skip)]
    pub fingerprint: [u8; 32],
    /// First 4 and last 4, grouped.
    pub masked: String,
    /// Issuer.
    pub bank: Bank,
    /// Kind.
    pub kind: CardKind,
    /// The reserved mobile (prints masked).
    pub reserved_mobile: PhoneNumber,
    /// Whether it is the default card.
    pub is_default: bool,
    /// When bound.
    pub bound_at: DateTime<Utc>,
}

/// A binding waiting for the bank's code. It holds the card number for the few minutes until
/// the facade provisions a token; durable backends seal it at rest, like every value.
#[derive(Debug, Clone)]
pub struct PendingBinding {
    /// The binding's id.
    pub id: BindingId,
    /// Whose.
    pub user: UserId,
    /// The card.
    pub pan: Pan,
    /// Its expiry, if given.
    pub expiry: Option<CardExpiry>,
    /// Issuer.
    pub bank: Bank,
    /// Kind.
    pub kind: CardKind,
    /// The reserved mobile.
    pub reserved_mobile: PhoneNumber,
    /// The bank's session for the code (never prints).
    pub session: Secret<String>,
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
    /// Wrong codes so far.
    pub tries: u32,
    /// The device the binding was started on: the cloud card goes there and nowhere else.
    pub device: Option<DeviceId>,
}

/// An unbind confirmation ticket ("are you sure?"). The ticket never prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnbindTicket {
    /// The ticket (an opaque random string; compared in constant time).
    pub ticket: Secret<String>,
    /// Whose.
    pub user: UserId,
    /// For which card.
    pub card: CardId,
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
}

/// A device registered to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The device.
    pub id: DeviceId,
    /// Whose.
    pub user: UserId,
    /// A label the user gave it.
    pub label: String,
    /// When registered.
    pub registered_at: DateTime<Utc>,
}

/// A live one-time code, stored hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpRecord {
    /// Keyed hash of the code.
    pub hash: [u8; 32],
    /// When issued.
    pub issued_at: DateTime<Utc>,
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
    /// Wrong tries so far.
    pub tries: u32,
}

/// A merchant's POS terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TerminalRecord {
    /// The terminal's serial number.
    pub id: TerminalId,
    /// The merchant's contact name (prints masked).
    pub owner: PersonName,
    /// The owner's ID, for counter checks (prints masked).
    pub owner_id: ResidentId,
    /// The bound mobile, if any (prints masked).
    pub mobile: Option<PhoneNumber>,
    /// When bound.
    pub bound_at: DateTime<Utc>,
}

/// What [`WalletStore::record_password_failure`](crate::WalletStore::record_password_failure) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordFailure {
    /// Counted; this many tries remain.
    Counted {
        /// Tries left before the lock.
        remaining: u32,
    },
    /// Locked (by this failure or already).
    Locked {
        /// Until when.
        until: DateTime<Utc>,
    },
}

/// What [`WalletStore::add_card`](crate::WalletStore::add_card) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddCard {
    /// Added; whether it became the default (the wallet's first card).
    Added {
        /// Whether it is the default.
        is_default: bool,
    },
    /// The wallet already holds a card with this fingerprint.
    Duplicate,
    /// The wallet holds the most cards it may.
    Full,
}

/// What [`WalletStore::check_code`](crate::WalletStore::check_code) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right: the code is spent.
    Accepted,
    /// Wrong; `spent` if that was the last try.
    Wrong {
        /// Whether the code is used up.
        spent: bool,
    },
    /// No live code (never sent, spent, or lapsed).
    Expired,
    /// Too many wrong tries already.
    TooManyTries,
}

/// Why a merchant unbinds a terminal's mobile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnbindReason {
    /// The terminal is no longer needed.
    NoLongerNeeded,
    /// Moving to another payment method.
    OtherPaymentMethod,
    /// A security concern.
    Security,
    /// Something else, in the merchant's words.
    Other(String),
}

/// How the unbinding is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnbindChannel {
    /// In the app: the bound mobile's code, or a face check.
    Online,
    /// By phone: an agent asks security questions.
    Hotline,
    /// At a bank branch, with ID in person.
    BankCounter,
}

/// Where an unbinding case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// Asked for.
    Requested,
    /// The merchant's identity is confirmed.
    Verified,
    /// Being carried out.
    Processing,
    /// Done: the mobile is unbound. Terminal.
    Completed,
    /// Refused. Terminal.
    Rejected,
}

/// What moves a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseEvent {
    /// The evidence verified.
    Verify,
    /// Work started.
    Process,
    /// Work finished.
    Complete,
    /// Refused.
    Reject,
}

/// Decides a case's next state: Requested → Verified → Processing → Completed, or Rejected
/// from any state before completion.
///
/// # Errors
///
/// [`WalletError::CaseTransition`] for any other move.
pub const fn case_transition(state: CaseState, event: CaseEvent) -> Result<CaseState, WalletError> {
    use CaseEvent as E;
    use CaseState as S;
    match (state, event) {
        (S::Requested, E::Verify) => Ok(S::Verified),
        (S::Verified, E::Process) => Ok(S::Processing),
        (S::Processing, E::Complete) => Ok(S::Completed),
        (S::Requested | S::Verified | S::Processing, E::Reject) => Ok(S::Rejected),
        _ => Err(WalletError::CaseTransition { from: state_name(state), event: event_name(event) }),
    }
}

const fn state_name(s: CaseState) -> &'static str {
    match s {
        CaseState::Requested => "requested",
        CaseState::Verified => "verified",
        CaseState::Processing => "processing",
        CaseState::Completed => "completed",
        CaseState::Rejected => "rejected",
    }
}

const fn event_name(e: CaseEvent) -> &'static str {
    match e {
        CaseEvent::Verify => "verify",
        CaseEvent::Process => "process",
        CaseEvent::Complete => "complete",
        CaseEvent::Reject => "reject",
    }
}

/// Evidence of the merchant's identity, one kind per channel. The code and the face sample
/// never print.
#[derive(Clone, PartialEq, Eq)]
pub enum UnbindEvidence {
    /// Online: the code sent to the bound mobile.
    OnlineOtp {
        /// The code.
        code: Secret<String>,
    },
    /// Online: a face check of the terminal's owner.
    OnlineFace {
        /// The live sample.
        sample: FaceSample,
    },
    /// Hotline: the agent's record of the security questions.
    Hotline {
        /// The agent.
        agent: String,
        /// Questions asked.
        asked: u8,
        /// Answered correctly.
        correct: u8,
    },
    /// Bank counter: the branch's record of the in-person ID check.
    BankCounter {
        /// The branch.
        branch: String,
        /// The ID presented.
        id: ResidentId,
    },
}

impl std::fmt::Debug for UnbindEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OnlineOtp { .. } => f.write_str("OnlineOtp { code: [REDACTED] }"),
            Self::OnlineFace { .. } => f.write_str("OnlineFace { sample: [REDACTED] }"),
            Self::Hotline { agent, asked, correct } => f
                .debug_struct("Hotline")
                .field("agent", agent)
                .field("asked", asked)
                .field("correct", correct)
                .finish(),
            Self::BankCounter { branch, id } => {
                f.debug_struct("BankCounter").field("branch", branch).field("id", id).finish()
            }
        }
    }
}

/// An unbinding case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnbindCase {
    /// Its id.
    pub id: CaseId,
    /// The terminal.
    pub terminal: TerminalId,
    /// The merchant's reason.
    pub reason: UnbindReason,
    /// The channel.
    pub channel: UnbindChannel,
    /// How to tell the merchant the outcome.
    pub notify_via: NotifyChannel,
    /// Where it is.
    pub state: CaseState,
    /// Who verified it, as recorded (agent or branch; "online" otherwise).
    pub verified_by: Option<String>,
    /// Every state with when.
    pub history: Vec<(CaseState, DateTime<Utc>)>,
}

impl std::fmt::Display for CaseState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Requested => "requested",
            Self::Verified => "verified",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Rejected => "rejected",
        })
    }
}

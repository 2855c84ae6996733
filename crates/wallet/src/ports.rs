//! Ports to the outside: SMS, identity and face checks, notifications. Each comes with an
//! in-memory implementation; the verifiers' are test doubles for the real services.

use cloudcard_core::sync::MutexExt;
use std::fmt;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use cloudcard_core::{PersonName, PhoneNumber, ResidentId};
use cloudcard_masking::Secret;
use serde::Serialize;

use crate::WalletError;

pub use cloudcard_core::messages::OtpPurpose;
use cloudcard_core::messages::{Message, Messages};

/// What an SMS says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SmsBody {
    /// A one-time code. The code prints redacted; [`SmsBody::code`] reads it.
    Otp {
        /// What it is for.
        purpose: OtpPurpose,
        /// The code (serializes as `[REDACTED]`).
        #[serde(serialize_with = "cloudcard_masking::redacted")]
        code: Secret<String>,
    },
    /// A plain notice.
    Notice {
        /// The text (never personal data).
        text: String,
    },
}

impl SmsBody {
    /// The code, if this is an OTP message: for the phone that receives it (and tests).
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Otp { code, .. } => Some(code.expose_secret()),
            Self::Notice { .. } => None,
        }
    }
}

/// One SMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sms {
    /// The recipient (prints masked).
    pub to: PhoneNumber,
    /// What it is about.
    pub body: SmsBody,
    /// The words a gateway sends, signature first. They hold a code's digits, so they print
    /// and serialize redacted; [`Sms::text`] reads them.
    #[serde(serialize_with = "cloudcard_masking::redacted")]
    pub words: Secret<String>,
    /// When sent.
    pub at: DateTime<Utc>,
}

impl Sms {
    /// A one-time code for `purpose`, good for `minutes`, worded and signed by `messages`.
    #[must_use]
    pub fn code(
        messages: &Messages,
        to: PhoneNumber,
        purpose: OtpPurpose,
        code: Secret<String>,
        minutes: i64,
        at: DateTime<Utc>,
    ) -> Self {
        let words = messages.sms(&Message::Code { purpose, code: code.expose_secret(), minutes });
        Self { to, body: SmsBody::Otp { purpose, code }, words: Secret::new(words), at }
    }

    /// A notice, worded and signed by `messages`.
    #[must_use]
    pub fn notice(
        messages: &Messages,
        to: PhoneNumber,
        message: &Message<'_>,
        at: DateTime<Utc>,
    ) -> Self {
        let words = Secret::new(messages.sms(message));
        Self { to, body: SmsBody::Notice { text: messages.text(message) }, words, at }
    }

    /// The words to send, signature first: for the gateway.
    #[must_use]
    pub fn text(&self) -> &str {
        self.words.expose_secret()
    }
}

/// Sends SMS.
pub trait SmsGateway: Send + Sync + fmt::Debug {
    /// Sends one message.
    ///
    /// # Errors
    ///
    /// [`WalletError::PortUnavailable`] if the gateway fails.
    fn send(&self, sms: Sms) -> Result<(), WalletError>;
}

/// An SMS gateway that keeps every message in memory: the embedded default and what tests and
/// examples read codes from.
#[derive(Debug, Default)]
pub struct InMemoryOutbox {
    sent: Mutex<Vec<Sms>>,
}

impl InMemoryOutbox {
    /// An empty outbox.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message sent so far.
    #[must_use]
    pub fn messages(&self) -> Vec<Sms> {
        self.sent.lock_unpoisoned().clone()
    }

    /// The latest code sent to `to` for `purpose`.
    #[must_use]
    pub fn last_code(&self, to: &PhoneNumber, purpose: OtpPurpose) -> Option<String> {
        let sent = self.sent.lock_unpoisoned();
        sent.iter().rev().find_map(|m| match &m.body {
            SmsBody::Otp { purpose: p, code } if m.to == *to && *p == purpose => {
                Some(code.expose_secret().clone())
            }
            _ => None,
        })
    }
}

impl SmsGateway for InMemoryOutbox {
    fn send(&self, sms: Sms) -> Result<(), WalletError> {
        self.sent.lock_unpoisoned().push(sms);
        Ok(())
    }
}

/// Confirms a person's name and resident ID with the identity authority.
pub trait IdentityVerifier: Send + Sync + fmt::Debug {
    /// Whether `name` and `id` belong together.
    ///
    /// # Errors
    ///
    /// [`WalletError::PortUnavailable`] if the service fails.
    fn verify(&self, name: &PersonName, id: &ResidentId) -> Result<bool, WalletError>;
}

/// Checks that a live face matches a resident ID's photo.
pub trait FaceVerifier: Send + Sync + fmt::Debug {
    /// Whether the live `sample` matches `id`.
    ///
    /// # Errors
    ///
    /// [`WalletError::PortUnavailable`] if the service fails.
    fn verify(&self, id: &ResidentId, sample: &FaceSample) -> Result<bool, WalletError>;
}

/// A captured face, as the app's SDK hands it over (opaque; never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct FaceSample(pub String);

impl fmt::Debug for FaceSample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FaceSample([REDACTED])")
    }
}

/// A test double for [`IdentityVerifier`] and [`FaceVerifier`]: decides from a seeded registry
/// of people, so tests show refusals as well as acceptances. It stands in for the real
/// identity authority and face service; it is not one.
#[derive(Default)]
pub struct PeopleRegistry {
    people: Mutex<Vec<(PersonName, ResidentId, Option<FaceSample>)>>,
}

impl fmt::Debug for PeopleRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.people.lock_unpoisoned().len();
        f.debug_struct("PeopleRegistry").field("people", &n).finish()
    }
}

impl PeopleRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a person, with the face sample that matches them, if any.
    pub fn add(&self, name: PersonName, id: ResidentId, face: Option<FaceSample>) {
        self.people.lock_unpoisoned().push((name, id, face));
    }
}

impl IdentityVerifier for PeopleRegistry {
    fn verify(&self, name: &PersonName, id: &ResidentId) -> Result<bool, WalletError> {
        let people = self.people.lock_unpoisoned();
        Ok(people.iter().any(|(n, i, _)| n == name && i == id))
    }
}

impl FaceVerifier for PeopleRegistry {
    fn verify(&self, id: &ResidentId, sample: &FaceSample) -> Result<bool, WalletError> {
        let people = self.people.lock_unpoisoned();
        Ok(people.iter().any(|(_, i, f)| i == id && f.as_ref() == Some(sample)))
    }
}

/// How a notification reaches a merchant or user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyChannel {
    /// A text message.
    Sms,
    /// A phone call.
    Call,
    /// An email.
    Email,
}

impl std::fmt::Display for NotifyChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sms => "text message",
            Self::Call => "phone call",
            Self::Email => "email",
        })
    }
}

/// A notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// How.
    pub channel: NotifyChannel,
    /// To whom: the mobile prints masked.
    pub to: PhoneNumber,
    /// What (never personal data).
    pub text: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Sends notifications.
pub trait Notifier: Send + Sync + fmt::Debug {
    /// Sends one.
    ///
    /// # Errors
    ///
    /// [`WalletError::PortUnavailable`] if it fails.
    fn notify(&self, notification: Notification) -> Result<(), WalletError>;
}

/// A notifier that keeps every notification in memory.
#[derive(Debug, Default)]
pub struct InMemoryNotifier {
    sent: Mutex<Vec<Notification>>,
}

impl InMemoryNotifier {
    /// An empty notifier.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything sent so far.
    #[must_use]
    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock_unpoisoned().clone()
    }
}

impl Notifier for InMemoryNotifier {
    fn notify(&self, notification: Notification) -> Result<(), WalletError> {
        self.sent.lock_unpoisoned().push(notification);
        Ok(())
    }
}

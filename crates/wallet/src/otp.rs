//! One-time codes: 6 digits from a CSPRNG, stored only as a keyed hash, short-lived, with a try
//! limit, one live code per purpose, and throttled resends.

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::MacKey;
use cloudcard_masking::Secret;
use rand::RngExt;

use crate::WalletError;
use crate::model::{CodeCheck, OtpRecord};
use crate::ports::OtpPurpose;
use crate::store::WalletStore;

/// The code rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtpPolicy {
    /// How long a code is good.
    pub ttl: TimeDelta,
    /// Wrong tries before the code is spent.
    pub max_tries: u32,
    /// The least time between two codes for one purpose.
    pub resend_after: TimeDelta,
    /// The most codes one mobile receives in one Beijing day.
    pub daily_cap: u32,
}

impl Default for OtpPolicy {
    /// 5 minutes, 5 tries, 60 seconds between sends, 10 codes a mobile a day.
    fn default() -> Self {
        Self {
            ttl: TimeDelta::minutes(5),
            max_tries: 5,
            resend_after: TimeDelta::seconds(60),
            daily_cap: 10,
        }
    }
}

/// Issues a fresh code for `subject` and `purpose`, replacing any live one (throttled: one
/// send per `resend_after`). Returns the code for the caller to send.
pub(crate) fn issue(
    store: &dyn WalletStore,
    key: &MacKey,
    policy: &OtpPolicy,
    subject: &str,
    purpose: OtpPurpose,
    now: DateTime<Utc>,
) -> Result<Secret<String>, WalletError> {
    let code = Secret::new(format!("{:06}", rand::rng().random_range(0..1_000_000u32)));
    let record = OtpRecord {
        hash: hash(key, subject, purpose, code.expose_secret()),
        issued_at: now,
        expires_at: now.checked_add_signed(policy.ttl).unwrap_or(now),
        tries: 0,
    };
    match store.issue_code(subject, purpose, &record, policy.resend_after)? {
        Ok(()) => Ok(code),
        Err(retry_at) => Err(WalletError::OtpThrottled { retry_at }),
    }
}

/// Checks a code; a right code is spent at once (single use), atomically in the store.
pub(crate) fn verify(
    store: &dyn WalletStore,
    key: &MacKey,
    policy: &OtpPolicy,
    subject: &str,
    purpose: OtpPurpose,
    code: &str,
    now: DateTime<Utc>,
) -> Result<(), WalletError> {
    let candidate = hash(key, subject, purpose, code);
    match store.check_code(subject, purpose, &candidate, now, policy.max_tries)? {
        CodeCheck::Accepted => Ok(()),
        CodeCheck::Expired => Err(WalletError::OtpExpired),
        CodeCheck::TooManyTries | CodeCheck::Wrong { spent: true } => {
            Err(WalletError::OtpTooManyTries)
        }
        CodeCheck::Wrong { spent: false } => Err(WalletError::OtpInvalid),
    }
}

fn hash(key: &MacKey, subject: &str, purpose: OtpPurpose, code: &str) -> [u8; 32] {
    let len = u8::try_from(subject.len()).unwrap_or(u8::MAX);
    key.mac(&[b"cloudcard/otp/v1", &[len], subject.as_bytes(), &[purpose as u8], code.as_bytes()])
}

//! What the facade's results say when shown to a person: words, not Rust.
#![allow(clippy::unwrap_used)]

use cloudcard::report::BankStatus;
use cloudcard::risk::{ClaimState, Reason};
use cloudcard::token::{Actor, TokenStatus};
use cloudcard::wallet::CaseState;
use cloudcard::{Authentication, ChallengeMethod, DeclineReason, Error, Outcome};

#[test]
fn outcomes_and_reasons_read_as_words() {
    assert_eq!(Outcome::Challenge(ChallengeMethod::Otp).to_string(), "challenge by sms code");
    assert_eq!(Outcome::Decline.to_string(), "decline");
    assert_eq!(Reason::LostDevice.to_string(), "phone reported lost");
    assert_eq!(DeclineReason::Risk(Reason::LostCard).to_string(), "declined: card reported lost");
    assert_eq!(
        DeclineReason::Issuer("insufficient funds".into()).to_string(),
        "declined by the issuer: insufficient funds"
    );
    assert_eq!(Authentication::PaymentPassword.to_string(), "payment password");
    assert_eq!(Authentication::None.to_string(), "no verification");
}

#[test]
fn states_read_as_words() {
    assert_eq!(ClaimState::AdvancePaid.to_string(), "advance paid");
    assert_eq!(CaseState::Processing.to_string(), "processing");
    assert_eq!(BankStatus::CardsFound(1).to_string(), "1 card found");
    assert_eq!(BankStatus::CardsFound(3).to_string(), "3 cards found");
    assert_eq!(BankStatus::NoAnswer.to_string(), "no answer within 24 hours");
    assert_eq!(TokenStatus::Suspended(Actor::Issuer).to_string(), "suspended by the issuer");
    assert_eq!(TokenStatus::Active.to_string(), "active");
    assert_eq!(cloudcard::wallet::NotifyChannel::Sms.to_string(), "text message");
}

#[test]
fn a_refusal_is_told_from_an_outage() {
    use cloudcard::core::StoreError;
    use cloudcard::wallet::WalletError;
    assert!(Error::Store(StoreError::Conflict).is_transient());
    let port = |e| WalletError::PortUnavailable(cloudcard::core::PortError::with_source("sms", e));
    let down = Error::from(port(std::io::Error::other("gateway answered 503")));
    assert!(down.is_transient());
    assert_eq!(down.kind(), cloudcard::ErrorKind::Unavailable);
    // The user sees which port; the operator follows the source to why.
    assert_eq!(down.to_string(), "sms is unavailable");
    let why = std::error::Error::source(&down).map(ToString::to_string);
    assert_eq!(why.as_deref(), Some("gateway answered 503"));
    assert!(matches!(down, Error::PortUnavailable(_)), "one variant, whichever crate called");
    let outage = Error::from(WalletError::Store(StoreError::backend(std::fmt::Error)));
    assert!(outage.is_transient());
    let mut chain = vec![outage.to_string()];
    let mut at: &dyn std::error::Error = &outage;
    while let Some(next) = at.source() {
        chain.push(next.to_string());
        at = next;
    }
    assert_eq!(
        chain,
        [
            "wallet store failed",
            "store backend failed",
            "an error occurred when formatting an argument"
        ],
        "a store failure keeps its cause"
    );
    assert!(!Error::Store(StoreError::Corrupt).is_transient(), "damage is not passing");
    assert!(!Error::from(WalletError::OtpInvalid).is_transient());
    // One error for one thing, whichever crate noticed it.
    assert_eq!(Error::from(WalletError::CardNotFound), Error::CardNotFound);
    assert_eq!(Error::from(WalletError::DeviceNotFound), Error::DeviceNotFound);
}

#[test]
fn each_error_says_what_kind_it_is() {
    use cloudcard::ErrorKind;
    use cloudcard::core::StoreError;
    use cloudcard::wallet::WalletError;
    assert_eq!(Error::CardNotFound.kind(), ErrorKind::NotFound);
    assert_eq!(Error::from(WalletError::UserNotFound).kind(), ErrorKind::NotFound);
    assert_eq!(Error::from(WalletError::OtpInvalid).kind(), ErrorKind::Refused);
    assert_eq!(Error::DuplicateTransaction.kind(), ErrorKind::Refused);
    assert_eq!(Error::Store(StoreError::Conflict).kind(), ErrorKind::Unavailable);
    assert_eq!(Error::Store(StoreError::WrongKeys).kind(), ErrorKind::Internal);
    let parse = "not a card".parse::<cloudcard::Pan>().unwrap_err();
    assert_eq!(Error::from(parse).kind(), ErrorKind::Invalid);
}

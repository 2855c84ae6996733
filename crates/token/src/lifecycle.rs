//! The token lifecycle: one enum of states, one function that decides every transition.

use serde::{Deserialize, Serialize};

/// Who acts on a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Actor {
    /// The cardholder, from the wallet app.
    User,
    /// The card's issuing bank.
    Issuer,
    /// The wallet operator acting on a loss report (lost phone, lost card).
    LossReport,
}

/// Where a token is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "by")]
pub enum TokenStatus {
    /// Usable for payments.
    Active,
    /// Not usable until resumed; remembers who suspended it.
    Suspended(Actor),
    /// Gone for good. Terminal.
    Deleted,
}

/// Something that happens to a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event", content = "by")]
pub enum TokenEvent {
    /// Stop the token for now.
    Suspend(Actor),
    /// Lift a suspension.
    Resume(Actor),
    /// End the token.
    Delete(Actor),
}

/// Why a transition is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The token is deleted; nothing happens to it any more.
    #[error("token is deleted")]
    Deleted,
    /// Resuming a token that is not suspended.
    #[error("token is not suspended")]
    NotSuspended,
    /// Suspending a token already suspended by an actor at least as strong.
    #[error("token is already suspended")]
    AlreadySuspended,
    /// Resuming a suspension this actor may not lift.
    #[error("this suspension can be lifted only by the party that imposed it")]
    NotYourSuspension,
}

/// Decides the state after `event` on a token in `status`.
///
/// - `Deleted` is terminal: every event on it is refused.
/// - Any actor may suspend an active token or delete a live one.
/// - Suspending a suspended token is refused, except that the issuer may take over a user's or
///   a loss report's suspension (the issuer's is the stronger).
/// - An issuer's suspension is lifted only by the issuer. A user's suspension is lifted by the
///   user or the issuer. A loss report's suspension is lifted by the user (the phone was found)
///   or the issuer.
///
/// # Errors
///
/// A [`LifecycleError`] naming why the transition is illegal.
///
/// ```
/// use cloudcard_token::{transition, Actor, TokenEvent, TokenStatus};
///
/// let s = transition(TokenStatus::Active, TokenEvent::Suspend(Actor::Issuer))?;
/// assert!(transition(s, TokenEvent::Resume(Actor::User)).is_err());
/// assert_eq!(transition(s, TokenEvent::Resume(Actor::Issuer))?, TokenStatus::Active);
/// # Ok::<(), cloudcard_token::LifecycleError>(())
/// ```
pub const fn transition(
    status: TokenStatus,
    event: TokenEvent,
) -> Result<TokenStatus, LifecycleError> {
    use TokenEvent as E;
    use TokenStatus as S;
    match (status, event) {
        (S::Deleted, _) => Err(LifecycleError::Deleted),
        (_, E::Delete(_)) => Ok(S::Deleted),
        (S::Active, E::Suspend(by)) => Ok(S::Suspended(by)),
        (S::Active, E::Resume(_)) => Err(LifecycleError::NotSuspended),
        (S::Suspended(Actor::Issuer), E::Suspend(_)) => Err(LifecycleError::AlreadySuspended),
        (S::Suspended(_), E::Suspend(Actor::Issuer)) => Ok(S::Suspended(Actor::Issuer)),
        (S::Suspended(_), E::Suspend(_)) => Err(LifecycleError::AlreadySuspended),
        (S::Suspended(Actor::Issuer), E::Resume(Actor::Issuer)) => Ok(S::Active),
        (S::Suspended(Actor::Issuer), E::Resume(_)) => Err(LifecycleError::NotYourSuspension),
        (S::Suspended(_), E::Resume(Actor::User | Actor::Issuer)) => Ok(S::Active),
        (S::Suspended(_), E::Resume(Actor::LossReport)) => Err(LifecycleError::NotYourSuspension),
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::User => "the cardholder",
            Self::Issuer => "the issuer",
            Self::LossReport => "a loss report",
        })
    }
}

impl std::fmt::Display for TokenStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Active => f.write_str("active"),
            Self::Suspended(by) => write!(f, "suspended by {by}"),
            Self::Deleted => f.write_str("deleted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ACTORS: [Actor; 3] = [Actor::User, Actor::Issuer, Actor::LossReport];

    #[test]
    fn issuer_suspension_is_the_issuers_to_lift() {
        let s = TokenStatus::Suspended(Actor::Issuer);
        assert_eq!(
            transition(s, TokenEvent::Resume(Actor::User)),
            Err(LifecycleError::NotYourSuspension)
        );
        assert_eq!(
            transition(s, TokenEvent::Resume(Actor::LossReport)),
            Err(LifecycleError::NotYourSuspension)
        );
        assert_eq!(transition(s, TokenEvent::Resume(Actor::Issuer)), Ok(TokenStatus::Active));
        assert_eq!(
            transition(s, TokenEvent::Suspend(Actor::User)),
            Err(LifecycleError::AlreadySuspended)
        );
    }

    #[test]
    fn issuer_takes_over_weaker_suspensions() {
        let s = TokenStatus::Suspended(Actor::User);
        assert_eq!(
            transition(s, TokenEvent::Suspend(Actor::Issuer)),
            Ok(TokenStatus::Suspended(Actor::Issuer))
        );
        assert_eq!(transition(s, TokenEvent::Resume(Actor::User)), Ok(TokenStatus::Active));
        assert_eq!(transition(s, TokenEvent::Resume(Actor::Issuer)), Ok(TokenStatus::Active));
        let s = TokenStatus::Suspended(Actor::LossReport);
        assert_eq!(transition(s, TokenEvent::Resume(Actor::User)), Ok(TokenStatus::Active));
        assert_eq!(
            transition(s, TokenEvent::Resume(Actor::LossReport)),
            Err(LifecycleError::NotYourSuspension)
        );
    }

    #[test]
    fn deleted_is_terminal() {
        for a in ACTORS {
            for e in [TokenEvent::Suspend(a), TokenEvent::Resume(a), TokenEvent::Delete(a)] {
                assert_eq!(transition(TokenStatus::Deleted, e), Err(LifecycleError::Deleted));
            }
        }
        assert_eq!(
            transition(TokenStatus::Active, TokenEvent::Resume(Actor::User)),
            Err(LifecycleError::NotSuspended)
        );
    }

    fn event() -> impl Strategy<Value = TokenEvent> {
        (0..3usize, 0..3usize).prop_map(|(k, a)| {
            let a = ACTORS[a];
            match k {
                0 => TokenEvent::Suspend(a),
                1 => TokenEvent::Resume(a),
                _ => TokenEvent::Delete(a),
            }
        })
    }

    proptest! {
        #[test]
        fn no_sequence_escapes_the_rules(events in prop::collection::vec(event(), 0..40)) {
            let mut status = TokenStatus::Active;
            let mut deleted = false;
            for e in events {
                let before = status;
                match transition(status, e) {
                    Ok(next) => {
                        prop_assert!(!deleted, "a deleted token moved");
                        // An issuer suspension is lifted only by the issuer.
                        if before == TokenStatus::Suspended(Actor::Issuer) && next == TokenStatus::Active {
                            prop_assert_eq!(e, TokenEvent::Resume(Actor::Issuer));
                        }
                        status = next;
                    }
                    Err(_) => prop_assert_eq!(status, before),
                }
                deleted |= status == TokenStatus::Deleted;
                prop_assert!(!deleted || status == TokenStatus::Deleted);
            }
        }
    }
}

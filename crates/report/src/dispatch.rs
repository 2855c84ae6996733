//! The bank fan-out port: one connector per bank, and a dispatcher that drives them and feeds
//! their answers back into the lookup.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::{Bank, QueryId, UserId};

use crate::LookupError;
use crate::model::{BankAnswer, FoundCard, HeldAnswer, PendingAnswer};
use crate::service::{LookupEvent, LookupService};
use crate::store::LookupStore;

/// A question to one bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankQuery {
    /// The query.
    pub query: QueryId,
    /// Whose cards (the bank resolves the user's verified identity through its own channel).
    pub user: UserId,
    /// Which attempt.
    pub attempt: u32,
}

/// What a connector does with a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// An answer, arriving `after` this long.
    Answer {
        /// How long the bank takes.
        after: TimeDelta,
        /// What it says.
        answer: BankAnswer,
    },
    /// No answer at all.
    Silence,
}

/// One bank's lookup interface.
pub trait LookupConnector: Send + Sync {
    /// The bank.
    fn bank(&self) -> Bank;
    /// Asks the bank.
    fn ask(&self, query: &BankQuery) -> Reply;
}

/// A simulated bank for tests and examples: a fixed set of cards per user, with injectable
/// latency, retryable failures, terminal failure, "not supported" and silence. It is a
/// simulator, not a bank.
#[derive(Debug, Clone)]
pub struct SimulatedBank {
    bank: Bank,
    cards: HashMap<UserId, Vec<FoundCard>>,
    latency: TimeDelta,
    failures_before_success: u32,
    behaviour: Behaviour,
}

/// How a [`SimulatedBank`] behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// Answers with the user's cards, or none found.
    #[default]
    Answers,
    /// Answers "not supported".
    NotSupported,
    /// Fails for good.
    FailsTerminally,
    /// Never answers.
    Silent,
}

impl SimulatedBank {
    /// A bank that answers at once with the cards given.
    #[must_use]
    pub fn new(bank: Bank) -> Self {
        Self {
            bank,
            cards: HashMap::new(),
            latency: TimeDelta::zero(),
            failures_before_success: 0,
            behaviour: Behaviour::Answers,
        }
    }

    /// Adds a card in `user`'s name.
    #[must_use]
    pub fn with_card(mut self, user: &UserId, card: FoundCard) -> Self {
        self.cards.entry(user.clone()).or_default().push(card);
        self
    }

    /// Answers only after `latency`.
    #[must_use]
    pub const fn with_latency(mut self, latency: TimeDelta) -> Self {
        self.latency = latency;
        self
    }

    /// Fails retryably on the first `n` attempts.
    #[must_use]
    pub const fn failing_first(mut self, n: u32) -> Self {
        self.failures_before_success = n;
        self
    }

    /// Behaves as `behaviour`.
    #[must_use]
    pub const fn behaving(mut self, behaviour: Behaviour) -> Self {
        self.behaviour = behaviour;
        self
    }
}

impl LookupConnector for SimulatedBank {
    fn bank(&self) -> Bank {
        self.bank
    }

    fn ask(&self, query: &BankQuery) -> Reply {
        let answer = match self.behaviour {
            Behaviour::Silent => return Reply::Silence,
            Behaviour::NotSupported => BankAnswer::NotSupported,
            Behaviour::FailsTerminally => BankAnswer::FailedTerminal,
            Behaviour::Answers if query.attempt <= self.failures_before_success => {
                BankAnswer::FailedRetryable
            }
            Behaviour::Answers => match self.cards.get(&query.user) {
                Some(cards) if !cards.is_empty() => BankAnswer::Cards(cards.clone()),
                _ => BankAnswer::NoneFound,
            },
        };
        Reply::Answer { after: self.latency, answer }
    }
}

/// Drives the connectors: sends each dispatch, keeps each answer in the lookup's store until
/// its latency has passed, and feeds the answers to the lookup when pumped. Time is the
/// caller's, so a manual clock drives it in tests. It keeps nothing itself: any node may send,
/// any node may pump, and a restart loses no answer.
pub struct Dispatcher {
    connectors: HashMap<Bank, Arc<dyn LookupConnector>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("banks", &self.connectors.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// How many held answers one pass delivers at most.
const BATCH: usize = 1_000;

impl Dispatcher {
    /// A dispatcher over `connectors`, one per bank.
    #[must_use]
    pub fn new(connectors: Vec<Arc<dyn LookupConnector>>) -> Self {
        Self { connectors: connectors.into_iter().map(|c| (c.bank(), c)).collect() }
    }

    /// Sends the dispatches among `events` at `now`, holding each answer in `lookup`'s store
    /// until it is due; returns the other events (report ready) for the caller. A bank with no
    /// connector stays silent.
    ///
    /// # Errors
    ///
    /// [`LookupError::Store`] if an answer cannot be held; the bank is asked again when the
    /// query's retry or deadline comes.
    pub fn send<S: LookupStore>(
        &self,
        lookup: &LookupService<S>,
        events: Vec<LookupEvent>,
        now: DateTime<Utc>,
    ) -> Result<Vec<LookupEvent>, LookupError> {
        let mut rest = Vec::new();
        for event in events {
            let LookupEvent::Dispatch { query, user, bank, attempt } = event else {
                rest.push(event);
                continue;
            };
            let Some(connector) = self.connectors.get(&bank) else { continue };
            if let Reply::Answer { after, answer } =
                connector.ask(&BankQuery { query: query.clone(), user, attempt })
            {
                let at = now.checked_add_signed(after).unwrap_or(now);
                let answer = HeldAnswer::of(bank, &answer);
                lookup.hold_answer(at, &PendingAnswer { query, bank, answer })?;
            }
        }
        Ok(rest)
    }

    /// Delivers every answer due by `now`, sends the retries they cause, runs the lookup's
    /// deadline tick, and returns the events left for the caller (report ready).
    ///
    /// # Errors
    ///
    /// The first error the lookup returns.
    pub fn pump<S: LookupStore>(
        &self,
        lookup: &LookupService<S>,
        now: DateTime<Utc>,
    ) -> Result<Vec<LookupEvent>, LookupError> {
        let mut out = Vec::new();
        let (mut failed, mut first_error) = (Vec::new(), None);
        loop {
            let due = lookup.take_answers(now, BATCH)?;
            if due.is_empty() {
                break;
            }
            for d in due {
                // One answer that cannot be recorded is held again; the others go on.
                match lookup.record_held(&d.query, d.bank, d.answer.clone(), now) {
                    Ok(events) => match self.send(lookup, events, now) {
                        Ok(rest) => out.extend(rest),
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    },
                    Err(e) => {
                        first_error.get_or_insert(e);
                        failed.push(d);
                    }
                }
            }
        }
        for d in &failed {
            lookup.hold_answer(now, d)?;
        }
        out.extend(lookup.tick(now)?);
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

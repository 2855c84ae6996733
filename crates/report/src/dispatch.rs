//! The bank fan-out port: one connector per bank, and a dispatcher that drives them and feeds
//! their answers back into the lookup.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::{Bank, QueryId, ResidentId, UserId};
use serde::{Deserialize, Serialize};

use crate::LookupError;
use crate::model::{BankAnswer, FoundCard, HeldAnswer, PendingAnswer};
use crate::service::{LookupEvent, LookupService};
use crate::store::LookupStore;

/// A kind of identity document a bank matches a lookup on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IdType {
    /// The mainland resident identity card (居民身份证): what the wallet's real-name check
    /// verifies.
    ResidentIdCard,
}

impl std::fmt::Display for IdType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ResidentIdCard => "resident identity card",
        })
    }
}

/// The identity document a bank matches a query on. The number prints masked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdDocument {
    /// Its kind.
    pub kind: IdType,
    /// Its number.
    pub number: ResidentId,
}

impl IdDocument {
    /// A resident identity card.
    #[must_use]
    pub const fn resident(number: ResidentId) -> Self {
        Self { kind: IdType::ResidentIdCard, number }
    }
}

/// Where the dispatcher finds the identity document behind a user: the wallet's verified real
/// name, in the service.
pub trait IdentityDirectory: Send + Sync + std::fmt::Debug {
    /// The document of `user`; `None` if the user has no verified identity.
    ///
    /// # Errors
    ///
    /// [`LookupError::Store`] if the directory cannot be read.
    fn document(&self, user: &UserId) -> Result<Option<IdDocument>, LookupError>;
}

/// A fixed [`IdentityDirectory`], for tests, examples and simulators.
#[derive(Debug, Clone, Default)]
pub struct IdentityBook {
    documents: HashMap<UserId, IdDocument>,
}

impl IdentityBook {
    /// An empty book.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `user`'s document.
    #[must_use]
    pub fn with(mut self, user: &UserId, document: IdDocument) -> Self {
        self.documents.insert(user.clone(), document);
        self
    }
}

impl IdentityDirectory for IdentityBook {
    fn document(&self, user: &UserId) -> Result<Option<IdDocument>, LookupError> {
        Ok(self.documents.get(user).cloned())
    }
}

/// A question to one bank: which of its cards are in the name of this document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankQuery {
    /// The query.
    pub query: QueryId,
    /// The wallet user who applied.
    pub user: UserId,
    /// The identity document the bank matches its cards on.
    pub document: IdDocument,
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

/// A simulated bank for tests and examples: a fixed set of cards per identity document, with injectable
/// latency, retryable failures, terminal failure, "not supported" and silence. It is a
/// simulator, not a bank.
#[derive(Debug, Clone)]
pub struct SimulatedBank {
    bank: Bank,
    cards: HashMap<IdDocument, Vec<FoundCard>>,
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

    /// Adds a card in the name of the holder of `document`.
    #[must_use]
    pub fn with_card(mut self, document: &IdDocument, card: FoundCard) -> Self {
        self.cards.entry(document.clone()).or_default().push(card);
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
            Behaviour::Answers => match self.cards.get(&query.document) {
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
    directory: Arc<dyn IdentityDirectory>,
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
    /// A dispatcher over `connectors`, one per bank, finding each applicant's identity
    /// document in `directory`.
    #[must_use]
    pub fn new(
        connectors: Vec<Arc<dyn LookupConnector>>,
        directory: Arc<dyn IdentityDirectory>,
    ) -> Self {
        Self { connectors: connectors.into_iter().map(|c| (c.bank(), c)).collect(), directory }
    }

    /// Sends the dispatches among `events` at `now`, holding each answer in `lookup`'s store
    /// until it is due; returns the other events (report ready) for the caller. A bank with no
    /// connector stays silent, and so does every bank for an applicant whose identity document
    /// cannot be found (or not right now): the query's retry or deadline settles it.
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
            let Ok(Some(document)) = self.directory.document(&user) else { continue };
            if let Reply::Answer { after, answer } =
                connector.ask(&BankQuery { query: query.clone(), user, document, attempt })
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

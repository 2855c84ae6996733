//! What banks answer and what a report holds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cloudcard_core::messages::{Message, Messages};
use cloudcard_core::{Bank, CardKind, IssuerTable, Pan, QueryId};
use cloudcard_masking::MaskPolicy;
use serde::{Deserialize, Serialize};

/// How a bank describes a card's use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageStatus {
    /// In normal use.
    InUse,
    /// Dormant: long unused.
    Dormant,
}

/// One card a bank found. The number is reduced to its first 4 and last 4 digits the moment the
/// answer is recorded; the full number never reaches the report store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCard {
    /// The card number.
    pub pan: Pan,
    /// Its kind.
    pub kind: CardKind,
    /// How it is used, if the bank says.
    pub usage: Option<UsageStatus>,
}

/// A bank's answer to one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankAnswer {
    /// These cards are in the user's name.
    Cards(Vec<FoundCard>),
    /// No card in the user's name.
    NoneFound,
    /// The bank does not serve this lookup (yet).
    NotSupported,
    /// A failure worth retrying.
    FailedRetryable,
    /// A failure that retrying will not fix.
    FailedTerminal,
}

/// A bank's answer as it is held until delivered: the card numbers already cut to first 4 and
/// last 4, so an answer waiting in a store holds no full card number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldAnswer {
    /// These cards, masked.
    Cards(Vec<ReportCard>),
    /// No card in the user's name.
    NoneFound,
    /// The bank does not serve this lookup.
    NotSupported,
    /// A failure worth retrying.
    FailedRetryable,
    /// A failure that retrying will not fix.
    FailedTerminal,
}

impl HeldAnswer {
    /// `bank`'s answer, its card numbers cut: the full numbers stop here.
    #[must_use]
    pub fn of(bank: Bank, answer: &BankAnswer) -> Self {
        match answer {
            BankAnswer::Cards(cards) => {
                Self::Cards(cards.iter().map(|c| ReportCard::from_found(bank, c)).collect())
            }
            BankAnswer::NoneFound => Self::NoneFound,
            BankAnswer::NotSupported => Self::NotSupported,
            BankAnswer::FailedRetryable => Self::FailedRetryable,
            BankAnswer::FailedTerminal => Self::FailedTerminal,
        }
    }
}

/// An answer waiting for its delivery time, in the lookup's store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAnswer {
    /// The query.
    pub query: QueryId,
    /// The bank that answered.
    pub bank: Bank,
    /// Its answer.
    pub answer: HeldAnswer,
}

/// Where one bank stands in a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BankStatus {
    /// Asked; no final answer yet.
    Pending,
    /// Found this many cards.
    CardsFound(u32),
    /// Found none.
    NoneFound,
    /// Does not serve the lookup.
    NotCovered,
    /// Failed.
    Failed,
    /// Did not answer within 24 hours.
    NoAnswer,
}

impl BankStatus {
    /// Whether the bank's part is settled.
    #[must_use]
    pub const fn is_final(self) -> bool {
        !matches!(self, Self::Pending)
    }
}

/// Debit or credit, as a report shows it. Quasi-credit counts as credit; prepaid apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Debit (借记卡).
    Debit,
    /// Credit, quasi-credit included (贷记卡).
    Credit,
    /// Prepaid.
    Prepaid,
}

impl From<CardKind> for ReportKind {
    fn from(kind: CardKind) -> Self {
        match kind {
            CardKind::Prepaid => Self::Prepaid,
            k if k.is_credit() => Self::Credit,
            _ => Self::Debit,
        }
    }
}

/// One card in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportCard {
    /// The issuing bank.
    pub bank: Bank,
    /// Its name.
    pub bank_name: String,
    /// Debit, credit or prepaid.
    pub kind: ReportKind,
    /// The first 4 and last 4 digits, e.g. `6222 **** **** 1234`.
    pub masked_number: String,
    /// How it is used, if the bank said.
    pub usage: Option<UsageStatus>,
    /// Whether it is flagged as dormant.
    pub dormant: bool,
    /// The advice to close cards no longer used, for dormant cards.
    pub advice: Option<String>,
}

impl ReportCard {
    pub(crate) fn from_found(bank: Bank, card: &FoundCard) -> Self {
        let dormant = card.usage == Some(UsageStatus::Dormant);
        Self {
            bank,
            bank_name: IssuerTable::builtin().display_name(&bank).to_owned(),
            kind: card.kind.into(),
            masked_number: MaskPolicy::card().mask(card.pan.expose_digits()),
            usage: card.usage,
            dormant,
            // Worded when the report is built, in the service's language.
            advice: None,
        }
    }
}

/// Per-bank counts in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Debit cards.
    pub debit: u32,
    /// Credit cards, quasi-credit included.
    pub credit: u32,
    /// Prepaid cards.
    pub prepaid: u32,
}

impl Counts {
    /// All cards.
    #[must_use]
    pub const fn total(&self) -> u32 {
        self.debit.saturating_add(self.credit).saturating_add(self.prepaid)
    }

    fn add(&mut self, kind: ReportKind) {
        match kind {
            ReportKind::Debit => self.debit = self.debit.saturating_add(1),
            ReportKind::Credit => self.credit = self.credit.saturating_add(1),
            ReportKind::Prepaid => self.prepaid = self.prepaid.saturating_add(1),
        }
    }
}

/// A generated report. Immutable: it is sealed as soon as it is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The query it answers.
    pub query: QueryId,
    /// When it was generated.
    pub generated_at: DateTime<Utc>,
    /// When its content is deleted.
    pub expires_at: DateTime<Utc>,
    /// Cards per bank, debit and credit apart.
    pub summary: BTreeMap<Bank, Counts>,
    /// All banks together.
    pub totals: Counts,
    /// Every card.
    pub details: Vec<ReportCard>,
    /// Each bank's part: "none found" reads differently from "not covered" or "no answer".
    pub bank_status: BTreeMap<Bank, BankStatus>,
    /// Which cards may be missing.
    pub note: String,
}

impl Report {
    pub(crate) fn build(
        query: QueryId,
        (generated_at, expires_at): (DateTime<Utc>, DateTime<Utc>),
        mut details: Vec<ReportCard>,
        bank_status: BTreeMap<Bank, BankStatus>,
        messages: &Messages,
    ) -> Self {
        for card in &mut details {
            card.advice = card.dormant.then(|| messages.text(&Message::DormantAdvice));
        }
        let mut summary: BTreeMap<Bank, Counts> = bank_status
            .iter()
            .filter(|(_, s)| matches!(s, BankStatus::CardsFound(_) | BankStatus::NoneFound))
            .map(|(b, _)| (*b, Counts::default()))
            .collect();
        let mut totals = Counts::default();
        for card in &details {
            summary.entry(card.bank).or_default().add(card.kind);
            totals.add(card.kind);
        }
        Self {
            query,
            generated_at,
            expires_at,
            summary,
            totals,
            details,
            bank_status,
            note: messages.text(&Message::MissingCardsNote),
        }
    }
}

impl std::fmt::Display for BankStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pending => f.write_str("pending"),
            Self::CardsFound(1) => f.write_str("1 card found"),
            Self::CardsFound(n) => write!(f, "{n} cards found"),
            Self::NoneFound => f.write_str("no card found"),
            Self::NotCovered => f.write_str("not covered"),
            Self::Failed => f.write_str("failed"),
            Self::NoAnswer => f.write_str("no answer within 24 hours"),
        }
    }
}

impl std::fmt::Display for ReportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Debit => "debit",
            Self::Credit => "credit",
            Self::Prepaid => "prepaid",
        })
    }
}

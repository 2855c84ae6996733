//! The bank port: four-element verification of a card and the bank's SMS code.

use cloudcard_core::sync::MutexExt;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use cloudcard_core::{Bank, CardExpiry, CardKind, Pan, PersonName, PhoneNumber, ResidentId};
use cloudcard_masking::Secret;
use rand::RngExt;
use subtle::ConstantTimeEq;

use crate::WalletError;
use crate::ports::{OtpPurpose, Sms, SmsGateway};
use cloudcard_core::messages::Messages;

/// What the bank checks when a card is bound: card, name, ID and reserved mobile, plus expiry
/// and CVN2 for a credit card. The CVN2 is used for this check and never stored.
#[derive(Debug, Clone)]
pub struct FourElements {
    /// The card.
    pub pan: Pan,
    /// The account holder's verified name.
    pub name: PersonName,
    /// The account holder's verified ID.
    pub id: ResidentId,
    /// The mobile reserved at the bank.
    pub reserved_mobile: PhoneNumber,
    /// Expiry, for credit cards.
    pub expiry: Option<CardExpiry>,
    /// CVN2, for credit cards.
    pub cvn2: Option<Secret<String>>,
}

/// The bank's answer to a four-element check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankVerdict {
    /// All elements match; the bank sent a code to the reserved mobile.
    CodeSent {
        /// The bank's session for the code.
        session: String,
        /// The issuing bank.
        bank: Bank,
        /// The card's kind.
        kind: CardKind,
    },
    /// The card is the bank's, but the elements do not match.
    Mismatch,
    /// The bank does not know the card.
    UnknownCard,
}

/// The card-issuing banks, through the network.
pub trait BankGateway: Send + Sync + fmt::Debug {
    /// Checks the four elements and, if they match, sends a code to the reserved mobile.
    ///
    /// # Errors
    ///
    /// [`WalletError::PortUnavailable`] if the bank cannot be reached.
    fn verify(
        &self,
        elements: &FourElements,
        now: DateTime<Utc>,
    ) -> Result<BankVerdict, WalletError>;

    /// Whether `code` is the one the bank sent in `session`. A session's code is good once.
    ///
    /// # Errors
    ///
    /// [`WalletError::PortUnavailable`] if the bank cannot be reached.
    fn confirm(&self, session: &str, code: &str) -> Result<bool, WalletError>;
}

/// A card the simulated banks hold.
#[derive(Debug, Clone)]
pub struct SimulatedCard {
    /// The card.
    pub pan: Pan,
    /// Issuer.
    pub bank: Bank,
    /// Kind.
    pub kind: CardKind,
    /// Holder's name.
    pub name: PersonName,
    /// Holder's ID.
    pub id: ResidentId,
    /// Reserved mobile.
    pub mobile: PhoneNumber,
    /// Expiry.
    pub expiry: CardExpiry,
    /// CVN2.
    pub cvn2: Secret<String>,
}

/// A simulator of the card-issuing banks for tests and examples: a small, deterministic set of
/// people and cards at several of the 16 national banks. It sends its codes through the
/// wallet's SMS gateway. It is a simulator, not a bank.
pub struct SimulatedBankGateway {
    cards: Vec<SimulatedCard>,
    sms: Arc<dyn SmsGateway>,
    sessions: Mutex<HashMap<String, Secret<String>>>,
}

impl fmt::Debug for SimulatedBankGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedBankGateway")
            .field("cards", &self.cards.len())
            .finish_non_exhaustive()
    }
}

/// The simulator's people: (name, resident ID, mobile).
pub const DEMO_PEOPLE: [(&str, &str, &str); 3] = [
    ("张三", "110102199101010078", "13812345678"),
    ("李四", "360426199101010071", "13987654321"),
    ("王五", "44011320141005001X", "15011112222"),
];

impl SimulatedBankGateway {
    /// A simulator holding `cards`.
    #[must_use]
    pub fn new(cards: Vec<SimulatedCard>, sms: Arc<dyn SmsGateway>) -> Self {
        Self { cards, sms, sessions: Mutex::new(HashMap::new()) }
    }

    /// The demo data set: 张三 with an ICBC debit card, a CMB credit card and a CCB debit card;
    /// 李四 with a BOC debit card; 王五 with an ABC debit card. Every number is Luhn-valid and
    /// its BIN is the bank's in the built-in issuer table.
    #[must_use]
    pub fn demo(sms: Arc<dyn SmsGateway>) -> Self {
        Self::new(demo_cards(), sms)
    }

    /// The cards the simulator holds.
    #[must_use]
    pub fn cards(&self) -> &[SimulatedCard] {
        &self.cards
    }
}

/// The demo cards (see [`SimulatedBankGateway::demo`]).
#[must_use]
pub fn demo_cards() -> Vec<SimulatedCard> {
    let rows: [(usize, &str, Bank, CardKind, &str, &str); 5] = [
        (0, "6222021234567890128", Bank::Icbc, CardKind::Debit, "12/30", "000"),
        (0, "6225751234567893", Bank::Cmb, CardKind::Credit, "08/29", "738"),
        (0, "6217001234567890122", Bank::Ccb, CardKind::Debit, "05/31", "000"),
        (1, "6216611234567890126", Bank::Boc, CardKind::Debit, "03/30", "000"),
        (2, "6228481234567890128", Bank::Abc, CardKind::Debit, "11/32", "000"),
    ];
    rows.iter()
        .filter_map(|(p, pan, bank, kind, exp, cvn)| {
            let (name, id, mobile) = DEMO_PEOPLE.get(*p)?;
            Some(SimulatedCard {
                pan: pan.parse().ok()?,
                bank: *bank,
                kind: *kind,
                name: name.parse().ok()?,
                id: id.parse().ok()?,
                mobile: mobile.parse().ok()?,
                expiry: exp.parse().ok()?,
                cvn2: Secret::new((*cvn).to_owned()),
            })
        })
        .collect()
}

impl BankGateway for SimulatedBankGateway {
    fn verify(&self, e: &FourElements, now: DateTime<Utc>) -> Result<BankVerdict, WalletError> {
        let Some(card) = self.cards.iter().find(|c| c.pan == e.pan) else {
            return Ok(BankVerdict::UnknownCard);
        };
        let credit_ok = !card.kind.is_credit()
            || (e.expiry == Some(card.expiry) && e.cvn2.as_ref().is_some_and(|c| *c == card.cvn2));
        if card.name != e.name || card.id != e.id || card.mobile != e.reserved_mobile || !credit_ok
        {
            return Ok(BankVerdict::Mismatch);
        }
        let mut rng = rand::rng();
        let code = format!("{:06}", rng.random_range(0..1_000_000u32));
        let session = format!("bank-{:016x}", rng.random::<u64>());
        // The bank words and signs its own code SMS.
        let bank_messages = Messages::default().signed(card.bank.chinese_name().unwrap_or("bank"));
        let purpose = OtpPurpose::CardBinding;
        let minutes = 5;
        let sms = Sms::code(
            &bank_messages,
            card.mobile.clone(),
            purpose,
            code.clone().into(),
            minutes,
            now,
        );
        self.sms.send(sms)?;
        self.sessions.lock_unpoisoned().insert(session.clone(), Secret::new(code));
        Ok(BankVerdict::CodeSent { session, bank: card.bank, kind: card.kind })
    }

    fn confirm(&self, session: &str, code: &str) -> Result<bool, WalletError> {
        let mut sessions = self.sessions.lock_unpoisoned();
        let ok = sessions.get(session).is_some_and(|expected| {
            bool::from(expected.expose_secret().as_bytes().ct_eq(code.as_bytes()))
        });
        if ok {
            sessions.remove(session);
        }
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudcard_core::IssuerTable;

    #[test]
    fn demo_cards_are_valid_and_known_to_the_issuer_table() {
        let cards = demo_cards();
        assert_eq!(cards.len(), 5);
        for c in &cards {
            let info = IssuerTable::builtin().lookup(&c.pan).unwrap();
            assert_eq!((info.bank, info.kind), (c.bank, c.kind), "{:?}", c.pan);
        }
    }
}

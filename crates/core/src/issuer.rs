//! [`IssuerTable`]: from a card's BIN to its issuer and kind.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::{Bank, BankCode, CardKind, Error, Pan};

/// The shortest and longest BIN prefixes a table holds.
const PREFIX_MIN: usize = 3;
const PREFIX_MAX: usize = 10;

/// The built-in BIN data (the `bcbc` data set; MIT licence, see `data/bcbc/LICENSE`).
const BUILTIN_BINS: &str = include_str!("../data/bcbc/bin.csv");
const BUILTIN_NAMES: &str = include_str!("../data/bcbc/name.csv");

/// Who issued a card and what kind of card it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IssuerInfo {
    /// The issuing bank.
    pub bank: Bank,
    /// Debit, credit, quasi-credit or prepaid.
    pub kind: CardKind,
}

/// A table from (BIN prefix of 3–10 digits, card length) to issuer.
///
/// For a card of length `L`, the longest prefix registered for length `L` that the card starts
/// with wins: a dozen prefixes in real data belong to two banks at different card lengths
/// (`622302` is one bank's 16-digit card and another's 18-digit card). The table is
/// representative, not complete: a BIN it does not know is `None`, a normal answer.
///
/// ```
/// use cloudcard_core::{Bank, CardKind, IssuerTable, Pan};
///
/// let mut table = IssuerTable::new();
/// table.insert("622202", 19, Bank::Icbc, CardKind::Debit)?;
/// table.insert("6222021", 19, Bank::Cmb, CardKind::Credit)?; // longer prefix wins
/// let pan: Pan = "6222021234567890128".parse()?;
/// assert_eq!(table.lookup(&pan).map(|i| i.bank), Some(Bank::Cmb));
/// assert_eq!(table.lookup_digits("6222029999999999999").map(|i| i.bank), Some(Bank::Icbc));
/// assert_eq!(table.lookup_digits("6222029999999999"), None); // no 16-digit entry
/// # Ok::<(), cloudcard_core::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct IssuerTable {
    entries: HashMap<Key, IssuerInfo>,
    names: HashMap<BankCode, String>,
    /// Bit `n` is set when some entry has a prefix of `n` digits.
    prefix_lengths: u16,
}

/// (card length, prefix length, prefix value).
type Key = (u8, u8, u64);

impl IssuerTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in table of 1,709 Chinese BINs of 260 issuers, with their Chinese names.
    ///
    /// Built once, on first use, from the data shipped in this crate.
    #[must_use]
    pub fn builtin() -> &'static Self {
        static TABLE: OnceLock<IssuerTable> = OnceLock::new();
        // The shipped data parses (a unit test holds it to that); were it ever to fail, an
        // empty table answers `None` for every card, which callers already handle.
        TABLE.get_or_init(|| Self::from_csv(BUILTIN_BINS, BUILTIN_NAMES).unwrap_or_default())
    }

    /// Builds a table from CSV text in the built-in data's layout: `bins` with the header
    /// `bin,bank,type,length`, `names` with the header `bank,name`.
    ///
    /// # Errors
    ///
    /// [`Error::IssuerTable`] naming the first malformed line.
    pub fn from_csv(bins: &str, names: &str) -> Result<Self, Error> {
        let mut table = Self::new();
        for (line, fields) in csv_rows(bins, "bin,bank,type,length")? {
            let bad = |reason| Error::IssuerTable { line, reason };
            let [prefix, bank, kind, length] = fields[..] else {
                return Err(bad("expected 4 fields"));
            };
            let bank = Bank::from_code(bank).map_err(|_| bad("bad bank code"))?;
            let kind = CardKind::from_code(kind).map_err(|_| bad("bad card type"))?;
            let length: usize = length.parse().map_err(|_| bad("bad card length"))?;
            table.insert(prefix, length, bank, kind).map_err(|_| bad("bad bin prefix"))?;
        }
        for (line, fields) in csv_rows(names, "bank,name")? {
            let bad = |reason| Error::IssuerTable { line, reason };
            let [code, name] = fields[..] else {
                return Err(bad("expected 2 fields"));
            };
            let code = BankCode::new(code).map_err(|_| bad("bad bank code"))?;
            table.names.insert(code, name.to_owned());
        }
        Ok(table)
    }

    /// Adds (or replaces) the issuer of cards of `card_len` digits starting with `prefix`.
    ///
    /// # Errors
    ///
    /// [`Error::BinPrefix`] unless `prefix` is 3–10 ASCII digits and `card_len` is 13–19.
    pub fn insert(
        &mut self,
        prefix: &str,
        card_len: usize,
        bank: Bank,
        kind: CardKind,
    ) -> Result<(), Error> {
        let key = key(prefix, card_len).ok_or(Error::BinPrefix)?;
        self.entries.insert(key, IssuerInfo { bank, kind });
        self.prefix_lengths |= 1 << key.1;
        Ok(())
    }

    /// The issuer of `pan`, if the table knows its BIN.
    #[must_use]
    pub fn lookup(&self, pan: &Pan) -> Option<IssuerInfo> {
        self.lookup_digits(pan.expose_digits())
    }

    /// The issuer of a card written as plain digits, if the table knows its BIN.
    #[must_use]
    pub fn lookup_digits(&self, digits: &str) -> Option<IssuerInfo> {
        let card_len = digits.len();
        (PREFIX_MIN..=PREFIX_MAX.min(card_len))
            .rev()
            .filter(|n| self.prefix_lengths & (1 << n) != 0)
            .find_map(|n| self.entries.get(&key(digits.get(..n)?, card_len)?))
            .copied()
    }

    /// Whether some card of `card_len` digits starting with `prefix` could belong to an issuer
    /// in this table: an entry's prefix starts with `prefix`, or `prefix` starts with an
    /// entry's prefix. A token number range must not overlap the table in this sense.
    #[must_use]
    pub fn overlaps(&self, prefix: &str, card_len: usize) -> bool {
        self.entries.keys().any(|&(len, plen, value)| {
            if usize::from(len) != card_len {
                return false;
            }
            let entry = format!("{value:0width$}", width = usize::from(plen));
            entry.starts_with(prefix) || prefix.starts_with(&entry)
        })
    }

    /// The issuer's name as the table records it; national banks fall back to their built-in
    /// Chinese name.
    #[must_use]
    pub fn bank_name(&self, bank: &Bank) -> Option<&str> {
        let code = BankCode::new(bank.code()).ok()?;
        self.names.get(&code).map(String::as_str).or_else(|| bank.chinese_name())
    }

    /// The name to show for an issuer: the table's name, or the issuer's code when the table
    /// has none.
    #[must_use]
    pub fn display_name<'a>(&'a self, bank: &'a Bank) -> &'a str {
        self.bank_name(bank).unwrap_or(bank.code())
    }

    /// How many (prefix, length) entries the table holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many issuers have a recorded name.
    #[must_use]
    pub fn named_banks(&self) -> usize {
        self.names.len()
    }
}

fn key(prefix: &str, card_len: usize) -> Option<Key> {
    let plen = prefix.len();
    if !(PREFIX_MIN..=PREFIX_MAX).contains(&plen) || !(13..=19).contains(&card_len) {
        return None;
    }
    if !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((card_len as u8, plen as u8, prefix.parse().ok()?))
}

/// The data rows of simple CSV text (no quoting) with a 1-based line number each, after
/// checking the header.
fn csv_rows<'a>(
    text: &'a str,
    header: &'static str,
) -> Result<impl Iterator<Item = (usize, Vec<&'a str>)>, Error> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    match lines.next() {
        Some((_, h)) if h.trim_start_matches('\u{feff}') == header => {}
        _ => return Err(Error::IssuerTable { line: 1, reason: "unexpected header" }),
    }
    Ok(lines.filter(|(_, l)| !l.trim().is_empty()).map(|(n, l)| (n, l.split(',').collect())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many BIN rows the built-in data holds.
    const BUILTIN_ROWS: usize = 1709;

    #[test]
    fn builtin_data_parses_completely() {
        let table = IssuerTable::from_csv(BUILTIN_BINS, BUILTIN_NAMES).unwrap();
        assert_eq!(table.len(), BUILTIN_ROWS);
        assert_eq!(table.named_banks(), 275);
        // Every issuer in the BIN data has its name.
        for info in table.entries.values() {
            assert!(table.bank_name(&info.bank).is_some(), "{}", info.bank);
        }
        let issuers: std::collections::HashSet<_> =
            table.entries.values().map(|i| i.bank).collect();
        assert_eq!(issuers.len(), 260);
        assert_eq!(IssuerTable::builtin().len(), BUILTIN_ROWS);
    }

    #[test]
    fn every_national_bank_is_covered() {
        let table = IssuerTable::builtin();
        for bank in Bank::NATIONAL {
            assert!(table.entries.values().any(|i| i.bank == bank), "{bank}");
        }
        assert_eq!(table.bank_name(&Bank::Icbc), Some("中国工商银行"));
        assert_eq!(table.bank_name(&Bank::from_code("KMRCU").unwrap()), Some("昆明农村信用联合社"));
        assert_eq!(table.bank_name(&Bank::from_code("NOSUCH").unwrap()), None);
        assert_eq!(table.display_name(&Bank::from_code("NOSUCH").unwrap()), "NOSUCH");
        assert_eq!(table.display_name(&Bank::Cmb), "招商银行");
    }

    #[test]
    fn shared_prefix_resolves_by_length() {
        // 622302 belongs to different issuers at 16 and at 18 digits in the real data.
        let table = IssuerTable::builtin();
        let short = table.lookup_digits("6223020000000000").map(|i| i.bank);
        let long = table.lookup_digits("622302000000000000").map(|i| i.bank);
        assert_eq!(short, Some(Bank::from_code("GDRCC").unwrap()));
        assert_eq!(long, Some(Bank::Icbc));
    }

    #[test]
    fn unknown_bin_is_none() {
        let table = IssuerTable::builtin();
        assert_eq!(table.lookup_digits("9990000000000000000"), None);
        assert_eq!(table.lookup_digits("12"), None);
        assert_eq!(table.lookup_digits(""), None);
        assert!(IssuerTable::new().lookup_digits("6222020000000000000").is_none());
    }

    #[test]
    fn overlap_check() {
        let mut table = IssuerTable::new();
        table.insert("622202", 19, Bank::Icbc, CardKind::Debit).unwrap();
        assert!(table.overlaps("6222", 19));
        assert!(table.overlaps("62220212", 19));
        assert!(!table.overlaps("6222", 16));
        assert!(!table.overlaps("9999", 19));
    }

    #[test]
    fn malformed_data_names_the_line() {
        let bins = "bin,bank,type,length\n622202,ICBC,DC,19\n62x,ICBC,DC,19\n";
        assert_eq!(
            IssuerTable::from_csv(bins, "bank,name\n").unwrap_err(),
            Error::IssuerTable { line: 3, reason: "bad bin prefix" }
        );
        let bins = "bin,bank,type,length\n622202,ICBC,ZZ,19\n";
        assert_eq!(
            IssuerTable::from_csv(bins, "bank,name\n").unwrap_err(),
            Error::IssuerTable { line: 2, reason: "bad card type" }
        );
        assert_eq!(
            IssuerTable::from_csv("nope\n", "bank,name\n").unwrap_err(),
            Error::IssuerTable { line: 1, reason: "unexpected header" }
        );
        let bins = "bin,bank,type,length\n622202,ICBC,DC\n";
        assert!(IssuerTable::from_csv(bins, "bank,name\n").is_err());
        assert!(IssuerTable::new().insert("62", 16, Bank::Icbc, CardKind::Debit).is_err());
        assert!(IssuerTable::new().insert("622202", 20, Bank::Icbc, CardKind::Debit).is_err());
    }
}

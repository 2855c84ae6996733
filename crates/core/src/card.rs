//! Card attributes beside the number: expiry date and currency.

use core::fmt;
use core::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// A card's expiry month, as printed on it (`MM/YY`). The card is good through the last day of
/// that month.
///
/// ```
/// use chrono::NaiveDate;
/// use cloudcard_core::CardExpiry;
///
/// let exp: CardExpiry = "09/28".parse()?;
/// assert_eq!((exp.year(), exp.month()), (2028, 9));
/// let last_day = NaiveDate::from_ymd_opt(2028, 9, 30).ok_or(cloudcard_core::Error::CardExpiry)?;
/// assert!(!exp.is_expired_on(last_day));
/// assert!(exp.is_expired_on(last_day + chrono::Days::new(1)));
/// # Ok::<(), cloudcard_core::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardExpiry {
    year: u16,
    month: u8,
}

impl CardExpiry {
    /// An expiry of `month` (1–12) in `year` (2000–2099).
    ///
    /// # Errors
    ///
    /// [`Error::CardExpiry`] for a month or year out of range.
    pub fn new(year: u16, month: u8) -> Result<Self, Error> {
        if (1..=12).contains(&month) && (2000..=2099).contains(&year) {
            Ok(Self { year, month })
        } else {
            Err(Error::CardExpiry)
        }
    }

    /// Parses `MM/YY`.
    ///
    /// # Errors
    ///
    /// [`Error::CardExpiry`] unless `s` is `MM/YY` with a month of 01–12.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let (mm, yy) = s.split_once('/').ok_or(Error::CardExpiry)?;
        let two_digits = |t: &str| t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit());
        if !two_digits(mm) || !two_digits(yy) {
            return Err(Error::CardExpiry);
        }
        let month: u8 = mm.parse().map_err(|_| Error::CardExpiry)?;
        let yy: u16 = yy.parse().map_err(|_| Error::CardExpiry)?;
        Self::new(2000 + yy, month)
    }

    /// The year, e.g. 2028.
    #[must_use]
    pub const fn year(self) -> u16 {
        self.year
    }

    /// The month, 1–12.
    #[must_use]
    pub const fn month(self) -> u8 {
        self.month
    }

    /// Whether the card is past its expiry month on `date`.
    #[must_use]
    pub fn is_expired_on(self, date: NaiveDate) -> bool {
        let (y, m) = (date.year(), date.month());
        (y, m) > (i32::from(self.year), u32::from(self.month))
    }
}

impl FromStr for CardExpiry {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for CardExpiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}/{:02}", self.month, self.year % 100)
    }
}

impl fmt::Debug for CardExpiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardExpiry({self})")
    }
}

impl Serialize for CardExpiry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CardExpiry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = crate::text::text(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A currency by its ISO 4217 numeric code. Cloud cards transact in renminbi ([`Currency::CNY`])
/// unless a merchant says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Currency(u16);

impl Currency {
    /// Chinese renminbi, code 156.
    pub const CNY: Self = Self(156);

    /// The currency with ISO 4217 numeric `code`.
    ///
    /// # Errors
    ///
    /// [`Error::Currency`] for a code above 999.
    pub const fn from_numeric(code: u16) -> Result<Self, Error> {
        if code <= 999 { Ok(Self(code)) } else { Err(Error::Currency) }
    }

    /// The ISO 4217 numeric code.
    #[must_use]
    pub const fn numeric(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_parse_and_print() {
        let e = CardExpiry::parse("01/30").unwrap();
        assert_eq!(e.to_string(), "01/30");
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"01/30\"");
        assert_eq!(serde_json::from_str::<CardExpiry>("\"01/30\"").unwrap(), e);
        for bad in ["", "1/30", "13/30", "00/30", "01-30", "01/3", "0a/30", "01/300"] {
            assert_eq!(CardExpiry::parse(bad), Err(Error::CardExpiry), "{bad}");
        }
        assert!(CardExpiry::new(1999, 1).is_err());
    }

    #[test]
    fn currency() {
        assert_eq!(Currency::CNY.numeric(), 156);
        assert_eq!(Currency::from_numeric(840).unwrap().to_string(), "840");
        assert_eq!(Currency::from_numeric(1000), Err(Error::Currency));
    }
}

/// How a payment reaches the merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Channel {
    /// Contactless at a POS terminal (NFC).
    Nfc,
    /// A QR code shown or scanned.
    Qr,
    /// Inside a merchant's app.
    InApp,
    /// Online checkout.
    Online,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Self; 4] = [Self::Nfc, Self::Qr, Self::InApp, Self::Online];

    /// The channel's one-byte code (1–4), as cryptogram data carries it.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::Nfc => 1,
            Self::Qr => 2,
            Self::InApp => 3,
            Self::Online => 4,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Nfc => "nfc",
            Self::Qr => "qr",
            Self::InApp => "in_app",
            Self::Online => "online",
        })
    }
}

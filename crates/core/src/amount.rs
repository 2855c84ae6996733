//! [`Amount`]: money in integer fen.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// An amount of money in fen (1 yuan = 100 fen), never negative.
///
/// Arithmetic is checked: every operation that could overflow or go below zero returns an
/// `Option`, and there is no `+` or `-` that could wrap. There are no floats anywhere: text is
/// parsed digit by digit (`"12.34"`, `"12.3"`, `"12"`) and printed with two decimals.
/// Serialized as an integer number of fen.
///
/// ```
/// use cloudcard_core::Amount;
///
/// let price: Amount = "19.90".parse()?;
/// assert_eq!(price.fen(), 1990);
/// assert_eq!(price.checked_mul(3).map(|a| a.to_string()), Some("59.70".to_owned()));
/// assert_eq!(Amount::ZERO.checked_sub(price), None);
/// assert_eq!(Amount::MAX.checked_add(Amount::from_fen(1)), None);
/// # Ok::<(), cloudcard_core::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(u64);

impl Amount {
    /// No money.
    pub const ZERO: Self = Self(0);
    /// The largest amount.
    pub const MAX: Self = Self(u64::MAX);

    /// An amount of `fen`.
    #[must_use]
    pub const fn from_fen(fen: u64) -> Self {
        Self(fen)
    }

    /// An amount of whole `yuan`, or `None` if it does not fit.
    #[must_use]
    pub const fn from_yuan(yuan: u64) -> Option<Self> {
        match yuan.checked_mul(100) {
            Some(fen) => Some(Self(fen)),
            None => None,
        }
    }

    /// The amount in fen.
    #[must_use]
    pub const fn fen(self) -> u64 {
        self.0
    }

    /// Whether this is zero.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + rhs`, or `None` on overflow.
    #[must_use]
    pub const fn checked_add(self, rhs: Self) -> Option<Self> {
        match self.0.checked_add(rhs.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self - rhs`, or `None` if `rhs` is larger.
    #[must_use]
    pub const fn checked_sub(self, rhs: Self) -> Option<Self> {
        match self.0.checked_sub(rhs.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self × n`, or `None` on overflow.
    #[must_use]
    pub const fn checked_mul(self, n: u64) -> Option<Self> {
        match self.0.checked_mul(n) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self - rhs`, or zero if `rhs` is larger.
    #[must_use]
    pub const fn saturating_sub(self, rhs: Self) -> Self {
        Self(self.0.saturating_sub(rhs.0))
    }

    /// The sum of `amounts`, or `None` on overflow.
    #[must_use]
    pub fn checked_sum<I: IntoIterator<Item = Self>>(amounts: I) -> Option<Self> {
        amounts.into_iter().try_fold(Self::ZERO, Self::checked_add)
    }
}

impl FromStr for Amount {
    type Err = Error;

    /// Parses yuan with at most two decimals: `"12"`, `"12.3"`, `"12.34"`, `"0.05"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 2 {
            return Err(Error::AmountFormat);
        }
        if s.contains('.') && frac.is_empty() {
            return Err(Error::AmountFormat);
        }
        let mut fen: u64 = 0;
        for b in whole.bytes() {
            fen = fen
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(b - b'0')))
                .ok_or(Error::AmountOverflow)?;
        }
        let mut frac_fen = 0u64;
        for (i, b) in frac.bytes().enumerate() {
            frac_fen += u64::from(b - b'0') * if i == 0 { 10 } else { 1 };
        }
        fen.checked_mul(100)
            .and_then(|v| v.checked_add(frac_fen))
            .map(Self)
            .ok_or(Error::AmountOverflow)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints() {
        for (text, fen) in [("0", 0), ("0.05", 5), ("12.3", 1230), ("12.34", 1234), ("007", 700)] {
            assert_eq!(text.parse::<Amount>(), Ok(Amount::from_fen(fen)), "{text}");
        }
        assert_eq!(Amount::from_fen(5).to_string(), "0.05");
        assert_eq!(Amount::from_fen(123_456).to_string(), "1234.56");
        assert_eq!(Amount::MAX.to_string(), "184467440737095516.15");
        assert_eq!("184467440737095516.15".parse::<Amount>(), Ok(Amount::MAX));
        assert_eq!(format!("{:?}", Amount::from_fen(100)), "Amount(1.00)");
    }

    #[test]
    fn rejects_bad_text() {
        for text in ["", ".5", "1.", "1.234", "-1", "+1", "1,00", "1e3", "１", " 1", "NaN"] {
            assert_eq!(text.parse::<Amount>(), Err(Error::AmountFormat), "{text}");
        }
        assert_eq!("184467440737095516.16".parse::<Amount>(), Err(Error::AmountOverflow));
        assert_eq!("99999999999999999999999".parse::<Amount>(), Err(Error::AmountOverflow));
    }

    #[test]
    fn serializes_as_fen() {
        assert_eq!(serde_json::to_string(&Amount::from_fen(1234)).unwrap(), "1234");
        assert_eq!(serde_json::from_str::<Amount>("1234").unwrap(), Amount::from_fen(1234));
        assert!(serde_json::from_str::<Amount>("-1").is_err());
        assert!(serde_json::from_str::<Amount>("12.5").is_err());
    }

    #[test]
    fn yuan_and_sums() {
        assert_eq!(Amount::from_yuan(3), Some(Amount::from_fen(300)));
        assert_eq!(Amount::from_yuan(u64::MAX), None);
        let amounts = [Amount::from_fen(1), Amount::from_fen(2)];
        assert_eq!(Amount::checked_sum(amounts), Some(Amount::from_fen(3)));
        assert_eq!(Amount::checked_sum([Amount::MAX, Amount::from_fen(1)]), None);
        assert_eq!(Amount::from_fen(1).saturating_sub(Amount::from_fen(2)), Amount::ZERO);
    }

    proptest! {
        #[test]
        fn arithmetic_never_overflows_silently(a in any::<u64>(), b in any::<u64>(), n in any::<u64>()) {
            let (x, y) = (Amount::from_fen(a), Amount::from_fen(b));
            prop_assert_eq!(x.checked_add(y).map(Amount::fen), a.checked_add(b));
            prop_assert_eq!(x.checked_sub(y).map(Amount::fen), a.checked_sub(b));
            prop_assert_eq!(x.checked_mul(n).map(Amount::fen), a.checked_mul(n));
            if let Some(sum) = x.checked_add(y) {
                prop_assert!(sum >= x && sum >= y);
                prop_assert_eq!(sum.checked_sub(y), Some(x));
            }
        }

        #[test]
        fn display_parse_round_trip(fen in any::<u64>()) {
            let amount = Amount::from_fen(fen);
            prop_assert_eq!(amount.to_string().parse::<Amount>(), Ok(amount));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            if let Ok(a) = s.parse::<Amount>() {
                prop_assert_eq!(a.to_string().parse::<Amount>(), Ok(a));
            }
        }
    }
}

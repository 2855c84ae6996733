//! [`Pan`]: a primary account number (card number).

use core::fmt;
use core::str::FromStr;

use cloudcard_masking::MaskPolicy;
use cloudcard_masking::checks::luhn_valid;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::Error;

/// The most digits a card number has.
const MAX_DIGITS: usize = 19;
/// The fewest digits a card number has.
const MIN_DIGITS: usize = 13;

/// A card number: 13–19 ASCII digits passing the Luhn check.
///
/// Parsing accepts single spaces or single hyphens between digit groups
/// (`6222 0212 3456 7890`). The number never prints: `Debug`, `Display` and `Serialize` show
/// the card mask (`6222 **** **** 7890`), the digits are reached only through
/// [`Pan::expose_digits`], equality runs in constant time, and the digits are zeroized on drop.
/// Deserializing goes through the same parser, so serde cannot build an invalid `Pan`.
///
/// ```
/// use cloudcard_core::Pan;
///
/// let pan: Pan = "6212-3456-7890-0000-003".parse()?;
/// assert_eq!(pan.expose_digits(), "6212345678900000003");
/// assert_eq!(format!("{pan:?}"), "Pan(6212 **** **** *** 0003)");
/// assert_eq!(pan.last4(), "0003");
/// assert!("6200000000000004".parse::<Pan>().is_err());
/// # Ok::<(), cloudcard_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Pan {
    digits: [u8; MAX_DIGITS],
    len: u8,
}

impl Pan {
    /// Parses a card number, with optional single spaces or hyphens between groups.
    ///
    /// # Errors
    ///
    /// [`Error::PanCharacter`] for anything but digits and single inner separators,
    /// [`Error::PanLength`] for fewer than 13 or more than 19 digits, [`Error::PanChecksum`]
    /// when the Luhn check fails.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let mut digits = [0u8; MAX_DIGITS];
        let mut len = 0usize;
        let mut after_separator = true; // no leading separator
        for b in input.bytes() {
            match b {
                b'0'..=b'9' => {
                    let Some(slot) = digits.get_mut(len) else {
                        digits.zeroize();
                        return Err(Error::PanLength);
                    };
                    *slot = b;
                    len += 1;
                    after_separator = false;
                }
                b' ' | b'-' if !after_separator => after_separator = true,
                _ => {
                    digits.zeroize();
                    return Err(Error::PanCharacter);
                }
            }
        }
        let pan = Self { digits, len: len as u8 };
        if after_separator && len > 0 {
            return Err(Error::PanCharacter); // trailing separator
        }
        if len < MIN_DIGITS {
            return Err(Error::PanLength);
        }
        if !luhn_valid(pan.digit_bytes()) {
            return Err(Error::PanChecksum);
        }
        Ok(pan)
    }

    /// The plain digits. Every call site is a place where the card number leaves its wrapper:
    /// the vault's encryption, the issuer's authorization.
    #[must_use]
    pub fn expose_digits(&self) -> &str {
        // Only ASCII digits are ever stored.
        core::str::from_utf8(self.digit_bytes()).unwrap_or_default()
    }

    /// The digits as [`Self::expose_digits`] gives them, as bytes: for a MAC or a comparison,
    /// with nothing to check again on the way.
    #[must_use]
    pub fn expose_digit_bytes(&self) -> &[u8] {
        self.digit_bytes()
    }

    /// How many digits the number has (13–19).
    #[must_use]
    pub fn digit_count(&self) -> usize {
        usize::from(self.len)
    }

    /// The first `n` digits (at most 8; the issuer identification number is not secret).
    #[must_use]
    pub fn prefix(&self, n: usize) -> &str {
        let n = n.min(8).min(self.digit_count());
        self.expose_digits().get(..n).unwrap_or_default()
    }

    /// The last four digits, as printed on receipts.
    #[must_use]
    pub fn last4(&self) -> &str {
        let digits = self.expose_digits();
        digits.get(digits.len().saturating_sub(4)..).unwrap_or_default()
    }

    /// The card mask: first 4 and last 4 digits, grouped by 4.
    #[must_use]
    pub fn masked(&self) -> String {
        MaskPolicy::card().mask(self.expose_digits())
    }

    fn digit_bytes(&self) -> &[u8] {
        self.digits.get(..self.digit_count()).unwrap_or_default()
    }
}

impl FromStr for Pan {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for Pan {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl Drop for Pan {
    fn drop(&mut self) {
        self.digits.zeroize();
    }
}

impl PartialEq for Pan {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.digit_bytes().ct_eq(other.digit_bytes()))
    }
}

impl Eq for Pan {}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for Pan {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

impl<'de> Deserialize<'de> for Pan {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = crate::text::text(deserializer)?;
        Pan::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VALID: [&str; 8] = [
        "6200000000000005",
        "6200000000000047",
        "6205500000000000004",
        "6250946000000016",
        "6250947000000014",
        "6212345678901265",
        "62123456789000003",
        "6212345678900000003",
    ];

    #[test]
    fn published_vectors() {
        for s in VALID {
            let pan = Pan::parse(s).unwrap();
            assert_eq!(pan.expose_digits(), s);
            assert_eq!(pan.expose_digit_bytes(), s.as_bytes());
            assert_eq!(pan.digit_count(), s.len());
        }
        assert_eq!(Pan::parse("4111111111111112"), Err(Error::PanChecksum));
        assert_eq!(Pan::parse("6200000000000004"), Err(Error::PanChecksum));
    }

    #[test]
    fn separators() {
        let pan = Pan::parse("6200 0000 0000 0005").unwrap();
        assert_eq!(pan.expose_digits(), "6200000000000005");
        assert!(Pan::parse("6200-0000-0000-0005").is_ok());
        assert_eq!(Pan::parse("6200  0000 0000 0005"), Err(Error::PanCharacter));
        assert_eq!(Pan::parse(" 6200000000000005"), Err(Error::PanCharacter));
        assert_eq!(Pan::parse("6200000000000005 "), Err(Error::PanCharacter));
        assert_eq!(Pan::parse("6200/0000/0000/0005"), Err(Error::PanCharacter));
        assert_eq!(Pan::parse("６２００"), Err(Error::PanCharacter));
    }

    #[test]
    fn lengths() {
        assert_eq!(Pan::parse(""), Err(Error::PanLength));
        assert_eq!(Pan::parse("620000000005"), Err(Error::PanLength));
        assert_eq!(Pan::parse("62000000000000000005"), Err(Error::PanLength));
    }

    #[test]
    fn never_prints() {
        let pan = Pan::parse("6212345678900000003").unwrap();
        assert_eq!(pan.to_string(), "6212 **** **** *** 0003");
        assert_eq!(format!("{pan:?}"), "Pan(6212 **** **** *** 0003)");
        assert_eq!(serde_json::to_string(&pan).unwrap(), "\"6212 **** **** *** 0003\"");
        assert_eq!(pan.prefix(6), "621234");
        assert_eq!(pan.prefix(12), "62123456");
        assert_eq!(pan.last4(), "0003");
    }

    #[test]
    fn deserializes_through_the_parser() {
        let pan: Pan = serde_json::from_str("\"6200 0000 0000 0005\"").unwrap();
        assert_eq!(pan, Pan::parse("6200000000000005").unwrap());
        let err = serde_json::from_str::<Pan>("\"6200000000000004\"").unwrap_err().to_string();
        assert!(err.contains("check digit"), "{err}");
        assert!(!err.contains("6200000000000004"), "{err}");
        // The masked form does not parse back: printing never round-trips a card number.
        assert!(serde_json::from_str::<Pan>("\"6200 **** **** 0005\"").is_err());
    }

    fn valid_pan() -> impl Strategy<Value = String> {
        (12usize..=18, any::<u64>(), any::<u64>()).prop_map(|(payload_len, a, b)| {
            let mut payload: String = format!("{a:020}{b:020}").chars().take(payload_len).collect();
            let check = cloudcard_masking::checks::luhn_check_digit(payload.as_bytes()).unwrap();
            payload.push(char::from(check));
            payload
        })
    }

    proptest! {
        #[test]
        fn parse_display_round_trip(digits in valid_pan(), sep in prop::sample::select(vec!["", " ", "-"])) {
            let grouped = digits.as_bytes().chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(sep);
            let pan = Pan::parse(&grouped).unwrap();
            prop_assert_eq!(pan.expose_digits(), digits.as_str());
            // Display is the card mask of exactly these digits, never the digits themselves.
            prop_assert_eq!(pan.to_string(), MaskPolicy::card().mask(&digits));
            prop_assert!(!pan.to_string().contains(&digits[4..digits.len() - 4]) || digits.len() < 13);
            prop_assert_eq!(Pan::parse(pan.expose_digits()).unwrap(), pan);
        }

        #[test]
        fn any_single_digit_change_is_caught(digits in valid_pan(), pos in any::<prop::sample::Index>(), delta in 1u8..10) {
            let mut bytes = digits.into_bytes();
            let i = pos.index(bytes.len());
            bytes[i] = b'0' + (bytes[i] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(Pan::parse(&changed), Err(Error::PanChecksum));
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            if let Ok(pan) = Pan::parse(&s) {
                prop_assert!((MIN_DIGITS..=MAX_DIGITS).contains(&pan.digit_count()));
                prop_assert!(luhn_valid(pan.expose_digits().as_bytes()));
            }
        }
    }
}

//! Token numbers and the BIN range they are drawn from.

use std::fmt;

use cloudcard_core::text::Ascii;
use cloudcard_core::{IssuerTable, Pan};
use cloudcard_masking::checks::luhn_check_digit;
use rand::RngExt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::TokenError;

/// The most digits a token number has.
const MAX_DIGITS: usize = 19;

/// A payment token number: a Luhn-valid card-shaped number from the token BIN range that
/// stands for a PAN in one domain. It prints masked, like a card number.
///
/// Held inline, 20 bytes (its digits and their count): a token record, a cryptogram and a
/// verified payment each carry one, and copying it allocates nothing.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenNumber(Ascii<MAX_DIGITS>);

impl TokenNumber {
    /// Parses a token number as a device sends it.
    ///
    /// # Errors
    ///
    /// [`TokenError::TokenNumber`] unless it is a Luhn-valid 13–19 digit number.
    pub fn parse(s: &str) -> Result<Self, TokenError> {
        let pan = Pan::parse(s).map_err(|_| TokenError::TokenNumber)?;
        Self::of_digits(pan.expose_digit_bytes()).ok_or(TokenError::TokenNumber)
    }

    /// The number of `digits`, if they are 1 to 19 ASCII digits (the caller checked the rest).
    fn of_digits(digits: &[u8]) -> Option<Self> {
        let ok = !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
        let text = core::str::from_utf8(digits).ok().filter(|_| ok)?;
        Ascii::new(text).map(Self)
    }

    /// The plain digits, for the device and the scheme messages.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// The plain digits as [`Self::expose`] gives them, as bytes: for a MAC, a key or a
    /// digest, with nothing to check again on the way.
    #[must_use]
    pub fn expose_digit_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The number as one integer, for an index: its digits read in bijective base ten (each
    /// digit counts one more than its value), so the value of an `n`-digit number is placed
    /// past every shorter number's and a leading zero makes another key. Every number of up to
    /// 19 digits has its own key (the largest is about 1.1 × 10^19, below 2^64).
    #[must_use]
    pub(crate) fn key(&self) -> u64 {
        self.0.as_bytes().iter().fold(0_u64, |key, d| {
            key.saturating_mul(10).saturating_add(1 + u64::from(d.wrapping_sub(b'0')))
        })
    }

    /// How many digits the number has.
    #[must_use]
    pub fn digit_count(&self) -> usize {
        self.0.len()
    }

    /// The masked form: first 4, last 4.
    #[must_use]
    pub fn masked(&self) -> String {
        cloudcard_masking::MaskPolicy::card().mask(self.expose())
    }
}

impl fmt::Debug for TokenNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenNumber({})", self.masked())
    }
}

impl fmt::Display for TokenNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for TokenNumber {
    /// Serialized masked, like a card number. The wire format that must carry it whole (a
    /// [`Cryptogram`](crate::Cryptogram)) and the stored record opt in with
    /// [`TokenNumber::serialize_plain`].
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

impl TokenNumber {
    /// Serializes the plain digits: the explicit opt-in for wire formats and stored records,
    /// `#[serde(serialize_with = "TokenNumber::serialize_plain")]`.
    ///
    /// # Errors
    ///
    /// Whatever the serializer returns.
    pub fn serialize_plain<S: Serializer>(number: &Self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(number.expose())
    }
}

impl<'de> Deserialize<'de> for TokenNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = cloudcard_core::text::text(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The BIN prefix token numbers are drawn from. It must overlap no BIN of the issuer table at
/// any card length, so a token number can never be a real card number of a known issuer.
///
/// ```
/// use cloudcard_core::IssuerTable;
/// use cloudcard_token::TokenBin;
///
/// assert!(TokenBin::new("990001", IssuerTable::builtin()).is_ok());
/// assert!(TokenBin::new("622202", IssuerTable::builtin()).is_err()); // an ICBC BIN
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBin {
    prefix: String,
}

impl TokenBin {
    /// The fewest random digits a token number of the shortest length carries.
    const MIN_RANDOM_DIGITS: usize = 6;

    /// A token BIN range, checked against `issuers`.
    ///
    /// # Errors
    ///
    /// [`TokenError::BinRange`] unless `prefix` is 4–8 digits; [`TokenError::BinRangeOverlap`]
    /// if any issuer BIN in `issuers` overlaps it at any length from 13 to 19.
    pub fn new(prefix: &str, issuers: &IssuerTable) -> Result<Self, TokenError> {
        if !(4..=8).contains(&prefix.len()) || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TokenError::BinRange);
        }
        if (13..=19).any(|len| issuers.overlaps(prefix, len)) {
            return Err(TokenError::BinRangeOverlap);
        }
        Ok(Self { prefix: prefix.to_owned() })
    }

    /// The prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A random Luhn-valid number of `len` digits in this range.
    ///
    /// # Errors
    ///
    /// [`TokenError::BinRange`] if `len` leaves too few random digits after the prefix.
    pub fn draw(&self, len: usize) -> Result<TokenNumber, TokenError> {
        let random = len
            .checked_sub(self.prefix.len() + 1)
            .filter(|&n| n >= Self::MIN_RANDOM_DIGITS && len <= 19)
            .ok_or(TokenError::BinRange)?;
        // The prefix, the random digits, then the check digit.
        let mut digits = [0u8; MAX_DIGITS];
        let (prefix, rest) =
            digits.split_at_mut_checked(self.prefix.len()).ok_or(TokenError::BinRange)?;
        prefix.copy_from_slice(self.prefix.as_bytes());
        let (drawn, _) = rest.split_at_mut_checked(random).ok_or(TokenError::BinRange)?;
        // One uniform draw below 10^random (at most 10^14), written out digit by digit.
        let exponent = u32::try_from(random).map_err(|_| TokenError::BinRange)?;
        let bound = 10u64.checked_pow(exponent).ok_or(TokenError::BinRange)?;
        let mut value = rand::rng().random_range(0..bound);
        for digit in drawn.iter_mut().rev() {
            // The remainder is below 10: the cast keeps it whole.
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
        let payload_len = self.prefix.len() + random;
        let check = luhn_check_digit(digits.get(..payload_len).ok_or(TokenError::BinRange)?)
            .ok_or(TokenError::BinRange)?;
        *digits.get_mut(payload_len).ok_or(TokenError::BinRange)? = check;
        TokenNumber::of_digits(digits.get(..len).ok_or(TokenError::BinRange)?)
            .ok_or(TokenError::BinRange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudcard_core::{Bank, CardKind};
    use cloudcard_masking::checks::luhn_valid;

    proptest::proptest! {
        /// Two numbers have one key only if they are one number, leading zeros and all.
        #[test]
        fn number_keys_never_collide(a in "[1-9][0-9]{11,17}", b in "[1-9][0-9]{11,17}") {
            let number = |body: &str| {
                let mut digits = body.to_owned();
                digits.push(char::from(luhn_check_digit(digits.as_bytes()).unwrap()));
                TokenNumber::parse(&digits).unwrap()
            };
            let (x, y) = (number(&a), number(&b));
            proptest::prop_assert_eq!(x.key() == y.key(), x.expose() == y.expose());
            if a.len() < 18 {
                proptest::prop_assert_ne!(number(&format!("0{a}")).key(), x.key());
            }
        }
    }

    #[test]
    fn a_number_key_is_its_value_and_its_length() {
        let with_zero = |digits: &str| {
            let mut body = digits.to_owned();
            body.push(char::from(luhn_check_digit(body.as_bytes()).unwrap()));
            TokenNumber::parse(&body).unwrap()
        };
        let a = with_zero("620000000000000");
        let b = with_zero("062000000000000"); // one more digit, a leading zero
        let longest = with_zero("999999999999999999");
        let shorter = with_zero("62000000000000");
        let padded = TokenNumber::parse(&format!("0{}", shorter.expose())).unwrap();
        assert_ne!(a.key(), b.key());
        assert_ne!(shorter.key(), padded.key(), "a leading zero makes another key");
        // The value, past the 1 + 10 + … + 10^(n−1) keys of shorter numbers.
        assert_eq!(a.key(), 6_200_000_000_000_005 + 1_111_111_111_111_111);
        assert_eq!(
            longest.key(),
            longest.expose().parse::<u64>().unwrap() + 1_111_111_111_111_111_111
        );
        assert!(longest.key() < u64::MAX, "19 digits fit");
    }

    #[test]
    fn drawn_numbers_are_luhn_valid_in_range() {
        let bin = TokenBin::new("990001", IssuerTable::builtin()).unwrap();
        for len in 13..=19 {
            let n = bin.draw(len).unwrap();
            assert_eq!(n.digit_count(), len);
            assert!(n.expose().starts_with("990001"));
            assert!(luhn_valid(n.expose().as_bytes()));
            assert!(IssuerTable::builtin().lookup_digits(n.expose()).is_none());
        }
        assert_eq!(bin.draw(12), Err(TokenError::BinRange));
        assert_eq!(bin.draw(20), Err(TokenError::BinRange));
    }

    #[test]
    fn every_drawn_digit_takes_every_value() {
        let bin = TokenBin::new("99000123", IssuerTable::builtin()).unwrap();
        // Ten random digits between the prefix and the check digit of 19.
        let mut seen = [[false; 10]; 10];
        for _ in 0..2_000 {
            let n = bin.draw(19).unwrap();
            for (seen, digit) in seen.iter_mut().zip(n.expose()[8..18].bytes()) {
                seen[usize::from(digit - b'0')] = true;
            }
        }
        assert!(seen.iter().all(|digits| digits.iter().all(|&s| s)), "{seen:?}");
    }

    #[test]
    fn a_number_held_inline_reads_back_whole() {
        for prefix in ["9900", "99000123"] {
            let bin = TokenBin::new(prefix, IssuerTable::builtin()).unwrap();
            for len in 15..=19 {
                let n = bin.draw(len).unwrap();
                assert_eq!(TokenNumber::parse(n.expose()).unwrap(), n);
                assert_eq!(n.expose().len(), len);
                assert_eq!(n.expose_digit_bytes(), n.expose().as_bytes());
            }
        }
        assert!(TokenNumber::of_digits(b"").is_none());
        assert!(TokenNumber::of_digits(b"12345678901234567890").is_none(), "20 digits");
        assert!(TokenNumber::of_digits(b"62000000000000a5").is_none());
        let json = serde_json::to_string(&TokenNumber::parse("6200000000000005").unwrap()).unwrap();
        assert_eq!(json, "\"6200 **** **** 0005\"");
    }

    #[test]
    fn overlapping_ranges_are_refused() {
        let mut table = IssuerTable::new();
        table.insert("990001", 16, Bank::Icbc, CardKind::Debit).unwrap();
        assert_eq!(TokenBin::new("9900", &table), Err(TokenError::BinRangeOverlap));
        assert_eq!(TokenBin::new("99000123", &table), Err(TokenError::BinRangeOverlap));
        assert!(TokenBin::new("9901", &table).is_ok());
        assert_eq!(TokenBin::new("99", &table), Err(TokenError::BinRange));
        assert_eq!(TokenBin::new("99a1", &table), Err(TokenError::BinRange));
    }

    #[test]
    fn token_numbers_print_masked() {
        let n = TokenNumber::parse("6200000000000005").unwrap();
        assert_eq!(format!("{n:?}"), "TokenNumber(6200 **** **** 0005)");
        assert_eq!(n.to_string(), "6200 **** **** 0005");
        assert_eq!(TokenNumber::parse("6200000000000004"), Err(TokenError::TokenNumber));
    }
}

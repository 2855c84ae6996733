//! Personal data: mobiles, resident identity numbers and names. Each is masked whenever it is
//! printed or serialized, and reached in the clear only through `expose`.

use core::fmt;
use core::str::FromStr;

use chrono::NaiveDate;
use cloudcard_masking::MaskPolicy;
use cloudcard_masking::checks::{birth_date, mobile_valid, resident_id_check_char};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// Implements masked `Debug`, `Display` and `Serialize`, `FromStr`, and `Deserialize` through
/// the parser for a personal-data type with `parse`, `masked` and `expose`.
macro_rules! personal_data {
    ($ty:ident) => {
        impl FromStr for $ty {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self.masked())
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.masked())
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.masked())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = crate::text::text(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A mainland mobile number: 11 digits starting `13`–`19`. Prints as `138****1234`.
///
/// ```
/// use cloudcard_core::PhoneNumber;
///
/// let m: PhoneNumber = "13812341234".parse()?;
/// assert_eq!(m.to_string(), "138****1234");
/// assert_eq!(m.expose(), "13812341234");
/// assert!("12812341234".parse::<PhoneNumber>().is_err());
/// # Ok::<(), cloudcard_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber([u8; 11]);

impl PhoneNumber {
    /// Parses a mainland mobile.
    ///
    /// # Errors
    ///
    /// [`Error::PhoneNumber`] unless `s` is 11 digits starting `13`–`19`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bytes: [u8; 11] = s.as_bytes().try_into().map_err(|_| Error::PhoneNumber)?;
        if mobile_valid(&bytes) { Ok(Self(bytes)) } else { Err(Error::PhoneNumber) }
    }

    /// The plain number, for the SMS gateway.
    #[must_use]
    pub fn expose(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The masked form, `138****1234`.
    #[must_use]
    pub fn masked(&self) -> String {
        MaskPolicy::mobile().mask(self.expose())
    }
}

personal_data!(PhoneNumber);

/// An 18-character resident identity number with a valid ISO 7064 MOD 11-2 check character and
/// birth date. A lowercase `x` is accepted and stored as `X`. Prints as `4***************1X`.
///
/// ```
/// use cloudcard_core::ResidentId;
///
/// let id: ResidentId = "44011320141005001x".parse()?;
/// assert_eq!(id.to_string(), "4***************1X");
/// assert_eq!(id.birth_date().to_string(), "2014-10-05");
/// # Ok::<(), cloudcard_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResidentId([u8; 18]);

impl ResidentId {
    /// Parses a resident identity number.
    ///
    /// # Errors
    ///
    /// [`Error::ResidentIdFormat`] unless `s` is 17 digits and a digit or `X`;
    /// [`Error::ResidentIdChecksum`] when the check character does not match;
    /// [`Error::ResidentIdBirthDate`] when positions 7–14 are not a real date.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let mut bytes: [u8; 18] = s.as_bytes().try_into().map_err(|_| Error::ResidentIdFormat)?;
        let (first17, last) = bytes.split_at_mut(17);
        let [last] = last else {
            return Err(Error::ResidentIdFormat);
        };
        last.make_ascii_uppercase();
        if !first17.iter().all(u8::is_ascii_digit) || !(last.is_ascii_digit() || *last == b'X') {
            return Err(Error::ResidentIdFormat);
        }
        if resident_id_check_char(first17) != Some(*last) {
            return Err(Error::ResidentIdChecksum);
        }
        let id = Self(bytes);
        id.try_birth_date().ok_or(Error::ResidentIdBirthDate)?;
        Ok(id)
    }

    /// The plain number, for the identity verifier.
    #[must_use]
    pub fn expose(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The masked form: first 1 and last 2 characters.
    #[must_use]
    pub fn masked(&self) -> String {
        MaskPolicy::resident_id().mask(self.expose())
    }

    /// The holder's birth date.
    #[must_use]
    pub fn birth_date(&self) -> NaiveDate {
        // A parsed ID always holds a real date; the fallback is never reached.
        self.try_birth_date().unwrap_or_default()
    }

    fn try_birth_date(&self) -> Option<NaiveDate> {
        let (y, m, d) = birth_date(&self.0)?;
        NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d))
    }
}

personal_data!(ResidentId);

/// A person's name as on their ID: 1–64 characters, no control characters, surrounding
/// whitespace trimmed. Prints with the first character kept (`段**`).
///
/// ```
/// use cloudcard_core::PersonName;
///
/// let name: PersonName = "段正淳".parse()?;
/// assert_eq!(name.to_string(), "段**");
/// # Ok::<(), cloudcard_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    /// Parses a name.
    ///
    /// # Errors
    ///
    /// [`Error::PersonName`] for an empty or over-long name, or one with control characters.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let count = s.chars().count();
        if count == 0 || count > 64 || s.chars().any(char::is_control) {
            return Err(Error::PersonName);
        }
        Ok(Self(s.to_owned()))
    }

    /// The plain name.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The masked form: the first character, then one `*` per other character.
    #[must_use]
    pub fn masked(&self) -> String {
        MaskPolicy::name().mask(&self.0)
    }
}

personal_data!(PersonName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers() {
        let m = PhoneNumber::parse("19912345678").unwrap();
        assert_eq!(format!("{m:?}"), "PhoneNumber(199****5678)");
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"199****5678\"");
        assert_eq!(serde_json::from_str::<PhoneNumber>("\"19912345678\"").unwrap(), m);
        for bad in ["", "1381234123", "138123412345", "23812341234", "1381234123x", "１３８"] {
            assert_eq!(PhoneNumber::parse(bad), Err(Error::PhoneNumber), "{bad}");
        }
    }

    #[test]
    fn resident_id_vectors() {
        for good in ["360426199101010071", "44011320141005001X", "110102199101010078"] {
            let id = ResidentId::parse(good).unwrap();
            assert_eq!(id.expose(), good);
        }
        assert_eq!(ResidentId::parse("36042619910102009X"), Err(Error::ResidentIdChecksum));
        // Month 13 with a matching check character.
        assert_eq!(ResidentId::parse("360426199113010079"), Err(Error::ResidentIdBirthDate));
        assert_eq!(ResidentId::parse("36042619910101007"), Err(Error::ResidentIdFormat));
        assert_eq!(ResidentId::parse("3604261991010100X1"), Err(Error::ResidentIdFormat));
        assert_eq!(ResidentId::parse("36042619910101007Y"), Err(Error::ResidentIdFormat));
    }

    #[test]
    fn resident_id_prints_masked() {
        let id = ResidentId::parse("360426199101010071").unwrap();
        assert_eq!(id.to_string(), "3***************71");
        assert_eq!(format!("{id:?}"), "ResidentId(3***************71)");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"3***************71\"");
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1991, 1, 1).unwrap());
        let err = serde_json::from_str::<ResidentId>("\"36042619910102009X\"").unwrap_err();
        assert!(!err.to_string().contains("36042619910102009"));
    }

    #[test]
    fn names() {
        assert_eq!(PersonName::parse("  张三 ").unwrap().expose(), "张三");
        assert_eq!(format!("{:?}", PersonName::parse("张三").unwrap()), "PersonName(张*)");
        assert_eq!(PersonName::parse(""), Err(Error::PersonName));
        assert_eq!(PersonName::parse("a\nb"), Err(Error::PersonName));
        assert_eq!(PersonName::parse(&"名".repeat(65)), Err(Error::PersonName));
    }
}

//! Reading values that arrive as text without echoing what arrived.
//!
//! serde's stock errors quote the offending input ("invalid type: integer `6222…`"), so a card
//! number or mobile sent as a JSON number would come back in the error. Every cloudcard value
//! that holds personal data reads its text through [`text`], whose errors never quote input.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{Error, Visitor};

/// Reads a string, or fails with an error that names only what was expected.
///
/// # Errors
///
/// "expected text" for anything but a string.
pub fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Cow<'de, str>, D::Error> {
    // `deserialize_any`: a format reporting a wrong type itself (serde_json does for
    // `deserialize_str`) would quote the input; here every other type reaches `refuse`.
    deserializer.deserialize_any(Text)
}

struct Text;

fn refuse<E: Error, T>() -> Result<T, E> {
    Err(E::custom("expected text"))
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text")
    }
    fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
    fn visit_bool<E: Error>(self, _: bool) -> Result<Self::Value, E> {
        refuse()
    }
    fn visit_i64<E: Error>(self, _: i64) -> Result<Self::Value, E> {
        refuse()
    }
    fn visit_i128<E: Error>(self, _: i128) -> Result<Self::Value, E> {
        refuse()
    }
    fn visit_u64<E: Error>(self, _: u64) -> Result<Self::Value, E> {
        refuse()
    }
    fn visit_u128<E: Error>(self, _: u128) -> Result<Self::Value, E> {
        refuse()
    }
    fn visit_f64<E: Error>(self, _: f64) -> Result<Self::Value, E> {
        refuse()
    }
    fn visit_char<E: Error>(self, _: char) -> Result<Self::Value, E> {
        refuse()
    }
    fn visit_bytes<E: Error>(self, _: &[u8]) -> Result<Self::Value, E> {
        refuse()
    }
    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        refuse()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_are_refused_without_being_quoted() {
        #[derive(Debug)]
        struct T(#[allow(dead_code)] String);
        impl<'de> serde::Deserialize<'de> for T {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                super::text(d).map(|t| Self(t.into_owned()))
            }
        }
        for input in ["6222021234567890128", "13812345678", "1.5", "true", "-7"] {
            let err = serde_json::from_str::<T>(input).unwrap_err().to_string();
            assert!(!err.contains(input), "{err}");
        }
        assert!(serde_json::from_str::<T>("\"ok\"").is_ok());
    }
}

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

/// At most `N` bytes held inline, with no allocation: their count and the bytes, zero past
/// it, so two values are equal exactly when their bytes are. Its `Debug` gives the length only:
/// what holds one says how it prints.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct InlineBytes<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> InlineBytes<N> {
    /// `bytes`, if there are at most `N` of them (and `N` fits a byte).
    #[must_use]
    pub fn new(bytes: &[u8]) -> Option<Self> {
        let mut inline = [0; N];
        inline.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Self { len: u8::try_from(bytes.len()).ok()?, bytes: inline })
    }

    /// The bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The bytes, to change in place.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.bytes.get_mut(..usize::from(self.len)).unwrap_or_default()
    }

    /// How many bytes there are.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether there are none.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> fmt::Debug for InlineBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InlineBytes({} bytes)", self.len)
    }
}

impl<const N: usize> Default for InlineBytes<N> {
    fn default() -> Self {
        Self { len: 0, bytes: [0; N] }
    }
}

/// Text of at most `N` ASCII bytes held inline, with no allocation: short values that are
/// copied often (ids, token numbers, a card's last digits). Two values are equal exactly when
/// their texts are. Its `Debug` gives the length only: what holds one says how it prints (a
/// token number prints masked).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ascii<const N: usize>(InlineBytes<N>);

impl<const N: usize> Ascii<N> {
    /// `text`, if it is ASCII and at most `N` bytes long (and `N` fits a byte).
    #[must_use]
    pub fn new(text: &str) -> Option<Self> {
        InlineBytes::new(text.as_bytes()).filter(|_| text.is_ascii()).map(Self)
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever held.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The text's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// How many bytes the text has.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<const N: usize> fmt::Debug for Ascii<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ascii({} bytes)", self.len())
    }
}

impl<const N: usize> PartialOrd for Ascii<N> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<const N: usize> Ord for Ascii<N> {
    /// As their texts order.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

/// Text inline when it is ASCII of at most `N` bytes, on the heap otherwise: values that are
/// copied often and are short almost always (ids, an issuer's authorization code), so that
/// copying one seldom allocates and reading one seldom follows a pointer. Which one is fixed
/// by the text, so two values are equal exactly when their representations are. Its `Debug`
/// gives the length only, as [`Ascii`]'s does.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum CompactText<const N: usize> {
    /// Held inline.
    Inline(Ascii<N>),
    /// Too long, or not ASCII.
    Heap(Box<str>),
}

impl<const N: usize> CompactText<N> {
    /// `text`, inline if it fits.
    #[must_use]
    pub fn new(text: &str) -> Self {
        Ascii::new(text).map_or_else(|| Self::Heap(text.into()), Self::Inline)
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Inline(text) => text.as_str(),
            Self::Heap(text) => text,
        }
    }

    /// The text's bytes, read without checking them again (ordering ids in a large map
    /// compares many).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline(text) => text.as_bytes(),
            Self::Heap(text) => text.as_bytes(),
        }
    }
}

impl<const N: usize> fmt::Debug for CompactText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompactText({} bytes)", self.as_bytes().len())
    }
}

impl<const N: usize> PartialOrd for CompactText<N> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<const N: usize> Ord for CompactText<N> {
    /// As their texts order.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

#[cfg(test)]
mod ascii_tests {
    use super::{Ascii, CompactText};

    #[test]
    fn compact_text_is_inline_when_it_fits_and_prints_its_length_only() {
        let short = CompactText::<4>::new("ab12");
        assert!(matches!(short, CompactText::Inline(_)));
        for long in ["ab123", "é"] {
            let text = CompactText::<4>::new(long);
            assert!(matches!(text, CompactText::Heap(_)), "{long}");
            assert_eq!(text.as_str(), long);
        }
        assert_eq!((short.as_str(), short.as_bytes()), ("ab12", &b"ab12"[..]));
        assert!(short < CompactText::new("ab123") && CompactText::new("b") > short);
        assert_eq!(format!("{short:?}"), "CompactText(4 bytes)");
    }

    #[test]
    fn inline_text_holds_what_fits_and_orders_as_text() {
        let ab = Ascii::<4>::new("ab").unwrap();
        assert_eq!((ab.as_str(), ab.len(), ab.is_empty()), ("ab", 2, false));
        assert!(Ascii::<4>::new("abcd").is_some());
        assert!(Ascii::<4>::new("abcde").is_none(), "too long");
        assert!(Ascii::<4>::new("é").is_none(), "not ASCII");
        assert!(ab < Ascii::<4>::new("abc").unwrap() && Ascii::<4>::new("b").unwrap() > ab);
        assert!(Ascii::<4>::new("").unwrap() == Ascii::default());
        assert!(Ascii::<300>::new(&"x".repeat(256)).is_none(), "a length must fit a byte");
    }

    #[test]
    fn inline_bytes_hold_what_fits_and_print_their_length_only() {
        use super::InlineBytes;
        let mut b = InlineBytes::<4>::new(&[0xff, 0]).unwrap();
        assert_eq!((b.as_bytes(), b.len(), b.is_empty()), (&[0xff, 0][..], 2, false));
        b.as_bytes_mut()[1] = 7;
        assert_eq!(b.as_bytes(), [0xff, 7]);
        assert!(InlineBytes::<4>::new(&[1; 5]).is_none(), "too many");
        assert!(InlineBytes::<300>::new(&[1; 256]).is_none(), "a length must fit a byte");
        assert_eq!(format!("{b:?}"), "InlineBytes(2 bytes)");
        assert_eq!(InlineBytes::<4>::new(&[]).unwrap(), InlineBytes::default());
    }
}

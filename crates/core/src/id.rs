//! Identifiers: opaque, validated strings, random or parsed.

use core::fmt;
use core::str::FromStr;

use rand::RngExt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;
use crate::text::CompactText;

/// The longest id.
pub(crate) const MAX_LEN: usize = 64;
/// The longest id held inline: every random one (a prefix of up to 4 letters, `_` and 32 hex
/// digits) and most parsed ones.
const INLINE: usize = 38;

/// An id's text: inline when it fits, so that copying an id allocates nothing and reading one
/// follows no pointer; on the heap when it is longer.
type Text = CompactText<INLINE>;

/// `prefix`, `_` and `bits` in 32 lower-case hex digits, written without allocating.
fn random_shape(prefix: &str, bits: u128) -> Text {
    let mut buf = [0u8; INLINE];
    let len = prefix.len() + 1 + 32;
    if let Some(head) = buf.get_mut(..prefix.len()) {
        head.copy_from_slice(prefix.as_bytes());
    }
    if let Some(sep) = buf.get_mut(prefix.len()) {
        *sep = b'_';
    }
    if let Some(digits) = buf.get_mut(prefix.len() + 1..len) {
        digits.copy_from_slice(&hex_digits(bits));
    }
    Text::new(core::str::from_utf8(buf.get(..len).unwrap_or_default()).unwrap_or_default())
}

/// A word with `b` in each of its eight bytes.
const fn bytes_of(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// `bits` as 32 lower-case hex digits, the most significant first: eight digits at a time,
/// each a byte of one word, with no branch and no table.
fn hex_digits(bits: u128) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(8).zip(bits.to_be_bytes().chunks_exact(4)) {
        // The word's eight nibbles spread out, nibble k in byte k (the least significant first).
        let x = u64::from(u32::from_be_bytes(word.try_into().unwrap_or_default()));
        let x = (x | x << 16) & 0x0000_ffff_0000_ffff;
        let x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
        let x = (x | x << 4) & bytes_of(0x0f);
        // A nibble of 10 or more carries into bit 4 when 6 is added: it is a letter.
        let letters = ((x + bytes_of(6)) >> 4) & bytes_of(1);
        let ascii = x + bytes_of(b'0') + letters * u64::from(b'a' - b'0' - 10);
        chunk.copy_from_slice(&ascii.to_be_bytes());
    }
    out
}

/// The 128 bits written as exactly 32 lower-case hex digits; `None` for anything else. Every
/// digit is decoded and checked alike, without a branch on its value, so that no digit waits
/// on the one before it (a payment reads its transaction id back this way).
fn hex_bits(hex: &[u8]) -> Option<u128> {
    let hex: &[u8; 32] = hex.try_into().ok()?;
    let mut bytes = [0u8; 16];
    let mut invalid = 0u8;
    for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
        let mut value = 0;
        for &c in pair {
            let (digit, letter) = (c.wrapping_sub(b'0'), c.wrapping_sub(b'a'));
            let (is_digit, is_letter) = (digit < 10, letter < 6);
            invalid |= u8::from(!(is_digit | is_letter));
            value = value << 4 | if is_digit { digit } else { letter.wrapping_add(10) & 0xf };
        }
        *byte = value;
    }
    (invalid == 0).then(|| u128::from_be_bytes(bytes))
}

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident => $prefix:literal, $kind:literal;)*) => {$(
        $(#[$doc])*
        ///
        /// An opaque id of 1–64 ASCII letters, digits, `-` or `_`. [`Self::random`] makes a
        /// fresh one from the operating system's randomness, prefixed by its kind
        #[doc = concat!("(`", $prefix, "_…`).")]
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Text);

        impl $name {
            /// Parses an id.
            ///
            /// # Errors
            ///
            #[doc = concat!("[`Error::Id`] unless `s` is 1–64 ASCII letters, digits, `-` or `_`.")]
            pub fn parse(s: &str) -> Result<Self, Error> {
                if valid(s) { Ok(Self(Text::new(s))) } else { Err(Error::Id { kind: $kind }) }
            }

            /// A fresh random id: the kind's prefix and 128 random bits in hex.
            #[must_use]
            pub fn random() -> Self {
                Self::from_bits(rand::rng().random::<u128>())
            }

            /// The id named by `bits` (a digest's first 128 bits, say), shaped as every random
            /// id of the kind is: its prefix and the bits in hex.
            #[must_use]
            pub fn from_bits(bits: u128) -> Self {
                Self(random_shape($prefix, bits))
            }

            /// The bits an id of the random shape names (the inverse of [`Self::from_bits`]):
            /// `None` for any other id, including one whose hex is not lower-case.
            #[must_use]
            pub fn bits(&self) -> Option<u128> {
                hex_bits(self.0.as_bytes().strip_prefix(concat!($prefix, "_").as_bytes())?)
            }

            /// The id's bytes (its ASCII text), read without checking them again: for a MAC or
            /// a key, where the text is not needed as text.
            #[must_use]
            pub fn as_bytes(&self) -> &[u8] {
                self.0.as_bytes()
            }

            /// The id as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = crate::text::text(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    )*};
}

ids! {
    /// A wallet user.
    UserId => "usr", "user id";
    /// A card bound to a wallet.
    CardId => "card", "card id";
    /// A user's phone or other device.
    DeviceId => "dev", "device id";
    /// A payment token (the id, not the token number).
    TokenId => "tok", "token id";
    /// A merchant.
    MerchantId => "mch", "merchant id";
    /// A merchant's POS terminal.
    TerminalId => "term", "terminal id";
    /// A payment transaction.
    TransactionId => "txn", "transaction id";
    /// A one-click card lookup query.
    QueryId => "qry", "query id";
    /// A client's request, for idempotent retries.
    RequestId => "req", "request id";
    /// A loss-protection claim.
    ClaimId => "clm", "claim id";
    /// A risk rule.
    RuleId => "rule", "rule id";
    /// A card binding waiting for its SMS code.
    BindingId => "bind", "binding id";
    /// A payment waiting for its step-up.
    ChallengeId => "chl", "challenge id";
    /// A POS terminal's unbinding case.
    CaseId => "case", "case id";
}

fn valid(s: &str) -> bool {
    (1..=MAX_LEN).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let id = UserId::parse("u-1_A").unwrap();
        assert_eq!(id.as_str(), "u-1_A");
        assert_eq!(format!("{id:?}"), "UserId(u-1_A)");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"u-1_A\"");
        assert_eq!(serde_json::from_str::<UserId>("\"u-1_A\"").unwrap(), id);
        assert!(serde_json::from_str::<UserId>("\"\"").is_err());
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(UserId::parse(""), Err(Error::Id { kind: "user id" }));
        assert_eq!(CardId::parse("a b"), Err(Error::Id { kind: "card id" }));
        assert!(DeviceId::parse(&"x".repeat(65)).is_err());
        assert!(DeviceId::parse(&"x".repeat(64)).is_ok());
        assert!(TokenId::parse("编号").is_err());
    }

    #[test]
    fn ids_from_bits_are_shaped_as_random_ones() {
        let id = TransactionId::from_bits(0xff);
        assert_eq!(id.as_str(), "txn_000000000000000000000000000000ff");
        assert_eq!(TransactionId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.as_str().len(), TransactionId::random().as_str().len());
        assert_ne!(TransactionId::from_bits(1), TransactionId::from_bits(2));
    }

    #[test]
    fn bits_undo_from_bits_and_only_that() {
        let drawn = TokenId::from_bits(0xfeed);
        assert_eq!(drawn.bits(), Some(0xfeed));
        let random = TokenId::random();
        assert_eq!(random.bits().map(TokenId::from_bits), Some(random));
        for other in [
            "tok_a",
            "tok_0000000000000000000000000000FEED",
            "card_0000000000000000000000000000feed",
        ] {
            assert_eq!(TokenId::parse(other).unwrap().bits(), None, "{other}");
        }
    }

    #[test]
    fn hex_is_read_and_written_as_the_standard_library_does() {
        for bits in [0, 1, 0xfeed, u128::MAX, u128::MAX / 3, 1 << 127, 0x0123_4567_89ab_cdef << 64]
        {
            let hex = format!("{bits:032x}");
            assert_eq!(hex_digits(bits), hex.as_bytes(), "{hex}");
            assert_eq!(hex_bits(hex.as_bytes()), Some(bits), "{hex}");
        }
        // Every byte in every place: only a lower-case hex digit reads, as its value.
        let base = *b"0123456789abcdef0123456789abcdef";
        for at in 0..32 {
            for byte in 0..=u8::MAX {
                let mut hex = base;
                hex[at] = byte;
                let expected = matches!(byte, b'0'..=b'9' | b'a'..=b'f').then(|| {
                    u128::from_str_radix(core::str::from_utf8(&hex).unwrap(), 16).unwrap()
                });
                assert_eq!(hex_bits(&hex), expected, "{byte:#x} at {at}");
            }
        }
        assert_eq!(hex_bits(&base[..31]), None);
    }

    #[test]
    fn random_ids_are_valid_and_distinct() {
        let a = TokenId::random();
        let b = TokenId::random();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("tok_"));
        assert_eq!(TokenId::parse(a.as_str()), Ok(a));
    }
}

#[cfg(test)]
mod representation {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Inline or on the heap, an id reads back as its text, and compares, orders and
        /// hashes as its text does.
        #[test]
        fn an_id_is_its_text(a in "[A-Za-z0-9_-]{1,64}", b in "[A-Za-z0-9_-]{1,64}", bits: u128) {
            let (x, y) = (UserId::parse(&a).unwrap(), UserId::parse(&b).unwrap());
            prop_assert_eq!(x.as_str(), a.as_str());
            prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            prop_assert_eq!(x == y, a == b);
            let again = UserId::parse(&a).unwrap();
            let state = std::hash::RandomState::new();
            prop_assert_eq!(std::hash::BuildHasher::hash_one(&state, &x), std::hash::BuildHasher::hash_one(&state, &again));
            let drawn = TerminalId::from_bits(bits);
            prop_assert_eq!(drawn.as_str(), format!("term_{bits:032x}"));
            prop_assert_eq!(drawn.bits(), Some(bits));
        }

        /// An id's bits are read from exactly 32 lower-case hex digits after its prefix, and
        /// from nothing else: a byte a parsed id may hold in any place, or another length.
        #[test]
        fn bits_are_read_from_lower_case_hex_alone(
            hex in prop_oneof![
                "[0-9a-f]{32}",
                ("[0-9a-f]{31}", 0..32usize, "[A-Fg-zG-Z_-]")
                    .prop_map(|(mut hex, at, other)| { hex.insert_str(at, &other); hex }),
                "[0-9a-f]{30,34}",
            ],
        ) {
            let id = TerminalId::parse(&format!("term_{hex}")).unwrap();
            let lower_hex = hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            let expected = lower_hex.then(|| u128::from_str_radix(&hex, 16).unwrap());
            prop_assert_eq!(id.bits(), expected);
        }
    }

    #[test]
    fn ids_up_to_38_bytes_are_inline_and_longer_ones_on_the_heap() {
        let inline = "x".repeat(INLINE);
        let heap = "x".repeat(INLINE + 1);
        assert!(matches!(UserId::parse(&inline).unwrap().0, Text::Inline(..)));
        assert!(matches!(UserId::parse(&heap).unwrap().0, Text::Heap(_)));
        assert!(matches!(TerminalId::random().0, Text::Inline(..)), "every random id fits");
        assert_eq!(UserId::parse(&heap).unwrap().as_str(), heap);
    }
}

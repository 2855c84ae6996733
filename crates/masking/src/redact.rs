//! Free-text redaction of card numbers (and, on request, mobiles and resident IDs) for logs.

use std::borrow::Cow;

use crate::checks::{luhn_valid, mobile_valid, resident_id_valid};

/// The byte that replaces each hidden digit. ASCII, so redaction never moves a byte.
const MASK: u8 = b'*';
/// Card numbers are 13 to 19 digits long.
const CARD_MIN: usize = 13;
const CARD_MAX: usize = 19;
/// A mainland mobile is 11 digits.
const MOBILE_LEN: usize = 11;

/// Masks every card number in `text` with the default [`Redactor`] (cards only).
///
/// A card number is 13–19 ASCII digits, optionally grouped by single spaces or hyphens (in any
/// mix, as `Pan` accepts them), Luhn-valid, and not part of a longer digit
/// run. Its first 4 and last 4 digits stay; the digits between become `*`; separators and every
/// other byte are left as they were, so the output has the input's length. A card is found
/// wherever it sits: after another number, after another card, at either end of a line. Text
/// with no card number comes back borrowed, unchanged. Time and extra memory are linear in the
/// input on any text.
///
/// ```
/// use std::borrow::Cow;
/// use cloudcard_masking::redact;
///
/// assert_eq!(redact("pan=6200000000000005;"), "pan=6200********0005;");
/// assert_eq!(redact("card 6212-3456-7890-0000-003 ok"), "card 6212-****-****-***0-003 ok");
/// // Not Luhn-valid, or part of a longer run: not a card number.
/// assert!(matches!(redact("order 6200000000000004"), Cow::Borrowed(_)));
/// assert!(matches!(redact("trace 162000000000000051"), Cow::Borrowed(_)));
/// ```
#[must_use]
pub fn redact(text: &str) -> Cow<'_, str> {
    Redactor::new().redact(text)
}

/// A configured free-text redactor. Cards are always masked; mainland mobiles
/// (`138****1234`) and resident IDs (`4***************1X`) on request.
///
/// Mobiles and resident IDs are recognised when written as one unbroken run (an ID may end in
/// `X`): 11 digits starting `13`–`19` for a mobile, with or without the country code (`+86`,
/// `0086`) before it; 17 digits and a correct ISO 7064 check character with a real birth date
/// for an ID. Where a run could be either an ID or a card, the
/// ID reading wins.
///
/// ```
/// use cloudcard_masking::Redactor;
///
/// let r = Redactor::new().with_mobiles(true).with_resident_ids(true);
/// assert_eq!(
///     r.redact("user 13812341234 id 44011320141005001X"),
///     "user 138****1234 id 4***************1X",
/// );
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Redactor {
    mobiles: bool,
    resident_ids: bool,
}

/// One maximal run of ASCII digits inside a chain, as byte offsets `start..end`.
#[derive(Debug, Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
}

impl Group {
    const fn len(self) -> usize {
        self.end - self.start
    }
}

impl Redactor {
    /// A redactor that masks card numbers only.
    #[must_use]
    pub const fn new() -> Self {
        Self { mobiles: false, resident_ids: false }
    }

    /// Also mask mainland mobiles.
    #[must_use]
    pub const fn with_mobiles(mut self, on: bool) -> Self {
        self.mobiles = on;
        self
    }

    /// Also mask resident identity numbers.
    #[must_use]
    pub const fn with_resident_ids(mut self, on: bool) -> Self {
        self.resident_ids = on;
        self
    }

    /// Masks what this redactor detects in `text`; see [`redact`] for the card rule.
    #[must_use]
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let bytes = text.as_bytes();
        // A chain with fewer digits than this cannot hold anything we mask.
        let min_digits = if self.mobiles { MOBILE_LEN } else { CARD_MIN };
        let mut out: Option<Vec<u8>> = None;
        // A chain that can hold something we mask is at least `min_digits` bytes long, so it
        // covers one of every `min_digits` consecutive positions: probe only those, and read
        // a chain whole (back to its start, on to its end) when a probe lands in one. Most
        // probes land in words and cost one byte's test.
        let half = min_digits / 2;
        // A chain of `min_digits` bytes or more through a probe reaches `half` bytes past it,
        // or else the `min_digits - half` bytes before it: if neither byte is in a chain, the
        // probe's chain is too short to read.
        let may_be_long = |probe: usize| {
            in_chain(bytes, probe)
                && (in_chain(bytes, probe + half)
                    || probe.checked_sub(min_digits - half).is_some_and(|i| in_chain(bytes, i)))
        };
        let mut probe = min_digits - 1;
        while probe < bytes.len() {
            if !may_be_long(probe) {
                probe += min_digits;
                continue;
            }
            let start = chain_start(bytes, probe);
            let (end, digits) = chain_extent(bytes, start);
            if digits >= min_digits {
                self.redact_chain(bytes, start, end, &mut out);
            }
            // The next chain starts past `end`; if long enough, it covers this probe.
            probe = end + min_digits;
        }
        match out {
            None => Cow::Borrowed(text),
            // Only ASCII digits were replaced by ASCII `*`, so the bytes are still UTF-8; the
            // lossy path exists only so that no input can make this panic.
            Some(out) => Cow::Owned(
                String::from_utf8(out)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
        }
    }

    /// The slow path, for a chain with enough digits. Every way the chain's groups can be read
    /// as a card number (13–19 digits, Luhn-valid, starting and ending on whole groups) is
    /// masked, each keeping its own first 4 and last 4: so whatever stands before or after a
    /// card, its own reading masks its middle, and overlapping readings only hide more.
    /// Bounded work per group (a card spans at most 19 digits) and no allocation but the
    /// output: linear in the input on any text.
    fn redact_chain(&self, bytes: &[u8], start: usize, end: usize, out: &mut Option<Vec<u8>>) {
        let mut gs = start;
        while gs < end {
            let first = Group { start: gs, end: run_end(bytes, gs, end) };
            let is_id = self.resident_ids && is_resident_id(bytes, first);
            if is_id {
                let id_end = if first.len() == 17 { first.end + 1 } else { first.end };
                mask_digits(bytes, &[Group { start: first.start, end: id_end }], 1, 2, out);
            } else {
                if self.mobiles {
                    mask_mobile(bytes, first, out);
                }
                mask_cards_from(bytes, gs, end, out);
            }
            gs = first.end + 1; // past the separator
        }
    }
}

/// The end of the digit run that starts at `i` (no further than `end`).
fn run_end(bytes: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && digit_at(bytes, i) {
        i += 1;
    }
    i
}

/// Masks a mobile written as one run: `13812341234`, or with the country code `86` or `0086`
/// run into it (`+8613812341234`), keeping the code, the first 3 and the last 4.
fn mask_mobile(bytes: &[u8], group: Group, out: &mut Option<Vec<u8>>) {
    let Some(digits) = bytes.get(group.start..group.end) else { return };
    let prefix = match digits.len() {
        MOBILE_LEN => 0,
        13 if digits.starts_with(b"86") => 2,
        15 if digits.starts_with(b"0086") => 4,
        _ => return,
    };
    if digits.get(prefix..).is_some_and(mobile_valid) {
        mask_digits(bytes, &[group], prefix + 3, 4, out);
    }
}

/// Masks every card reading that starts at the group beginning at `gs`.
fn mask_cards_from(bytes: &[u8], gs: usize, end: usize, out: &mut Option<Vec<u8>>) {
    let mut groups = [Group { start: 0, end: 0 }; CARD_MAX];
    let mut buf = [0u8; CARD_MAX];
    let (mut n, mut len, mut i) = (0, 0, gs);
    while i < end && n < CARD_MAX {
        let g = Group { start: i, end: run_end(bytes, i, end) };
        let Some(digits) = bytes.get(g.start..g.end) else { return };
        let next = len + digits.len();
        let (Some(slot), Some(group_slot)) = (buf.get_mut(len..next), groups.get_mut(n)) else {
            return; // past 19 digits: no longer reading starts here
        };
        slot.copy_from_slice(digits);
        *group_slot = g;
        (len, n) = (next, n + 1);
        if len >= CARD_MIN && buf.get(..len).is_some_and(luhn_valid) {
            mask_digits(bytes, groups.get(..n).unwrap_or_default(), 4, 4, out);
        }
        i = g.end + 1;
    }
}

/// From a digit at `start`, the end of its chain (digit runs joined by single spaces or single
/// hyphens, in any mix, as a card number may be written) and how many digits it holds. Six
/// bytes a step while eight can be read around them (see [`Lanes`]), so that a chain of short
/// runs, a date or a time, costs a step or two and not a branch a run; then a byte a step.
fn chain_extent(bytes: &[u8], start: usize) -> (usize, usize) {
    // Every byte of `start..i` is in the chain, and `digits` of them are digits.
    let (mut i, mut digits) = (start, 0);
    loop {
        match i.checked_sub(1).and_then(|at| Lanes::at(bytes, at)) {
            Some(lanes) => {
                let outside = lanes.outside();
                if outside != 0 {
                    // The first inner lane outside the chain: lane k is byte i - 1 + k.
                    let k = (outside.trailing_zeros() / 8) as usize;
                    let before = (1u64 << (8 * k)) - 1;
                    let counted = Lanes::count(lanes.digits & Lanes::INNER & before);
                    return (i - 1 + k, digits + counted);
                }
                digits += Lanes::count(lanes.digits & Lanes::INNER);
                i += 6;
            }
            None if in_chain(bytes, i) => {
                digits += usize::from(digit_at(bytes, i));
                i += 1;
            }
            None => return (i, digits),
        }
    }
}

/// Eight bytes of text read as one little-endian word, each byte a lane, and which lanes hold
/// a digit and which a chain's byte, as each lane's high bit. A separator's lane is a chain's
/// only with digits in the lanes on either side, so only the six inner lanes are told right.
/// Lane by lane, with no carry or borrow crossing from one lane to the next: the low seven bits
/// plus 0x50 reach 0x80 from `0` (0x30) on, 0xB9 less them stays at or above 0x80 up to `9`
/// (0x39), a byte with its own high bit set is no ASCII digit, and a lane's low seven bits plus
/// 0x7F, or its own high bit, leave the high bit clear only in a zero lane.
#[derive(Debug, Clone, Copy)]
struct Lanes {
    digits: u64,
    chain: u64,
}

impl Lanes {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    /// Lanes 1 to 6.
    const INNER: u64 = 0x0080_8080_8080_8000;

    /// The inner lanes whose byte is not a chain's.
    const fn outside(self) -> u64 {
        !self.chain & Self::INNER
    }

    /// How many lanes' high bits `mask` sets (and no other bit): the lanes' bits moved to their
    /// lowest place, summed into the top lane by one multiplication, as eight at most never
    /// carry out of a lane.
    const fn count(mask: u64) -> usize {
        ((mask >> 7).wrapping_mul(0x0101_0101_0101_0101) >> 56) as usize
    }

    /// The eight bytes from `at`, if there are eight.
    fn at(bytes: &[u8], at: usize) -> Option<Self> {
        let eight: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
        let word = u64::from_le_bytes(eight);
        let every = |byte: u8| u64::from_le_bytes([byte; 8]);
        let zero = |w: u64| !(((w & !Self::HIGH) + !Self::HIGH) | w) & Self::HIGH;
        let low = word & !Self::HIGH;
        let digits = (low + every(0x80 - b'0')) & (every(0x80 + b'9') - low) & !word & Self::HIGH;
        let separators = zero(word ^ every(b' ')) | zero(word ^ every(b'-'));
        let joins = separators & digits << 8 & digits >> 8;
        Some(Self { digits, chain: digits | joins })
    }
}

fn digit_at(bytes: &[u8], i: usize) -> bool {
    bytes.get(i).is_some_and(u8::is_ascii_digit)
}

/// Whether the byte at `i` may join two digit runs of a chain.
fn separator_at(bytes: &[u8], i: usize) -> bool {
    matches!(bytes.get(i), Some(b' ' | b'-'))
}

/// Whether the byte at `i` belongs to a chain: a digit, or a single separator between two.
fn in_chain(bytes: &[u8], i: usize) -> bool {
    digit_at(bytes, i)
        || (separator_at(bytes, i) && i > 0 && digit_at(bytes, i - 1) && digit_at(bytes, i + 1))
}

/// From a byte inside a chain, where the chain starts: back over digits, and over each single
/// separator with a digit before it. Six bytes a step as [`chain_extent`].
fn chain_start(bytes: &[u8], mut i: usize) -> usize {
    // Every byte of `i..` up to the byte given is in the chain.
    loop {
        match i.checked_sub(7).and_then(|at| Lanes::at(bytes, at)) {
            Some(lanes) => {
                let outside = lanes.outside();
                if outside != 0 {
                    // The last inner lane outside the chain: lane k is byte i - 7 + k.
                    let k = (63 - outside.leading_zeros() as usize) / 8;
                    return i - 7 + k + 1;
                }
                i -= 6;
            }
            None if i > 0 && in_chain(bytes, i - 1) => i -= 1,
            None => return i,
        }
    }
}

/// Whether `group` (with the `X` that may follow it) is a resident identity number.
fn is_resident_id(bytes: &[u8], group: Group) -> bool {
    let candidate = match group.len() {
        17 if matches!(bytes.get(group.end), Some(b'X' | b'x')) => {
            bytes.get(group.start..=group.end)
        }
        18 => bytes.get(group.start..group.end),
        _ => None,
    };
    let word_ends =
        !bytes.get(group.end + 1).is_some_and(u8::is_ascii_alphanumeric) || group.len() == 18;
    candidate.is_some_and(resident_id_valid) && word_ends
}

/// Masks all digits of `groups` but the first `keep_first` and the last `keep_last`.
fn mask_digits(
    bytes: &[u8],
    groups: &[Group],
    keep_first: usize,
    keep_last: usize,
    out: &mut Option<Vec<u8>>,
) {
    let total: usize = groups.iter().map(|g| g.len()).sum();
    let out = out.get_or_insert_with(|| bytes.to_vec());
    let mut n = 0;
    for g in groups {
        for i in g.start..g.end {
            if n >= keep_first
                && n + keep_last < total
                && let Some(b) = out.get_mut(i)
            {
                *b = MASK;
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests;

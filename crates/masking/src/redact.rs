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
/// A card number is 13–19 ASCII digits, optionally grouped by single spaces or by single
/// hyphens, Luhn-valid, and not part of a longer digit run. Its first 4 and last 4 digits stay; the
/// digits between become `*`; separators and every other byte are left as they were, so the
/// output has the input's length. Text with no card number comes back borrowed, unchanged.
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
/// `X`): 11 digits starting `13`–`19` for a mobile; 17 digits and a correct ISO 7064 check
/// character with a real birth date for an ID. Where a run could be either an ID or a card, the
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
        let mut i = 0;
        while let Some(offset) =
            bytes.get(i..).and_then(|rest| rest.iter().position(u8::is_ascii_digit))
        {
            let start = i + offset;
            let (end, digits) = chain_extent(bytes, start);
            if digits >= min_digits {
                self.redact_chain(bytes, start, end, &mut out);
            }
            i = end;
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

    /// The slow path, for a chain with enough digits: split it into groups and mask every
    /// card (and mobile, ID) found, leftmost first, longest first.
    fn redact_chain(&self, bytes: &[u8], start: usize, end: usize, out: &mut Option<Vec<u8>>) {
        let groups = groups_of(bytes, start, end);
        let mut s = 0;
        while let Some(&first) = groups.get(s) {
            if self.resident_ids && is_resident_id(bytes, first) {
                let id_end = if first.len() == 17 { first.end + 1 } else { first.end };
                mask_digits(bytes, &[Group { start: first.start, end: id_end }], 1, 2, out);
                s += 1;
                continue;
            }
            if let Some(e) = card_at(bytes, &groups, s) {
                mask_digits(bytes, groups.get(s..=e).unwrap_or_default(), 4, 4, out);
                s = e + 1;
                continue;
            }
            if self.mobiles
                && first.len() == MOBILE_LEN
                && bytes.get(first.start..first.end).is_some_and(mobile_valid)
            {
                mask_digits(bytes, &[first], 3, 4, out);
            }
            s += 1;
        }
    }
}

/// From a digit at `start`, the end of its chain (digit runs joined by single spaces, or by
/// single hyphens: one kind of separator per chain) and how many digits it holds.
fn chain_extent(bytes: &[u8], start: usize) -> (usize, usize) {
    let mut i = start;
    let mut digits = 0;
    let mut separator = None;
    loop {
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
            digits += 1;
        }
        let next = match bytes.get(i) {
            Some(&b @ (b' ' | b'-')) if separator.is_none_or(|s| s == b) => b,
            _ => return (i, digits),
        };
        if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            return (i, digits);
        }
        separator = Some(next);
        i += 1;
    }
}

/// The digit groups of the chain `start..end`.
fn groups_of(bytes: &[u8], start: usize, end: usize) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut i = start;
    while i < end {
        let g_start = i;
        while i < end && bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        groups.push(Group { start: g_start, end: i });
        i += 1; // the separator
    }
    groups
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

/// The last group index `e` such that groups `s..=e` hold a Luhn-valid 13–19 digit number,
/// the longest first.
fn card_at(bytes: &[u8], groups: &[Group], s: usize) -> Option<usize> {
    let mut buf = [0u8; CARD_MAX];
    let mut len = 0;
    let mut best = None;
    for (e, g) in groups.iter().enumerate().skip(s) {
        let digits = bytes.get(g.start..g.end)?;
        let next = len + digits.len();
        if next > CARD_MAX {
            break;
        }
        buf.get_mut(len..next)?.copy_from_slice(digits);
        len = next;
        if len >= CARD_MIN && buf.get(..len).is_some_and(luhn_valid) {
            best = Some(e);
        }
    }
    best
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

//! Check-digit arithmetic shared by the redactor and the validated values of `cloudcard-core`.
//!
//! Every function takes ASCII bytes and returns `false`/`None` for anything that is not of the
//! expected shape; none panics.

/// Whether `digits` (ASCII `0`–`9` only, at least two of them) pass the Luhn (mod 10) check.
///
/// ```
/// use cloudcard_masking::checks::luhn_valid;
/// assert!(luhn_valid(b"6200000000000005"));
/// assert!(!luhn_valid(b"6200000000000004"));
/// assert!(!luhn_valid(b"62000000000a0005"));
/// ```
#[must_use]
pub fn luhn_valid(digits: &[u8]) -> bool {
    digits.len() >= 2 && luhn_sum(digits, false).is_some_and(|sum| sum % 10 == 0)
}

/// The Luhn check digit (an ASCII digit) to append to `payload`, or `None` if `payload` holds
/// anything but ASCII digits or is empty.
///
/// ```
/// use cloudcard_masking::checks::luhn_check_digit;
/// assert_eq!(luhn_check_digit(b"620000000000000"), Some(b'5'));
/// ```
#[must_use]
pub fn luhn_check_digit(payload: &[u8]) -> Option<u8> {
    if payload.is_empty() {
        return None;
    }
    let sum = luhn_sum(payload, true)?;
    // `sum % 10` is below 10, so the digit is too.
    Some(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// Sums `digits` the Luhn way. With `payload` set the check digit is not present yet, so the
/// rightmost digit given is doubled.
///
/// Two digits a step and no branch a digit: a doubled digit `d` counts `2d`, less 9 from 5 on
/// (its two digits' sum), so each place's digits are summed, and counted from 5, apart, and
/// doubled once at the end. A byte that is no digit only marks the sum bad, refused at the
/// end. Sums are 64 bits wide, so no slice that fits in memory makes them overflow.
fn luhn_sum(digits: &[u8], payload: bool) -> Option<u64> {
    // Of every second digit from the rightmost (`right`) and of those between (`left`): their
    // sum and how many are 5 or more.
    let (mut right, mut right_big, mut left, mut left_big) = (0u64, 0u64, 0u64, 0u64);
    let mut bad = false;
    let value = |b: u8| u64::from(b.wrapping_sub(b'0'));
    let mut pairs = digits.rchunks_exact(2);
    for pair in &mut pairs {
        if let &[l, r] = pair {
            let (l, r) = (value(l), value(r));
            bad |= (l > 9) | (r > 9);
            (right, right_big) = (right + r, right_big + u64::from(r >= 5));
            (left, left_big) = (left + l, left_big + u64::from(l >= 5));
        }
    }
    if let &[first] = pairs.remainder() {
        let d = value(first);
        bad |= d > 9;
        (right, right_big) = (right + d, right_big + u64::from(d >= 5));
    }
    let (plain, doubled, big) =
        if payload { (left, right, right_big) } else { (right, left, left_big) };
    // Each digit of 5 or more adds at least 10 to `2 * doubled`, so this never goes below 0.
    (!bad).then(|| plain + 2 * doubled - 9 * big)
}

/// The ISO 7064 MOD 11-2 check character (`0`–`9` or `X`) of the first 17 digits of a
/// resident identity number, or `None` unless `first17` is exactly 17 ASCII digits.
///
/// ```
/// use cloudcard_masking::checks::resident_id_check_char;
/// assert_eq!(resident_id_check_char(b"44011320141005001"), Some(b'X'));
/// ```
#[must_use]
pub fn resident_id_check_char(first17: &[u8]) -> Option<u8> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHARS: &[u8; 11] = b"10X98765432";
    if first17.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (&b, w) in first17.iter().zip(WEIGHTS) {
        let d = u32::from(b.wrapping_sub(b'0'));
        if d > 9 {
            return None;
        }
        sum += d * w;
    }
    CHARS.get((sum % 11) as usize).copied()
}

/// Whether `id` is an 18-character resident identity number: 17 digits, a correct check
/// character (`X` in either case), and a real birth date (year 1900 or later) at positions
/// 7–14.
///
/// ```
/// use cloudcard_masking::checks::resident_id_valid;
/// assert!(resident_id_valid(b"44011320141005001X"));
/// assert!(!resident_id_valid(b"360426199113010079")); // month 13
/// ```
#[must_use]
pub fn resident_id_valid(id: &[u8]) -> bool {
    let Some((first17, [last])) = id.split_last_chunk::<1>() else {
        return false;
    };
    let Some(expected) = resident_id_check_char(first17) else {
        return false;
    };
    last.to_ascii_uppercase() == expected && birth_date(first17).is_some()
}

/// The birth date `(year, month, day)` written at positions 7–14 of a resident identity
/// number, if it is a real calendar date in 1900 or later.
#[must_use]
pub fn birth_date(id: &[u8]) -> Option<(u16, u8, u8)> {
    let digits = id.get(6..14)?;
    let mut n = 0u32;
    for &b in digits {
        let d = u32::from(b.wrapping_sub(b'0'));
        if d > 9 {
            return None;
        }
        n = n * 10 + d;
    }
    let (year, month, day) = (n / 10_000, (n / 100) % 100, n % 100);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if year < 1900 || day == 0 || day > days {
        return None;
    }
    Some((u16::try_from(year).ok()?, month as u8, day as u8))
}

/// Whether `digits` is a mainland mobile number: 11 ASCII digits starting `13`–`19`.
///
/// ```
/// use cloudcard_masking::checks::mobile_valid;
/// assert!(mobile_valid(b"13812341234"));
/// assert!(!mobile_valid(b"12812341234"));
/// ```
#[must_use]
pub fn mobile_valid(digits: &[u8]) -> bool {
    matches!(digits, [b'1', b'3'..=b'9', rest @ ..] if rest.len() == 9 && rest.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_published_vectors() {
        for pan in [
            "6200000000000005",
            "6200000000000047",
            "6205500000000000004",
            "6250946000000016",
            "6250947000000014",
            "6212345678901265",
            "62123456789000003",
            "6212345678900000003",
        ] {
            assert!(luhn_valid(pan.as_bytes()), "{pan}");
            let (payload, check) = pan.as_bytes().split_at(pan.len() - 1);
            assert_eq!(luhn_check_digit(payload), Some(check[0]), "{pan}");
        }
        for pan in ["4111111111111112", "6200000000000004"] {
            assert!(!luhn_valid(pan.as_bytes()), "{pan}");
        }
        assert!(luhn_valid(b"4111111111111111"));
    }

    /// The Luhn sum as its definition reads it: from the right, every second digit doubled,
    /// and a doubled digit over 9 counted by its two digits.
    fn luhn_by_definition(digits: &[u8], payload: bool) -> Option<u64> {
        let mut sum = 0;
        for (i, &b) in digits.iter().rev().enumerate() {
            let d = u64::from(char::from(b).to_digit(10)?);
            let doubled = (i % 2 == 1) != payload;
            let x = if doubled { d * 2 } else { d };
            sum += x / 10 + x % 10;
        }
        Some(sum)
    }

    proptest::proptest! {
        #[test]
        fn luhn_sums_as_defined(
            digits in proptest::collection::vec(proptest::prop_oneof![
                9 => b'0'..=b'9',
                1 => proptest::num::u8::ANY,
                // The bytes either side of the digits.
                1 => proptest::sample::select(vec![b'/', b':']),
            ], 0..24),
            payload: bool,
        ) {
            proptest::prop_assert_eq!(luhn_sum(&digits, payload), luhn_by_definition(&digits, payload));
        }
    }

    #[test]
    fn luhn_rejects_odd_input() {
        assert!(!luhn_valid(b""));
        assert!(!luhn_valid(b"0"));
        assert!(!luhn_valid(b"6200 0000 0000 0005"));
        assert_eq!(luhn_check_digit(b""), None);
        assert_eq!(luhn_check_digit(b"12a"), None);
        // The bytes just past `0` and `9`, in either place and first of an odd count: `:`
        // would count 10, and a sum of 10 passes.
        for text in [&b":00"[..], b"0:0", b"00:", b"/1", b"1/"] {
            assert!(!luhn_valid(text), "{text:?}");
            assert_eq!(luhn_check_digit(text), None, "{text:?}");
        }
    }

    #[test]
    fn resident_id_published_vectors() {
        for id in ["360426199101010071", "44011320141005001X", "110102199101010078"] {
            assert!(resident_id_valid(id.as_bytes()), "{id}");
        }
        assert!(resident_id_valid(b"44011320141005001x"));
        for id in ["36042619910102009X", "360426199113010079"] {
            assert!(!resident_id_valid(id.as_bytes()), "{id}");
        }
    }

    #[test]
    fn birth_dates() {
        assert_eq!(birth_date(b"360426199101010071"), Some((1991, 1, 1)));
        assert_eq!(birth_date(b"110102200002290000"), Some((2000, 2, 29)));
        assert_eq!(birth_date(b"110102190002290000"), None);
        assert_eq!(birth_date(b"110102199904310000"), None);
        assert_eq!(birth_date(b"110102189901010000"), None);
        assert_eq!(birth_date(b"1101"), None);
    }

    #[test]
    fn mobiles() {
        assert!(mobile_valid(b"19912345678"));
        assert!(!mobile_valid(b"1381234123"));
        assert!(!mobile_valid(b"138123412345"));
        assert!(!mobile_valid(b"1381234123x"));
    }
}

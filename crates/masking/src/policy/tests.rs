//! Unit tests, compiled only under `#[cfg(test)]` (see the parent module).
#![cfg(test)]

use super::*;
use proptest::prelude::*;

#[test]
fn presets() {
    assert_eq!(MaskPolicy::card().mask("6222021234561234"), "6222 **** **** 1234");
    assert_eq!(MaskPolicy::card().mask("6212345678900000003"), "6212 **** **** *** 0003");
    assert_eq!(MaskPolicy::card().mask("6212345678901"), "6212 **** * 8901");
    assert_eq!(MaskPolicy::pci().mask("6212345678900000003"), "621234*********0003");
    assert_eq!(MaskPolicy::mobile().mask("13812341234"), "138****1234");
    assert_eq!(MaskPolicy::resident_id().mask("51010519900101121X"), "5***************1X");
    assert_eq!(MaskPolicy::name().mask("段正淳"), "段**");
    assert_eq!(MaskPolicy::name().mask("欧阳娜娜"), "欧***");
    assert_eq!(MaskPolicy::email().mask("a@example.com"), "*@example.com");
    assert_eq!(MaskPolicy::email().mask("zhang.san@example.com"), "z********@example.com");
}

#[test]
fn too_short_fails_closed() {
    assert_eq!(MaskPolicy::card().mask("123456789012"), "************");
    assert_eq!(MaskPolicy::mobile().mask("1381234"), "*******");
    assert_eq!(MaskPolicy::resident_id().mask("4401132014100500"), "****************");
    assert_eq!(MaskPolicy::name().mask("段"), "*");
    assert_eq!(MaskPolicy::email().mask("no-at-sign"), "**********");
    assert_eq!(MaskPolicy::email().mask("@example.com"), "************");
    assert_eq!(MaskPolicy::email().mask("alice@"), "******");
    assert_eq!(MaskPolicy::new(2, 2).mask("abcd"), "****");
    assert_eq!(MaskPolicy::new(2, 2).mask(""), "");
}

#[test]
fn counts_characters_not_bytes() {
    assert_eq!(MaskPolicy::new(1, 1).mask("ａｂｃｄ"), "ａ**ｄ");
    assert_eq!(MaskPolicy::new(0, 2).with_mask_char('•').mask("中国银行"), "••银行");
}

#[test]
fn grouping_options() {
    let p = MaskPolicy::new(0, 4).with_grouping(4, '-');
    assert_eq!(p.mask("1234567890"), "****-**-7890");
    let p = MaskPolicy::new(2, 0).with_grouping(3, ' ');
    assert_eq!(p.mask("abcdefgh"), "ab *** ***");
    assert_eq!(MaskPolicy::new(1, 1).with_grouping(0, ' ').mask("abcd"), "a**d");
    assert_eq!(MaskPolicy::new(1, 1).with_min_masked(0).min_masked(), 1);
}

fn policies() -> impl Strategy<Value = MaskPolicy> {
    prop_oneof![
        Just(MaskPolicy::card()),
        Just(MaskPolicy::pci()),
        Just(MaskPolicy::mobile()),
        Just(MaskPolicy::resident_id()),
        Just(MaskPolicy::name()),
        (0usize..8, 0usize..8, 0usize..6, 0usize..5).prop_map(|(f, l, m, g)| {
            MaskPolicy::new(f, l).with_min_masked(m).with_grouping(g, ' ')
        }),
    ]
}

proptest! {
    #[test]
    fn never_reveals_more_than_allowed(policy in policies(), input in "\\PC{0,40}") {
        let out = policy.mask(&input);
        let mask = policy.mask_char();
        let total = input.chars().count();
        let sep = |c: char| c == ' ';
        let shown: Vec<char> = out.chars().filter(|&c| c != mask && !sep(c)).collect();
        // Never more than the policy keeps, and always something hidden.
        prop_assert!(shown.len() <= policy.keep_first() + policy.keep_last());
        if total > 0 {
            prop_assert!(out.chars().filter(|&c| c == mask).count() >= 1);
        }
        // What is shown is the input's own head and tail, in place.
        let head: String = input.chars().take(policy.keep_first()).collect();
        let tail: String = input.chars().skip(total.saturating_sub(policy.keep_last())).collect();
        if !shown.is_empty() {
            prop_assert!(out.starts_with(&head) || policy.keep_first() == 0);
            prop_assert!(out.ends_with(&tail));
        }
    }

    #[test]
    fn never_panics_on_any_text(input in any::<String>()) {
        for policy in [MaskPolicy::card(), MaskPolicy::pci(), MaskPolicy::mobile(),
                       MaskPolicy::resident_id(), MaskPolicy::name(), MaskPolicy::email()] {
            let out = policy.mask(&input);
            prop_assert!(out.chars().count() >= input.chars().count().min(1));
        }
    }

    #[test]
    fn email_keeps_the_domain(local in "[a-z]{2,12}", domain in "[a-z]{1,10}\\.com") {
        let out = MaskPolicy::email().mask(&format!("{local}@{domain}"));
        let expected_local = format!("{}{}", &local[..1], "*".repeat(local.len() - 1));
        prop_assert_eq!(out, format!("{expected_local}@{domain}"));
    }
}

proptest! {
    /// Grouping by spaces cuts the masked middle from a ready line; it reads exactly as the
    /// group-by-group path does with any other separator.
    #[test]
    fn a_ready_grouped_middle_is_the_middle_grouped_by_hand(
        first in 0usize..6,
        last in 0usize..6,
        size in 1usize..7,
        input in "[0-9]{0,80}|\\PC{0,40}",
    ) {
        prop_assume!(!input.contains('_'));
        let policy = MaskPolicy::new(first, last).with_grouping(size, ' ');
        let by_hand = policy.with_grouping(size, '_').mask(&input);
        prop_assert_eq!(policy.mask(&input), by_hand.replace('_', " "));
    }
}

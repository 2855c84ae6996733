//! Mask policies: which characters of a value a person may see.

use core::num::NonZeroUsize;

/// How the characters of a masked value are grouped for reading, e.g. a card number in
/// groups of four separated by spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grouping {
    /// Characters per group in the masked middle.
    pub size: NonZeroUsize,
    /// What stands between two groups.
    pub separator: char,
}

/// Which part of the input a policy applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The whole input.
    Whole,
    /// The local part of an email address; the domain is shown.
    EmailLocalPart,
}

/// A rule for showing part of a value: keep the first `N` and the last `M` characters, mask
/// the rest with one mask character each.
///
/// Policies count characters, never bytes, so Chinese names and full-width text mask
/// correctly, and no input makes them panic. An input too short for the policy — one that would
/// leave fewer than [`MaskPolicy::min_masked`] characters masked — is masked entirely: a policy
/// fails closed.
///
/// ```
/// use cloudcard_masking::MaskPolicy;
///
/// assert_eq!(MaskPolicy::card().mask("6222021234567890"), "6222 **** **** 7890");
/// assert_eq!(MaskPolicy::pci().mask("6222021234567890"), "622202******7890");
/// assert_eq!(MaskPolicy::resident_id().mask("44011320141005001X"), "4***************1X");
/// assert_eq!(MaskPolicy::email().mask("alice@example.com"), "a****@example.com");
/// // Too short to show anything safely: all masked.
/// assert_eq!(MaskPolicy::card().mask("12345678"), "********");
/// // Custom: keep the last 4, mask with '#'.
/// assert_eq!(MaskPolicy::new(0, 4).with_mask_char('#').mask("abcdefgh"), "####efgh");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaskPolicy {
    keep_first: usize,
    keep_last: usize,
    min_masked: usize,
    mask_char: char,
    grouping: Option<Grouping>,
    scope: Scope,
}

impl MaskPolicy {
    /// Keep the first `keep_first` and the last `keep_last` characters; mask the rest with
    /// `*`, with at least one character masked.
    #[must_use]
    pub const fn new(keep_first: usize, keep_last: usize) -> Self {
        Self {
            keep_first,
            keep_last,
            min_masked: 1,
            mask_char: '*',
            grouping: None,
            scope: Scope::Whole,
        }
    }

    /// A card number: first 4 and last 4 digits, grouped by 4 (`6222 **** **** 1234`). The kept
    /// digits form whole groups, so a 19-digit card still ends with its last 4
    /// (`6212 **** **** *** 0003`). Inputs shorter than 13 characters are masked entirely.
    #[must_use]
    pub const fn card() -> Self {
        Self::new(4, 4).with_min_masked(5).with_grouping(4, ' ')
    }

    /// The PCI DSS display limit: first 6 and last 4, ungrouped (`622202******1234`). Inputs
    /// shorter than 13 characters are masked entirely.
    #[must_use]
    pub const fn pci() -> Self {
        Self::new(6, 4).with_min_masked(3)
    }

    /// A mainland mobile: `138****1234`. Inputs shorter than 11 characters are masked entirely.
    #[must_use]
    pub const fn mobile() -> Self {
        Self::new(3, 4).with_min_masked(4)
    }

    /// A resident identity number: first 1 and last 2 (`4***************1X`). Inputs shorter
    /// than 18 characters are masked entirely.
    #[must_use]
    pub const fn resident_id() -> Self {
        Self::new(1, 2).with_min_masked(15)
    }

    /// A person's name: the first character kept, the length kept (`段正淳` → `段**`). A
    /// one-character name is masked entirely.
    #[must_use]
    pub const fn name() -> Self {
        Self::new(1, 0)
    }

    /// An email address: the first character of the local part kept, the rest of it masked,
    /// the domain shown (`a****@example.com`). Anything that is not `local@domain` with both
    /// parts present is masked entirely.
    #[must_use]
    pub const fn email() -> Self {
        let mut policy = Self::new(1, 0);
        policy.scope = Scope::EmailLocalPart;
        policy
    }

    /// The same policy masking with `mask_char`.
    #[must_use]
    pub const fn with_mask_char(mut self, mask_char: char) -> Self {
        self.mask_char = mask_char;
        self
    }

    /// The same policy grouping the output: the kept head and tail each form one group and the
    /// masked middle is cut into groups of `size`, all joined by `separator`. A `size` of 0
    /// turns grouping off.
    #[must_use]
    pub const fn with_grouping(mut self, size: usize, separator: char) -> Self {
        self.grouping = match NonZeroUsize::new(size) {
            Some(size) => Some(Grouping { size, separator }),
            None => None,
        };
        self
    }

    /// The same policy requiring at least `min_masked` masked characters (at least 1) before
    /// anything is shown; shorter inputs are masked entirely.
    #[must_use]
    pub const fn with_min_masked(mut self, min_masked: usize) -> Self {
        self.min_masked = if min_masked == 0 { 1 } else { min_masked };
        self
    }

    /// How many leading characters the policy may show.
    #[must_use]
    pub const fn keep_first(&self) -> usize {
        self.keep_first
    }

    /// How many trailing characters the policy may show.
    #[must_use]
    pub const fn keep_last(&self) -> usize {
        self.keep_last
    }

    /// The fewest characters that must be masked before any is shown.
    #[must_use]
    pub const fn min_masked(&self) -> usize {
        self.min_masked
    }

    /// The character that replaces each hidden one.
    #[must_use]
    pub const fn mask_char(&self) -> char {
        self.mask_char
    }

    /// Masks `input` into a new string.
    #[must_use]
    pub fn mask(&self, input: &str) -> String {
        let mut out = String::with_capacity(input.len() + input.len() / 2);
        self.mask_into(input, &mut out);
        out
    }

    /// Masks `input`, appending the result to `out` (no allocation once `out` has room).
    pub fn mask_into(&self, input: &str, out: &mut String) {
        match self.scope {
            Scope::Whole => self.mask_chars(input, out),
            Scope::EmailLocalPart => match input.rsplit_once('@') {
                Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
                    self.mask_chars(local, out);
                    out.push('@');
                    out.push_str(domain);
                }
                _ => self.mask_all(input, out),
            },
        }
    }

    fn mask_chars(&self, input: &str, out: &mut String) {
        let ascii = input.is_ascii();
        let total = if ascii { input.len() } else { input.chars().count() };
        let shown = self.keep_first.saturating_add(self.keep_last);
        if total < shown.saturating_add(self.min_masked) {
            self.mask_all(input, out);
            return;
        }
        let hidden = total - shown;
        // Byte offsets of the end of the kept head and the start of the kept tail.
        let (head_end, tail_start) = if ascii {
            (self.keep_first, self.keep_first + hidden)
        } else {
            let mut offsets = input.char_indices().map(|(i, _)| i).chain([input.len()]);
            let head_end = offsets.nth(self.keep_first).unwrap_or(input.len());
            let tail_start =
                if hidden == 0 { head_end } else { offsets.nth(hidden - 1).unwrap_or(input.len()) };
            (head_end, tail_start)
        };
        let head = input.get(..head_end).unwrap_or_default();
        let tail = input.get(tail_start..).unwrap_or_default();
        out.reserve(input.len() + hidden + hidden / 2 + 2);
        out.push_str(head);
        match self.grouping {
            None => self.push_masks(hidden, out),
            Some(Grouping { size, separator }) => {
                // Masked with `*` and grouped by spaces, the middle and its separators are a
                // prefix of "**** **** ...", cut from one ready line when it is long enough.
                let ready = (self.mask_char == '*' && separator == ' ')
                    .then(|| GROUPED_ASTERISKS.get(size.get() - 1))
                    .flatten()
                    .and_then(|line| {
                        line.get(..(hidden + hidden.div_ceil(size.get())).saturating_sub(1))
                    });
                let (lead, trail) = (!head.is_empty(), !tail.is_empty());
                match ready {
                    Some(middle) => {
                        if lead {
                            out.push(' ');
                        }
                        out.push_str(middle);
                        if trail {
                            out.push(' ');
                        }
                    }
                    None => self.push_groups(hidden, size.get(), separator, lead, trail, out),
                }
            }
        }
        out.push_str(tail);
    }

    /// Appends `hidden` mask characters in groups of `size`, a separator between two groups
    /// and before the first if `lead`, after the last if `trail`.
    fn push_groups(
        &self,
        hidden: usize,
        size: usize,
        separator: char,
        lead: bool,
        trail: bool,
        out: &mut String,
    ) {
        // Group by group: a separator before each group but a leading one, no arithmetic per
        // character.
        let mut left = hidden;
        let mut need_sep = lead;
        while left > 0 {
            let n = left.min(size);
            if need_sep {
                out.push(separator);
            }
            self.push_masks(n, out);
            left -= n;
            need_sep = true;
        }
        if trail {
            out.push(separator);
        }
    }

    /// Appends `n` mask characters: a slice at a time when the mask is `*`.
    fn push_masks(&self, n: usize, out: &mut String) {
        const ASTERISKS: &str = "********************************";
        if self.mask_char == '*' {
            let mut left = n;
            while left > 0 {
                let run = left.min(ASTERISKS.len());
                out.push_str(ASTERISKS.get(..run).unwrap_or_default());
                left -= run;
            }
        } else {
            out.extend(core::iter::repeat_n(self.mask_char, n));
        }
    }

    fn mask_all(&self, input: &str, out: &mut String) {
        out.extend(input.chars().map(|_| self.mask_char));
    }
}

/// Masked middles grouped by 1 to 4 with spaces, long enough for any card number.
const GROUPED_ASTERISKS: [&str; 4] = [
    "* * * * * * * * * * * * * * * * * * * * * * * * * * * * * * * *",
    "** ** ** ** ** ** ** ** ** ** ** ** ** ** ** ** ** ** ** ** ** **",
    "*** *** *** *** *** *** *** *** *** *** *** *** *** *** *** *** ***",
    "**** **** **** **** **** **** **** **** **** **** **** **** **** ****",
];

#[cfg(test)]
mod tests;

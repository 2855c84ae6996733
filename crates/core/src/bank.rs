//! Issuing banks and card kinds.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// What kind of card a BIN belongs to, with the issuer data's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CardKind {
    /// A debit card (`DC`, 借记卡).
    Debit,
    /// A credit card (`CC`, 贷记卡).
    Credit,
    /// A quasi-credit card (`SCC`, 准贷记卡); counted as credit in reports.
    QuasiCredit,
    /// A prepaid card (`PC`, 预付费卡).
    Prepaid,
}

impl CardKind {
    /// The issuer data's code: `DC`, `CC`, `SCC` or `PC`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Debit => "DC",
            Self::Credit => "CC",
            Self::QuasiCredit => "SCC",
            Self::Prepaid => "PC",
        }
    }

    /// The kind for an issuer data code.
    ///
    /// # Errors
    ///
    /// [`Error::CardKind`] for any other code.
    pub fn from_code(code: &str) -> Result<Self, Error> {
        match code {
            "DC" => Ok(Self::Debit),
            "CC" => Ok(Self::Credit),
            "SCC" => Ok(Self::QuasiCredit),
            "PC" => Ok(Self::Prepaid),
            _ => Err(Error::CardKind),
        }
    }

    /// Whether the card counts as credit (credit and quasi-credit do).
    #[must_use]
    pub const fn is_credit(self) -> bool {
        matches!(self, Self::Credit | Self::QuasiCredit)
    }
}

impl fmt::Display for CardKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Debit => "debit",
            Self::Credit => "credit",
            Self::QuasiCredit => "quasi-credit",
            Self::Prepaid => "prepaid",
        })
    }
}

/// The code of an issuer, as the issuer data spells it (`ICBC`, `KMRCU`, ...): 2–16 uppercase
/// ASCII letters or digits, held inline so that [`Bank`] is `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BankCode {
    bytes: [u8; 16],
    len: u8,
}

impl BankCode {
    /// Parses a bank code.
    ///
    /// # Errors
    ///
    /// [`Error::BankCode`] unless `code` is 2–16 uppercase ASCII letters or digits.
    pub fn new(code: &str) -> Result<Self, Error> {
        let mut bytes = [0u8; 16];
        let ok = (2..=16).contains(&code.len())
            && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        let slot = bytes.get_mut(..code.len()).filter(|_| ok).ok_or(Error::BankCode)?;
        slot.copy_from_slice(code.as_bytes());
        Ok(Self { bytes, len: code.len() as u8 })
    }

    /// The code as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        core::str::from_utf8(bytes).unwrap_or_default()
    }
}

impl fmt::Debug for BankCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BankCode({})", self.as_str())
    }
}

impl fmt::Display for BankCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! national_banks {
    ($($variant:ident => $code:literal, $name:literal;)*) => {
        /// A card issuer: one of the 16 national commercial banks of the one-click lookup, by
        /// name, or any other issuer by its code.
        ///
        /// Serialized as its code (`"ICBC"`, `"KMRCU"`).
        ///
        /// ```
        /// use cloudcard_core::Bank;
        ///
        /// let bank: Bank = "CMB".parse()?;
        /// assert_eq!(bank, Bank::Cmb);
        /// assert_eq!(bank.chinese_name(), Some("招商银行"));
        /// let other: Bank = "KMRCU".parse()?;
        /// assert!(!other.is_national());
        /// # Ok::<(), cloudcard_core::Error>(())
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Bank {
            $(
                #[doc = concat!($name, " (`", $code, "`).")]
                $variant,
            )*
            /// Any other issuer, by its code.
            Other(BankCode),
        }

        impl Bank {
            /// The 16 national commercial banks, in the order the lookup lists them.
            pub const NATIONAL: [Bank; 16] = [$(Bank::$variant,)*];

            /// The issuer's code.
            #[must_use]
            pub fn code(&self) -> &str {
                match self {
                    $(Self::$variant => $code,)*
                    Self::Other(code) => code.as_str(),
                }
            }

            /// The Chinese name of a national bank; other issuers' names come from
            /// [`IssuerTable::bank_name`](crate::IssuerTable::bank_name).
            #[must_use]
            pub const fn chinese_name(&self) -> Option<&'static str> {
                match self {
                    $(Self::$variant => Some($name),)*
                    Self::Other(_) => None,
                }
            }

            /// The issuer with this code: a national bank's own variant, or [`Bank::Other`].
            ///
            /// # Errors
            ///
            /// [`Error::BankCode`] for a code that is not 2–16 uppercase letters or digits.
            pub fn from_code(code: &str) -> Result<Self, Error> {
                match code {
                    $($code => Ok(Self::$variant),)*
                    _ => BankCode::new(code).map(Self::Other),
                }
            }
        }
    };
}

national_banks! {
    Icbc => "ICBC", "中国工商银行";
    Abc => "ABC", "中国农业银行";
    Boc => "BOC", "中国银行";
    Ccb => "CCB", "中国建设银行";
    Comm => "COMM", "交通银行";
    Psbc => "PSBC", "中国邮政储蓄银行";
    Cmb => "CMB", "招商银行";
    Citic => "CITIC", "中信银行";
    Ceb => "CEB", "中国光大银行";
    Hxbank => "HXBANK", "华夏银行";
    Cmbc => "CMBC", "中国民生银行";
    Gdb => "GDB", "广发银行";
    Spabank => "SPABANK", "平安银行";
    Spdb => "SPDB", "上海浦东发展银行";
    Cib => "CIB", "兴业银行";
    Czbank => "CZBANK", "浙商银行";
}

impl Bank {
    /// Whether this is one of the 16 national commercial banks.
    #[must_use]
    pub const fn is_national(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

impl FromStr for Bank {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_code(s)
    }
}

impl fmt::Display for Bank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Bank {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Bank {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_code(&code).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_codes_round_trip() {
        for bank in Bank::NATIONAL {
            assert_eq!(Bank::from_code(bank.code()), Ok(bank));
            assert!(bank.is_national());
            assert!(bank.chinese_name().is_some());
            let json = serde_json::to_string(&bank).unwrap();
            assert_eq!(serde_json::from_str::<Bank>(&json).unwrap(), bank);
        }
        let codes: std::collections::HashSet<_> = Bank::NATIONAL.iter().map(Bank::code).collect();
        assert_eq!(codes.len(), 16);
    }

    #[test]
    fn other_issuers() {
        let bank = Bank::from_code("KMRCU").unwrap();
        assert_eq!(bank.code(), "KMRCU");
        assert_eq!(bank.chinese_name(), None);
        assert_eq!(serde_json::to_string(&bank).unwrap(), "\"KMRCU\"");
        assert_eq!(Bank::from_code("k"), Err(Error::BankCode));
        assert_eq!(Bank::from_code("lower"), Err(Error::BankCode));
        assert_eq!(Bank::from_code("ABCDEFGHIJKLMNOPQ"), Err(Error::BankCode));
        assert_eq!(Bank::from_code("中国"), Err(Error::BankCode));
    }

    #[test]
    fn card_kinds() {
        for kind in [CardKind::Debit, CardKind::Credit, CardKind::QuasiCredit, CardKind::Prepaid] {
            assert_eq!(CardKind::from_code(kind.code()), Ok(kind));
        }
        assert!(CardKind::QuasiCredit.is_credit());
        assert!(!CardKind::Prepaid.is_credit());
        assert_eq!(CardKind::from_code("XX"), Err(Error::CardKind));
        assert_eq!(serde_json::to_string(&CardKind::QuasiCredit).unwrap(), "\"quasi_credit\"");
    }
}

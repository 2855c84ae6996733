//! The one error type of `cloudcard-core`.

/// Why a value could not be built. Messages are lowercase and never hold the rejected input:
/// that input may be a card number, an ID number or a mobile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A card number with fewer than 13 or more than 19 digits.
    #[error("card number must have 13 to 19 digits")]
    PanLength,
    /// A card number with something other than digits and single separators between groups.
    #[error("card number may hold only digits, with single spaces or hyphens between groups")]
    PanCharacter,
    /// A card number whose Luhn check digit does not match.
    #[error("card number fails its check digit")]
    PanChecksum,
    /// An amount that is not a yuan amount with at most two decimals.
    #[error("amount must be yuan with at most two decimals, like 12.34")]
    AmountFormat,
    /// An amount too large to hold.
    #[error("amount is out of range")]
    AmountOverflow,
    /// A mobile that is not 11 digits starting `13`–`19`.
    #[error("mobile number must be 11 digits starting 13 to 19")]
    PhoneNumber,
    /// A resident ID that is not 17 digits and a check character.
    #[error("resident id must be 17 digits followed by a digit or x")]
    ResidentIdFormat,
    /// A resident ID whose check character does not match.
    #[error("resident id fails its check character")]
    ResidentIdChecksum,
    /// A resident ID whose birth date is not a real date.
    #[error("resident id holds no valid birth date")]
    ResidentIdBirthDate,
    /// A person's name that is empty, too long or holds control characters.
    #[error("name must be 1 to 64 printable characters")]
    PersonName,
    /// An id that is empty, too long or holds characters outside `[A-Za-z0-9_-]`.
    #[error("{kind} must be 1 to 64 letters, digits, '-' or '_'")]
    Id {
        /// Which kind of id.
        kind: &'static str,
    },
    /// A card expiry that is not `MM/YY` with a real month.
    #[error("card expiry must be MM/YY")]
    CardExpiry,
    /// A currency code above 999.
    #[error("currency must be an iso 4217 numeric code")]
    Currency,
    /// A bank code that is not 2–16 uppercase ASCII letters or digits.
    #[error("bank code must be 2 to 16 uppercase letters or digits")]
    BankCode,
    /// A card kind code other than `DC`, `CC`, `SCC` or `PC`.
    #[error("card kind must be one of DC, CC, SCC, PC")]
    CardKind,
    /// A BIN prefix that is not 3–10 digits, or a card length outside 13–19.
    #[error("bin prefix must be 3 to 10 digits for a card of 13 to 19 digits")]
    BinPrefix,
    /// A malformed line in issuer table data.
    #[error("issuer table line {line}: {reason}")]
    IssuerTable {
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A port that failed: an SMS gateway, a bank, the issuer, an identity or face service, a
/// notifier. It names the port and keeps the port's own error as its source, so an operator
/// sees why while the message a user sees stays fixed. Every port failure is worth retrying
/// later: the outside world may be back.
///
/// A port implementation's message must not hold personal data either.
///
/// ```
/// use cloudcard_core::PortError;
///
/// let timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, "gateway timed out");
/// let e = PortError::with_source("sms", timeout);
/// assert_eq!(e.to_string(), "sms is unavailable");
/// assert_eq!(std::error::Error::source(&e).unwrap().to_string(), "gateway timed out");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{port} is unavailable")]
pub struct PortError {
    port: &'static str,
    #[source]
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl PortError {
    /// `port` failed, with no more to say.
    #[must_use]
    pub const fn new(port: &'static str) -> Self {
        Self { port, source: None }
    }

    /// `port` failed because of `source`.
    pub fn with_source(
        port: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self { port, source: Some(std::sync::Arc::new(source)) }
    }

    /// Which port.
    #[must_use]
    pub const fn port(&self) -> &'static str {
        self.port
    }
}

impl PartialEq for PortError {
    /// The same port, failing for the same stated reason.
    fn eq(&self, other: &Self) -> bool {
        self.port == other.port
            && self.source.as_ref().map(ToString::to_string)
                == other.source.as_ref().map(ToString::to_string)
    }
}

impl Eq for PortError {}

//! Features: the numbers rules compare.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::RuleError;
use crate::velocity::{Aggregate, EntityKind, MAX_WINDOWS, Snapshot, WindowSet};

/// What is measured over a velocity window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Measure {
    /// Transactions, approved and declined.
    Count,
    /// Their amount, approved and declined.
    Sum,
    /// Approved transactions.
    ApprovedCount,
    /// Their amount.
    ApprovedSum,
    /// Declined transactions.
    DeclinedCount,
    /// Their amount.
    DeclinedSum,
    /// Approved amount including the transaction being decided (for caps).
    SumWithAmount,
}

impl Measure {
    const ALL: [Self; 7] = [
        Self::Count,
        Self::Sum,
        Self::ApprovedCount,
        Self::ApprovedSum,
        Self::DeclinedCount,
        Self::DeclinedSum,
        Self::SumWithAmount,
    ];

    const fn name(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Sum => "sum",
            Self::ApprovedCount => "approved_count",
            Self::ApprovedSum => "approved_sum",
            Self::DeclinedCount => "declined_count",
            Self::DeclinedSum => "declined_sum",
            Self::SumWithAmount => "sum_with_amount",
        }
    }
}

/// A number a rule can compare.
///
/// Written in rule files as:
/// - `amount` — the transaction's amount in fen;
/// - `hour` — the Beijing local hour, 0–23;
/// - `device.age_hours` — hours since the device was registered (or first seen);
/// - `device.cards` — cards already bound on the device (card binding only);
/// - `ENTITY.MEASURE.WINDOW` — velocity, e.g. `card.count.10m`, `user.sum_with_amount.24h`,
///   `bind.device.count.24h`, with ENTITY one of `card`, `token`, `device`, `user`,
///   `bind.user`, `bind.device` and MEASURE one of `count`, `sum`, `approved_count`,
///   `approved_sum`, `declined_count`, `declined_sum`, `sum_with_amount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// The amount in fen.
    Amount,
    /// The Beijing local hour.
    Hour,
    /// Hours since the device was registered.
    DeviceAgeHours,
    /// Cards bound on the device.
    DeviceCards,
    /// A velocity figure.
    Velocity {
        /// Of what.
        entity: EntityKind,
        /// Which figure.
        measure: Measure,
        /// Over which window (its label, as the rule set's windows name it).
        window: WindowLabel,
    },
}

/// A window label of up to 7 ASCII characters, held inline so that [`Feature`] is `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowLabel([u8; 8]);

impl WindowLabel {
    fn new(label: &str) -> Option<Self> {
        let mut bytes = [0u8; 8];
        if label.is_empty() || label.len() > 7 || !label.is_ascii() {
            return None;
        }
        bytes.get_mut(..label.len())?.copy_from_slice(label.as_bytes());
        Some(Self(bytes))
    }

    /// The label.
    #[must_use]
    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        std::str::from_utf8(self.0.get(..len).unwrap_or_default()).unwrap_or_default()
    }
}

impl Feature {
    /// Whether the feature exists when deciding a payment.
    #[must_use]
    pub const fn in_payments(self) -> bool {
        !matches!(
            self,
            Self::DeviceCards
                | Self::Velocity { entity: EntityKind::BindUser | EntityKind::BindDevice, .. }
        )
    }

    /// Whether the feature exists when assessing a card binding.
    #[must_use]
    pub const fn in_provisioning(self) -> bool {
        matches!(
            self,
            Self::Hour
                | Self::DeviceAgeHours
                | Self::DeviceCards
                | Self::Velocity { entity: EntityKind::BindUser | EntityKind::BindDevice, .. }
        )
    }
}

impl FromStr for Feature {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "amount" => return Ok(Self::Amount),
            "hour" => return Ok(Self::Hour),
            "device.age_hours" => return Ok(Self::DeviceAgeHours),
            "device.cards" => return Ok(Self::DeviceCards),
            _ => {}
        }
        let unknown = || format!("unknown feature '{s}'");
        let (rest, window) = s.rsplit_once('.').ok_or_else(unknown)?;
        let (entity, measure) = rest.rsplit_once('.').ok_or_else(unknown)?;
        let entity =
            EntityKind::ALL.into_iter().find(|e| e.name() == entity).ok_or_else(unknown)?;
        let measure = Measure::ALL.into_iter().find(|m| m.name() == measure).ok_or_else(unknown)?;
        let window = WindowLabel::new(window).ok_or_else(unknown)?;
        Ok(Self::Velocity { entity, measure, window })
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Amount => f.write_str("amount"),
            Self::Hour => f.write_str("hour"),
            Self::DeviceAgeHours => f.write_str("device.age_hours"),
            Self::DeviceCards => f.write_str("device.cards"),
            Self::Velocity { entity, measure, window } => {
                write!(f, "{}.{}.{}", entity.name(), measure.name(), window.as_str())
            }
        }
    }
}

impl Serialize for Feature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Feature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A compiled velocity reference: entity kind, measure and window index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VelocityRef {
    pub(crate) entity: EntityKind,
    pub(crate) measure: Measure,
    pub(crate) window: usize,
}

/// Everything a decision can read, gathered once per decision on the stack. The entities'
/// windows are read where their snapshots lie, not copied (each is 256 bytes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Features<'s> {
    pub(crate) amount: Option<u64>,
    pub(crate) hour: u64,
    pub(crate) device_age_hours: Option<u64>,
    pub(crate) device_cards: Option<u64>,
    pub(crate) velocity: [Option<&'s [Aggregate; MAX_WINDOWS]>; EntityKind::ALL.len()],
}

impl<'s> Features<'s> {
    pub(crate) const fn new(hour: u64) -> Self {
        Self { amount: None, hour, device_age_hours: None, device_cards: None, velocity: [None; 6] }
    }

    pub(crate) fn set_velocity(&mut self, kind: EntityKind, snapshot: Option<&'s Snapshot>) {
        if let Some(slot) = self.velocity.get_mut(kind.index()) {
            // An entity never seen has empty windows, not missing ones.
            *slot = Some(snapshot.map_or(&Snapshot::EMPTY.windows, |s| &s.windows));
        }
    }

    pub(crate) fn scalar(&self, feature: ScalarFeature) -> Result<u64, RuleError> {
        match feature {
            ScalarFeature::Amount => self.amount.ok_or(RuleError::MissingFeature),
            ScalarFeature::Hour => Ok(self.hour),
            ScalarFeature::DeviceAgeHours => self.device_age_hours.ok_or(RuleError::MissingFeature),
            ScalarFeature::DeviceCards => self.device_cards.ok_or(RuleError::MissingFeature),
            ScalarFeature::Velocity(v) => {
                // Read in place: the entity's windows are 256 bytes.
                let agg = self
                    .velocity
                    .get(v.entity.index())
                    .copied()
                    .flatten()
                    .and_then(|windows| windows.get(v.window))
                    .ok_or(RuleError::MissingFeature)?;
                match v.measure {
                    Measure::Count => Ok(agg.count()),
                    Measure::Sum => Ok(agg.sum()),
                    Measure::ApprovedCount => Ok(agg.approved_count),
                    Measure::ApprovedSum => Ok(agg.approved_sum),
                    Measure::DeclinedCount => Ok(agg.declined_count),
                    Measure::DeclinedSum => Ok(agg.declined_sum),
                    Measure::SumWithAmount => {
                        let amount = self.amount.ok_or(RuleError::MissingFeature)?;
                        agg.approved_sum.checked_add(amount).ok_or(RuleError::Overflow)
                    }
                }
            }
        }
    }
}

/// A feature resolved against the window set, ready to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarFeature {
    Amount,
    Hour,
    DeviceAgeHours,
    DeviceCards,
    Velocity(VelocityRef),
}

impl ScalarFeature {
    pub(crate) fn resolve(feature: Feature, windows: &WindowSet) -> Result<Self, String> {
        Ok(match feature {
            Feature::Amount => Self::Amount,
            Feature::Hour => Self::Hour,
            Feature::DeviceAgeHours => Self::DeviceAgeHours,
            Feature::DeviceCards => Self::DeviceCards,
            Feature::Velocity { entity, measure, window } => {
                let index = windows
                    .position(window.as_str())
                    .ok_or_else(|| format!("no velocity window named '{}'", window.as_str()))?;
                Self::Velocity(VelocityRef { entity, measure, window: index })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "amount",
            "hour",
            "device.age_hours",
            "device.cards",
            "card.count.10m",
            "bind.device.count.24h",
            "user.sum_with_amount.24h",
            "token.declined_sum.7d",
        ] {
            let f: Feature = name.parse().unwrap();
            assert_eq!(f.to_string(), name);
        }
        for bad in [
            "",
            "amounts",
            "card.count",
            "card.total.10m",
            "wallet.count.10m",
            "card.count.12345678",
        ] {
            assert!(bad.parse::<Feature>().is_err(), "{bad}");
        }
    }

    #[test]
    fn contexts() {
        let f = |s: &str| s.parse::<Feature>().unwrap();
        assert!(f("amount").in_payments() && !f("amount").in_provisioning());
        assert!(f("device.cards").in_provisioning() && !f("device.cards").in_payments());
        assert!(f("bind.user.count.24h").in_provisioning());
        assert!(f("hour").in_payments() && f("hour").in_provisioning());
    }
}

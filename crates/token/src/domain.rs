//! Domain controls: where a token may be used.

use chrono::{DateTime, Utc};
use cloudcard_core::{Amount, DeviceId, MerchantId};
use serde::{Deserialize, Serialize};

pub use cloudcard_core::Channel;

/// The channel's bit in a [`ChannelSet`].
const fn bit(channel: Channel) -> u8 {
    1 << channel.code()
}

/// A set of channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelSet(u8);

impl ChannelSet {
    /// No channel.
    pub const NONE: Self = Self(0);

    /// Every channel.
    #[must_use]
    pub const fn all() -> Self {
        Self(bit(Channel::Nfc) | bit(Channel::Qr) | bit(Channel::InApp) | bit(Channel::Online))
    }

    /// This set with `channel` added.
    #[must_use]
    pub const fn with(self, channel: Channel) -> Self {
        Self(self.0 | bit(channel))
    }

    /// Whether `channel` is in the set.
    #[must_use]
    pub const fn contains(self, channel: Channel) -> bool {
        self.0 & bit(channel) != 0
    }

    /// Whether the set is empty.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Channel> for ChannelSet {
    fn from_iter<I: IntoIterator<Item = Channel>>(iter: I) -> Self {
        iter.into_iter().fold(Self::NONE, Self::with)
    }
}

/// The domain a token is restricted to: one device, a set of channels, and optionally one
/// merchant, a maximum amount per payment and an expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// The device the token lives on.
    pub device: DeviceId,
    /// The channels it may pay through.
    pub channels: ChannelSet,
    /// The one merchant it may pay, if any.
    pub merchant: Option<MerchantId>,
    /// The most one payment may be.
    pub max_amount: Option<Amount>,
    /// When the token stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_sets() {
        let s: ChannelSet = [Channel::Nfc, Channel::Qr].into_iter().collect();
        assert!(s.contains(Channel::Nfc) && s.contains(Channel::Qr));
        assert!(!s.contains(Channel::Online));
        assert!(ChannelSet::NONE.is_empty());
        assert!(Channel::ALL.iter().all(|&c| ChannelSet::all().contains(c)));
    }
}

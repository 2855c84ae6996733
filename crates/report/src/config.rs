//! Who may use the lookup, where, through which channel, and at which banks.

use std::collections::BTreeSet;
use std::fmt;

use chrono::TimeDelta;
use cloudcard_core::Bank;
use serde::{Deserialize, Serialize};

/// A provincial-level region of the mainland, by its GB/T 2260 code (31 Shanghai, 53 Yunnan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Region(u8);

const REGIONS: [(u8, &str); 31] = [
    (11, "北京"),
    (12, "天津"),
    (13, "河北"),
    (14, "山西"),
    (15, "内蒙古"),
    (21, "辽宁"),
    (22, "吉林"),
    (23, "黑龙江"),
    (31, "上海"),
    (32, "江苏"),
    (33, "浙江"),
    (34, "安徽"),
    (35, "福建"),
    (36, "江西"),
    (37, "山东"),
    (41, "河南"),
    (42, "湖北"),
    (43, "湖南"),
    (44, "广东"),
    (45, "广西"),
    (46, "海南"),
    (50, "重庆"),
    (51, "四川"),
    (52, "贵州"),
    (53, "云南"),
    (54, "西藏"),
    (61, "陕西"),
    (62, "甘肃"),
    (63, "青海"),
    (64, "宁夏"),
    (65, "新疆"),
];

impl Region {
    /// Shanghai.
    pub const SHANGHAI: Self = Self(31);
    /// Yunnan.
    pub const YUNNAN: Self = Self(53);

    /// The region with GB/T 2260 code `code`, if it is one of the 31.
    #[must_use]
    pub fn from_code(code: u8) -> Option<Self> {
        REGIONS.iter().any(|(c, _)| *c == code).then_some(Self(code))
    }

    /// All 31 provincial-level regions.
    pub fn all() -> impl Iterator<Item = Self> {
        REGIONS.iter().map(|(c, _)| Self(*c))
    }

    /// The region's code.
    #[must_use]
    pub const fn code(self) -> u8 {
        self.0
    }

    /// The region's Chinese name.
    #[must_use]
    pub fn name(self) -> &'static str {
        REGIONS.iter().find(|(c, _)| *c == self.0).map_or("", |(_, n)| n)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a lookup request comes from. Only the wallet app is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestChannel {
    /// The wallet app itself.
    App,
    /// Some other website.
    Website,
    /// Some other app.
    OtherApp,
    /// An official account (公众号).
    OfficialAccount,
    /// A mini program (小程序).
    MiniProgram,
    /// Offline, at a counter or by phone.
    Offline,
}

/// The lookup's rules that are configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupConfig {
    /// Regions whose users may apply.
    pub regions: BTreeSet<Region>,
    /// Banks that take part.
    pub banks: BTreeSet<Bank>,
    /// The authorization agreement version a user must accept.
    pub agreement_version: String,
    /// How old face, OTP and password evidence may be.
    pub evidence_max_age: TimeDelta,
    /// How long banks have to answer after acceptance.
    pub answer_deadline: TimeDelta,
    /// How many times a bank's retryable failure is retried.
    pub max_retries: u32,
    /// Natural days a report is kept, the generation day counting as day 1.
    pub retention_days: u32,
    /// How long after the last report was generated a new query may be made.
    pub requery_after: TimeDelta,
}

impl LookupConfig {
    /// The state since 2022-06-29: all 31 regions and the 16 national commercial banks.
    #[must_use]
    pub fn nationwide() -> Self {
        Self {
            regions: Region::all().collect(),
            banks: Bank::NATIONAL.into_iter().collect(),
            agreement_version: "2022-06".into(),
            evidence_max_age: TimeDelta::minutes(5),
            answer_deadline: TimeDelta::hours(24),
            max_retries: 3,
            retention_days: 7,
            requery_after: TimeDelta::days(7),
        }
    }

    /// The first pilot of 2021-12-20: Shanghai and Yunnan, 14 national banks (the 16 less Bank
    /// of Communications and China Construction Bank, which joined with the 2022 expansion).
    #[must_use]
    pub fn pilot_2021_12_20() -> Self {
        Self {
            regions: [Region::SHANGHAI, Region::YUNNAN].into_iter().collect(),
            banks: Bank::NATIONAL
                .into_iter()
                .filter(|b| !matches!(b, Bank::Comm | Bank::Ccb))
                .collect(),
            ..Self::nationwide()
        }
    }

    /// The expansion of 2022-03-21: 16 regions and the 16 banks.
    #[must_use]
    pub fn expansion_2022_03_21() -> Self {
        let codes = [31, 53, 11, 50, 23, 43, 33, 22, 35, 34, 41, 65, 14, 61, 52, 46];
        Self {
            regions: codes.into_iter().filter_map(Region::from_code).collect(),
            ..Self::nationwide()
        }
    }
}

impl Default for LookupConfig {
    fn default() -> Self {
        Self::nationwide()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_of_the_rollout() {
        assert_eq!(LookupConfig::nationwide().regions.len(), 31);
        assert_eq!(LookupConfig::nationwide().banks.len(), 16);
        assert_eq!(LookupConfig::pilot_2021_12_20().regions.len(), 2);
        assert_eq!(LookupConfig::pilot_2021_12_20().banks.len(), 14);
        assert_eq!(LookupConfig::expansion_2022_03_21().regions.len(), 16);
        assert_eq!(Region::from_code(31).unwrap().name(), "上海");
        assert!(Region::from_code(99).is_none());
    }
}

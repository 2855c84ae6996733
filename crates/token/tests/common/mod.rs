//! What the token tests share: a service on a manual clock, a phone, a payment.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use cloudcard_core::{Amount, Clock, Currency, DeviceId, IssuerTable, ManualClock};
use cloudcard_token::{
    Channel, InMemoryTokenStore, PaymentData, TokenBin, TokenConfig, TokenKeys, TokenService,
};

pub fn service() -> (Arc<ManualClock>, TokenService) {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let config = TokenConfig::new(TokenBin::new("990001", IssuerTable::builtin()).unwrap());
    (
        clock.clone(),
        TokenService::new(config, TokenKeys::random(), InMemoryTokenStore::new(), clock),
    )
}

pub fn phone() -> DeviceId {
    "dev_phone".parse().unwrap()
}

pub fn pay(clock: &ManualClock, fen: u64) -> PaymentData {
    PaymentData {
        amount: Amount::from_fen(fen),
        currency: Currency::CNY,
        merchant: "mch_cafe".parse().unwrap(),
        channel: Channel::Qr,
        unpredictable_number: 42,
        timestamp: clock.now(),
        cvm: Default::default(),
    }
}

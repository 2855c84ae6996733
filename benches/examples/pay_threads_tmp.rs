#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    dead_code
)]
#[path = "../benches/common/mod.rs"]
mod common;
use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard::CloudCard;
use cloudcard::core::sync::Padded;
use common::{Payer, request};
use std::sync::Arc;
#[derive(Debug)]
struct NodeClock {
    start: chrono::DateTime<Utc>,
}

thread_local! {
    /// How far this thread's clock has moved from the start.
    static MOVED: std::cell::Cell<TimeDelta> = const { std::cell::Cell::new(TimeDelta::zero()) };
}

impl NodeClock {
    /// Sets how far this thread's clock has moved (the payer's, whichever thread it pays on).
    fn set(moved: TimeDelta) {
        MOVED.with(|m| m.set(moved));
    }
}

impl cloudcard::core::Clock for NodeClock {
    fn now(&self) -> chrono::DateTime<Utc> {
        self.start + MOVED.with(std::cell::Cell::get)
    }
}

#[derive(Debug)]
struct EveryoneIsWhoTheySay;

impl cloudcard::wallet::IdentityVerifier for EveryoneIsWhoTheySay {
    fn verify(
        &self,
        _: &cloudcard::core::PersonName,
        _: &cloudcard::core::ResidentId,
    ) -> Result<bool, cloudcard::wallet::WalletError> {
        Ok(true)
    }
}

#[derive(Debug)]
struct BankOfEveryCard;

const CODE: &str = "000000";

impl cloudcard::wallet::BankGateway for BankOfEveryCard {
    fn verify(
        &self,
        _: &cloudcard::wallet::FourElements,
        _: chrono::DateTime<Utc>,
    ) -> Result<cloudcard::wallet::BankVerdict, cloudcard::wallet::WalletError> {
        Ok(cloudcard::wallet::BankVerdict::CodeSent {
            session: "session".into(),
            bank: cloudcard::core::Bank::Icbc,
            kind: cloudcard::core::CardKind::Debit,
        })
    }
    fn confirm(&self, _: &str, code: &str) -> Result<bool, cloudcard::wallet::WalletError> {
        Ok(code == CODE)
    }
}

fn everyone_banks(clock: Arc<dyn cloudcard::core::Clock>) -> CloudCard {
    CloudCard::demo()
        .clock(clock)
        .identity(Arc::new(EveryoneIsWhoTheySay))
        .bank(Arc::new(BankOfEveryCard))
        .build()
        .unwrap()
}

fn enroll(cc: &CloudCard, i: u64) -> Payer {
    let (mobile, id, pan) = person(i);
    let user = cc.register_user(mobile.clone(), "张三".parse().unwrap(), id).unwrap();
    let phone = cc.register_device(&user, "phone").unwrap();
    let request = cloudcard::BindRequest { pan, expiry: None, cvn2: None, reserved_mobile: mobile };
    let pending = cc.bind_card(&user, &phone, request).unwrap();
    let card = cc.confirm_card(&user, &phone, &pending.binding, CODE).unwrap().device_card;
    Payer { user, phone, card, keyed_at: None }
}

fn person(
    i: u64,
) -> (cloudcard::core::PhoneNumber, cloudcard::core::ResidentId, cloudcard::core::Pan) {
    use cloudcard::masking::checks::{luhn_check_digit, resident_id_check_char};
    let born =
        chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap() + TimeDelta::days((i / 1_000) as i64);
    let mut id = format!("110101{}{:03}", born.format("%Y%m%d"), i % 1_000);
    id.push(char::from(resident_id_check_char(id.as_bytes()).unwrap()));
    let mut pan = format!("622202{i:012}");
    pan.push(char::from(luhn_check_digit(pan.as_bytes()).unwrap()));
    (format!("139{i:08}").parse().unwrap(), id.parse().unwrap(), pan.parse().unwrap())
}

fn main() {
    let threads: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let per: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    const HOLDERS: usize = 64;
    let node = Arc::new(NodeClock { start: Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap() });
    let cc = everyone_banks(node.clone());
    let payers: Vec<Vec<_>> = (0..2)
        .map(|t| {
            (0..HOLDERS)
                .map(|i| {
                    Padded(std::sync::Mutex::new((
                        enroll(&cc, (t * HOLDERS + i) as u64),
                        TimeDelta::zero(),
                    )))
                })
                .collect()
        })
        .collect();
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (cc, payers, node) = (&cc, &payers, &node);
            s.spawn(move || {
                for i in 0..per {
                    let (payer, moved) = &mut *payers[t][i % HOLDERS].lock().unwrap();
                    *moved += TimeDelta::minutes(4);
                    NodeClock::set(*moved);
                    let req = request(cc, &**node, payer);
                    assert!(matches!(cc.pay(&req), Ok(cloudcard::PaymentOutcome::Approved { .. })));
                }
            });
        }
    });
    let el = start.elapsed().as_secs_f64();
    eprintln!("{threads} threads: {:.0} payments/s", (threads * per) as f64 / el);
}

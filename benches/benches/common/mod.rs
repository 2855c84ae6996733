//! What the benches and the counting examples share: a recording store, payers with bound
//! cards, and the token bench's cards and phones by number.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use cloudcard::core::store::{Entry, Kv, Table, Txn, TxnFn};
use cloudcard::core::{Clock, PhoneNumber, StoreError};
use cloudcard::demo::DEMO_PEOPLE;
use cloudcard::token::{Channel, DeviceCard, PaymentData};
use cloudcard::wallet::OtpPurpose;
use cloudcard::{Amount, BindRequest, CloudCard, Currency, Mcc, PaymentRequest};

/// One store operation as a call issued it.
#[derive(Debug, Clone)]
pub enum Op {
    Begin {
        write: bool,
    },
    Get(Table, Vec<u8>),
    Contains(Table, Vec<u8>),
    /// Table, key, sealed length, and whether the key was new (an insert, not an update).
    Put(Table, Vec<u8>, usize, bool),
    Delete(Table, Vec<u8>),
    Range(Table, Vec<u8>, Vec<u8>, usize),
    Commit,
}

/// A [`Kv`] that records what passes through it while recording is on.
#[derive(Debug)]
pub struct Recorder {
    inner: Arc<dyn Kv>,
    ops: Mutex<Option<Vec<Op>>>,
}

impl Recorder {
    pub fn new(inner: Arc<dyn Kv>) -> Self {
        Self { inner, ops: Mutex::new(None) }
    }
    pub fn log(&self, op: Op) {
        if let Some(ops) = self.ops.lock().unwrap().as_mut() {
            ops.push(op);
        }
    }
    pub fn start(&self) {
        *self.ops.lock().unwrap() = Some(Vec::new());
    }
    pub fn stop(&self) -> Vec<Op> {
        self.ops.lock().unwrap().take().unwrap()
    }
}

struct RecTxn<'a> {
    inner: &'a mut dyn Txn,
    rec: &'a Recorder,
}

impl Txn for RecTxn<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.rec.log(Op::Get(table, key.to_vec()));
        self.inner.get(table, key)
    }
    fn contains(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        self.rec.log(Op::Contains(table, key.to_vec()));
        self.inner.contains(table, key)
    }
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        // Sealed at rest: a 12-byte nonce and a 16-byte tag around the value.
        let fresh = !self.inner.contains(table, key)?;
        self.rec.log(Op::Put(table, key.to_vec(), value.len() + 28, fresh));
        self.inner.put(table, key, value)
    }
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        self.rec.log(Op::Delete(table, key.to_vec()));
        self.inner.delete(table, key)
    }
    fn range(
        &mut self,
        table: Table,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.rec.log(Op::Range(table, from.to_vec(), to.to_vec(), limit));
        self.inner.range(table, from, to, limit)
    }
}

impl Kv for Recorder {
    fn read(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError> {
        self.log(Op::Begin { write: false });
        let out = self.inner.read(&mut |t| body(&mut RecTxn { inner: t, rec: self }));
        self.log(Op::Commit);
        out
    }
    fn write(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError> {
        self.log(Op::Begin { write: true });
        let out = self.inner.write(&mut |t| body(&mut RecTxn { inner: t, rec: self }));
        self.log(Op::Commit);
        out
    }
}

/// Keys for replaying recorded operations: a key the call inserted gets the replay's `round`
/// appended, wherever it appears, so each replay inserts rows as the call did rather than
/// overwriting the last replay's.
pub struct ReplayKeys {
    fresh: std::collections::HashSet<(Table, Vec<u8>)>,
    round: u64,
}

impl ReplayKeys {
    pub fn new(ops: &[Op], round: u64) -> Self {
        let fresh = ops
            .iter()
            .filter_map(|op| match op {
                Op::Put(t, k, _, true) => Some((*t, k.clone())),
                _ => None,
            })
            .collect();
        Self { fresh, round }
    }

    pub fn key(&self, table: &Table, key: &[u8]) -> Vec<u8> {
        let mut k = key.to_vec();
        if self.fresh.contains(&(*table, k.clone())) {
            k.extend_from_slice(&self.round.to_be_bytes());
        }
        k
    }
}

pub struct Payer {
    pub user: cloudcard::UserId,
    pub phone: cloudcard::DeviceId,
    pub card: DeviceCard,
    /// When its limited-use key was last replenished here (`None`: not yet).
    pub keyed_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Registers the demo people and binds one card each; with `extra`, also a second card of the
/// first person on the same phone (a fourth payer).
pub fn payers(
    cc: &CloudCard,
    outbox: &cloudcard::wallet::InMemoryOutbox,
    extra: bool,
) -> Vec<Payer> {
    let mut payers = Vec::new();
    for (i, (name, id, mobile)) in DEMO_PEOPLE.into_iter().enumerate() {
        let mobile: PhoneNumber = mobile.parse().unwrap();
        let user =
            cc.register_user(mobile.clone(), name.parse().unwrap(), id.parse().unwrap()).unwrap();
        let phone = cc.register_device(&user, "phone").unwrap();
        let pan = ["6222021234567890128", "6216611234567890126", "6228481234567890128"][i];
        let card = bind(cc, outbox, &user, &phone, pan, &mobile).device_card;
        payers.push(Payer { user, phone, card, keyed_at: None });
    }
    if extra {
        let mobile: PhoneNumber = DEMO_PEOPLE[0].2.parse().unwrap();
        let (user, phone) = (payers[0].user.clone(), payers[0].phone.clone());
        let card = bind(cc, outbox, &user, &phone, "6217001234567890122", &mobile).device_card;
        payers.push(Payer { user, phone, card, keyed_at: None });
    }
    payers
}

pub fn bind(
    cc: &CloudCard,
    outbox: &cloudcard::wallet::InMemoryOutbox,
    user: &cloudcard::UserId,
    phone: &cloudcard::DeviceId,
    pan: &str,
    mobile: &PhoneNumber,
) -> cloudcard::BoundCard {
    let request = BindRequest {
        pan: pan.parse().unwrap(),
        expiry: None,
        cvn2: None,
        reserved_mobile: mobile.clone(),
    };
    let pending = cc.bind_card(user, phone, request).unwrap();
    let code = outbox.last_code(mobile, OtpPurpose::CardBinding).unwrap();
    cc.confirm_card(user, phone, &pending.binding, &code).unwrap()
}

pub fn request(cc: &CloudCard, clock: &dyn Clock, p: &mut Payer) -> PaymentRequest {
    // A fresh key after 10 payments under it, or before it is 2 days old (the default key
    // lives 3): however the clock runs, no payment meets a used-up or expired key.
    let now = clock.now();
    let old = p.keyed_at.is_none_or(|at| now - at >= chrono::TimeDelta::days(2));
    if old || p.card.replenish_request().transactions_under_key >= 10 {
        p.card.install(cc.replenish(&p.card.replenish_request()).unwrap()).unwrap();
        p.keyed_at = Some(now);
    }
    let cryptogram = p
        .card
        .cryptogram(PaymentData {
            amount: Amount::from_fen(1_000),
            currency: Currency::CNY,
            merchant: "mch_bench".parse().unwrap(),
            channel: Channel::Nfc,
            unpredictable_number: 9,
            timestamp: clock.now(),
            cvm: cloudcard::token::Cvm::Biometric,
        })
        .unwrap();
    PaymentRequest {
        user: p.user.clone(),
        device: p.phone.clone(),
        cryptogram,
        mcc: Mcc(5411),
        transaction: cloudcard::TransactionId::random(),
    }
}

/// The demo service on `clock`, with the demo people's cards bound.
pub fn demo_with_payers(clock: Arc<dyn Clock>) -> (CloudCard, Vec<Payer>) {
    let outbox = Arc::new(cloudcard::wallet::InMemoryOutbox::new());
    let cc = CloudCard::demo()
        .clock(clock)
        .sms(outbox.clone() as Arc<dyn cloudcard::wallet::SmsGateway>)
        .build()
        .unwrap();
    let payers = payers(&cc, &outbox, false);
    (cc, payers)
}

/// Card `i`: `62`, `i` in 16 digits and its Luhn check digit.
pub fn pan(i: u64) -> cloudcard::core::Pan {
    let mut digits = format!("62{i:016}");
    let check = cloudcard::masking::checks::luhn_check_digit(digits.as_bytes()).unwrap();
    digits.push(char::from(check));
    digits.parse().unwrap()
}

/// Phone `i`.
pub fn device(i: u64) -> cloudcard::DeviceId {
    format!("dev_{i}").parse().unwrap()
}

/// The token bench's payment: 10 yuan at `mch_bench` by NFC, made at `at`.
pub fn payment_at(at: chrono::DateTime<chrono::Utc>) -> PaymentData {
    PaymentData {
        amount: Amount::from_fen(1_000),
        currency: Currency::CNY,
        merchant: "mch_bench".parse().unwrap(),
        channel: Channel::Nfc,
        unpredictable_number: 7,
        timestamp: at,
        cvm: Default::default(),
    }
}

/// What the token counting examples start from: how many calls to count (the first argument,
/// 10,000 by default) and an empty token service on a manual clock.
pub fn counting_tokens() -> (u64, Arc<cloudcard::core::ManualClock>, cloudcard::token::TokenService)
{
    use chrono::TimeZone;
    use cloudcard::token::{TokenBin, TokenConfig, TokenKeys, TokenService};

    let n = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let start = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
    let clock = Arc::new(cloudcard::core::ManualClock::new(start));
    let bin = TokenBin::new("990001", cloudcard::core::IssuerTable::builtin()).unwrap();
    let tokens = TokenService::new(
        TokenConfig::new(bin),
        TokenKeys::random(),
        Default::default(),
        clock.clone(),
    );
    (n, clock, tokens)
}

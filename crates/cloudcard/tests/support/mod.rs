//! A durable service that can be closed and reopened over one SQLite file, with the outside
//! world (SMS, the banks, the clock) kept across reopens as it would be in production.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    dead_code,
    unreachable_pub
)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard::core::{Clock, ManualClock, PhoneNumber};
use cloudcard::demo::DEMO_PEOPLE;
use cloudcard::sqlite::StaticKey;
use cloudcard::token::{Channel, Cvm, DeviceCard, PaymentData};
use cloudcard::wallet::{
    Argon2Cost, BankGateway, InMemoryNotifier, InMemoryOutbox, Notifier, OtpPurpose,
    SimulatedBankGateway, SmsGateway, WalletConfig,
};
use cloudcard::{
    Amount, BindRequest, CloudCard, Currency, Mcc, PaymentOutcome, PaymentRequest, Secret, UserId,
};

pub const PASSWORD: &str = "135790";
pub const PANS: [&str; 3] = ["6222021234567890128", "6225751234567893", "6217001234567890122"];

/// A throwaway directory, deleted on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("cloudcard-{tag}-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The card issuer: the simulator, remembering what it approved and what was reversed.
#[derive(Debug, Default)]
pub struct Issuer {
    pub approved: Mutex<Vec<cloudcard::TransactionId>>,
    pub reversed: Mutex<Vec<cloudcard::TransactionId>>,
}

impl cloudcard::IssuerAuthorizer for Issuer {
    fn authorize(
        &self,
        request: &cloudcard::AuthorizationRequest,
    ) -> Result<cloudcard::IssuerDecision, cloudcard::Error> {
        let decision = cloudcard::SimulatedIssuer::default().authorize(request)?;
        if matches!(decision, cloudcard::IssuerDecision::Approved { .. }) {
            self.approved.lock().unwrap().push(request.transaction.clone());
        }
        Ok(decision)
    }

    fn reverse(&self, transaction: &cloudcard::TransactionId) -> Result<(), cloudcard::Error> {
        self.reversed.lock().unwrap().push(transaction.clone());
        Ok(())
    }
}

/// Which backend the world's services run on: SQLite (a file in the world's directory), or,
/// with `CLOUDCARD_TEST_BACKEND=postgres`, a throwaway PostgreSQL database.
pub fn postgres_backend(tag: &str) -> Option<cloudcard::postgres::testing::TestDatabase> {
    if std::env::var("CLOUDCARD_TEST_BACKEND").is_ok_and(|b| b == "postgres") {
        let db = cloudcard::postgres::testing::TestDatabase::create(tag);
        assert!(db.is_some(), "CLOUDCARD_TEST_BACKEND=postgres needs CLOUDCARD_TEST_POSTGRES");
        db
    } else {
        None
    }
}

/// The world outside one service process.
pub struct World {
    pub pg: Option<cloudcard::postgres::testing::TestDatabase>,
    pub issuer: Arc<Issuer>,
    pub dir: TempDir,
    pub clock: Arc<ManualClock>,
    pub outbox: Arc<InMemoryOutbox>,
    pub notifier: Arc<InMemoryNotifier>,
    pub bank: Arc<SimulatedBankGateway>,
    pub kek: StaticKey,
}

impl World {
    pub fn new(tag: &str) -> Self {
        let outbox = Arc::new(InMemoryOutbox::new());
        Self {
            dir: TempDir::new(tag),
            clock: Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap())),
            bank: Arc::new(SimulatedBankGateway::demo(outbox.clone())),
            outbox,
            notifier: Arc::new(InMemoryNotifier::new()),
            kek: StaticKey::new([42; 32]),
            issuer: Arc::default(),
            pg: postgres_backend(tag),
        }
    }

    /// A world whose records live in `dir` (made by someone else: it is not deleted here).
    pub fn at(dir: PathBuf) -> Self {
        let mut w = Self::new("unused");
        let _ = std::fs::remove_dir_all(&w.dir.0);
        std::mem::forget(std::mem::replace(&mut w.dir, TempDir(dir)));
        w
    }

    pub fn path(&self) -> PathBuf {
        self.dir.0.join("cloudcard.db")
    }

    /// A service process on the world's file (or database).
    pub fn open(&self) -> CloudCard {
        self.open_with(self.builder())
    }

    /// A builder with the world's clock, SMS, notifier, banks and issuer.
    pub fn builder(&self) -> cloudcard::CloudCardBuilder<cloudcard::Demo> {
        CloudCard::demo()
            .clock(self.clock.clone())
            .wallet_config(WalletConfig { argon2: Argon2Cost::TESTING, ..WalletConfig::default() })
            .sms(self.outbox.clone() as Arc<dyn SmsGateway>)
            .notifier(self.notifier.clone() as Arc<dyn Notifier>)
            .bank(self.bank.clone() as Arc<dyn BankGateway>)
            .issuer(self.issuer.clone() as Arc<dyn cloudcard::IssuerAuthorizer>)
    }

    /// A service process from `builder` on the world's file (or database).
    pub fn open_with(&self, builder: cloudcard::CloudCardBuilder<cloudcard::Demo>) -> CloudCard {
        match &self.pg {
            Some(db) => builder.open_postgres(db.url(), &self.kek),
            None => builder.open(self.path(), &self.kek),
        }
        .unwrap()
    }

    /// A fresh record store for the world: in memory, or on its PostgreSQL database. Opening
    /// it again (in memory: cloning the handle) is a restart.
    pub fn kv(&self) -> Arc<dyn cloudcard::core::Kv> {
        match &self.pg {
            Some(db) => {
                Arc::new(cloudcard::postgres::PostgresKv::open(db.url(), &self.kek).unwrap())
            }
            None => Arc::new(cloudcard::core::MemoryKv::new()),
        }
    }

    pub fn mobile(&self, person: usize) -> PhoneNumber {
        DEMO_PEOPLE[person].2.parse().unwrap()
    }

    /// Registers demo person `person` with a payment password and one phone.
    pub fn register(&self, cc: &CloudCard, person: usize) -> (UserId, cloudcard::DeviceId) {
        let (name, id, mobile) = DEMO_PEOPLE[person];
        let user = cc
            .register_user(mobile.parse().unwrap(), name.parse().unwrap(), id.parse().unwrap())
            .unwrap();
        cc.set_payment_password(&user, &Secret::new(PASSWORD.into())).unwrap();
        let phone = cc.register_device(&user, "phone").unwrap();
        (user, phone)
    }

    /// Registers POS terminal `id` to demo person `person`, with the code sent to their mobile;
    /// the terminal and the mobile it is bound to.
    pub fn register_terminal(
        &self,
        cc: &CloudCard,
        id: &str,
        person: usize,
    ) -> (cloudcard::core::TerminalId, PhoneNumber) {
        let (name, owner_id, _) = DEMO_PEOPLE[person];
        let mobile = self.mobile(person);
        let terminal: cloudcard::core::TerminalId = id.parse().unwrap();
        cc.send_terminal_mobile_code(&terminal, &mobile).unwrap();
        let code = self.outbox.last_code(&mobile, OtpPurpose::TerminalMobile).unwrap();
        let (name, owner_id) = (name.parse().unwrap(), owner_id.parse().unwrap());
        cc.register_terminal(terminal.clone(), name, owner_id, mobile.clone(), &code).unwrap();
        (terminal, mobile)
    }

    pub fn request(&self, pan: &str, person: usize) -> BindRequest {
        let credit = pan == PANS[1];
        BindRequest {
            pan: pan.parse().unwrap(),
            expiry: credit.then(|| "08/29".parse().unwrap()),
            cvn2: credit.then(|| Secret::new("738".to_owned())),
            reserved_mobile: self.mobile(person),
        }
    }

    /// The code the bank sent for the latest binding.
    pub fn binding_code(&self, person: usize) -> String {
        self.outbox.last_code(&self.mobile(person), OtpPurpose::CardBinding).unwrap()
    }

    pub fn bind(
        &self,
        cc: &CloudCard,
        user: &UserId,
        phone: &cloudcard::DeviceId,
        pan: &str,
        person: usize,
    ) -> cloudcard::BoundCard {
        let pending = cc.bind_card(user, phone, self.request(pan, person)).unwrap();
        cc.confirm_card(user, phone, &pending.binding, &self.binding_code(person)).unwrap()
    }

    pub fn data(&self, fen: u64) -> PaymentData {
        PaymentData {
            amount: Amount::from_fen(fen),
            currency: Currency::CNY,
            merchant: "mch_1".parse().unwrap(),
            channel: Channel::Nfc,
            unpredictable_number: 7,
            timestamp: self.clock.now(),
            cvm: Cvm::None,
        }
    }

    /// The phone's answer to a fingerprint challenge: a new cryptogram for the same payment,
    /// made after its fingerprint check.
    pub fn fingerprint(&self, card: &mut DeviceCard, fen: u64) -> cloudcard::StepUp {
        let mut data = self.data(fen);
        data.cvm = Cvm::Biometric;
        cloudcard::StepUp::Fingerprint { cryptogram: card.cryptogram(data).unwrap() }
    }

    pub fn request_payment(
        &self,
        user: &UserId,
        phone: &cloudcard::DeviceId,
        card: &mut DeviceCard,
        fen: u64,
    ) -> PaymentRequest {
        self.clock.advance(TimeDelta::seconds(30));
        PaymentRequest {
            user: user.clone(),
            device: phone.clone(),
            cryptogram: card.cryptogram(self.data(fen)).unwrap(),
            mcc: Mcc(5462),
            transaction: cloudcard::TransactionId::random(),
        }
    }

    pub fn pay(
        &self,
        cc: &CloudCard,
        user: &UserId,
        phone: &cloudcard::DeviceId,
        card: &mut DeviceCard,
        fen: u64,
    ) -> Result<PaymentOutcome, cloudcard::Error> {
        cc.pay(&self.request_payment(user, phone, card, fen))
    }
}

pub fn approved(outcome: &Result<PaymentOutcome, cloudcard::Error>) -> bool {
    matches!(outcome, Ok(PaymentOutcome::Approved { .. }))
}

pub fn declined(outcome: &Result<PaymentOutcome, cloudcard::Error>) -> bool {
    matches!(outcome, Ok(PaymentOutcome::Declined { .. }) | Err(_))
}

//! A store that fails its Nth write, for every N a flow reaches: after the failure the service
//! is reopened over the same records and `run_due` recovers; the invariants then hold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cloudcard::core::store::{Kv, TxnFn};
use cloudcard::core::{Clock, StoreError};
use cloudcard::token::{TokenKeys, TokenStatus};
use cloudcard::wallet::{Argon2Cost, BankGateway, Notifier, SmsGateway, WalletConfig, WalletKeys};
use cloudcard::{CloudCard, DeviceId, Secret, UserId};
use support::{PANS, World, approved, declined};

/// Fails the `n`th write transaction (and only that one) with a backend error.
#[derive(Debug)]
struct FailNthWrite {
    inner: Arc<dyn Kv>,
    writes: AtomicUsize,
    fail_at: AtomicUsize,
}

#[derive(Debug)]
struct Injected;

impl std::fmt::Display for Injected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected write failure")
    }
}

impl std::error::Error for Injected {}

impl FailNthWrite {
    fn new(inner: Arc<dyn Kv>) -> Self {
        Self { inner, writes: AtomicUsize::new(0), fail_at: AtomicUsize::new(0) }
    }

    /// Counts writes from now on, failing the `n`th (0 = never).
    fn arm(&self, n: usize) {
        self.writes.store(0, Ordering::SeqCst);
        self.fail_at.store(n, Ordering::SeqCst);
    }

    fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }
}

impl Kv for FailNthWrite {
    fn read(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError> {
        self.inner.read(body)
    }

    fn write(&self, body: &mut TxnFn<'_>) -> Result<(), StoreError> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_at.load(Ordering::SeqCst) {
            return Err(StoreError::backend(Injected));
        }
        self.inner.write(body)
    }
}

fn keys() -> (TokenKeys, WalletKeys) {
    let k = |b| Secret::new([b; 32]);
    (
        TokenKeys::new(&k(1), &k(2), &k(3), &k(4)),
        WalletKeys { pepper: Secret::new(vec![5; 32]), otp_key: k(6), card_key: k(7) },
    )
}

/// A service process over `kv` (a restart is a new one over the same `kv`).
fn open(w: &World, kv: Arc<dyn Kv>) -> CloudCard {
    let (token_keys, wallet_keys) = keys();
    CloudCard::demo()
        .clock(w.clock.clone())
        .token_keys(token_keys)
        .wallet_keys(wallet_keys)
        .wallet_config(WalletConfig { argon2: Argon2Cost::TESTING, ..WalletConfig::default() })
        .sms(w.outbox.clone() as Arc<dyn SmsGateway>)
        .notifier(w.notifier.clone() as Arc<dyn Notifier>)
        .bank(w.bank.clone() as Arc<dyn BankGateway>)
        .issuer(w.issuer.clone() as Arc<dyn cloudcard::IssuerAuthorizer>)
        .kv(kv)
        .build()
        .unwrap()
}

/// The invariants after recovery: every wallet card has exactly one live token on the phone,
/// no live token stands for a card outside the wallet, and no flow is left open.
fn assert_consistent(cc: &CloudCard, user: &UserId, phone: &DeviceId, phone_lost: bool) {
    let cards: BTreeSet<String> = cc
        .danger()
        .wallet()
        .cards(user)
        .unwrap()
        .iter()
        .map(|c| c.masked.chars().rev().take(4).collect())
        .collect();
    let live: Vec<String> = cc
        .danger()
        .tokens()
        .tokens_of_device(phone)
        .unwrap()
        .into_iter()
        .filter(|t| t.status == TokenStatus::Active)
        .map(|t| t.pan_last4.chars().rev().collect())
        .collect();
    if phone_lost {
        assert!(live.is_empty(), "a lost phone keeps no live token");
    } else {
        let unique: BTreeSet<String> = live.iter().cloned().collect();
        assert_eq!(unique.len(), live.len(), "one live token per card on the phone");
        assert_eq!(unique, cards, "every card has its token and every token its card");
    }
    assert_eq!(cc.run_due().unwrap().flows_recovered, 0, "nothing left to recover");
}

/// Runs `flow` with the Nth write failing for every N it reaches, each time on a fresh world
/// prepared by `setup`; then reopens, recovers and checks.
fn for_every_failure<S>(
    tag: &str,
    setup: impl Fn(&World, &CloudCard) -> S,
    flow: impl Fn(&World, &CloudCard, &S) -> bool,
    check: impl Fn(&World, &CloudCard, &S, bool),
) {
    let mut n = 1;
    loop {
        let w = World::new(tag);
        let memory = w.kv();
        let faulty = Arc::new(FailNthWrite::new(memory.clone()));
        let cc = open(&w, faulty.clone());
        let state = setup(&w, &cc);
        faulty.arm(n);
        let completed = flow(&w, &cc, &state);
        let reached = faulty.writes();
        drop(cc);
        let cc = open(&w, memory);
        // Recovery leaves a flow alone while it may still be running: two minutes.
        w.clock.advance(chrono::TimeDelta::minutes(3));
        cc.run_due().unwrap();
        check(&w, &cc, &state, completed);
        if reached < n {
            // The flow made fewer than n writes: every failure point has been tried.
            assert!(completed, "with no failure injected the flow completes");
            break;
        }
        n += 1;
    }
    eprintln!("{tag}: failure injected at each of {} writes", n - 1);
    assert!(n > 2, "the flow writes more than once");
}

#[test]
fn binding_with_any_write_failing_leaves_no_card_without_its_token() {
    for_every_failure(
        "faults-bind",
        |w, cc| {
            let (user, phone) = w.register(cc, 0);
            w.bind(cc, &user, &phone, PANS[0], 0);
            (user, phone)
        },
        |w, cc, (user, phone)| {
            let Ok(pending) = cc.bind_card(user, phone, w.request(PANS[2], 0)) else {
                return false;
            };
            cc.confirm_card(user, phone, &pending.binding, &w.binding_code(0)).is_ok()
        },
        |_, cc, (user, phone), completed| {
            assert_consistent(cc, user, phone, false);
            let cards = cc.danger().wallet().cards(user).unwrap().len();
            assert_eq!(cards, if completed { 2 } else { cards });
            assert!(cards == 1 || cards == 2);
        },
    );
}

#[test]
fn unbinding_with_any_write_failing_leaves_no_live_token_of_an_unbound_card() {
    for_every_failure(
        "faults-unbind",
        |w, cc| {
            let (user, phone) = w.register(cc, 0);
            let a = w.bind(cc, &user, &phone, PANS[0], 0);
            w.bind(cc, &user, &phone, PANS[2], 0);
            let prompt = cc.request_unbind(&user, &a.card.id).unwrap();
            (user, phone, a, prompt)
        },
        |_, cc, (user, _, a, prompt)| {
            cc.confirm_unbind(user, &a.card.id, prompt.ticket.expose_secret()).is_ok()
        },
        |w, cc, (user, phone, a, _), completed| {
            assert_consistent(cc, user, phone, false);
            let left = cc.danger().wallet().cards(user).unwrap();
            if completed {
                assert_eq!(left.len(), 1);
            }
            if left.iter().all(|c| c.id != a.card.id) {
                let mut card = a.device_card.clone();
                assert!(declined(&w.pay(cc, user, phone, &mut card, 3_500)));
            }
        },
    );
}

#[test]
fn a_lost_phone_with_any_write_failing_ends_with_no_live_token_and_one_claim() {
    for_every_failure(
        "faults-loss",
        |w, cc| {
            let (user, phone) = w.register(cc, 0);
            let mut card = w.bind(cc, &user, &phone, PANS[0], 0).device_card;
            assert!(approved(&w.pay(cc, &user, &phone, &mut card, 3_500)));
            (user, phone, card)
        },
        |_, cc, (user, phone, _)| cc.report_lost_phone(user, phone).is_ok(),
        |w, cc, (user, phone, card), _| {
            // The loss may have failed before it was journaled: the user reports it again,
            // and the report then completes. Either way one claim covers the payment.
            let again = cc.report_lost_phone(user, phone).unwrap();
            assert_consistent(cc, user, phone, true);
            let mut card = card.clone();
            assert!(declined(&w.pay(cc, user, phone, &mut card, 3_500)));
            let report = cloudcard::risk::LossReport {
                instrument: cloudcard::risk::Instrument::Device(phone.clone()),
                user: user.clone(),
                reported_at: w.clock.now(),
            };
            let verdicts = cc.danger().risk().assess_loss(&report).unwrap();
            let approved_payment = verdicts.iter().find(|a| a.transaction.approved).unwrap();
            assert_eq!(
                approved_payment.ineligible,
                Some(cloudcard::risk::Ineligible::AlreadyClaimed),
                "the payment is claimed, once"
            );
            if let Some(claim) = again.claim {
                assert_eq!(claim.transactions, vec![approved_payment.transaction.id.clone()]);
            }
        },
    );
}

#[test]
fn a_payment_with_any_write_failing_is_answered_or_reversed_never_charged_unanswered() {
    static REVERSED: AtomicUsize = AtomicUsize::new(0);
    for_every_failure(
        "faults-pay",
        |w, cc| {
            let (user, phone) = w.register(cc, 0);
            let card = w.bind(cc, &user, &phone, PANS[0], 0).device_card;
            (user, phone, std::sync::Mutex::new(card), std::sync::Mutex::new(None))
        },
        |w, cc, (user, phone, card, answer)| {
            let outcome = w.pay(cc, user, phone, &mut card.lock().unwrap(), 2_500);
            let completed = approved(&outcome);
            *answer.lock().unwrap() = outcome.ok();
            completed
        },
        |w, cc, (user, phone, card, answer), completed| {
            assert_consistent(cc, user, phone, false);
            let approved_ids = w.issuer.approved.lock().unwrap().clone();
            let reversed = w.issuer.reversed.lock().unwrap().clone();
            let report = cloudcard::risk::LossReport {
                instrument: cloudcard::risk::Instrument::Device(phone.clone()),
                user: user.clone(),
                reported_at: w.clock.now(),
            };
            let logged = cc.danger().risk().assess_loss(&report).unwrap();
            let is_logged_approved = |id: &cloudcard::TransactionId| {
                logged.iter().any(|a| a.transaction.id == *id && a.transaction.approved)
            };
            if completed {
                let Some(cloudcard::PaymentOutcome::Approved { transaction, .. }) =
                    answer.lock().unwrap().clone()
                else {
                    panic!("a completed payment was approved");
                };
                assert!(reversed.is_empty(), "an answered payment stands");
                assert!(is_logged_approved(&transaction), "and is logged as approved");
            } else {
                // Whatever the issuer approved without the payer hearing of it was reversed,
                // and no claim can ever cover it.
                for id in &approved_ids {
                    assert!(reversed.contains(id), "an unanswered approval is reversed");
                    assert!(!is_logged_approved(id), "and never logged as approved");
                }
                REVERSED.fetch_add(reversed.len(), Ordering::SeqCst);
            }
            assert!(logged.len() <= 1, "one payment, logged at most once");
            // The card pays on.
            assert!(approved(&w.pay(cc, user, phone, &mut card.lock().unwrap(), 1_500)));
        },
    );
    assert!(
        REVERSED.load(Ordering::SeqCst) >= 2,
        "failures after the issuer's answer were reached, and reversed"
    );
}

/// An SMS gateway that is down for notices until told otherwise.
#[derive(Debug)]
struct NoticesDown {
    inner: Arc<cloudcard::wallet::InMemoryOutbox>,
    down: std::sync::atomic::AtomicBool,
}

impl SmsGateway for NoticesDown {
    fn send(&self, sms: cloudcard::wallet::Sms) -> Result<(), cloudcard::wallet::WalletError> {
        let notice = matches!(sms.body, cloudcard::wallet::SmsBody::Notice { .. });
        if notice && self.down.load(Ordering::SeqCst) {
            return Err(cloudcard::wallet::WalletError::PortUnavailable(
                cloudcard::core::PortError::new("sms"),
            ));
        }
        self.inner.send(sms)
    }
}

#[test]
fn a_report_ready_message_that_fails_is_sent_later() {
    let w = World::new("faults-notice");
    let sms = Arc::new(NoticesDown { inner: w.outbox.clone(), down: true.into() });
    let cc = CloudCard::demo()
        .clock(w.clock.clone())
        .wallet_config(WalletConfig { argon2: Argon2Cost::TESTING, ..WalletConfig::default() })
        .sms(sms.clone() as Arc<dyn SmsGateway>)
        .bank(w.bank.clone() as Arc<dyn BankGateway>)
        .open(w.path(), &w.kek)
        .unwrap();
    let (user, _) = w.register(&cc, 0);
    let banks = cloudcard::Bank::NATIONAL.into_iter().collect();
    let query = cc
        .start_lookup(&user, cloudcard::Region::SHANGHAI, banks, "req_1".parse().unwrap())
        .unwrap();
    cc.send_lookup_code(&user).unwrap();
    let code = w.outbox.last_code(&w.mobile(0), cloudcard::wallet::OtpPurpose::CardLookup).unwrap();
    let id: cloudcard::ResidentId = cloudcard::demo::DEMO_PEOPLE[0].1.parse().unwrap();
    let version = cc.danger().lookup().config().agreement_version.clone();
    cc.authorize_lookup(&user, &query, &version, &cloudcard::demo::face_of(&id), &code).unwrap();
    w.clock.advance(chrono::TimeDelta::minutes(1));
    assert_eq!(cc.process_lookups().unwrap(), vec![query]);
    let notices = |w: &World| {
        w.outbox
            .messages()
            .iter()
            .filter(|m| matches!(m.body, cloudcard::wallet::SmsBody::Notice { .. }))
            .count()
    };
    assert_eq!(notices(&w), 0, "the gateway was down");
    // The service restarts; the gateway comes back; the next pass sends the message, once.
    drop(cc);
    sms.down.store(false, Ordering::SeqCst);
    w.clock.advance(chrono::TimeDelta::minutes(2));
    let cc = CloudCard::demo()
        .clock(w.clock.clone())
        .wallet_config(WalletConfig { argon2: Argon2Cost::TESTING, ..WalletConfig::default() })
        .sms(sms as Arc<dyn SmsGateway>)
        .bank(w.bank.clone() as Arc<dyn BankGateway>)
        .open(w.path(), &w.kek)
        .unwrap();
    cc.run_due().unwrap();
    assert_eq!(notices(&w), 1);
    cc.run_due().unwrap();
    assert_eq!(notices(&w), 1, "sent once");
    let notice = w.outbox.messages().pop().unwrap();
    assert_eq!(
        notice.text(),
        "【cloudcard】您的一键查卡报告已生成，请打开应用并输入支付密码查看。",
        "worded from the templates: Chinese by default"
    );
}

#[test]
fn a_timed_job_that_fails_is_counted_and_the_others_still_run() {
    let w = World::new("faults-due");
    let kv = Arc::new(FailNthWrite::new(w.kv()));
    let cc = open(&w, kv.clone());
    let (user, phone) = w.register(&cc, 0);
    let mut card = w.bind(&cc, &user, &phone, PANS[0], 0).device_card;
    assert!(approved(&w.pay(&cc, &user, &phone, &mut card, 1_200)));
    // A day later the answer kept for the terminal's retries has lapsed.
    w.clock.advance(chrono::TimeDelta::hours(25));
    // The pass's first write (the wallet's purge) fails.
    kv.arm(1);
    let report = cc.run_due().unwrap();
    assert_eq!(report.jobs_failed, 1, "{report:?}");
    assert_eq!(report.answers_purged, 1, "a later job ran regardless: {report:?}");
    kv.arm(0);
    assert_eq!(cc.run_due().unwrap().jobs_failed, 0, "and the next pass runs clean");
}

//! Eight threads on one service, in memory and on SQLite: the rules a race could break hold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use std::sync::{Arc, Barrier};
use std::thread;

use cloudcard::core::MemoryKv;
use cloudcard::token::TokenStatus;
use cloudcard::wallet::{
    Argon2Cost, BankGateway, Notifier, OtpPurpose, SmsGateway, WalletConfig, WalletError,
};
use cloudcard::{CloudCard, Error, Secret};
use support::{PANS, World};

const THREADS: usize = 8;

/// The same world served in memory and from SQLite.
fn services(tag: &str) -> Vec<(World, Arc<CloudCard>)> {
    let durable = World::new(tag);
    let cc = Arc::new(durable.open());
    let memory = World::new(tag);
    let mem = Arc::new(
        CloudCard::demo()
            .clock(memory.clock.clone())
            .wallet_config(WalletConfig { argon2: Argon2Cost::TESTING, ..WalletConfig::default() })
            .sms(memory.outbox.clone() as Arc<dyn SmsGateway>)
            .notifier(memory.notifier.clone() as Arc<dyn Notifier>)
            .bank(memory.bank.clone() as Arc<dyn BankGateway>)
            .kv(Arc::new(MemoryKv::new()))
            .build()
            .unwrap(),
    );
    vec![(durable, cc), (memory, mem)]
}

/// Runs `f(i)` on `THREADS` threads started together; their results in thread order.
fn race<T: Send + 'static>(f: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let (f, barrier) = (f.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                f(i)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn concurrent_wrong_passwords_lock_after_exactly_five() {
    for (w, cc) in services("race-password") {
        let (user, _) = w.register(&cc, 0);
        let results = {
            let (cc, user) = (cc.clone(), user.clone());
            race(move |_| {
                (0..5)
                    .map(|_| {
                        cc.danger()
                            .wallet()
                            .verify_payment_password(&user, &Secret::new("000000".into()))
                    })
                    .collect::<Vec<_>>()
            })
        };
        let all: Vec<_> = results.into_iter().flatten().collect();
        let told_wrong =
            all.iter().filter(|r| matches!(r, Err(WalletError::WrongPassword { .. }))).count();
        let locked =
            all.iter().filter(|r| matches!(r, Err(WalletError::PasswordLocked { .. }))).count();
        assert_eq!(told_wrong, 4, "four 'wrong, N left' answers, then the lock");
        assert_eq!(locked, THREADS * 5 - 4);
        let mut remaining: Vec<u32> = all
            .iter()
            .filter_map(|r| match r {
                Err(WalletError::WrongPassword { remaining }) => Some(*remaining),
                _ => None,
            })
            .collect();
        remaining.sort_unstable();
        assert_eq!(remaining, vec![1, 2, 3, 4]);
        assert!(cc.danger().wallet().account(&user).unwrap().locked_until.is_some());
    }
}

#[test]
fn one_code_is_accepted_once() {
    for (w, cc) in services("race-code") {
        let (user, _) = w.register(&cc, 0);
        // Eight rounds: a mobile receives at most 10 codes a day.
        for round in 0..8 {
            w.clock.advance(chrono::TimeDelta::minutes(2));
            cc.danger().wallet().send_otp(&user, OtpPurpose::PasswordReset).unwrap();
            let code = w.outbox.last_code(&w.mobile(0), OtpPurpose::PasswordReset).unwrap();
            let accepted = {
                let (cc, user) = (cc.clone(), user.clone());
                race(move |_| {
                    cc.danger().wallet().verify_otp(&user, OtpPurpose::PasswordReset, &code).is_ok()
                })
            };
            assert_eq!(accepted.iter().filter(|ok| **ok).count(), 1, "round {round}");
        }
    }
}

#[test]
fn one_mobile_registers_one_account() {
    for (_, cc) in services("race-mobile") {
        let registered = {
            let cc = cc.clone();
            race(move |_| cc.danger().wallet().create_user("13912345678".parse().unwrap()).is_ok())
        };
        assert_eq!(registered.iter().filter(|ok| **ok).count(), 1);
    }
}

#[test]
fn concurrent_confirmations_lose_no_card_and_bind_none_twice() {
    for (w, cc) in services("race-bind") {
        let (user, phone) = w.register(&cc, 0);
        // Three different cards and a second binding of the first, each with its own code.
        let mut pending = Vec::new();
        for pan in [PANS[0], PANS[1], PANS[2], PANS[0]] {
            let p = cc.bind_card(&user, &phone, w.request(pan, 0)).unwrap();
            pending.push((p.binding, w.binding_code(0)));
        }
        // Every thread confirms every binding it can; each binding is taken once.
        let results = {
            let (cc, user, phone) = (cc.clone(), user.clone(), phone.clone());
            let pending = Arc::new(pending);
            race(move |i| {
                let (binding, code) = &pending[i % pending.len()];
                cc.confirm_card(&user, &phone, binding, code)
            })
        };
        let bound: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(bound.len(), 3, "three distinct cards bound, the duplicate refused");
        // The losers: the binding taken by another thread, the bank's code spent, or the card
        // already in the wallet or provisioned on the phone.
        for r in &results {
            assert!(
                matches!(
                    r,
                    Ok(_)
                        | Err(Error::Wallet(
                            WalletError::CardAlreadyBound
                                | WalletError::BindingExpired
                                | WalletError::OtpInvalid
                        ))
                        | Err(Error::Token(cloudcard::token::TokenError::AlreadyProvisioned))
                ),
                "{r:?}"
            );
        }
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), THREADS - 3);
        let cards = cc.danger().wallet().cards(&user).unwrap();
        assert_eq!(cards.len(), 3);
        assert_eq!(cards.iter().filter(|c| c.is_default).count(), 1);
        // One live token per card on the phone, each serving a card in the wallet.
        let live: Vec<_> = cc
            .danger()
            .tokens()
            .tokens_of_device(&phone)
            .unwrap()
            .into_iter()
            .filter(|t| t.status == TokenStatus::Active)
            .collect();
        assert_eq!(live.len(), 3);
        let last4: std::collections::BTreeSet<_> = live.iter().map(|t| t.pan_last4).collect();
        assert_eq!(last4.len(), 3, "no card has two live tokens on the phone");
        assert_eq!(cc.run_due().unwrap().flows_recovered, 0, "every flow finished or undid itself");
    }
}

/// An issuer that holds each authorization until told to answer.
#[derive(Debug)]
struct SlowIssuer {
    inner: Arc<support::Issuer>,
    asked: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
    answer: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl cloudcard::IssuerAuthorizer for SlowIssuer {
    fn authorize(
        &self,
        request: &cloudcard::AuthorizationRequest,
    ) -> Result<cloudcard::IssuerDecision, Error> {
        self.asked.lock().unwrap().send(()).unwrap();
        self.answer.lock().unwrap().recv().unwrap();
        self.inner.authorize(request)
    }

    fn reverse(&self, transaction: &cloudcard::TransactionId) -> Result<(), Error> {
        self.inner.reverse(transaction)
    }
}

#[test]
fn a_payment_in_flight_on_one_node_is_left_alone_by_another_nodes_recovery() {
    let w = World::new("race-lease");
    let (asked_tx, asked) = std::sync::mpsc::channel();
    let (answer, answer_rx) = std::sync::mpsc::channel();
    let slow =
        SlowIssuer { inner: w.issuer.clone(), asked: asked_tx.into(), answer: answer_rx.into() };
    let a = Arc::new(
        w.open_with(w.builder().issuer(Arc::new(slow) as Arc<dyn cloudcard::IssuerAuthorizer>)),
    );
    let b = w.open();
    let (user, phone) = w.register(&a, 0);
    let mut card = w.bind(&a, &user, &phone, PANS[0], 0).device_card;
    let request = w.request_payment(&user, &phone, &mut card, 2_000);
    let paying = {
        let a = a.clone();
        thread::spawn(move || a.pay(&request))
    };
    asked.recv().unwrap();
    // Node A waits on the issuer; node B runs its timed jobs, now and a minute later.
    assert_eq!(b.run_due().unwrap().flows_recovered, 0, "a running payment is not recovered");
    w.clock.advance(chrono::TimeDelta::minutes(1));
    assert_eq!(b.run_due().unwrap().flows_recovered, 0, "nor within its lease");
    answer.send(()).unwrap();
    let outcome = paying.join().unwrap().unwrap();
    assert!(matches!(outcome, cloudcard::PaymentOutcome::Approved { .. }), "{outcome:?}");
    assert!(w.issuer.reversed.lock().unwrap().is_empty(), "and it was never reversed");
    w.clock.advance(chrono::TimeDelta::minutes(5));
    assert_eq!(b.run_due().unwrap().flows_recovered, 0, "it closed its own journal entry");
}

//! Three service nodes on one PostgreSQL database and one Redis, used from several threads at
//! once: what one node does, every other node sees, and nothing is done twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../../cloudcard/tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use chrono::TimeDelta;
use cloudcard::postgres::testing::TestDatabase;
use cloudcard::redis::testing::TestNamespace;
use cloudcard::wallet::{
    Argon2Cost, BankGateway, InMemoryOutbox, Notifier, OtpPurpose, Sms, SmsBody, SmsGateway,
    WalletConfig, WalletError,
};
use cloudcard::{CloudCard, IssuerAuthorizer, PaymentOutcome, Secret};
use support::{PANS, PASSWORD, World, approved, declined};

/// The servers and the world three nodes share.
struct Cluster {
    w: World,
    nodes: Vec<Arc<CloudCard>>,
    _db: TestDatabase,
    _redis: TestNamespace,
}

/// An SMS gateway that can be down for "report ready" notices.
#[derive(Debug)]
struct Sms2 {
    inner: Arc<InMemoryOutbox>,
    notices_down: AtomicBool,
}

impl SmsGateway for Sms2 {
    fn send(&self, sms: Sms) -> Result<(), WalletError> {
        if matches!(sms.body, SmsBody::Notice { .. }) && self.notices_down.load(Ordering::SeqCst) {
            return Err(WalletError::PortUnavailable(cloudcard::core::PortError::new("sms")));
        }
        self.inner.send(sms)
    }
}

impl Cluster {
    /// `None` when the servers are not configured (each test then says it was skipped).
    fn start(tag: &'static str) -> Option<(Self, Arc<Sms2>)> {
        let db = TestDatabase::create(tag)?;
        let redis = TestNamespace::create(tag)?;
        let w = World::new(tag);
        let sms = Arc::new(Sms2 { inner: w.outbox.clone(), notices_down: false.into() });
        let nodes = (0..3)
            .map(|_| {
                Arc::new(
                    CloudCard::demo()
                        .clock(w.clock.clone())
                        .wallet_config(WalletConfig {
                            argon2: Argon2Cost::TESTING,
                            ..WalletConfig::default()
                        })
                        .sms(sms.clone() as Arc<dyn SmsGateway>)
                        .notifier(w.notifier.clone() as Arc<dyn Notifier>)
                        .bank(w.bank.clone() as Arc<dyn BankGateway>)
                        .issuer(w.issuer.clone() as Arc<dyn IssuerAuthorizer>)
                        .redis_velocity_under(redis.url(), redis.prefix())
                        .unwrap()
                        .open_postgres(db.url(), &w.kek)
                        .unwrap(),
                )
            })
            .collect();
        Some((Self { w, nodes, _db: db, _redis: redis }, sms))
    }

    fn a(&self) -> &CloudCard {
        &self.nodes[0]
    }
    fn b(&self) -> &CloudCard {
        &self.nodes[1]
    }
    fn c(&self) -> &CloudCard {
        &self.nodes[2]
    }
}

/// Runs `f(i)` on `n` threads started together; their results in thread order.
fn together<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(n);
    thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (f, barrier) = (&f, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn one_cryptogram_presented_to_two_nodes_is_accepted_once() {
    let Some((k, _)) = Cluster::start("nodes-replay") else { return };
    let (user, phone) = k.w.register(k.a(), 0);
    let mut card = k.w.bind(k.a(), &user, &phone, PANS[0], 0).device_card;
    for round in 1..=3 {
        let request = k.w.request_payment(&user, &phone, &mut card, 1_000);
        // The same cryptogram as two payments: one is paid, the other refused as a replay.
        let mut other = request.clone();
        other.transaction = cloudcard::TransactionId::random();
        let requests = [&request, &other];
        let outcomes = together(2, |i| k.nodes[i].pay(requests[i]));
        let accepted = outcomes.iter().filter(|o| approved(o)).count();
        assert_eq!(accepted, 1, "{outcomes:?}");
        // The terminal's retry of the paid one, on any node, hears the same answer.
        let paid = outcomes.iter().position(approved).unwrap();
        assert_eq!(k.c().pay(requests[paid]).unwrap(), *outcomes[paid].as_ref().unwrap());
        assert_eq!(k.w.issuer.approved.lock().unwrap().len(), round, "the issuer asked once");
        k.w.clock.advance(TimeDelta::minutes(5));
    }
}

#[test]
fn velocity_counted_on_one_node_stops_a_burst_on_another() {
    let Some((k, _)) = Cluster::start("nodes-velocity") else { return };
    let (user, phone) = k.w.register(k.a(), 0);
    let mut card = k.w.bind(k.a(), &user, &phone, PANS[0], 0).device_card;
    for _ in 0..5 {
        assert!(approved(&k.w.pay(k.a(), &user, &phone, &mut card, 1_000)));
    }
    // The sixth payment within ten minutes, on another node: the burst rule asks for a code.
    let sixth = k.w.pay(k.b(), &user, &phone, &mut card, 1_000).unwrap();
    assert!(
        matches!(
            sixth,
            PaymentOutcome::ChallengeRequired { method: cloudcard::ChallengeMethod::Otp, .. }
        ),
        "{sixth:?}"
    );
}

#[test]
fn wrong_passwords_spread_over_three_nodes_lock_after_exactly_five() {
    let Some((k, _)) = Cluster::start("nodes-password") else { return };
    let (user, _) = k.w.register(k.a(), 0);
    let results = together(6, |i| {
        (0..3)
            .map(|_| {
                k.nodes[i % 3]
                    .danger()
                    .wallet()
                    .verify_payment_password(&user, &Secret::new("000000".into()))
            })
            .collect::<Vec<_>>()
    });
    let all: Vec<_> = results.into_iter().flatten().collect();
    let told_wrong =
        all.iter().filter(|r| matches!(r, Err(WalletError::WrongPassword { .. }))).count();
    let locked =
        all.iter().filter(|r| matches!(r, Err(WalletError::PasswordLocked { .. }))).count();
    assert_eq!(told_wrong, 4, "four 'wrong, N left' answers, then the lock");
    assert_eq!(locked, 18 - 4);
    for node in &k.nodes {
        assert!(matches!(
            node.danger().wallet().verify_payment_password(&user, &Secret::new(PASSWORD.into())),
            Err(WalletError::PasswordLocked { .. })
        ));
    }
}

#[test]
fn a_challenge_raised_on_one_node_is_answered_on_another() {
    let Some((k, _)) = Cluster::start("nodes-challenge") else { return };
    let (user, phone) = k.w.register(k.a(), 0);
    let mut card = k.w.bind(k.a(), &user, &phone, PANS[0], 0).device_card;
    let outcome = k.w.pay(k.a(), &user, &phone, &mut card, 150_000).unwrap();
    let PaymentOutcome::ChallengeRequired { challenge, .. } = outcome else {
        panic!("an unverified ¥1,500 payment is challenged: {outcome:?}");
    };
    let answer = k.w.fingerprint(&mut card, 150_000);
    let answered = k.b().step_up(&user, &challenge, answer).unwrap();
    assert!(matches!(answered, PaymentOutcome::Approved { .. }), "{answered:?}");
    let again = k.w.fingerprint(&mut card, 150_000);
    assert!(k.c().step_up(&user, &challenge, again).is_err(), "answered once, on any node");
}

#[test]
fn a_card_reported_lost_on_one_node_is_declined_on_another_at_once() {
    let Some((k, _)) = Cluster::start("nodes-lost") else { return };
    let (user, phone) = k.w.register(k.a(), 0);
    let bound = k.w.bind(k.a(), &user, &phone, PANS[0], 0);
    let mut card = bound.device_card;
    assert!(approved(&k.w.pay(k.b(), &user, &phone, &mut card, 1_000)));
    k.a().report_lost_card(&user, &bound.card.id).unwrap();
    assert!(declined(&k.w.pay(k.b(), &user, &phone, &mut card, 1_000)));
    assert!(declined(&k.w.pay(k.c(), &user, &phone, &mut card, 1_000)));
}

#[test]
fn a_lookup_applied_on_a_is_dispatched_by_b_and_c_and_viewed_on_c_and_due_jobs_run_once() {
    let Some((k, sms)) = Cluster::start("nodes-lookup") else { return };
    let (user, _) = k.w.register(k.a(), 0);
    let banks = cloudcard::Bank::NATIONAL.into_iter().collect();
    let query = k
        .a()
        .start_lookup(&user, cloudcard::Region::SHANGHAI, banks, "req_1".parse().unwrap())
        .unwrap();
    k.a().send_lookup_code(&user).unwrap();
    let code = k.w.outbox.last_code(&k.w.mobile(0), OtpPurpose::CardLookup).unwrap();
    let id: cloudcard::ResidentId = cloudcard::demo::DEMO_PEOPLE[0].1.parse().unwrap();
    let version = k.a().danger().lookup().config().agreement_version.clone();
    k.a().authorize_lookup(&user, &query, &version, &cloudcard::demo::face_of(&id), &code).unwrap();

    // B dispatches while the SMS gateway is down for notices: the "report ready" message waits.
    sms.notices_down.store(true, Ordering::SeqCst);
    k.w.clock.advance(TimeDelta::minutes(5));
    // B and C pump the banks' answers at the same moment: each answer is delivered once and
    // the report is generated once.
    let ready: Vec<_> =
        together(2, |i| k.nodes[i + 1].process_lookups().unwrap()).into_iter().flatten().collect();
    assert_eq!(ready, vec![query.clone()]);
    assert!(k.a().process_lookups().unwrap().is_empty(), "nothing left");
    sms.notices_down.store(false, Ordering::SeqCst);

    // All three nodes run their timed jobs at the same moment, after the retry pause: the
    // message goes once.
    k.w.clock.advance(TimeDelta::minutes(2));
    let sent: usize = together(3, |i| k.nodes[i].run_due().unwrap().notices_sent).iter().sum();
    assert_eq!(sent, 1);
    let notices =
        k.w.outbox.messages().iter().filter(|m| matches!(m.body, SmsBody::Notice { .. })).count();
    assert_eq!(notices, 1, "one SMS, not one per node");

    let report = k.c().view_report(&user, &query, &Secret::new(PASSWORD.into())).unwrap();
    assert!(!report.details.is_empty());

    // Past the report's 7 days, three nodes purging at once purge it once.
    k.w.clock.advance(TimeDelta::days(8));
    let purged: usize = together(3, |i| k.nodes[i].run_due().unwrap().reports_purged).iter().sum();
    assert_eq!(purged, 1);
    assert!(k.a().view_report(&user, &query, &Secret::new(PASSWORD.into())).is_err());
}

//! A child process binds cards and pays on a SQLite file, printing each acknowledged result; it
//! is killed with SIGKILL at a random moment, 20 times. After each kill the file is reopened:
//! every acknowledged bind and payment is there, and the invariants hold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cloudcard::PaymentOutcome;
use cloudcard::risk::{Instrument, LossReport};
use cloudcard::token::TokenStatus;
use cloudcard::{Clock, DeviceId, UserId};
use rand::RngExt;
use support::{PANS, TempDir, World};

const CHILD_DIR: &str = "CLOUDCARD_CRASH_CHILD_DIR";

/// This file runs without the test harness: the same binary is the parent test and, when
/// started with `CLOUDCARD_CRASH_CHILD_DIR` set, the child it kills.
fn main() {
    match std::env::var(CHILD_DIR) {
        Ok(dir) => crash_child(PathBuf::from(dir)),
        Err(_) => {
            kills_lose_no_acknowledged_write();
            println!("kills_lose_no_acknowledged_write: 1 passed, 0 failed");
        }
    }
}

/// The child's work, in a process of its own.
fn crash_child(dir: PathBuf) {
    let w = World::at(dir);
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    println!("USER {user} {phone}");
    let mut cards = Vec::new();
    for pan in PANS {
        let bound = w.bind(&cc, &user, &phone, pan, 0);
        println!("BIND {}", bound.card.id);
        cards.push(bound.device_card);
    }
    for round in 0..9 {
        for card in &mut cards {
            if let Ok(PaymentOutcome::Approved { transaction, .. }) =
                w.pay(&cc, &user, &phone, card, 1_000 + round)
            {
                println!("PAY {transaction}");
            }
        }
    }
    println!("DONE");
    std::mem::forget(w);
    std::thread::sleep(Duration::from_secs(60));
}

fn kills_lose_no_acknowledged_write() {
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rng();
    let mut kills_mid_work = 0;
    for round in 0..20 {
        let dir = TempDir::new("crash");
        let mut child = Command::new(&exe)
            .env(CHILD_DIR, &dir.0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            // Keep only our acknowledgement lines, from where the marker starts.
            let ours = |l: String| {
                ["USER ", "BIND ", "PAY ", "DONE"]
                    .iter()
                    .filter_map(|p| l.find(p))
                    .min()
                    .map(|at| l[at..].to_owned())
            };
            for line in BufReader::new(stdout).lines().map_while(Result::ok).filter_map(ours) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait for the child to start working, then kill it a random time later.
        let first = rx.recv_timeout(Duration::from_secs(60)).expect("the child registers a user");
        std::thread::sleep(Duration::from_millis(rng.random_range(0..150)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let acked: Vec<String> = std::iter::once(first).chain(rx.try_iter()).collect();
        if !acked.iter().any(|l| l == "DONE") {
            kills_mid_work += 1;
        }
        let count = |p: &str| acked.iter().filter(|l| l.starts_with(p)).count();
        eprintln!(
            "round {round}: killed after {} binds and {} payments",
            count("BIND"),
            count("PAY")
        );

        let w = World::at(dir.0.clone());
        // The service comes back after the journal's lease: what the child left is recovered.
        w.clock.advance(chrono::TimeDelta::minutes(3));
        let cc = w.open();
        let mut parts = acked[0].split(' ');
        assert_eq!(parts.next(), Some("USER"));
        let user: UserId = parts.next().unwrap().parse().unwrap();
        let phone: DeviceId = parts.next().unwrap().parse().unwrap();
        assert!(cc.danger().wallet().account(&user).is_ok(), "round {round}: the user is there");

        let cards: BTreeSet<String> = cc
            .danger()
            .wallet()
            .cards(&user)
            .unwrap()
            .into_iter()
            .map(|c| c.id.to_string())
            .collect();
        for line in &acked {
            if let Some(card) = line.strip_prefix("BIND ") {
                assert!(cards.contains(card), "round {round}: acknowledged card {card} is there");
            }
        }
        let live = cc
            .danger()
            .tokens()
            .tokens_of_device(&phone)
            .unwrap()
            .into_iter()
            .filter(|t| t.status == TokenStatus::Active)
            .count();
        assert_eq!(live, cards.len(), "round {round}: one live token per card, none without one");

        let report = LossReport {
            instrument: Instrument::Device(phone.clone()),
            user: user.clone(),
            reported_at: w.clock.now() + chrono::TimeDelta::days(1),
        };
        let logged: BTreeSet<String> = cc
            .danger()
            .risk()
            .assess_loss(&report)
            .unwrap()
            .into_iter()
            .map(|a| a.transaction.id.to_string())
            .collect();
        for line in &acked {
            if let Some(txn) = line.strip_prefix("PAY ") {
                assert!(
                    logged.contains(txn),
                    "round {round}: acknowledged payment {txn} is logged"
                );
            }
        }
        assert_eq!(cc.run_due().unwrap().flows_recovered, 0, "open already recovered");
    }
    assert!(kills_mid_work >= 5, "most kills land while the child works ({kills_mid_work}/20)");
}

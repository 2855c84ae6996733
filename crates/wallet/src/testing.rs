//! The conformance suite every [`WalletStore`] backend must pass: records in and out, versions
//! and conflicts, each atomic operation under 8 threads, and purges that cost what lapsed.
//! Behind the `testing` feature; its checks panic on failure, as tests do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test suite: a failed check panics"
)]

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use cloudcard_core::store::testing::race;
use cloudcard_core::{Bank, CardId, CardKind, DeviceId, StoreError, TerminalId, UserId};
use cloudcard_masking::Secret;

use crate::model::{
    AddCard, CardRecord, CodeCheck, DeviceRecord, OtpRecord, PasswordFailure, PendingBinding,
    RealName, TerminalRecord, UnbindTicket, UserRecord,
};
use crate::password::LockoutPolicy;
use crate::ports::OtpPurpose;
use crate::store::WalletStore;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

fn user(mobile: &str) -> UserRecord {
    UserRecord {
        id: UserId::random(),
        mobile: mobile.parse().unwrap(),
        real_name: None,
        password: None,
        failed_passwords: 0,
        locked_until: None,
        created_at: t0(),
        version: 0,
    }
}

fn card(user: &UserId, fingerprint: u8) -> CardRecord {
    CardRecord {
        id: CardId::random(),
        user: user.clone(),
        fingerprint: [fingerprint; 32],
        masked: "6222 **** **** *** 0128".into(),
        bank: Bank::Icbc,
        kind: CardKind::Debit,
        reserved_mobile: "13812345678".parse().unwrap(),
        is_default: false,
        bound_at: t0(),
    }
}

fn code(hash: u8, at: DateTime<Utc>) -> OtpRecord {
    OtpRecord { hash: [hash; 32], issued_at: at, expires_at: at + TimeDelta::minutes(5), tries: 0 }
}

/// Runs the whole suite; `make` returns a fresh, empty store each call.
pub fn wallet_store_suite(make: &dyn Fn() -> Arc<dyn WalletStore>) {
    users(&*make());
    one_mobile_one_account(make());
    one_identity_one_account(make());
    lockout_counts_exactly(make());
    cards_cap_duplicates_default(make());
    bindings_tickets_devices(&*make());
    codes_taken_once(make());
    code_tries_and_throttle(&*make());
    purge_only_what_lapsed(&*make());
    terminals_and_cases(&*make());
    sms_cap_counts_exactly(make());
}

fn sms_cap_counts_exactly(s: Arc<dyn WalletStore>) {
    let store = s.clone();
    let sent =
        race(8, move |_| (0..5).filter(|_| store.count_sms(&[4; 32], 20_000, 10).unwrap()).count());
    assert_eq!(sent.iter().sum::<usize>(), 10, "exactly the cap, under 8 threads");
    assert!(s.count_sms(&[4; 32], 20_001, 10).unwrap(), "a new day starts afresh");
    assert!(s.count_sms(&[5; 32], 20_000, 10).unwrap(), "mobiles are apart");
}

fn users(s: &dyn WalletStore) {
    let u = user("13812345678");
    s.create_user(&u, &[1; 32]).unwrap();
    assert_eq!(s.user(&u.id).unwrap(), Some(u.clone()));
    assert_eq!(s.user_by_mobile(&[1; 32]).unwrap(), Some(u.id.clone()));
    assert_eq!(s.user_by_mobile(&[2; 32]).unwrap(), None);
    assert_eq!(s.user(&UserId::random()).unwrap(), None);
    let mut changed = u.clone();
    changed.version = 1;
    changed.failed_passwords = 2;
    s.update_user(0, &changed).unwrap();
    assert_eq!(s.update_user(0, &changed), Err(StoreError::Conflict), "a stale version loses");
    let mut skip = changed.clone();
    skip.version = 5;
    assert_eq!(s.update_user(1, &skip), Err(StoreError::Conflict), "versions move by one");
    assert_eq!(s.user(&u.id).unwrap().unwrap().failed_passwords, 2);
    let stranger = user("13900000000");
    assert_eq!(s.update_user(0, &UserRecord { version: 1, ..stranger }), Err(StoreError::Missing));
}

fn one_mobile_one_account(s: Arc<dyn WalletStore>) {
    let wins = race(8, move |_| s.create_user(&user("13812345678"), &[9; 32]).is_ok());
    assert_eq!(wins.iter().filter(|w| **w).count(), 1);
}

fn one_identity_one_account(s: Arc<dyn WalletStore>) {
    let users: Vec<UserRecord> = (0..8).map(|i| user(&format!("1381234567{i}"))).collect();
    for (i, u) in users.iter().enumerate() {
        s.create_user(u, &[u8::try_from(i).unwrap(); 32]).unwrap();
    }
    let real = RealName {
        name: "张三".parse().unwrap(),
        id: "110102199101010078".parse().unwrap(),
        verified_at: t0(),
    };
    let ids: Vec<UserId> = users.iter().map(|u| u.id.clone()).collect();
    let store = s.clone();
    let results = race(8, move |i| store.set_real_name(&ids[i], &real, &[7; 32]));
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results.iter().all(|r| r.is_ok() || *r == Err(StoreError::Duplicate)));
    let verified = users.iter().filter(|u| s.user(&u.id).unwrap().unwrap().real_name.is_some());
    assert_eq!(verified.count(), 1);
}

fn lockout_counts_exactly(s: Arc<dyn WalletStore>) {
    let u = user("13812345678");
    s.create_user(&u, &[1; 32]).unwrap();
    let policy = LockoutPolicy::default();
    let id = u.id.clone();
    let store = s.clone();
    let outcomes: Vec<PasswordFailure> = race(8, move |_| {
        (0..5)
            .map(|_| store.record_password_failure(&id, t0(), policy).unwrap())
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    let mut remaining: Vec<u32> = outcomes
        .iter()
        .filter_map(|o| match o {
            PasswordFailure::Counted { remaining } => Some(*remaining),
            PasswordFailure::Locked { .. } => None,
        })
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, vec![1, 2, 3, 4], "four counted, then locked");
    let locked = s.user(&u.id).unwrap().unwrap();
    assert_eq!(locked.failed_passwords, 5, "the lock stops the count");
    let until = locked.locked_until.unwrap();
    assert_eq!(s.record_password_success(&u.id, t0()).unwrap(), Some(until), "locked stays locked");
    assert_eq!(s.record_password_success(&u.id, until).unwrap(), None, "a lapsed lock clears");
    assert_eq!(s.user(&u.id).unwrap().unwrap().failed_passwords, 0);
}

fn cards_cap_duplicates_default(s: Arc<dyn WalletStore>) {
    let owner = UserId::random();
    let store = s.clone();
    let o = owner.clone();
    let same = race(8, move |_| store.add_card(&card(&o, 1), 5).unwrap());
    assert_eq!(same.iter().filter(|r| matches!(r, AddCard::Added { .. })).count(), 1);
    assert!(same.iter().all(|r| matches!(r, AddCard::Added { .. } | AddCard::Duplicate)));
    let store = s.clone();
    let o = owner.clone();
    let distinct =
        race(8, move |i| store.add_card(&card(&o, 10 + u8::try_from(i).unwrap()), 5).unwrap());
    assert_eq!(distinct.iter().filter(|r| matches!(r, AddCard::Added { .. })).count(), 4);
    assert_eq!(distinct.iter().filter(|r| **r == AddCard::Full).count(), 4);
    let cards = s.cards(&owner).unwrap();
    assert_eq!(cards.len(), 5, "no card lost, none over the cap");
    assert_eq!(cards.iter().filter(|c| c.is_default).count(), 1);
    assert!(cards[0].is_default, "the first card is the default");
    let second = cards[1].id.clone();
    assert!(s.set_default_card(&owner, &second).unwrap());
    assert!(!s.set_default_card(&owner, &CardId::random()).unwrap());
    let (removed, promoted) = s.remove_card(&owner, &second).unwrap().unwrap();
    assert_eq!(removed.id, second);
    assert_eq!(promoted, Some(cards[0].id.clone()), "the earliest card becomes the default");
    assert!(s.remove_card(&owner, &second).unwrap().is_none());
    assert_eq!(s.cards(&owner).unwrap().iter().filter(|c| c.is_default).count(), 1);
}

fn bindings_tickets_devices(s: &dyn WalletStore) {
    let owner = UserId::random();
    let binding = PendingBinding {
        id: "bind_1".parse().unwrap(),
        user: owner.clone(),
        pan: "6222021234567890128".parse().unwrap(),
        expiry: None,
        bank: Bank::Icbc,
        kind: CardKind::Debit,
        reserved_mobile: "13812345678".parse().unwrap(),
        session: Secret::new("s1".into()),
        expires_at: t0() + TimeDelta::minutes(10),
        tries: 0,
        device: None,
    };
    s.put_binding(&binding).unwrap();
    assert_eq!(s.put_binding(&binding), Err(StoreError::Duplicate));
    let read = s.binding("bind_1").unwrap().unwrap();
    assert_eq!(read.pan, binding.pan, "the card number comes back whole");
    assert_eq!(s.record_binding_failure("bind_1", 3).unwrap(), Some(2));
    assert_eq!(s.binding("bind_1").unwrap().unwrap().tries, 1);
    assert!(s.take_binding("bind_1").unwrap().is_some());
    assert!(s.take_binding("bind_1").unwrap().is_none(), "taken once");
    s.put_binding(&PendingBinding { id: "bind_2".parse().unwrap(), ..binding.clone() }).unwrap();
    assert_eq!(s.record_binding_failure("bind_2", 2).unwrap(), Some(1));
    assert_eq!(s.record_binding_failure("bind_2", 2).unwrap(), None, "the last try ends it");
    assert!(s.binding("bind_2").unwrap().is_none());
    let c = CardId::random();
    let ticket = |t: &str| UnbindTicket {
        ticket: Secret::new(t.into()),
        user: owner.clone(),
        card: c.clone(),
        expires_at: t0() + TimeDelta::minutes(2),
    };
    s.put_ticket(&ticket("a")).unwrap();
    s.put_ticket(&ticket("b")).unwrap();
    assert_eq!(
        s.take_ticket(&c).unwrap().unwrap().ticket.expose_secret(),
        "b",
        "a new ticket replaces the old"
    );
    assert!(s.take_ticket(&c).unwrap().is_none());
    let device = DeviceRecord {
        id: DeviceId::random(),
        user: owner.clone(),
        label: "phone".into(),
        registered_at: t0(),
    };
    s.add_device(&device).unwrap();
    assert_eq!(s.add_device(&device), Err(StoreError::Duplicate));
    assert_eq!(s.devices(&owner).unwrap(), vec![device.clone()]);
    assert_eq!(s.remove_device(&owner, &device.id).unwrap(), Some(device.clone()));
    assert!(s.remove_device(&owner, &device.id).unwrap().is_none());
}

fn codes_taken_once(s: Arc<dyn WalletStore>) {
    for round in 0..10 {
        let subject = format!("usr_{round}");
        let live = code(3, t0());
        s.issue_code(&subject, OtpPurpose::Payment, &live, TimeDelta::seconds(60))
            .unwrap()
            .unwrap();
        let store = s.clone();
        let accepted = race(8, move |_| {
            store.check_code(&subject, OtpPurpose::Payment, &[3; 32], t0(), 5).unwrap()
        });
        assert_eq!(accepted.iter().filter(|c| **c == CodeCheck::Accepted).count(), 1);
    }
}

fn code_tries_and_throttle(s: &dyn WalletStore) {
    let first = code(1, t0());
    s.issue_code("u", OtpPurpose::CardLookup, &first, TimeDelta::seconds(60)).unwrap().unwrap();
    let soon = code(2, t0() + TimeDelta::seconds(10));
    let throttled =
        s.issue_code("u", OtpPurpose::CardLookup, &soon, TimeDelta::seconds(60)).unwrap();
    assert_eq!(throttled, Err(t0() + TimeDelta::seconds(60)));
    let other = s.issue_code("u", OtpPurpose::Payment, &soon, TimeDelta::seconds(60)).unwrap();
    assert_eq!(other, Ok(()), "one live code per purpose");
    for _ in 0..4 {
        assert_eq!(
            s.check_code("u", OtpPurpose::CardLookup, &[9; 32], t0(), 5).unwrap(),
            CodeCheck::Wrong { spent: false }
        );
    }
    assert_eq!(
        s.check_code("u", OtpPurpose::CardLookup, &[9; 32], t0(), 5).unwrap(),
        CodeCheck::Wrong { spent: true }
    );
    assert_eq!(
        s.check_code("u", OtpPurpose::CardLookup, &[1; 32], t0(), 5).unwrap(),
        CodeCheck::TooManyTries,
        "a spent code stays spent even with the right value"
    );
    let late = t0() + TimeDelta::minutes(6);
    assert_eq!(
        s.check_code("u", OtpPurpose::Payment, &[2; 32], late, 5).unwrap(),
        CodeCheck::Expired
    );
}

fn purge_only_what_lapsed(s: &dyn WalletStore) {
    let owner = UserId::random();
    for i in 0..30 {
        let lapses = if i < 10 { t0() } else { t0() + TimeDelta::days(1) };
        s.put_binding(&PendingBinding {
            id: format!("bind_{i}").parse().unwrap(),
            user: owner.clone(),
            pan: "6222021234567890128".parse().unwrap(),
            expiry: None,
            bank: Bank::Icbc,
            kind: CardKind::Debit,
            reserved_mobile: "13812345678".parse().unwrap(),
            session: Secret::new("s".into()),
            expires_at: lapses,
            tries: 0,
            device: None,
        })
        .unwrap();
        let issued = lapses - TimeDelta::minutes(5);
        s.issue_code(&format!("c{i}"), OtpPurpose::Payment, &code(1, issued), TimeDelta::zero())
            .unwrap()
            .unwrap();
    }
    let now = t0() + TimeDelta::seconds(1);
    assert_eq!(s.purge_expired(now, 5).unwrap(), 10, "at most 5 of each kind a pass");
    assert_eq!(s.purge_expired(now, 100).unwrap(), 10);
    assert_eq!(s.purge_expired(now, 100).unwrap(), 0);
    assert!(s.binding("bind_3").unwrap().is_none());
    assert!(s.binding("bind_13").unwrap().is_some(), "live records stay");
    assert_eq!(
        s.check_code("c13", OtpPurpose::Payment, &[1; 32], now, 5).unwrap(),
        CodeCheck::Accepted
    );
}

fn terminals_and_cases(s: &dyn WalletStore) {
    let terminal = TerminalRecord {
        id: "term_1".parse::<TerminalId>().unwrap(),
        owner: "王五".parse().unwrap(),
        owner_id: "44011320141005001X".parse().unwrap(),
        mobile: Some("15011112222".parse().unwrap()),
        bound_at: t0(),
    };
    assert_eq!(s.put_terminal(&terminal), Err(StoreError::Missing));
    s.create_terminal(&terminal).unwrap();
    assert_eq!(s.create_terminal(&terminal), Err(StoreError::Duplicate));
    assert_eq!(s.terminal(&terminal.id).unwrap(), Some(terminal.clone()));
    let unbound = TerminalRecord { mobile: None, ..terminal.clone() };
    s.put_terminal(&unbound).unwrap();
    assert_eq!(s.terminal(&terminal.id).unwrap(), Some(unbound));
    assert!(s.case("case_1").unwrap().is_none());
}

/// Purging 10 lapsed codes among `live` live ones, on a wallet store over `kv`, reads the 10,
/// not the rest: a purge costs what lapsed.
///
/// # Panics
///
/// If the store fails or the purge reads more than what lapsed.
pub fn purge_costs_what_lapsed(kv: Arc<dyn cloudcard_core::Kv>, live: usize) {
    use cloudcard_core::store::testing::CountingKv;
    let counting = Arc::new(CountingKv::new(kv));
    let store = crate::KvWalletStore::new_in(counting.clone());
    for i in 0..live + 10 {
        let issued = if i < 10 { t0() - TimeDelta::minutes(10) } else { t0() };
        store
            .issue_code(
                &format!("usr_{i}"),
                OtpPurpose::Payment,
                &code(1, issued),
                TimeDelta::zero(),
            )
            .unwrap()
            .unwrap();
    }
    counting.take_count();
    assert_eq!(store.purge_expired(t0(), 1_000).unwrap(), 10);
    assert!(counting.take_count() <= 10, "the purge read only what lapsed");
}

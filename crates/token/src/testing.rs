//! The conformance suite every [`TokenStore`] backend must pass. Behind the `testing` feature;
//! its checks panic on failure, as tests do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test suite: a failed check panics"
)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use cloudcard_core::store::testing::race;
use cloudcard_core::{DeviceId, StoreError, TokenId};
use cloudcard_masking::Secret;

use crate::keys::{KeyRing, KeyVersion};
use crate::luk::LukState;
use crate::record::{Fingerprint, Last4, Par, TokenRecord};
use crate::{Admission, ChannelSet, Domain, TokenNumber, TokenStatus, TokenStore};

fn record(number: &str, fingerprint: u8, device: &DeviceId) -> TokenRecord {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
    let id = TokenId::random();
    let ring = KeyRing::new(KeyVersion(1), &Secret::new([1; 32]));
    TokenRecord {
        sealed_pan: ring.seal(id.as_bytes(), b"6222021234567890128").unwrap(),
        id,
        number: TokenNumber::parse(number).unwrap(),
        status: TokenStatus::Active,
        domain: Domain {
            device: device.clone(),
            channels: ChannelSet::all(),
            merchant: None,
            max_amount: None,
            expires_at: None,
        },
        fingerprint: Fingerprint([fingerprint; 32]),
        par: Par::of_alphabet(*b"CC01ABCDEFGHIJKLMNOPQRSTUVWXY"),
        pan_last4: Last4::of("0128").unwrap_or_default(),
        luk: LukState::new(1, t0),
        replay: Default::default(),
        created_at: t0,
        updated_at: t0,
        version: 0,
    }
}

/// Luhn-valid 16-digit token numbers from the `990001` range.
fn number(i: u32) -> String {
    let body = format!("990001{i:09}");
    let digits: Vec<u32> = body.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(k, d)| {
            if k % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                *d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// Runs the whole suite; `make` returns a fresh, empty store each call.
pub fn token_store_suite(make: &dyn Fn() -> Arc<dyn TokenStore>) {
    crud_and_indexes(&*make());
    compare_and_set(&*make());
    one_winner_per_version(make());
    numbers_are_taken_once(make());
    spends(&*make());
    spends_are_atomic(make());
    views(&*make());
    limits(&*make());
    ids_alike_in_part(&*make());
    drawn_numbers_are_never_cards(&*make());
    a_card_once_per_device(make);
    indexes_hold_under_churn(make());
}

/// Provisions, reissues and deletions made from many threads at once, over cards and phones
/// that they share, leave every index matching the records: each live token found by its card
/// and by its phone, no deleted one found, and never two live tokens of one card on one phone.
fn indexes_hold_under_churn(s: Arc<dyn TokenStore>) {
    const THREADS: u32 = 4;
    const ROUNDS: u32 = 30;
    const CARDS: u32 = 12;
    let devices: Arc<Vec<DeviceId>> = Arc::new((0..4).map(|_| DeviceId::random()).collect());
    // Each thread's changes to one record, retried until they land on its newest version.
    fn change(s: &dyn TokenStore, id: &TokenId, edit: impl Fn(&mut TokenRecord)) {
        loop {
            let current = s.get(id).unwrap().unwrap();
            let mut next = current.clone();
            edit(&mut next);
            next.version += 1;
            match s.compare_and_set(current.version, next) {
                Ok(()) => return,
                Err(StoreError::Conflict) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }
    let (store, phones) = (s.clone(), devices.clone());
    race(THREADS as usize, move |t| {
        let t = u32::try_from(t).unwrap();
        for round in 0..ROUNDS {
            let n = t * ROUNDS + round;
            // Cards 1 to 12 are provisioned; a reissued card takes the fingerprint 100 above.
            let card = 1 + (n * 5 + t) % CARDS;
            let device = &phones[((n * 3) % 4) as usize];
            let token = record(&number(1_000 + n), u8::try_from(card).unwrap(), device);
            let id = token.id.clone();
            match store.provision(token, &Fingerprint([250; 32])) {
                Ok(Admission::Added(_)) => {}
                Ok(Admission::OnDevice) => continue,
                Err(e) => panic!("{e}"),
            }
            match round % 3 {
                1 => change(&*store, &id, |r| {
                    r.status = TokenStatus::Deleted;
                    r.fingerprint = Fingerprint([0; 32]);
                }),
                2 => change(&*store, &id, |r| {
                    r.fingerprint = Fingerprint([u8::try_from(100 + card).unwrap(); 32]);
                }),
                _ => {}
            }
        }
    });
    let records: Vec<TokenRecord> =
        s.ids().unwrap().iter().map(|id| s.get(id).unwrap().unwrap()).collect();
    let live: Vec<&TokenRecord> =
        records.iter().filter(|r| r.status != TokenStatus::Deleted).collect();
    assert!(records.len() > live.len() && live.len() > CARDS as usize, "churn made and deleted");
    fn sorted(ids: impl Iterator<Item = TokenId>) -> Vec<TokenId> {
        let mut ids: Vec<TokenId> = ids.collect();
        ids.sort();
        ids
    }
    let ids = |found: Vec<TokenRecord>| sorted(found.into_iter().map(|r| r.id));
    let expected = |keep: &dyn Fn(&TokenRecord) -> bool| {
        sorted(live.iter().filter(|r| keep(r)).map(|r| r.id.clone()))
    };
    for card in (1..=CARDS).chain(101..=100 + CARDS) {
        let fingerprint = Fingerprint([u8::try_from(card).unwrap(); 32]);
        let found = ids(s.by_fingerprint(&fingerprint).unwrap());
        assert_eq!(found, expected(&|r| r.fingerprint == fingerprint), "card {card}");
        for device in devices.iter() {
            let on_device = live.iter().filter(|r| r.fingerprint == fingerprint);
            let count = on_device.filter(|r| r.domain.device == *device).count();
            assert!(card > 100 || count <= 1, "card {card} twice on a phone");
        }
    }
    for device in devices.iter() {
        let found = ids(s.by_device(device).unwrap());
        assert_eq!(found, expected(&|r| r.domain.device == *device));
    }
}

/// A drawn number whose fingerprint is a vaulted card's is refused, and nothing of its record
/// is kept; one whose fingerprint is no card's goes in.
fn drawn_numbers_are_never_cards(s: &dyn TokenStore) {
    let device = DeviceId::random();
    let card = record(&number(80), 80, &device);
    s.insert(card.clone()).unwrap();
    let drawn = record(&number(81), 81, &device);
    let refused = s.provision(drawn.clone(), &Fingerprint([80; 32]));
    assert_eq!(refused, Err(StoreError::Duplicate));
    assert!(s.get(&drawn.id).unwrap().is_none());
    assert!(!s.number_taken(&drawn.number).unwrap());
    assert!(s.by_fingerprint(&drawn.fingerprint).unwrap().is_empty());
    assert_eq!(s.provision(drawn.clone(), &Fingerprint([82; 32])), Ok(Admission::Added(drawn.par)));
    assert_eq!(s.get(&drawn.id).unwrap(), Some(drawn));
    // Its own number taken: refused as any taken number is.
    let again = record(&number(81), 83, &DeviceId::random());
    assert_eq!(s.provision(again, &Fingerprint([84; 32])), Err(StoreError::Duplicate));
}

/// A card's second token takes the account reference of its first; a token of the card on the
/// same device again is kept out, unless the first was deleted; many at once on one device put
/// in one.
fn a_card_once_per_device(make: &dyn Fn() -> Arc<dyn TokenStore>) {
    let s = make();
    let (phone, tablet) = (DeviceId::random(), DeviceId::random());
    let first = record(&number(90), 90, &phone);
    assert_eq!(
        s.provision(first.clone(), &Fingerprint([190; 32])),
        Ok(Admission::Added(first.par))
    );
    // Another card on the phone is no sibling.
    let other = TokenRecord {
        par: Par::of_alphabet(*b"CC01ZZZZZZZZZZZZZZZZZZZZZZZZZ"),
        ..record(&number(91), 91, &phone)
    };
    assert_eq!(
        s.provision(other.clone(), &Fingerprint([191; 32])),
        Ok(Admission::Added(other.par))
    );
    // The card on the tablet: its reference is the first token's, not the one it came with.
    let own = Par::of_alphabet(*b"CC01BBBBBBBBBBBBBBBBBBBBBBBBB");
    let second = TokenRecord { par: own, ..record(&number(92), 90, &tablet) };
    assert_eq!(
        s.provision(second.clone(), &Fingerprint([192; 32])),
        Ok(Admission::Added(first.par))
    );
    assert_eq!(s.get(&second.id).unwrap().unwrap().par, first.par);
    // The card on the phone again: nothing goes in, not even its number.
    let again = record(&number(93), 90, &phone);
    assert_eq!(s.provision(again.clone(), &Fingerprint([193; 32])), Ok(Admission::OnDevice));
    assert!(s.get(&again.id).unwrap().is_none());
    assert!(!s.number_taken(&again.number).unwrap());
    // Once the phone's token is deleted, the card may go on the phone again.
    let mut deleted = first.clone();
    deleted.status = TokenStatus::Deleted;
    deleted.fingerprint = Fingerprint([0; 32]);
    deleted.version = 1;
    s.compare_and_set(0, deleted).unwrap();
    assert_eq!(
        s.provision(again.clone(), &Fingerprint([193; 32])),
        Ok(Admission::Added(first.par))
    );
    // A plain insert checks no siblings: it adds the record as it is given.
    let restored = record(&number(94), 90, &phone);
    s.insert(restored.clone()).unwrap();
    assert_eq!(s.get(&restored.id).unwrap(), Some(restored));

    // Many at once, one card, one device: one goes in.
    let s = make();
    let device = DeviceId::random();
    let outcomes = race(8, {
        let s = s.clone();
        move |i| {
            let i = u32::try_from(i).unwrap();
            let mut r = record(&number(100 + i), 95, &device);
            r.domain.device = device.clone();
            s.provision(r, &Fingerprint([195; 32])).unwrap()
        }
    });
    let added = outcomes.iter().filter(|a| matches!(a, Admission::Added(_))).count();
    assert_eq!(added, 1, "{outcomes:?}");
    assert_eq!(s.by_fingerprint(&Fingerprint([95; 32])).unwrap().len(), 1);
}

/// Two drawn ids that share their low 64 bits are two tokens, each found by its own id, and
/// each taken once.
fn ids_alike_in_part(s: &dyn TokenStore) {
    let device = DeviceId::random();
    let mut a = record(&number(70), 70, &device);
    let mut b = record(&number(71), 70, &device);
    a.id = TokenId::from_bits(0xfeed);
    b.id = TokenId::from_bits((7 << 64) | 0xfeed);
    s.insert(a.clone()).unwrap();
    s.insert(b.clone()).unwrap();
    assert_eq!(s.get(&a.id).unwrap().as_ref(), Some(&a));
    assert_eq!(s.get(&b.id).unwrap().as_ref(), Some(&b));
    let mut seen = None;
    assert!(s.view(&b.id, &mut |r| seen = Some(r.number.clone())).unwrap());
    assert_eq!(seen, Some(b.number.clone()));
    assert!(s.get(&TokenId::from_bits((8 << 64) | 0xfeed)).unwrap().is_none(), "a third, absent");
    for (taken, n) in [(&a, 72), (&b, 73)] {
        let again = TokenRecord { id: taken.id.clone(), ..record(&number(n), 71, &device) };
        assert_eq!(s.insert(again), Err(StoreError::Duplicate), "an id is taken once");
    }
    let mut next = b.clone();
    next.version = 1;
    next.status = TokenStatus::Suspended(crate::Actor::User);
    s.compare_and_set(0, next.clone()).unwrap();
    assert_eq!(s.get(&b.id).unwrap(), Some(next));
    assert_eq!(s.get(&a.id).unwrap(), Some(a));
}

/// A domain's limits (one merchant, a most per payment, an expiry), each alone and all
/// together, read back as they went in, by every way in, and outlive a spend; taken away,
/// they are gone.
fn limits(s: &dyn TokenStore) {
    let merchant: cloudcard_core::MerchantId = "mch_only_here".parse().unwrap();
    let most = cloudcard_core::Amount::from_fen(50_000);
    let until = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    let cases = [
        (Some(merchant.clone()), None, None),
        (None, Some(most), None),
        (None, None, Some(until)),
        (Some(merchant), Some(most), Some(until)),
    ];
    for (i, (merchant, max_amount, expires_at)) in (60..).zip(cases) {
        let mut a = record(&number(i), 60, &DeviceId::random());
        a.domain = Domain { merchant, max_amount, expires_at, ..a.domain };
        s.insert(a.clone()).unwrap();
        assert_eq!(s.get(&a.id).unwrap().as_ref(), Some(&a), "case {i}");
        assert_eq!(s.get_by_number(&a.number).unwrap().as_ref(), Some(&a), "case {i}");
        assert_eq!(s.by_device(&a.domain.device).unwrap(), [a.clone()], "case {i}");
        assert!(s.by_fingerprint(&a.fingerprint).unwrap().contains(&a), "case {i}");
        let mut seen = None;
        assert!(s.view(&a.id, &mut |r| seen = Some(r.domain.clone())).unwrap());
        assert_eq!(seen.as_ref(), Some(&a.domain), "case {i}");
        s.spend_by_number(&a.number, &mut |r| Some(one_more(r, 1_800_000_000))).unwrap();
        let spent = s.get(&a.id).unwrap().unwrap();
        assert_eq!((&spent.domain, spent.version), (&a.domain, 1), "case {i}");
        let mut open = spent.clone();
        open.domain = Domain { merchant: None, max_amount: None, expires_at: None, ..open.domain };
        open.version = 2;
        s.compare_and_set(1, open.clone()).unwrap();
        assert_eq!(s.get(&a.id).unwrap(), Some(open), "case {i}");
    }
}

fn views(s: &dyn TokenStore) {
    let a = record(&number(50), 7, &DeviceId::random());
    s.insert(a.clone()).unwrap();
    let mut seen = None;
    assert!(s.view(&a.id, &mut |r| seen = Some(r.clone())).unwrap());
    assert_eq!(seen.as_ref(), Some(&a), "the stored record, as it is");
    assert!(!s.view(&TokenId::random(), &mut |_| panic!("nothing to see")).unwrap());
    // By id and number together; a number naming another record does not mislead it.
    let b = record(&number(51), 8, &DeviceId::random());
    s.insert(b.clone()).unwrap();
    for (number, what) in [(&a.number, "its own number"), (&b.number, "another's number")] {
        let mut seen = None;
        assert!(s.view_token(&a.id, number, &mut |r| seen = Some(r.id.clone())).unwrap());
        assert_eq!(seen.as_ref(), Some(&a.id), "{what}");
    }
    let unknown = TokenNumber::parse(&number(52)).unwrap();
    assert!(s.view_token(&b.id, &unknown, &mut |r| assert_eq!(r.id, b.id)).unwrap());
    assert!(!s.view_token(&TokenId::random(), &b.number, &mut |_| panic!("not b")).unwrap());
    // What opening a verified token reads: its status and sealed card, found alike.
    for (record, number) in [(&a, &a.number), (&a, &b.number), (&b, &unknown)] {
        let mut seen = None;
        assert!(
            s.view_sealed(&record.id, number, &mut |st, sealed| seen = Some((st, sealed.clone())))
                .unwrap()
        );
        assert_eq!(seen, Some((record.status, record.sealed_pan.clone())));
    }
    assert!(!s.view_sealed(&TokenId::random(), &b.number, &mut |_, _| panic!("not b")).unwrap());
}

/// A spend of one more cryptogram on `record`, at `at` seconds.
fn one_more(record: &TokenRecord, at: i64) -> crate::Spend {
    crate::Spend {
        replay: record.replay,
        used_count: record.luk.used_count + 1,
        used_amount: record.luk.used_amount,
        at: Utc.timestamp_opt(at, 0).unwrap(),
    }
}

fn spends(s: &dyn TokenStore) {
    let a = record(&number(30), 5, &DeviceId::random());
    s.insert(a.clone()).unwrap();
    let unknown = TokenNumber::parse(&number(31)).unwrap();
    assert_eq!(s.spend_by_number(&unknown, &mut |_| panic!("no record to read")).unwrap(), None);
    // Refused: the id comes back, the record is as it was.
    let refused = s.spend_by_number(&a.number, &mut |_| None).unwrap();
    assert_eq!(refused, Some(a.id.clone()));
    assert_eq!(s.get(&a.id).unwrap().unwrap(), a);
    // Spent: the counters, the time and the version move; nothing else does.
    let spent = s.spend_by_number(&a.number, &mut |r| Some(one_more(r, 1_800_000_000))).unwrap();
    assert_eq!(spent, Some(a.id.clone()));
    let after = s.get(&a.id).unwrap().unwrap();
    assert_eq!((after.luk.used_count, after.version), (a.luk.used_count + 1, a.version + 1));
    assert_eq!(after.updated_at, Utc.timestamp_opt(1_800_000_000, 0).unwrap());
    assert_eq!(
        TokenRecord { luk: a.luk, updated_at: a.updated_at, version: a.version, ..after },
        a
    );
}

fn spends_are_atomic(s: Arc<dyn TokenStore>) {
    let a = record(&number(40), 6, &DeviceId::random());
    s.insert(a.clone()).unwrap();
    let store = s.clone();
    let number = a.number.clone();
    let per = 25;
    race(8, move |_| {
        for _ in 0..per {
            store.spend_by_number(&number, &mut |r| Some(one_more(r, 1_800_000_000))).unwrap();
        }
    });
    let after = s.get(&a.id).unwrap().unwrap();
    assert_eq!(after.luk.used_count, a.luk.used_count + 8 * per, "no spend lost to a race");
    assert_eq!(after.version, a.version + u64::from(8 * per));
}

fn crud_and_indexes(s: &dyn TokenStore) {
    let phone = DeviceId::random();
    let a = record(&number(1), 1, &phone);
    let b = record(&number(2), 1, &DeviceId::random());
    s.insert(a.clone()).unwrap();
    s.insert(b.clone()).unwrap();
    assert_eq!(s.get(&a.id).unwrap(), Some(a.clone()));
    assert_eq!(s.get_by_number(&a.number).unwrap(), Some(a.clone()));
    assert!(s.number_taken(&b.number).unwrap());
    assert!(!s.number_taken(&TokenNumber::parse(&number(3)).unwrap()).unwrap());
    assert_eq!(s.by_fingerprint(&Fingerprint([1; 32])).unwrap().len(), 2);
    assert_eq!(s.by_device(&phone).unwrap(), vec![a.clone()]);
    assert!(s.by_device(&DeviceId::random()).unwrap().is_empty());
    let mut ids = s.ids().unwrap();
    ids.sort();
    let mut expected = vec![a.id.clone(), b.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    let mut dup = record(&number(1), 9, &phone);
    assert_eq!(s.insert(dup.clone()), Err(StoreError::Duplicate), "a number is taken once");
    dup.id = a.id.clone();
    dup.number = TokenNumber::parse(&number(4)).unwrap();
    assert_eq!(s.insert(dup), Err(StoreError::Duplicate), "an id is taken once");
}

fn compare_and_set(s: &dyn TokenStore) {
    let phone = DeviceId::random();
    let a = record(&number(10), 2, &phone);
    s.insert(a.clone()).unwrap();
    let mut next = a.clone();
    next.version = 1;
    next.status = TokenStatus::Suspended(crate::Actor::User);
    s.compare_and_set(0, next.clone()).unwrap();
    assert_eq!(s.compare_and_set(0, next.clone()), Err(StoreError::Conflict));
    let mut skip = next.clone();
    skip.version = 3;
    assert_eq!(s.compare_and_set(1, skip), Err(StoreError::Conflict));
    assert_eq!(s.get(&a.id).unwrap().unwrap().status, TokenStatus::Suspended(crate::Actor::User));
    // A reissued card moves the token to the new fingerprint.
    let mut reissued = next.clone();
    reissued.version = 2;
    reissued.fingerprint = Fingerprint([3; 32]);
    s.compare_and_set(1, reissued).unwrap();
    assert!(s.by_fingerprint(&Fingerprint([2; 32])).unwrap().is_empty());
    assert_eq!(s.by_fingerprint(&Fingerprint([3; 32])).unwrap().len(), 1);
    let ghost = record(&number(11), 2, &phone);
    assert_eq!(s.compare_and_set(0, TokenRecord { version: 1, ..ghost }), Err(StoreError::Missing));
}

fn one_winner_per_version(s: Arc<dyn TokenStore>) {
    let a = record(&number(20), 4, &DeviceId::random());
    s.insert(a.clone()).unwrap();
    let id = a.id.clone();
    let store = s.clone();
    let per = 25u64;
    let wins: u64 = race(8, move |_| {
        let mut wins = 0;
        while wins < per {
            let current = store.get(&id).unwrap().unwrap();
            let mut next = current.clone();
            next.version += 1;
            match store.compare_and_set(current.version, next) {
                Ok(()) => wins += 1,
                Err(StoreError::Conflict) => {}
                Err(e) => panic!("{e}"),
            }
        }
        wins
    })
    .into_iter()
    .sum();
    assert_eq!(s.get(&a.id).unwrap().unwrap().version, wins, "every accepted update counted once");
}

fn numbers_are_taken_once(s: Arc<dyn TokenStore>) {
    let store = s.clone();
    let results =
        race(8, move |_| store.insert(record(&number(30), 5, &DeviceId::random())).is_ok());
    assert_eq!(results.iter().filter(|ok| **ok).count(), 1);
}

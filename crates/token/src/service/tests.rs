//! Unit tests, compiled only under `#[cfg(test)]` (see the parent module).
#![cfg(test)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::TimeZone;
use cloudcard_core::{Clock, Currency, IssuerTable, ManualClock};
use cloudcard_masking::Secret;
use cloudcard_masking::checks::luhn_valid;
use proptest::prelude::*;

use super::*;
use crate::{Actor, PaymentData};
use crate::{Channel, ChannelSet, TokenBin, TokenNumber};
use chrono::TimeDelta;

const PAN: &str = "6222021234567890128";

struct Fixture {
    clock: Arc<ManualClock>,
    tokens: TokenService,
}

fn fixture() -> Fixture {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()));
    let config = TokenConfig::new(TokenBin::new("990001", IssuerTable::builtin()).unwrap());
    let tokens =
        TokenService::new(config, TokenKeys::random(), InMemoryTokenStore::new(), clock.clone());
    Fixture { clock, tokens }
}

fn device(n: u32) -> DeviceId {
    format!("dev_{n}").parse().unwrap()
}

fn pan(s: &str) -> Pan {
    s.parse().unwrap()
}

/// A payment of `fen` at `now` by NFC at one merchant.
fn payment_at(now: DateTime<Utc>, fen: u64) -> PaymentData {
    PaymentData {
        amount: Amount::from_fen(fen),
        currency: Currency::CNY,
        merchant: "mch_1".parse().unwrap(),
        channel: Channel::Nfc,
        unpredictable_number: 0xdead_beef,
        timestamp: now,
        cvm: Default::default(),
    }
}

/// A service's four keys, fixed from `k`: nodes made with one `k` share their keys.
fn fixed_keys(k: u8) -> TokenKeys {
    TokenKeys::new(
        &Secret::new([k; 32]),
        &Secret::new([k + 1; 32]),
        &Secret::new([k + 2; 32]),
        &Secret::new([k + 3; 32]),
    )
}

impl Fixture {
    fn provision(&self, request: ProvisionRequest) -> Provisioned {
        self.tokens.provision(request).unwrap()
    }

    fn payment(&self, fen: u64) -> PaymentData {
        payment_at(self.clock.now(), fen)
    }

    fn rejection(&self, dev: &DeviceId, c: &Cryptogram) -> Option<Rejection> {
        self.tokens.verify(dev, c).err().and_then(|e| e.rejection())
    }
}

#[test]
fn provision_verify_detokenize() {
    let f = fixture();
    let mut req = ProvisionRequest::new(pan(PAN), device(1));
    req.expiry = Some("09/29".parse().unwrap());
    let Provisioned { token, mut device_card } = f.provision(req);
    assert_eq!(token.status, TokenStatus::Active);
    assert_eq!(token.pan_last4, "0128");
    assert_eq!(token.number.digit_count(), PAN.len());
    assert_ne!(token.number.expose(), PAN);
    assert!(luhn_valid(token.number.expose().as_bytes()));
    assert_eq!(token.par.as_str().len(), 29);
    assert_eq!(Par::parse(token.par.as_str()), Some(token.par));
    let c = device_card.cryptogram(f.payment(1000)).unwrap();
    assert_eq!(c.atc, 1);
    let verified = f.tokens.verify(&device(1), &c).unwrap();
    assert_eq!(verified.amount(), Amount::from_fen(1000));
    let card = f.tokens.detokenize(verified).unwrap();
    assert_eq!(card.pan, pan(PAN));
    assert_eq!(card.expiry, Some("09/29".parse().unwrap()));
}

#[test]
fn one_pan_many_devices_share_a_par() {
    let f = fixture();
    let a = f.provision(ProvisionRequest::new(pan(PAN), device(1))).token;
    let b = f.provision(ProvisionRequest::new(pan(PAN), device(2))).token;
    assert_ne!(a.number, b.number);
    assert_eq!(a.par, b.par);
    assert!(!a.par.as_str().contains("0128"));
    let other = f.provision(ProvisionRequest::new(pan("6200000000000005"), device(1))).token;
    assert_ne!(other.par, a.par);
    assert_eq!(
        f.tokens.provision(ProvisionRequest::new(pan(PAN), device(1))).unwrap_err(),
        TokenError::AlreadyProvisioned
    );
    assert_eq!(f.tokens.tokens_of_card(&pan(PAN)).unwrap().len(), 2);
    assert_eq!(f.tokens.tokens_of_device(&device(1)).unwrap().len(), 2);
    // After deletion the device may get a new token for the card.
    f.tokens.apply(&a.id, TokenEvent::Delete(Actor::User)).unwrap();
    f.provision(ProvisionRequest::new(pan(PAN), device(1)));
}

#[test]
fn no_channel_is_refused() {
    let f = fixture();
    let mut req = ProvisionRequest::new(pan(PAN), device(1));
    req.channels = ChannelSet::NONE;
    assert_eq!(f.tokens.provision(req).unwrap_err(), TokenError::NoChannel);
}

#[test]
fn replay_and_out_of_order() {
    let f = fixture();
    let mut card = f.provision(ProvisionRequest::new(pan(PAN), device(1))).device_card;
    let c1 = card.cryptogram(f.payment(100)).unwrap();
    let c2 = card.cryptogram(f.payment(100)).unwrap();
    assert!(f.tokens.verify(&device(1), &c2).is_ok());
    // c1 arrives late but inside the window: accepted once.
    assert!(f.tokens.verify(&device(1), &c1).is_ok());
    assert_eq!(f.rejection(&device(1), &c1), Some(Rejection::Replay));
    assert_eq!(f.rejection(&device(1), &c2), Some(Rejection::Replay));
}

#[test]
fn every_tampered_field_is_rejected() {
    let f = fixture();
    let mut card = f.provision(ProvisionRequest::new(pan(PAN), device(1))).device_card;
    let good = card.cryptogram(f.payment(100)).unwrap();
    let other_number =
        f.provision(ProvisionRequest::new(pan("6200000000000005"), device(1))).token.number;
    type Tamper = Box<dyn Fn(&mut Cryptogram)>;
    let tampers: Vec<(&str, Tamper)> = vec![
        ("amount", Box::new(|c| c.data.amount = Amount::from_fen(99))),
        ("currency", Box::new(|c| c.data.currency = Currency::from_numeric(840).unwrap())),
        ("merchant", Box::new(|c| c.data.merchant = "mch_2".parse().unwrap())),
        ("channel", Box::new(|c| c.data.channel = Channel::Qr)),
        ("un", Box::new(|c| c.data.unpredictable_number ^= 1)),
        ("timestamp", Box::new(|c| c.data.timestamp += TimeDelta::seconds(1))),
        // Claiming a fingerprint the phone never checked.
        ("cvm", Box::new(|c| c.data.cvm = crate::Cvm::Biometric)),
        ("atc", Box::new(|c| c.atc += 1)),
        ("key_seq", Box::new(|c| c.key_seq += 1)),
        ("mac", Box::new(|c| c.mac[7] ^= 0x80)),
        ("token", Box::new(move |c| c.token_number = other_number.clone())),
    ];
    for (field, tamper) in tampers {
        let mut c = good.clone();
        tamper(&mut c);
        let err = f.tokens.verify(&device(1), &c).unwrap_err();
        assert_eq!(err.to_string(), "cryptogram invalid", "{field}");
        assert!(err.rejection().is_some(), "{field}");
    }
    // Untouched, it still verifies: the tampered copies consumed nothing.
    assert!(f.tokens.verify(&device(1), &good).is_ok());
}

#[test]
fn domain_controls() {
    let f = fixture();
    let mut req = ProvisionRequest::new(pan(PAN), device(1));
    req.channels = [Channel::Nfc].into_iter().collect();
    req.merchant = Some("mch_1".parse().unwrap());
    req.max_amount = Some(Amount::from_fen(5_000));
    req.expires_at = Some(f.clock.now() + TimeDelta::days(1));
    let mut card = f.provision(req).device_card;

    let c = card.cryptogram(f.payment(100)).unwrap();
    assert_eq!(f.rejection(&device(2), &c), Some(Rejection::WrongDevice));

    let mut data = f.payment(100);
    data.channel = Channel::Online;
    let c = card.cryptogram(data).unwrap();
    assert_eq!(f.rejection(&device(1), &c), Some(Rejection::ChannelNotAllowed));

    let mut data = f.payment(100);
    data.merchant = "mch_9".parse().unwrap();
    let c = card.cryptogram(data).unwrap();
    assert_eq!(f.rejection(&device(1), &c), Some(Rejection::WrongMerchant));

    let c = card.cryptogram(f.payment(5_001)).unwrap();
    assert_eq!(f.rejection(&device(1), &c), Some(Rejection::OverMaxAmount));

    let c = card.cryptogram(f.payment(5_000)).unwrap();
    assert!(f.tokens.verify(&device(1), &c).is_ok());

    f.clock.advance(TimeDelta::days(1));
    let c = card.cryptogram(f.payment(100)).unwrap();
    assert_eq!(f.rejection(&device(1), &c), Some(Rejection::TokenExpired));
}

#[test]
fn stale_cryptograms_are_rejected() {
    let f = fixture();
    let mut card = f.provision(ProvisionRequest::new(pan(PAN), device(1))).device_card;
    let c = card.cryptogram(f.payment(100)).unwrap();
    f.clock.advance(TimeDelta::minutes(11));
    assert_eq!(f.rejection(&device(1), &c), Some(Rejection::Stale));
}

#[test]
fn limited_use_key_limits_and_replenish() {
    let f = fixture();
    let mut card = f.provision(ProvisionRequest::new(pan(PAN), device(1))).device_card;
    // Count: 10 per key by default.
    for _ in 0..10 {
        let c = card.cryptogram(f.payment(100)).unwrap();
        f.tokens.verify(&device(1), &c).unwrap();
    }
    let c = card.cryptogram(f.payment(100)).unwrap();
    assert_eq!(f.rejection(&device(1), &c), Some(Rejection::LukCountExhausted));
    // The device made 11 cryptograms, the cloud accepted 10: a forged count is refused by the
    // MAC, while the device's own request (one more than the cloud saw) resynchronizes.
    let mut forged = card.replenish_request();
    forged.transactions_under_key = 10;
    assert_eq!(f.tokens.replenish(&forged).unwrap_err(), TokenError::ReplenishInvalid);
    let grant = f.tokens.replenish(&card.replenish_request()).unwrap();
    assert_eq!(grant.key_seq, 2);
    assert!(!format!("{grant:?}").contains(&format!("{:?}", grant.luk.expose_secret())));
    card.install(grant).unwrap();
    let c = card.cryptogram(f.payment(100)).unwrap();
    f.tokens.verify(&device(1), &c).unwrap();

    // Amount: ¥10,000 per key (¥1.00 already used).
    let c = card.cryptogram(f.payment(999_901)).unwrap();
    assert_eq!(f.rejection(&device(1), &c), Some(Rejection::LukAmountExhausted));
    let c = card.cryptogram(f.payment(999_900)).unwrap();
    f.tokens.verify(&device(1), &c).unwrap();

    // Time: 3 days per key. (The device made 3 cryptograms under this key, the cloud accepted
    // 2: within the gap a device may have.)
    card.install(f.tokens.replenish(&card.replenish_request()).unwrap()).unwrap();
    f.clock.advance(TimeDelta::days(3));
    let c = card.cryptogram(f.payment(100)).unwrap();
    assert_eq!(f.rejection(&device(1), &c), Some(Rejection::LukExpired));

    // An old key is no good after replenishing.
    let stale_card = card.clone();
    card.install(f.tokens.replenish(&card.replenish_request()).unwrap()).unwrap();
    let mut stale_card = stale_card;
    let c = stale_card.cryptogram(f.payment(100)).unwrap();
    assert_eq!(f.rejection(&device(1), &c), Some(Rejection::WrongKeySequence));
}

#[test]
fn replenish_needs_an_active_token_on_its_device() {
    let f = fixture();
    let p = f.provision(ProvisionRequest::new(pan(PAN), device(1)));
    // The MAC covers the device: a request rewritten for another device does not verify.
    let mut request = p.device_card.replenish_request();
    request.device = device(2);
    assert_eq!(f.tokens.replenish(&request).unwrap_err(), TokenError::ReplenishInvalid);
    f.tokens.apply(&p.token.id, TokenEvent::Suspend(Actor::User)).unwrap();
    assert_eq!(
        f.tokens.replenish(&p.device_card.replenish_request()).unwrap_err(),
        TokenError::NotActive
    );
}

#[test]
fn suspended_and_deleted_tokens_do_not_pay() {
    let f = fixture();
    let Provisioned { token, mut device_card } =
        f.provision(ProvisionRequest::new(pan(PAN), device(1)));
    let c = device_card.cryptogram(f.payment(100)).unwrap();
    let verified = f.tokens.verify(&device(1), &c).unwrap();
    f.tokens.apply(&token.id, TokenEvent::Suspend(Actor::Issuer)).unwrap();
    // Suspended between verification and detokenization: no PAN.
    assert_eq!(f.tokens.detokenize(verified).unwrap_err(), TokenError::NotActive);
    let c = device_card.cryptogram(f.payment(100)).unwrap();
    assert_eq!(f.rejection(&device(1), &c), Some(Rejection::NotActive));
    assert!(matches!(
        f.tokens.apply(&token.id, TokenEvent::Resume(Actor::User)),
        Err(TokenError::Lifecycle(LifecycleError::NotYourSuspension))
    ));
    f.tokens.apply(&token.id, TokenEvent::Resume(Actor::Issuer)).unwrap();
    assert!(f.tokens.verify(&device(1), &c).is_ok());
    f.tokens.apply(&token.id, TokenEvent::Delete(Actor::User)).unwrap();
    let c = device_card.cryptogram(f.payment(100)).unwrap();
    assert_eq!(f.rejection(&device(1), &c), Some(Rejection::NotActive));
}

#[test]
fn lost_device_and_lost_card_in_one_call() {
    let f = fixture();
    let a = f.provision(ProvisionRequest::new(pan(PAN), device(1))).token;
    let b = f.provision(ProvisionRequest::new(pan("6200000000000005"), device(1))).token;
    let c = f.provision(ProvisionRequest::new(pan(PAN), device(2))).token;
    f.tokens.apply(&b.id, TokenEvent::Suspend(Actor::Issuer)).unwrap();

    let outcome =
        f.tokens.apply_to_device(&device(1), TokenEvent::Suspend(Actor::LossReport)).unwrap();
    assert_eq!(outcome.changed, vec![a.id.clone()]);
    assert_eq!(outcome.unchanged, vec![(b.id.clone(), LifecycleError::AlreadySuspended)]);

    let outcome = f.tokens.apply_to_card(&pan(PAN), TokenEvent::Delete(Actor::LossReport)).unwrap();
    let mut changed = outcome.changed.clone();
    changed.sort();
    let mut expected = vec![a.id.clone(), c.id.clone()];
    expected.sort();
    assert_eq!(changed, expected);
    assert_eq!(f.tokens.token(&c.id).unwrap().status, TokenStatus::Deleted);
    // Deleted tokens are skipped the next time.
    let outcome = f.tokens.apply_to_card(&pan(PAN), TokenEvent::Delete(Actor::User)).unwrap();
    assert_eq!(outcome, BulkOutcome::default());
}

#[test]
fn reissued_card_keeps_its_tokens() {
    let f = fixture();
    let Provisioned { token, mut device_card } =
        f.provision(ProvisionRequest::new(pan(PAN), device(1)));
    let new_pan = pan("6212345678900000003");
    let updated =
        f.tokens.update_card(&pan(PAN), &new_pan, Some("01/31".parse().unwrap())).unwrap();
    assert_eq!(updated, vec![token.id.clone()]);
    let after = f.tokens.token(&token.id).unwrap();
    assert_eq!((after.number.clone(), after.par), (token.number, token.par));
    assert_eq!(after.pan_last4, "0003");
    assert!(f.tokens.tokens_of_card(&pan(PAN)).unwrap().is_empty());
    assert_eq!(f.tokens.tokens_of_card(&new_pan).unwrap().len(), 1);
    let c = device_card.cryptogram(f.payment(100)).unwrap();
    let card = f.tokens.detokenize(f.tokens.verify(&device(1), &c).unwrap()).unwrap();
    assert_eq!(card.pan, new_pan);
    assert_eq!(card.expiry, Some("01/31".parse().unwrap()));
    // The reissued card on another phone: the reference its tokens kept, not its new number's.
    let second = f.provision(ProvisionRequest::new(new_pan, device(2))).token;
    assert_eq!(second.par, token.par);
}

#[test]
fn a_card_provisioned_at_once_on_one_phone_gets_one_token() {
    let f = fixture();
    let outcomes: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| f.tokens.provision(ProvisionRequest::new(pan(PAN), device(1)))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(*refused, TokenError::AlreadyProvisioned);
    }
    assert_eq!(f.tokens.tokens_of_device(&device(1)).unwrap().len(), 1);
}

#[test]
fn key_changes_at_once_are_taken_one_at_a_time() {
    let f = fixture();
    // Eight adds of version 2 at once: one goes in, the others find it there.
    let added: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8u8)
            .map(|k| {
                let tokens = &f.tokens;
                scope.spawn(move || tokens.add_data_key(KeyVersion(2), &Secret::new([k; 32])))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(added.iter().filter(|a| a.is_ok()).count(), 1, "{added:?}");
    // Versions 3 to 10 added on one thread while another provisions: no change is lost, and
    // every card sealed under whichever version was current opens.
    let provisioned: Vec<_> = std::thread::scope(|scope| {
        scope.spawn(|| {
            for v in 3..=10 {
                f.tokens.add_data_key(KeyVersion(v), &Secret::new([v as u8; 32])).unwrap();
            }
        });
        let payer = scope.spawn(|| {
            (0..40)
                .map(|i| f.provision(ProvisionRequest::new(pan(PAN), device(100 + i))))
                .collect::<Vec<_>>()
        });
        payer.join().unwrap()
    });
    // Every record moves to version 10, the last added: it is current.
    let report = f.tokens.rewrap().unwrap();
    assert_eq!((report.rewrapped + report.current, report.failed), (40, 0));
    assert_eq!(f.tokens.retire_data_key(KeyVersion(10)), Err(TokenError::KeyVersion), "current");
    for v in 1..10 {
        f.tokens.retire_data_key(KeyVersion(v)).unwrap();
    }
    for Provisioned { mut device_card, .. } in provisioned {
        let dev = device_card.device.clone();
        let c = device_card.cryptogram(f.payment(100)).unwrap();
        let opened = f.tokens.detokenize(f.tokens.verify(&dev, &c).unwrap()).unwrap();
        assert_eq!(opened.pan, pan(PAN));
    }
}

#[test]
fn key_rotation_and_rewrap() {
    let f = fixture();
    let mut cards: Vec<_> = (0..5)
        .map(|i| f.provision(ProvisionRequest::new(pan(PAN), device(i))).device_card)
        .collect();
    f.tokens.add_data_key(KeyVersion(2), &Secret::new([42; 32])).unwrap();
    // New records use the new key; old ones still open.
    let mut newer = f.provision(ProvisionRequest::new(pan(PAN), device(9))).device_card;
    let c = newer.cryptogram(f.payment(100)).unwrap();
    assert_eq!(
        f.tokens.detokenize(f.tokens.verify(&device(9), &c).unwrap()).unwrap().pan,
        pan(PAN)
    );
    let report = f.tokens.rewrap().unwrap();
    assert_eq!(report, RewrapReport { rewrapped: 5, current: 1, failed: 0 });
    f.tokens.retire_data_key(KeyVersion(1)).unwrap();
    for (i, card) in cards.iter_mut().enumerate() {
        let c = card.cryptogram(f.payment(100)).unwrap();
        let v = f.tokens.verify(&device(i as u32), &c).unwrap();
        assert_eq!(f.tokens.detokenize(v).unwrap().pan, pan(PAN));
    }
    assert_eq!(f.tokens.rewrap().unwrap(), RewrapReport { rewrapped: 0, current: 6, failed: 0 });
}

#[test]
fn retired_key_fails_closed() {
    let f = fixture();
    let mut card = f.provision(ProvisionRequest::new(pan(PAN), device(1))).device_card;
    f.tokens.add_data_key(KeyVersion(2), &Secret::new([42; 32])).unwrap();
    f.tokens.retire_data_key(KeyVersion(1)).unwrap();
    let c = card.cryptogram(f.payment(100)).unwrap();
    let v = f.tokens.verify(&device(1), &c).unwrap();
    assert_eq!(f.tokens.detokenize(v).unwrap_err(), TokenError::RetiredKey);
    assert_eq!(f.tokens.rewrap().unwrap(), RewrapReport { rewrapped: 0, current: 0, failed: 1 });
}

#[test]
fn errors_and_debug_hold_no_pan_or_key() {
    let f = fixture();
    let p = f.provision(ProvisionRequest::new(pan(PAN), device(1)));
    let dump = format!("{:?} {:?} {:?}", f.tokens, p, f.tokens.store().get(&p.token.id).unwrap());
    assert!(!dump.contains(PAN), "{dump}");
    assert!(!dump.contains(p.token.number.expose()), "{dump}");
    assert!(dump.contains("[REDACTED]"));
}

#[test]
fn a_number_another_node_took_first_is_drawn_again() {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()));
    let config = TokenConfig::new(TokenBin::new("990001", IssuerTable::builtin()).unwrap());
    let store = Interleaving::over(Arc::new(InMemoryTokenStore::new()));
    store.taken_first.store(3, Ordering::SeqCst);
    let tokens = TokenService::new(config, TokenKeys::random(), store, clock);
    let p = tokens.provision(ProvisionRequest::new(pan(PAN), device(1))).unwrap();
    assert_eq!(tokens.store().taken_first.load(Ordering::SeqCst), 0, "three numbers refused");
    assert_eq!(tokens.token(&p.token.id).unwrap().number, p.token.number);
    // A store that refuses every number: provisioning gives up, it does not spin.
    tokens.store().taken_first.store(usize::MAX, Ordering::SeqCst);
    let refused = tokens.provision(ProvisionRequest::new(pan(PAN), device(2)));
    assert_eq!(refused.unwrap_err(), TokenError::NumberSpaceExhausted);
}

#[test]
fn a_drawn_number_is_checked_as_a_card_would_be() {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()));
    let config = TokenConfig::new(TokenBin::new("990001", IssuerTable::builtin()).unwrap());
    let store = Interleaving::over(Arc::new(InMemoryTokenStore::new()));
    let tokens = TokenService::new(config, TokenKeys::random(), store, clock);
    let p = tokens.provision(ProvisionRequest::new(pan(PAN), device(1))).unwrap();
    let number = p.token.number;
    // Under the fingerprint a card with these digits would have, not the card's own.
    let checked = tokens.fingerprint(number.expose_digit_bytes());
    assert_ne!(checked, tokens.fingerprint(PAN.as_bytes()));
    assert_eq!(*tokens.store().drawn.lock().unwrap(), vec![(number, checked)]);
}

/// A store that lets "another node" act between a read and the compare-and-set that follows,
/// and can say of the next inserts that another node took their number first.
struct Interleaving {
    inner: Arc<InMemoryTokenStore>,
    hook: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    conflicts: AtomicUsize,
    taken_first: AtomicUsize,
    /// Each drawn number inserted, with the fingerprint it was checked under.
    drawn: Mutex<Vec<(TokenNumber, Fingerprint)>>,
}

impl Interleaving {
    fn over(inner: Arc<InMemoryTokenStore>) -> Self {
        Self {
            inner,
            hook: Mutex::new(None),
            conflicts: AtomicUsize::new(0),
            taken_first: AtomicUsize::new(0),
            drawn: Mutex::new(Vec::new()),
        }
    }

    /// Whether another node took the number first (as many times as the test asked).
    fn took_first(&self) -> bool {
        self.taken_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

impl TokenStore for Interleaving {
    fn insert(&self, record: TokenRecord) -> Result<(), StoreError> {
        if self.took_first() {
            return Err(StoreError::Duplicate);
        }
        self.inner.insert(record)
    }
    fn provision(
        &self,
        record: TokenRecord,
        number: &Fingerprint,
    ) -> Result<Admission, StoreError> {
        self.drawn.lock().unwrap().push((record.number.clone(), *number));
        if self.took_first() {
            return Err(StoreError::Duplicate);
        }
        self.inner.provision(record, number)
    }
    fn get(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        self.inner.get(id)
    }
    fn get_by_number(&self, number: &TokenNumber) -> Result<Option<TokenRecord>, StoreError> {
        let read = self.inner.get_by_number(number);
        if let Some(hook) = self.hook.lock().unwrap().take() {
            hook();
        }
        read
    }
    fn number_taken(&self, number: &TokenNumber) -> Result<bool, StoreError> {
        self.inner.number_taken(number)
    }
    fn by_fingerprint(&self, fingerprint: &Fingerprint) -> Result<Vec<TokenRecord>, StoreError> {
        self.inner.by_fingerprint(fingerprint)
    }
    fn by_device(&self, device: &DeviceId) -> Result<Vec<TokenRecord>, StoreError> {
        self.inner.by_device(device)
    }
    fn compare_and_set(&self, expected: u64, record: TokenRecord) -> Result<(), StoreError> {
        let result = self.inner.compare_and_set(expected, record);
        if result == Err(StoreError::Conflict) {
            self.conflicts.fetch_add(1, Ordering::SeqCst);
        }
        result
    }
    fn ids(&self) -> Result<Vec<TokenId>, StoreError> {
        self.inner.ids()
    }
}

#[test]
fn two_nodes_never_accept_one_atc_twice() {
    let clock: SharedClock =
        Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()));
    let shared = Arc::new(InMemoryTokenStore::new());
    let config = TokenConfig::new(TokenBin::new("990001", IssuerTable::builtin()).unwrap());
    let node_b =
        Arc::new(TokenService::new(config.clone(), fixed_keys(1), shared.clone(), clock.clone()));
    let store_a = Interleaving::over(shared.clone());
    let node_a = TokenService::new(config, fixed_keys(1), store_a, clock.clone());

    let mut card =
        node_b.provision(ProvisionRequest::new(pan(PAN), device(1))).unwrap().device_card;
    let c = card.cryptogram(payment_at(clock.now(), 100)).unwrap();
    // Node A reads the record; before it writes, node B accepts the same cryptogram.
    let (b, c2) = (node_b.clone(), c.clone());
    let b_result = Arc::new(Mutex::new(None));
    let b_slot = b_result.clone();
    *node_a.store().hook.lock().unwrap() = Some(Box::new(move || {
        *b_slot.lock().unwrap() = Some(b.verify(&device(1), &c2).is_ok());
    }));
    let a_result = node_a.verify(&device(1), &c);
    assert_eq!(*b_result.lock().unwrap(), Some(true));
    assert_eq!(a_result.unwrap_err().rejection(), Some(Rejection::Replay));
    assert_eq!(node_a.store().conflicts.load(Ordering::SeqCst), 1);
}

#[test]
fn a_key_kept_prepared_serves_only_its_own_master() {
    // Two services over one store, with other keys: a cryptogram under the first's key, once
    // checked there (its key now kept with the record), is still no cryptogram to the second.
    let clock: SharedClock =
        Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()));
    let shared = Arc::new(InMemoryTokenStore::new());
    let config = TokenConfig::new(TokenBin::new("990001", IssuerTable::builtin()).unwrap());
    let first = TokenService::new(config.clone(), fixed_keys(1), shared.clone(), clock.clone());
    let second = TokenService::new(config, fixed_keys(5), shared, clock.clone());
    let mut card = first.provision(ProvisionRequest::new(pan(PAN), device(1))).unwrap().device_card;
    let data = |fen| payment_at(clock.now(), fen);
    for fen in [100, 200] {
        first.verify(&device(1), &card.cryptogram(data(fen)).unwrap()).unwrap();
        let c = card.cryptogram(data(fen)).unwrap();
        let refused = second.verify(&device(1), &c).unwrap_err();
        assert_eq!(refused.rejection(), Some(Rejection::BadMac), "{fen}");
        // Refused there, the cryptogram is still good where it was made.
        first.verify(&device(1), &c).unwrap();
    }
}

#[test]
fn many_threads_accept_each_atc_once() {
    let f = Arc::new(fixture());
    let mut card = f.provision(ProvisionRequest::new(pan(PAN), device(1))).device_card;
    // As many cryptograms as one key allows, each presented by 8 threads at once.
    let cryptograms: Vec<_> = (0..10).map(|_| card.cryptogram(f.payment(1)).unwrap()).collect();
    let accepted = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for c in &cryptograms {
                    if f.tokens.verify(&device(1), c).is_ok() {
                        accepted.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert_eq!(accepted.load(Ordering::SeqCst), cryptograms.len());
    let record = f.tokens.store().get(card.token()).unwrap().unwrap();
    assert_eq!(record.luk.used_count as usize, cryptograms.len());
    assert_eq!(record.version as usize, cryptograms.len());
}

fn valid_pan() -> impl Strategy<Value = Pan> {
    (12usize..=18, any::<u64>(), any::<u64>()).prop_map(|(n, a, b)| {
        let mut digits: String = format!("{a:020}{b:020}").chars().take(n).collect();
        digits.push(char::from(
            cloudcard_masking::checks::luhn_check_digit(digits.as_bytes()).unwrap(),
        ));
        digits.parse().unwrap()
    })
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Event(TokenEvent),
    Pay,
    Replenish,
}

fn op() -> impl Strategy<Value = Op> {
    let actor = prop::sample::select(vec![Actor::User, Actor::Issuer, Actor::LossReport]);
    prop_oneof![
        actor.clone().prop_map(|a| Op::Event(TokenEvent::Suspend(a))),
        actor.clone().prop_map(|a| Op::Event(TokenEvent::Resume(a))),
        actor.prop_map(|a| Op::Event(TokenEvent::Delete(a))),
        Just(Op::Pay),
        Just(Op::Replenish),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn token_numbers_are_luhn_valid_and_never_the_pan(p in valid_pan()) {
        let f = fixture();
        let token = f.provision(ProvisionRequest::new(p.clone(), device(1))).token;
        prop_assert!(luhn_valid(token.number.expose().as_bytes()));
        prop_assert_ne!(token.number.expose(), p.expose_digits());
        prop_assert_eq!(token.number.digit_count(), p.digit_count());
        prop_assert!(IssuerTable::builtin().lookup_digits(token.number.expose()).is_none());
    }

    #[test]
    fn no_operation_sequence_escapes_the_lifecycle(ops in prop::collection::vec(op(), 1..30)) {
        let f = fixture();
        let Provisioned { token, mut device_card } = f.provision(ProvisionRequest::new(pan(PAN), device(1)));
        let mut deleted = false;
        for op in ops {
            let before = f.tokens.token(&token.id).unwrap().status;
            match op {
                Op::Event(e) => {
                    let result = f.tokens.apply(&token.id, e);
                    prop_assert_eq!(result.is_ok(), transition(before, e).is_ok());
                }
                Op::Pay => {
                    let c = device_card.cryptogram(f.payment(1)).unwrap();
                    let paid = f.tokens.verify(&device(1), &c).is_ok();
                    // Only an active token pays (or, past its key's count, none).
                    prop_assert!(!paid || before == TokenStatus::Active);
                }
                Op::Replenish => {
                    let request = device_card.replenish_request();
                    let record = f.tokens.store().get(&token.id).unwrap().unwrap();
                    let gap = request.transactions_under_key.checked_sub(record.luk.used_count);
                    let granted = f.tokens.replenish(&request);
                    let in_step = gap.is_some_and(|g| g <= 5);
                    prop_assert_eq!(granted.is_ok(), before == TokenStatus::Active && in_step);
                    if let Ok(grant) = granted {
                        device_card.install(grant).unwrap();
                    }
                }
            }
            let after = f.tokens.token(&token.id).unwrap().status;
            prop_assert!(!deleted || after == TokenStatus::Deleted, "a deleted token came back");
            deleted |= after == TokenStatus::Deleted;
        }
    }
}

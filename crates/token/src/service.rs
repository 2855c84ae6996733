//! The token service: provisioning, lifecycle, key replenishment, cryptogram verification and
//! detokenization, over a [`TokenStore`].

use cloudcard_core::sync::{CopyOnWrite, Loaded};
use std::io::Write as _;

use chrono::{DateTime, Utc};
use cloudcard_core::{Amount, CardExpiry, DeviceId, Pan, SharedClock, TokenId};
use zeroize::Zeroizing;

use crate::cryptogram::{Cryptogram, DeviceCard, ReplenishRequest, mac_matches};
use crate::keys::{KeyBytes, KeyRing, KeyVersion, MacKey, Sealed, TokenKeys};
use crate::luk::{self, LukGrant, LukState, PreparedLuk};
use crate::record::{Fingerprint, Last4, Par, TokenRecord};
use crate::store::{Admission, Spend, SpendCheck};
use crate::views::{
    BulkOutcome, FundingCard, HeldCryptogram, ProvisionRequest, Provisioned, RewrapReport,
    TokenConfig, TokenInfo, VerifiedCryptogram,
};
use crate::{
    Domain, InMemoryTokenStore, LifecycleError, Rejection, StoreError, TokenError, TokenEvent,
    TokenStatus, TokenStore, transition,
};

/// How many times a number is drawn, or an update retried after a version conflict, before
/// the service gives up.
const ATTEMPTS: usize = 16;
/// Invalid replenish requests in a row that lock replenishment.
const MAX_REPLENISH_FAILURES: u32 = 5;
/// How many cryptograms a device may have made and not presented when it replenishes.
const MAX_UNPRESENTED: u32 = 5;

/// The cloud side of cloud cards.
///
/// Every method takes `&self` and is safe to call from many threads: each update is a
/// compare-and-set on one record in the store, retried on conflict, never a lock around the
/// service.
#[derive(Debug)]
pub struct TokenService<S = InMemoryTokenStore> {
    config: TokenConfig,
    /// Read by every seal and open without a lock (a reader writes nothing another shares); a
    /// change copies the ring, changes the copy and swaps it in, one change at a time.
    data_keys: CopyOnWrite<KeyRing>,
    fingerprint_key: MacKey,
    par_key: MacKey,
    luk_master: luk::LukMaster,
    store: S,
    clock: SharedClock,
}

impl<S: TokenStore> TokenService<S> {
    /// A service over `store`.
    #[must_use]
    pub fn new(config: TokenConfig, keys: TokenKeys, store: S, clock: SharedClock) -> Self {
        Self {
            config,
            data_keys: CopyOnWrite::new(keys.data_keys),
            fingerprint_key: keys.fingerprint_key,
            par_key: keys.par_key,
            luk_master: luk::LukMaster::new(keys.luk_master_key),
            store,
            clock,
        }
    }

    /// The store, for inspection.
    pub const fn store(&self) -> &S {
        &self.store
    }

    /// Provisions a token for a card on a device: draws an unused number from the token range,
    /// seals the PAN in the vault and issues the first limited-use key.
    ///
    /// # Errors
    ///
    /// [`TokenError::NoChannel`], [`TokenError::AlreadyProvisioned`] when the card already has
    /// a live token on the device, [`TokenError::NumberSpaceExhausted`], or a key or store
    /// error.
    pub fn provision(&self, request: ProvisionRequest) -> Result<Provisioned, TokenError> {
        if request.channels.is_empty() {
            return Err(TokenError::NoChannel);
        }
        let now = self.clock.now();
        let fingerprint = self.fingerprint(request.pan.expose_digit_bytes());
        if let Some(id) = &request.id
            && self.store.get(id)?.is_some()
        {
            return Err(TokenError::Store(StoreError::Duplicate));
        }
        // The card's own reference; the store keeps that of its tokens already vaulted, if it
        // has any (the reference outlives a reissued card's number).
        let par = self.par(request.pan.expose_digit_bytes());
        let domain = Domain {
            device: request.device.clone(),
            channels: request.channels,
            merchant: request.merchant,
            max_amount: request.max_amount,
            expires_at: request.expires_at,
        };
        let luk = LukState::new(1, now);
        for _ in 0..ATTEMPTS {
            let number = self.config.token_bin.draw(request.pan.digit_count())?;
            if number.expose_digit_bytes() == request.pan.expose_digit_bytes() {
                continue;
            }
            // Never a number that is some vaulted card's: the store checks as it inserts.
            let number_fingerprint = self.fingerprint(number.expose_digit_bytes());
            let id = request.id.clone().unwrap_or_else(TokenId::random);
            let record = TokenRecord {
                sealed_pan: self.seal(&id, &request.pan, request.expiry)?,
                id,
                number,
                status: TokenStatus::Active,
                domain: domain.clone(),
                fingerprint,
                par,
                pan_last4: Last4::of(request.pan.last4()).unwrap_or_default(),
                luk,
                replay: Default::default(),
                created_at: now,
                updated_at: now,
                version: 0,
            };
            // What the answer needs, then the record itself moves into the store.
            let mut token = info(&record);
            match self.store.provision(record, &number_fingerprint) {
                Ok(Admission::Added(par)) => token.par = par,
                Ok(Admission::OnDevice) => return Err(TokenError::AlreadyProvisioned),
                // Another node drew the same number, or it is a card's.
                Err(StoreError::Duplicate) => continue,
                Err(e) => return Err(e.into()),
            }
            let grant = self.grant(&token.id, luk);
            let device_card = DeviceCard::new(request.device, token.number.clone(), grant);
            return Ok(Provisioned { token, device_card });
        }
        Err(TokenError::NumberSpaceExhausted)
    }

    /// Provisions the card behind an active token on another device (the same card added to
    /// a second phone): the card number goes from the vault to the new token's vault record
    /// without leaving this service.
    ///
    /// # Errors
    ///
    /// [`TokenError::NotFound`], [`TokenError::NotActive`] for a token that is not active, and
    /// the errors of [`Self::provision`].
    pub fn provision_sibling(
        &self,
        of: &TokenId,
        device: DeviceId,
        id: Option<TokenId>,
    ) -> Result<Provisioned, TokenError> {
        let record = self.store.get(of)?.ok_or(TokenError::NotFound)?;
        if record.status != TokenStatus::Active {
            return Err(TokenError::NotActive);
        }
        let funding = self.open(&record)?;
        let mut request = ProvisionRequest::new(funding.pan, device);
        request.expiry = funding.expiry;
        request.channels = record.domain.channels;
        request.id = id;
        self.provision(request)
    }

    /// The token with this id.
    ///
    /// # Errors
    ///
    /// [`TokenError::NotFound`], or a store error.
    pub fn token(&self, id: &TokenId) -> Result<TokenInfo, TokenError> {
        self.store.get(id)?.map(|r| info(&r)).ok_or(TokenError::NotFound)
    }

    /// Every live or suspended token of this card, found by fingerprint without decrypting
    /// (a deleted token no longer knows its card).
    ///
    /// # Errors
    ///
    /// A store error.
    pub fn tokens_of_card(&self, pan: &Pan) -> Result<Vec<TokenInfo>, TokenError> {
        let fingerprint = self.fingerprint(pan.expose_digit_bytes());
        Ok(self.store.by_fingerprint(&fingerprint)?.iter().map(info).collect())
    }

    /// Every live or suspended token on this device (deleted ones are forgotten).
    ///
    /// # Errors
    ///
    /// A store error.
    pub fn tokens_of_device(&self, device: &DeviceId) -> Result<Vec<TokenInfo>, TokenError> {
        Ok(self.store.by_device(device)?.iter().map(info).collect())
    }

    /// Applies a lifecycle event to one token.
    ///
    /// # Errors
    ///
    /// [`TokenError::Lifecycle`] for an illegal transition, [`TokenError::NotFound`], or a
    /// store error.
    pub fn apply(&self, id: &TokenId, event: TokenEvent) -> Result<TokenInfo, TokenError> {
        let now = self.clock.now();
        self.update(id, |record| {
            record.status = transition(record.status, event)?;
            record.updated_at = now;
            if record.status == TokenStatus::Deleted {
                shred(record);
            }
            Ok(())
        })
        .map(|r| info(&r))
    }

    /// Applies a lifecycle event to every live token on a device (a lost phone).
    ///
    /// # Errors
    ///
    /// A store error; illegal transitions are reported per token in the outcome.
    pub fn apply_to_device(
        &self,
        device: &DeviceId,
        event: TokenEvent,
    ) -> Result<BulkOutcome, TokenError> {
        let records = self.store.by_device(device)?;
        self.apply_all(&records, event)
    }

    /// Applies a lifecycle event to every live token of a card (a lost card).
    ///
    /// # Errors
    ///
    /// A store error; illegal transitions are reported per token in the outcome.
    pub fn apply_to_card(&self, pan: &Pan, event: TokenEvent) -> Result<BulkOutcome, TokenError> {
        let records = self.store.by_fingerprint(&self.fingerprint(pan.expose_digit_bytes()))?;
        self.apply_all(&records, event)
    }

    fn apply_all(
        &self,
        records: &[TokenRecord],
        event: TokenEvent,
    ) -> Result<BulkOutcome, TokenError> {
        let mut outcome = BulkOutcome::default();
        for record in records.iter().filter(|r| r.status != TokenStatus::Deleted) {
            match self.apply(&record.id, event) {
                Ok(_) => outcome.changed.push(record.id.clone()),
                Err(TokenError::Lifecycle(LifecycleError::Deleted)) => {}
                Err(TokenError::Lifecycle(e)) => outcome.unchanged.push((record.id.clone(), e)),
                Err(e) => return Err(e),
            }
        }
        Ok(outcome)
    }

    /// A card was reissued (new number or expiry): every live token of `old` now stands for
    /// `new`. Token ids, numbers, PAR and keys stay; the vault record and fingerprint change.
    ///
    /// # Errors
    ///
    /// A key or store error.
    pub fn update_card(
        &self,
        old: &Pan,
        new: &Pan,
        expiry: Option<CardExpiry>,
    ) -> Result<Vec<TokenId>, TokenError> {
        let now = self.clock.now();
        let fingerprint = self.fingerprint(new.expose_digit_bytes());
        let mut updated = Vec::new();
        for record in self.store.by_fingerprint(&self.fingerprint(old.expose_digit_bytes()))? {
            if record.status == TokenStatus::Deleted {
                continue;
            }
            self.update(&record.id, |r| {
                r.sealed_pan = self.seal(&r.id, new, expiry)?;
                r.fingerprint = fingerprint;
                r.pan_last4 = Last4::of(new.last4()).unwrap_or_default();
                r.updated_at = now;
                Ok(())
            })?;
            updated.push(record.id);
        }
        Ok(updated)
    }

    /// Issues the next limited-use key, for an active token whose device reports the same
    /// key sequence and transaction count as the cloud.
    ///
    /// # Errors
    ///
    /// [`TokenError::ReplenishInvalid`] (a MAC the device's key did not make; five in a row
    /// lock replenishment: [`TokenError::ReplenishLocked`]), [`TokenError::NotActive`],
    /// [`TokenError::WrongDevice`], [`TokenError::ReplenishMismatch`] (a count below the
    /// cloud's, or more than 5 above), or a store error.
    pub fn replenish(&self, request: &ReplenishRequest) -> Result<LukGrant, TokenError> {
        use subtle::ConstantTimeEq;
        let now = self.clock.now();
        let record = self.store.get(&request.token)?.ok_or(TokenError::ReplenishInvalid)?;
        if record.luk.replenish_failures >= MAX_REPLENISH_FAILURES {
            return Err(TokenError::ReplenishLocked);
        }
        // The MAC first, under the key the cloud has in force: nothing else is checked, and
        // nothing learned, for a request the device's key did not make.
        let luk = self.luk_master.derive(&record.id, record.luk.key_seq);
        let expected = luk::replenish_mac(
            &luk,
            &request.token,
            &request.device,
            request.key_seq,
            request.transactions_under_key,
            &request.nonce,
        );
        let genuine =
            request.key_seq == record.luk.key_seq && bool::from(expected.ct_eq(&request.mac));
        if !genuine {
            self.update(&record.id, |r| {
                r.luk.replenish_failures = r.luk.replenish_failures.saturating_add(1);
                Ok(())
            })?;
            return Err(TokenError::ReplenishInvalid);
        }
        let record = self.update(&request.token, |r| {
            if r.status != TokenStatus::Active {
                return Err(TokenError::NotActive);
            }
            if r.domain.device != request.device {
                return Err(TokenError::WrongDevice);
            }
            if r.luk.key_seq != request.key_seq {
                return Err(TokenError::ReplenishMismatch);
            }
            // The device may have made cryptograms the cloud never saw (made, not presented):
            // a count up to MAX_UNPRESENTED above the cloud's resynchronizes; below it, never.
            let gap = request
                .transactions_under_key
                .checked_sub(r.luk.used_count)
                .filter(|gap| *gap <= MAX_UNPRESENTED)
                .ok_or(TokenError::ReplenishMismatch)?;
            let next = r.luk.key_seq.checked_add(1).ok_or(TokenError::CounterExhausted)?;
            r.luk = LukState::new(next, now);
            r.luk.unpresented = gap;
            r.updated_at = now;
            Ok(())
        })?;
        Ok(self.grant(&record.id, record.luk))
    }

    /// Verifies a cryptogram presented from `device`: status, domain, freshness, key limits,
    /// the MAC (in constant time) and the ATC replay window. On success the key's use is
    /// counted and the ATC marked, in one compare-and-set.
    ///
    /// # Errors
    ///
    /// [`TokenError::CryptogramInvalid`] for every refusal, its reason in
    /// [`TokenError::rejection`]; [`TokenError::Contention`] or a store error.
    pub fn verify(
        &self,
        device: &DeviceId,
        cryptogram: &Cryptogram,
    ) -> Result<VerifiedCryptogram, TokenError> {
        let now = self.clock.now();
        // Checked and spent in one step of the store: of two nodes presenting one ATC, one
        // spends it and the other sees it spent.
        let mut verdict = Err(Rejection::UnknownToken);
        let token = self
            .store
            .spend_by_number_keyed(&cryptogram.token_number, &mut |record, prepared| {
                verdict = self.check(record, prepared, device, cryptogram, now);
                verdict.ok()
            })
            .map_err(|e| match e {
                StoreError::Conflict => TokenError::Contention,
                e => e.into(),
            })?
            .ok_or(TokenError::CryptogramInvalid(Rejection::UnknownToken))?;
        verdict.map_err(TokenError::CryptogramInvalid)?;
        Ok(VerifiedCryptogram {
            token,
            device: device.clone(),
            amount: cryptogram.data.amount,
            merchant: cryptogram.data.merchant.clone(),
            channel: cryptogram.data.channel,
            atc: cryptogram.atc,
            cvm: cryptogram.data.cvm,
            number: Some(cryptogram.token_number.clone()),
        })
    }

    /// The card behind a verified cryptogram, for the issuer's authorization. The proof is
    /// spent: one verified payment opens the vault once.
    ///
    /// ```compile_fail
    /// # fn twice(tokens: &cloudcard_token::TokenService, v: cloudcard_token::VerifiedCryptogram) {
    /// let _ = tokens.detokenize(v);
    /// let _ = tokens.detokenize(v); // the proof was spent
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`TokenError::NotActive`] if the token was suspended since, a vault error (unknown or
    /// retired key, altered record), or a store error.
    pub fn detokenize(&self, verified: VerifiedCryptogram) -> Result<FundingCard, TokenError> {
        let mut opened = Err(TokenError::NotFound);
        let mut read = |status: TokenStatus, sealed: &Sealed| {
            opened = if status == TokenStatus::Active {
                self.open_sealed(&verified.token, sealed)
            } else {
                Err(TokenError::NotActive)
            };
        };
        match &verified.number {
            Some(number) => self.store.view_sealed(&verified.token, number, &mut read)?,
            None => self.store.view(&verified.token, &mut |r| read(r.status, &r.sealed_pan))?,
        };
        opened
    }

    /// Keeps a verified cryptogram while its payment waits for a step-up (a stored challenge),
    /// under a MAC of this service's keys.
    #[must_use]
    pub fn hold(&self, verified: &VerifiedCryptogram) -> HeldCryptogram {
        let mut held = HeldCryptogram {
            token: verified.token.clone(),
            device: verified.device.clone(),
            amount: verified.amount,
            merchant: verified.merchant.clone(),
            channel: verified.channel,
            atc: verified.atc,
            cvm: verified.cvm,
            tag: [0; 32],
        };
        held.tag = self.held_tag(&held);
        held
    }

    /// The proof back from a held cryptogram, if its MAC verifies (in constant time).
    ///
    /// # Errors
    ///
    /// [`TokenError::CryptogramInvalid`] for a held cryptogram this service did not make.
    pub fn resume(&self, held: &HeldCryptogram) -> Result<VerifiedCryptogram, TokenError> {
        use subtle::ConstantTimeEq;
        if !bool::from(self.held_tag(held).ct_eq(&held.tag)) {
            return Err(TokenError::CryptogramInvalid(Rejection::BadMac));
        }
        Ok(VerifiedCryptogram {
            token: held.token.clone(),
            device: held.device.clone(),
            amount: held.amount,
            merchant: held.merchant.clone(),
            channel: held.channel,
            atc: held.atc,
            cvm: held.cvm,
            number: None,
        })
    }

    fn held_tag(&self, held: &HeldCryptogram) -> [u8; 32] {
        let part = |s: &str| u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes();
        self.luk_master.key().mac(&[
            b"cloudcard/held-cryptogram/v1",
            &part(held.token.as_str()),
            held.token.as_bytes(),
            &part(held.device.as_str()),
            held.device.as_bytes(),
            &held.amount.fen().to_be_bytes(),
            &part(held.merchant.as_str()),
            held.merchant.as_bytes(),
            &[held.channel.code()],
            &held.atc.to_be_bytes(),
            &[held.cvm.code()],
        ])
    }

    /// Adds a data key version and makes it current: new records are sealed under it.
    ///
    /// # Errors
    ///
    /// [`TokenError::KeyVersion`] unless `version` is above every version held.
    pub fn add_data_key(&self, version: KeyVersion, key: &KeyBytes) -> Result<(), TokenError> {
        self.data_keys.try_change(|ring| ring.add(version, key))
    }

    /// Retires a data key version: records still under it fail closed.
    ///
    /// # Errors
    ///
    /// [`TokenError::KeyVersion`] for the current or an unknown version.
    pub fn retire_data_key(&self, version: KeyVersion) -> Result<(), TokenError> {
        self.data_keys.try_change(|ring| ring.retire(version))
    }

    /// Re-encrypts every vault record not under the current data key.
    ///
    /// # Errors
    ///
    /// A store error; records that cannot be opened are counted, not fatal.
    pub fn rewrap(&self) -> Result<RewrapReport, TokenError> {
        let mut report = RewrapReport::default();
        for id in self.store.ids()? {
            let current = self.keys().current();
            let result = self.update(&id, |r| {
                if r.sealed_pan.key_version == current {
                    return Err(TokenError::KeyVersion);
                }
                let plain = self.keys().open(r.id.as_bytes(), &r.sealed_pan)?;
                r.sealed_pan = self.keys().seal(r.id.as_bytes(), &plain)?;
                Ok(())
            });
            match result {
                Ok(_) => report.rewrapped += 1,
                Err(TokenError::KeyVersion) => report.current += 1,
                Err(TokenError::UnknownKey | TokenError::RetiredKey | TokenError::Crypto) => {
                    report.failed += 1
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// Reads a record, changes it with `change`, and writes it back with a compare-and-set,
    /// rereading on conflict.
    fn update(
        &self,
        id: &TokenId,
        mut change: impl FnMut(&mut TokenRecord) -> Result<(), TokenError>,
    ) -> Result<TokenRecord, TokenError> {
        for _ in 0..ATTEMPTS {
            let mut record = self.store.get(id)?.ok_or(TokenError::NotFound)?;
            let expected = record.version;
            change(&mut record)?;
            record.version = expected.checked_add(1).ok_or(TokenError::Contention)?;
            match self.store.compare_and_set(expected, record.clone()) {
                Ok(()) => return Ok(record),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(TokenError::Contention)
    }

    /// Every check of [`Self::verify`]; what the cryptogram spends if all pass.
    fn check(
        &self,
        record: SpendCheck<'_>,
        prepared: &mut PreparedLuk,
        device: &DeviceId,
        c: &Cryptogram,
        now: DateTime<Utc>,
    ) -> Result<Spend, Rejection> {
        // The MAC first, under the key the cryptogram names: a forged cryptogram is refused as
        // "bad MAC" whatever else is wrong with it, and learns nothing from the refusal. The
        // key is kept prepared for the next cryptogram if it is the one in force.
        let in_force = c.key_seq == record.luk.key_seq;
        let mac_ok = prepared
            .with(&self.luk_master, record.id, c.key_seq, in_force, |luk| mac_matches(luk, c));
        if !mac_ok {
            return Err(Rejection::BadMac);
        }
        let policy = &self.config.luk_policy;
        let amount = c.data.amount;
        if record.status != TokenStatus::Active {
            return Err(Rejection::NotActive);
        }
        if record.device != device {
            return Err(Rejection::WrongDevice);
        }
        if !record.channels.contains(c.data.channel) {
            return Err(Rejection::ChannelNotAllowed);
        }
        if record.merchant.is_some_and(|m| *m != c.data.merchant) {
            return Err(Rejection::WrongMerchant);
        }
        if record.max_amount.is_some_and(|max| amount > max) {
            return Err(Rejection::OverMaxAmount);
        }
        if record.expires_at.is_some_and(|at| now >= at) {
            return Err(Rejection::TokenExpired);
        }
        if (now - c.data.timestamp).abs() > self.config.max_cryptogram_age {
            return Err(Rejection::Stale);
        }
        if c.key_seq != record.luk.key_seq {
            return Err(Rejection::WrongKeySequence);
        }
        if record.luk.used_count >= policy.max_transactions {
            return Err(Rejection::LukCountExhausted);
        }
        let used_amount = record.luk.used_amount.checked_add(amount);
        if used_amount.is_none_or(|total| total > policy.max_amount) {
            return Err(Rejection::LukAmountExhausted);
        }
        if record.luk.issued_at.checked_add_signed(policy.ttl).is_none_or(|end| now >= end) {
            return Err(Rejection::LukExpired);
        }
        let mut replay = record.replay;
        replay.accept(c.atc)?;
        Ok(Spend {
            replay,
            used_count: record.luk.used_count.saturating_add(1),
            used_amount: used_amount.unwrap_or(Amount::MAX),
            at: now,
        })
    }

    fn grant(&self, token: &TokenId, state: LukState) -> LukGrant {
        let policy = self.config.luk_policy;
        LukGrant {
            token: token.clone(),
            key_seq: state.key_seq,
            luk: self.luk_master.derive(token, state.key_seq),
            policy,
            expires_at: state.issued_at.checked_add_signed(policy.ttl).unwrap_or(state.issued_at),
        }
    }

    fn keys(&self) -> Loaded<KeyRing> {
        self.data_keys.load()
    }

    fn seal(
        &self,
        id: &TokenId,
        pan: &Pan,
        expiry: Option<CardExpiry>,
    ) -> Result<Sealed, TokenError> {
        // The digits, then `|` and the expiry (`MM/YY`): at most 25 bytes, kept off the heap.
        let mut plain = Zeroizing::new([0u8; 32]);
        let mut rest = plain.as_mut_slice();
        let written = match expiry {
            Some(expiry) => write!(rest, "{}|{expiry}", pan.expose_digits()),
            None => rest.write_all(pan.expose_digit_bytes()),
        };
        let left = written.ok().map(|()| rest.len()).ok_or(TokenError::Crypto)?;
        let len = plain.len().checked_sub(left).ok_or(TokenError::Crypto)?;
        self.keys().seal(id.as_bytes(), plain.get(..len).ok_or(TokenError::Crypto)?)
    }

    fn open(&self, record: &TokenRecord) -> Result<FundingCard, TokenError> {
        self.open_sealed(&record.id, &record.sealed_pan)
    }

    /// The card sealed for the token `id`.
    fn open_sealed(&self, id: &TokenId, sealed: &Sealed) -> Result<FundingCard, TokenError> {
        self.keys().open_with(id.as_bytes(), sealed, |plain| {
            let text = core::str::from_utf8(plain).map_err(|_| TokenError::Crypto)?;
            let (digits, expiry) = match text.split_once('|') {
                Some((digits, expiry)) => {
                    (digits, Some(CardExpiry::parse(expiry).map_err(|_| TokenError::Crypto)?))
                }
                None => (text, None),
            };
            let pan = Pan::parse(digits).map_err(|_| TokenError::Crypto)?;
            Ok(FundingCard { pan, expiry })
        })?
    }

    fn fingerprint(&self, digits: &[u8]) -> Fingerprint {
        Fingerprint(self.fingerprint_key.mac(&[b"cloudcard/pan-fingerprint/v1", digits]))
    }

    fn par(&self, digits: &[u8]) -> Par {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mac = self.par_key.mac(&[b"cloudcard/par/v1", digits]);
        let mut par = [b'A'; Par::LEN];
        if let Some(head) = par.get_mut(..4) {
            head.copy_from_slice(b"CC01");
        }
        // 25 base-32 characters: the first 125 bits of the MAC, 5 bits each.
        let mut out = par.iter_mut().skip(4);
        let mut acc = 0u32;
        let mut bits = 0;
        for &byte in &mac {
            acc = (acc << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                let index = ((acc >> bits) & 31) as usize;
                if let (Some(slot), Some(&c)) = (out.next(), ALPHABET.get(index)) {
                    *slot = c;
                }
            }
            acc &= (1 << bits) - 1;
        }
        Par::of_alphabet(par)
    }
}

fn info(record: &TokenRecord) -> TokenInfo {
    TokenInfo {
        id: record.id.clone(),
        number: record.number.clone(),
        status: record.status,
        domain: record.domain.clone(),
        par: record.par,
        pan_last4: record.pan_last4,
        key_seq: record.luk.key_seq,
        created_at: record.created_at,
    }
}

/// Crypto-shredding at deletion: the sealed card number and the fingerprint are destroyed, so
/// nothing left in the record leads back to the card. The number stays reserved.
fn shred(record: &mut TokenRecord) {
    record.sealed_pan.ciphertext.clear();
    record.sealed_pan.nonce = [0; 12];
    record.fingerprint = Fingerprint([0; 32]);
    record.pan_last4 = Last4::default();
}

#[cfg(test)]
mod tests;

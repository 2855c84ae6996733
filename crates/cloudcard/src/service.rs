//! The [`CloudCard`] service: the flows that join wallet, tokens, risk and the card lookup.

use std::cell::RefCell;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use cloudcard_core::{
    BindingId, CardId, ChallengeId, Clock, DeviceId, MerchantId, PersonName, PhoneNumber,
    ResidentId, SharedClock, TokenId, TransactionId, UserId,
};
use cloudcard_report::{Dispatcher, LookupService, LookupStore};
use cloudcard_risk::{
    Authentication, ChallengeMethod, DecisionBuf, Outcome, ProvisioningRequest, RiskEngine,
    Transaction,
};
use cloudcard_token::{Cryptogram, ProvisionRequest, TokenService, TokenStore, VerifiedCryptogram};
use cloudcard_wallet::{BindRequest, OtpPurpose, PendingView, SmsGateway, Wallet, WalletStore};

use crate::Error;
use crate::model::{
    BoundCard, DeclineReason, HeldPayment, OUTCOME_RETENTION, PaymentOutcome, PaymentRequest,
    REVIEW_TTL, ReviewDecision, StepUp,
};
use crate::ports::{AuthorizationRequest, IssuerAuthorizer, IssuerDecision};
use crate::state::{Answer, FacadeState, Flow, PendingPayment, PendingReview};

/// How long a payment challenge waits for its answer.
const CHALLENGE_TTL: TimeDelta = TimeDelta::minutes(5);

/// cloudcard: one service for the wallet app's back end. Every method takes `&self`.
pub struct CloudCard {
    pub(crate) clock: SharedClock,
    pub(crate) wallet: Arc<Wallet<Arc<dyn WalletStore>>>,
    pub(crate) tokens: TokenService<Arc<dyn TokenStore>>,
    pub(crate) risk: RiskEngine,
    pub(crate) lookup: LookupService<Arc<dyn LookupStore>>,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) issuer: Arc<dyn IssuerAuthorizer>,
    pub(crate) sms: Arc<dyn SmsGateway>,
    pub(crate) state: FacadeState,
}

impl std::fmt::Debug for CloudCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudCard").finish_non_exhaustive()
    }
}

impl CloudCard {
    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Registers a user by mobile and verifies their real name (name + resident ID).
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`]: the mobile is taken, or the identity authority does not confirm.
    pub fn register_user(
        &self,
        mobile: PhoneNumber,
        name: PersonName,
        id: ResidentId,
    ) -> Result<UserId, Error> {
        let user = self.wallet.create_user(mobile)?;
        self.wallet.verify_real_name(&user, name, id)?;
        Ok(user)
    }

    /// Removes a phone: its cloud cards are deleted first, then the device itself, so no token
    /// outlives the phone it lived on.
    ///
    /// # Errors
    ///
    /// [`Error::DeviceNotFound`], [`Error::Token`], [`Error::Store`].
    pub fn remove_device(&self, user: &UserId, device: &DeviceId) -> Result<Vec<TokenId>, Error> {
        self.device_registered_at(user, device)?;
        let deleted = self
            .tokens
            .apply_to_device(
                device,
                cloudcard_token::TokenEvent::Delete(cloudcard_token::Actor::User),
            )?
            .changed;
        for token in &deleted {
            if let Some(crate::state::Link { card, .. }) = self.state.card_of(token)? {
                self.state.unlink_token(&card, token)?;
            }
        }
        self.wallet.remove_device(user, device)?;
        Ok(deleted)
    }

    /// Registers a phone to a user.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`].
    pub fn register_device(&self, user: &UserId, label: &str) -> Result<DeviceId, Error> {
        Ok(self.wallet.register_device(user, label)?)
    }

    /// Starts binding a card for a phone: provisioning risk (device age, binding attempts, cards
    /// on the device, a card reported lost), then the bank's four-element check, which sends a
    /// code to the reserved mobile. A challenge from risk is met by that code.
    ///
    /// # Errors
    ///
    /// [`Error::BindingRefused`] (decline or review), [`Error::DeviceNotFound`],
    /// [`Error::Wallet`].
    pub fn bind_card(
        &self,
        user: &UserId,
        device: &DeviceId,
        request: BindRequest,
    ) -> Result<PendingView, Error> {
        let registered = self.device_registered_at(user, device)?;
        let probe = risk_card_key(&self.wallet.fingerprint(&request.pan))?;
        let cards_on_device = self
            .tokens
            .tokens_of_device(device)?
            .iter()
            .filter(|t| t.status != cloudcard_token::TokenStatus::Deleted)
            .count();
        let assessment = ProvisioningRequest {
            user: user.clone(),
            device: device.clone(),
            card: probe,
            cards_on_device: u32::try_from(cards_on_device).unwrap_or(u32::MAX),
            device_registered_at: Some(registered),
            at: self.clock.now(),
        };
        let decision =
            self.with_decision_buf(|buf| self.risk.assess_provisioning(&assessment, buf));
        if matches!(decision.outcome, Outcome::Review | Outcome::Decline) {
            return Err(Error::BindingRefused(decision.outcome));
        }
        Ok(self.wallet.begin_binding_on(user, Some(device), request)?)
    }

    /// Confirms a binding with the bank's code and provisions a cloud card for the phone.
    ///
    /// The steps are ordered so that a crash anywhere leaves nothing half-bound: the flow is
    /// journaled, the token is provisioned and linked, and the wallet card is added last; if
    /// adding it fails (a concurrent binding of the same card, a full wallet) the token is
    /// deleted again, and [`Self::run_due`] does the same for a flow a crash interrupted.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`], [`Error::Token`], [`Error::DeviceNotFound`], [`Error::Store`].
    pub fn confirm_card(
        &self,
        user: &UserId,
        device: &DeviceId,
        binding: &BindingId,
        code: &str,
    ) -> Result<BoundCard, Error> {
        let registered_at = self.device_registered_at(user, device)?;
        // A cloud card goes only to the phone the binding was started on, never to a lost one.
        if self.risk.is_device_lost(device)? {
            return Err(Error::DeviceLost);
        }
        let confirmed = self.wallet.take_confirmed_binding(user, Some(device), binding, code)?;
        let token_id = TokenId::random();
        let flow = Flow::Bind {
            user: user.clone(),
            card: confirmed.card.id.clone(),
            token: token_id.clone(),
            device_registered_at: Some(registered_at),
        };
        self.state.begin(&flow, self.clock.now())?;
        let mut request = ProvisionRequest::new(confirmed.pan.clone(), device.clone());
        request.expiry = confirmed.expiry;
        request.id = Some(token_id.clone());
        let result = self
            .tokens
            .provision(request)
            .map_err(Error::from)
            .and_then(|provisioned| {
                self.state.link(user, &confirmed.card.id, &token_id, Some(registered_at))?;
                Ok(provisioned)
            })
            .and_then(|provisioned| Ok((self.wallet.add_card(&confirmed.card)?, provisioned)));
        match result {
            Ok((card, provisioned)) => {
                self.state.end(&flow)?;
                Ok(BoundCard {
                    card,
                    token: provisioned.token,
                    device_card: provisioned.device_card,
                })
            }
            Err(e) => {
                // Undo what the flow did; if undoing fails too, recovery finishes it.
                if self.recover_flow(&flow).is_ok() {
                    self.state.end(&flow)?;
                }
                Err(e)
            }
        }
    }

    /// Pays: verifies the phone's cryptogram, asks risk, and on approval detokenizes and asks
    /// the issuer; the result is recorded for velocity and loss protection. A challenge is
    /// answered with [`Self::step_up`].
    ///
    /// A genuine cryptogram for a cloud card that is not active (its phone reported lost, the
    /// issuer's suspension, a deleted card) is a decline with its reason, not an error: the
    /// phone proved itself, and the terminal shows the cardholder why.
    ///
    /// # Errors
    ///
    /// [`Error::Token`] ("cryptogram invalid": forged, replayed, stale), [`Error::CardNotFound`],
    /// a port error.
    pub fn pay(&self, request: &PaymentRequest) -> Result<PaymentOutcome, Error> {
        let id = transaction_id(&request.cryptogram.data.merchant, &request.transaction);
        let verified = match self.tokens.verify(&request.device, &request.cryptogram) {
            Ok(verified) => verified,
            Err(e) => {
                // The same request again (its counter is spent): the first answer, if it is
                // the same cryptogram, byte for byte.
                if let Some(answer) = self.answered_before(&id, request) {
                    return answer;
                }
                // The MAC is checked before the status: a cloud card that is not active was
                // presented by its own phone.
                if e.rejection() == Some(cloudcard_token::Rejection::NotActive) {
                    let reason = if self.risk.is_device_lost(&request.device)? {
                        DeclineReason::Risk(cloudcard_risk::Reason::LostDevice)
                    } else {
                        DeclineReason::CardInactive
                    };
                    return Ok(PaymentOutcome::Declined { transaction: id, reason });
                }
                return Err(e.into());
            }
        };
        // A terminal's id names one payment: another payment under it would count nowhere.
        let crate::state::FirstReads::Unanswered(link) =
            self.state.payment_records(&id, verified.token())?
        else {
            return Err(Error::DuplicateTransaction);
        };
        let link = link.ok_or(Error::CardNotFound)?;
        let now = self.clock.now();
        let until = now.checked_add_signed(OUTCOME_RETENTION).unwrap_or(now);
        let answer = Answer::First { request_digest: request_digest(request), until };
        let outcome = self.decide_payment(verified, link, request, id.clone(), answer)?;
        let from_issuer = matches!(
            outcome,
            PaymentOutcome::Approved { .. }
                | PaymentOutcome::Declined { reason: DeclineReason::Issuer(_), .. }
        );
        if !from_issuer {
            // An answer from the issuer was kept before the payment's journal entry closed.
            self.state.keep_outcome(&id, answer, &outcome, false)?;
        }
        Ok(outcome)
    }

    /// The kept answer to `request`, if this very request was answered before.
    fn answered_before(
        &self,
        id: &TransactionId,
        request: &PaymentRequest,
    ) -> Option<Result<PaymentOutcome, Error>> {
        use subtle::ConstantTimeEq;
        match self.state.outcome(id) {
            Ok(Some((digest, outcome))) => {
                bool::from(digest.ct_eq(&request_digest(request))).then_some(Ok(outcome))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e.into())),
        }
    }

    fn decide_payment(
        &self,
        verified: VerifiedCryptogram,
        link: crate::state::Link,
        request: &PaymentRequest,
        id: TransactionId,
        answer: Answer,
    ) -> Result<PaymentOutcome, Error> {
        let (user, card) = (link.user, link.card);
        if user != request.user {
            return Err(Error::CardNotFound);
        }
        let device_registered_at = match link.device_registered_at {
            Some(at) => Some(at),
            None => self.device_registered_at(&user, &request.device).ok(),
        };
        let txn = Transaction {
            id,
            card,
            token: Some(verified.token().clone()),
            device: Some(request.device.clone()),
            user: user.clone(),
            amount: verified.amount(),
            merchant: verified.merchant().clone(),
            mcc: request.mcc,
            channel: verified.channel(),
            at: self.clock.now(),
            // How the holder was verified comes from the MAC-covered data, not the request.
            auth: authentication_of(verified.cvm()),
            device_registered_at,
        };
        let decision = self.with_decision_buf(|buf| self.risk.decide(&txn, buf));
        match decision.outcome {
            Outcome::Approve => self.authorize(verified, txn, answer),
            Outcome::Challenge(method) => {
                let challenge = ChallengeId::random();
                if method == ChallengeMethod::Otp {
                    // The code is bound to this challenge: it approves this payment only.
                    self.wallet.send_otp_for(&user, OtpPurpose::Payment, challenge.as_str())?;
                }
                let transaction = txn.id.clone();
                let expires_at = txn.at.checked_add_signed(CHALLENGE_TTL).unwrap_or(txn.at);
                let held = self.tokens.hold(&verified);
                self.state.put_challenge(
                    &challenge,
                    &PendingPayment { user, held, txn, method, expires_at },
                )?;
                Ok(PaymentOutcome::ChallengeRequired { transaction, challenge, method })
            }
            Outcome::Review => {
                // Counted once decided (or lapsed), as approved or not.
                let transaction = txn.id.clone();
                let review_by = txn.at.checked_add_signed(REVIEW_TTL).unwrap_or(txn.at);
                let held = self.tokens.hold(&verified);
                self.state.put_review(&PendingReview { held, txn, expires_at: review_by })?;
                Ok(PaymentOutcome::HeldForReview { transaction, review_by })
            }
            Outcome::Decline => {
                self.risk.record(&txn, false)?;
                Ok(PaymentOutcome::Declined {
                    transaction: txn.id,
                    reason: DeclineReason::Risk(decision.reason),
                })
            }
        }
    }

    /// Answers a payment challenge; on success the payment goes to the issuer, recorded as
    /// authenticated by that method. A wrong code or password leaves the challenge open.
    ///
    /// # Errors
    ///
    /// [`Error::ChallengeNotFound`], [`Error::WrongChallengeAnswer`],
    /// [`Error::FingerprintFailed`], [`Error::Wallet`] (wrong code or password).
    pub fn step_up(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        answer: StepUp,
    ) -> Result<PaymentOutcome, Error> {
        let pending = self.state.take_challenge(challenge)?.ok_or(Error::ChallengeNotFound)?;
        if pending.user != *user {
            // Someone else's answer leaves the challenge as it was.
            self.state.restore_challenge(challenge, &pending)?;
            return Err(Error::ChallengeNotFound);
        }
        if self.clock.now() > pending.expires_at {
            return Err(Error::ChallengeNotFound);
        }
        let mut fresh = None;
        let checked = match (&answer, pending.method) {
            (StepUp::Fingerprint { cryptogram }, ChallengeMethod::Fingerprint) => {
                match self.fingerprint_for(&pending, cryptogram) {
                    Ok(verified) => {
                        fresh = Some(verified);
                        Ok(Authentication::Fingerprint)
                    }
                    Err(e) => Err(e),
                }
            }
            (StepUp::Otp { code }, ChallengeMethod::Otp) => self
                .wallet
                .verify_otp_for(user, OtpPurpose::Payment, challenge.as_str(), code.expose_secret())
                .map(|()| Authentication::Otp)
                .map_err(Error::from),
            (StepUp::PaymentPassword { password }, ChallengeMethod::PaymentPassword) => self
                .wallet
                .verify_payment_password(user, password)
                .map(|()| Authentication::PaymentPassword)
                .map_err(Error::from),
            _ => Err(Error::WrongChallengeAnswer),
        };
        match checked {
            Ok(auth) => {
                let verified = match fresh {
                    Some(verified) => verified,
                    None => self.tokens.resume(&pending.held)?,
                };
                let mut txn = pending.txn.clone();
                // The authentication on record is the strongest verified: a code never
                // replaces a fingerprint the cryptogram proved.
                if !txn.auth.proves_cardholder() {
                    txn.auth = auth;
                }
                // A terminal retrying the first request now hears how it ended.
                self.authorize(verified, txn, Answer::Later)
            }
            Err(e) => {
                self.state.restore_challenge(challenge, &pending)?;
                Err(e)
            }
        }
    }

    /// Payments held for review, the soonest to lapse first, at most `limit`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`].
    pub fn held_payments(&self, limit: usize) -> Result<Vec<HeldPayment>, Error> {
        Ok(self
            .state
            .reviews(limit)?
            .into_iter()
            .map(|r| HeldPayment {
                transaction: r.txn.id,
                user: r.txn.user,
                card: r.txn.card,
                amount: r.txn.amount,
                merchant: r.txn.merchant,
                at: r.txn.at,
                review_by: r.expires_at,
            })
            .collect())
    }

    /// An operator's decision on a payment held for review: approved, it goes to the issuer
    /// (whose answer is the outcome); declined, it is refused. Of two operators deciding at
    /// once, one decides.
    ///
    /// # Errors
    ///
    /// [`Error::ReviewNotFound`] if there is no such held payment (decided already, or lapsed).
    pub fn review_payment(
        &self,
        transaction: &TransactionId,
        decision: ReviewDecision,
    ) -> Result<PaymentOutcome, Error> {
        let review = self.state.take_review(transaction)?.ok_or(Error::ReviewNotFound)?;
        if self.clock.now() > review.expires_at {
            self.risk.record(&review.txn, false)?;
            return Err(Error::ReviewNotFound);
        }
        let id = review.txn.id.clone();
        match decision {
            ReviewDecision::Approve => {
                let verified = self.tokens.resume(&review.held)?;
                self.authorize(verified, review.txn, Answer::Later)
            }
            ReviewDecision::Decline => {
                self.risk.record(&review.txn, false)?;
                let outcome = PaymentOutcome::Declined {
                    transaction: review.txn.id,
                    reason: DeclineReason::Review,
                };
                self.state.keep_outcome(&id, Answer::Later, &outcome, false)?;
                Ok(outcome)
            }
        }
    }

    /// Declines the held payments whose review lapsed; how many.
    pub(crate) fn lapse_reviews(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let lapsed = self.state.take_lapsed_reviews(now, 1_000)?;
        for review in &lapsed {
            self.risk.record(&review.txn, false)?;
        }
        Ok(lapsed.len())
    }

    /// Checks a fingerprint step-up: a cryptogram for the same token, amount and merchant,
    /// with biometric verification under the MAC, verified like any payment.
    fn fingerprint_for(
        &self,
        pending: &PendingPayment,
        cryptogram: &Cryptogram,
    ) -> Result<VerifiedCryptogram, Error> {
        let held = self.tokens.resume(&pending.held)?;
        let verified = self.tokens.verify(held.device(), cryptogram)?;
        let same_payment = verified.token() == held.token()
            && verified.amount() == held.amount()
            && verified.merchant() == held.merchant();
        if !same_payment || verified.cvm() != cloudcard_token::Cvm::Biometric {
            return Err(Error::FingerprintFailed);
        }
        Ok(verified)
    }

    /// Sends a verified, risk-approved payment to the issuer. Its answer is kept for the
    /// terminal's retries before the payment's journal entry closes, so a payer who could ask
    /// again always hears the answer the issuer gave, and one who could not has it reversed.
    fn authorize(
        &self,
        verified: VerifiedCryptogram,
        txn: Transaction,
        answer: Answer,
    ) -> Result<PaymentOutcome, Error> {
        let funding = self.tokens.detokenize(verified)?;
        let request = AuthorizationRequest {
            transaction: txn.id.clone(),
            pan: funding.pan,
            expiry: funding.expiry,
            amount: txn.amount,
            merchant: MerchantId::clone(&txn.merchant),
        };
        // Journaled first: if the answer is never recorded, recovery reverses the payment.
        self.state.begin_pay(&txn, self.clock.now())?;
        let decision = self.issuer.authorize(&request)?;
        let approved = matches!(decision, IssuerDecision::Approved { .. });
        self.risk.record(&txn, approved)?;
        let id = txn.id.clone();
        let outcome = match decision {
            IssuerDecision::Approved { auth_code } => PaymentOutcome::Approved {
                transaction: txn.id,
                auth_code,
                card: txn.card,
                amount: txn.amount,
            },
            IssuerDecision::Declined { reason } => PaymentOutcome::Declined {
                transaction: txn.id,
                reason: DeclineReason::Issuer(reason),
            },
        };
        // The answer is kept and the journal entry closed in one write.
        self.state.keep_outcome(&id, answer, &outcome, true)?;
        Ok(outcome)
    }

    pub(crate) fn device_registered_at(
        &self,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<chrono::DateTime<chrono::Utc>, Error> {
        Ok(self.wallet.device(user, device)?.registered_at)
    }

    /// Runs `f` with this thread's decision buffer, grown to the rules in force, so a payment
    /// does not allocate one.
    fn with_decision_buf<T>(&self, f: impl FnOnce(&mut DecisionBuf) -> T) -> T {
        thread_local! {
            static BUF: RefCell<DecisionBuf> = RefCell::new(DecisionBuf::default());
        }
        BUF.with_borrow_mut(|buf| {
            self.risk.reserve(buf);
            f(buf)
        })
    }
}

/// The card's key in provisioning risk: derived from the wallet's keyed fingerprint of the card
/// number, so it is the same whichever wallet binding the card comes through.
pub(crate) fn risk_card_key(fingerprint: &[u8; 32]) -> Result<CardId, Error> {
    let mut key = String::from("pan-");
    cloudcard_core::store::push_hex(fingerprint.get(..12).unwrap_or_default(), &mut key);
    Ok(CardId::parse(&key)?)
}

/// The cardholder verification a cryptogram proves.
const fn authentication_of(cvm: cloudcard_token::Cvm) -> Authentication {
    match cvm {
        cloudcard_token::Cvm::Biometric => Authentication::Fingerprint,
        // A device passcode unlocks the phone; it does not prove the cardholder.
        cloudcard_token::Cvm::None | cloudcard_token::Cvm::DevicePasscode => Authentication::None,
    }
}

/// The service's id of a payment: the terminal's id made unique across merchants.
fn transaction_id(merchant: &MerchantId, terminal: &TransactionId) -> TransactionId {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"cloudcard/transaction/v1");
    h.update(u32::try_from(merchant.as_bytes().len()).unwrap_or(u32::MAX).to_be_bytes());
    h.update(merchant.as_bytes());
    h.update(terminal.as_bytes());
    // Shaped as every random transaction id is: the kind's prefix and 128 bits in hex.
    TransactionId::from_bits(crate::state::first_bits(h))
}

/// A digest of what makes a payment request this one: who, on which phone, and the cryptogram
/// (its MAC covers the payment data and counter).
fn request_digest(request: &PaymentRequest) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"cloudcard/payment-request/v1");
    // The ids' bytes are their text: read as bytes, nothing is validated again.
    for part in [
        request.user.as_bytes(),
        request.device.as_bytes(),
        request.cryptogram.token_number.expose_digit_bytes(),
    ] {
        h.update(u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        h.update(part);
    }
    h.update(request.cryptogram.atc.to_be_bytes());
    h.update(request.cryptogram.mac);
    h.finalize().into()
}

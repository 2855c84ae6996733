//! The [`CloudCard`] service: the flows that join wallet, tokens, risk and the card lookup.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::TimeDelta;
use cloudcard_core::{
    Amount, Bank, CardId, Clock, DeviceId, MerchantId, PersonName, PhoneNumber, QueryId, RequestId,
    ResidentId, SharedClock, TerminalId, TokenId, TransactionId, UserId,
};
use cloudcard_masking::Secret;
use cloudcard_report::{
    Applicant, Application, Authorization, Dispatcher, Evidence, LookupEvent, LookupService,
    LookupStore, Region, Report, RequestChannel,
};
use cloudcard_risk::{
    Assessment, Authentication, ChallengeMethod, Claim, Instrument, Mcc, Outcome,
    ProvisioningRequest, Reason, RiskEngine, Transaction,
};
use cloudcard_token::{
    Actor, Cryptogram, DeviceCard, ProvisionRequest, TokenEvent, TokenInfo, TokenService,
    TokenStore, VerifiedCryptogram,
};
use cloudcard_wallet::{
    BindRequest, CardView, FaceSample, InMemoryNotifier, InMemoryOutbox, OtpPurpose, PendingView,
    RemovedCard, Sms, SmsBody, SmsGateway, UnbindCase, UnbindChannel, UnbindEvidence, UnbindPrompt,
    UnbindReason, Wallet, WalletStore,
};
use serde::Serialize;

use crate::Error;
use crate::builder::CloudCardBuilder;
use crate::ports::{AuthorizationRequest, IssuerAuthorizer, IssuerDecision};

/// How long a payment challenge waits for its answer.
const CHALLENGE_TTL: TimeDelta = TimeDelta::minutes(5);

/// A card bound and tokenized for a device.
#[derive(Debug)]
pub struct BoundCard {
    /// The card as the wallet lists it.
    pub card: CardView,
    /// The cloud card's token.
    pub token: TokenInfo,
    /// What the phone keeps: token number, limited-use key, ATC. Never the card number.
    pub device_card: DeviceCard,
}

/// A payment presented by the phone.
#[derive(Debug, Clone)]
pub struct PaymentRequest {
    /// The paying user.
    pub user: UserId,
    /// The phone.
    pub device: DeviceId,
    /// The cryptogram the phone made.
    pub cryptogram: Cryptogram,
    /// The merchant's category.
    pub mcc: Mcc,
    /// How the user authenticated on the phone.
    pub auth: Authentication,
}

/// How a payment ended (or where it waits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum PaymentOutcome {
    /// Approved by risk and by the issuer.
    Approved {
        /// The transaction.
        transaction: TransactionId,
        /// The issuer's authorization code.
        auth_code: String,
        /// The card charged.
        card: CardId,
        /// The amount.
        amount: Amount,
    },
    /// Declined.
    Declined {
        /// The transaction.
        transaction: TransactionId,
        /// Why.
        reason: DeclineReason,
    },
    /// Risk asks the user to step up; answer with [`CloudCard::step_up`].
    ChallengeRequired {
        /// The transaction.
        transaction: TransactionId,
        /// The challenge to answer.
        challenge: String,
        /// How to answer it.
        method: ChallengeMethod,
    },
    /// Held for a person to review.
    HeldForReview {
        /// The transaction.
        transaction: TransactionId,
    },
}

/// Why a payment was declined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    /// Risk checks declined it.
    Risk(Reason),
    /// The issuer declined it.
    Issuer(String),
}

/// An answer to a payment challenge.
#[derive(Debug, Clone)]
pub enum StepUp {
    /// The phone's fingerprint check, as the phone reports it.
    Fingerprint {
        /// Whether it passed.
        passed: bool,
    },
    /// The SMS code sent for the challenge.
    Otp {
        /// The code.
        code: Secret<String>,
    },
    /// The payment password.
    PaymentPassword {
        /// The password.
        password: Secret<String>,
    },
}

/// What a loss report did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LossOutcome {
    /// Tokens cancelled (挂失、注销).
    pub cancelled_tokens: Vec<TokenId>,
    /// The verdict on each logged transaction of the lost instrument.
    pub assessments: Vec<Assessment>,
    /// The 72-hour protection claim, if any transaction is eligible.
    pub claim: Option<Claim>,
}

/// What unbinding a card removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnbindOutcome {
    /// The wallet's part.
    pub removed: RemovedCard,
    /// The card's tokens, deleted.
    pub deleted_tokens: Vec<TokenId>,
}

#[derive(Debug, Clone)]
struct PendingPayment {
    user: UserId,
    verified: VerifiedCryptogram,
    txn: Transaction,
    method: ChallengeMethod,
}

/// The joins between the domain crates that only the facade knows.
#[derive(Debug, Default)]
pub(crate) struct Links {
    card_tokens: HashMap<CardId, Vec<TokenId>>,
    token_card: HashMap<TokenId, (UserId, CardId)>,
    challenges: HashMap<String, PendingPayment>,
}

/// cloudcard: one service for the wallet app's back end. Every method takes `&self`.
pub struct CloudCard {
    pub(crate) clock: SharedClock,
    pub(crate) wallet: Wallet<Arc<dyn WalletStore>>,
    pub(crate) tokens: TokenService<Arc<dyn TokenStore>>,
    pub(crate) risk: RiskEngine,
    pub(crate) lookup: LookupService<Arc<dyn LookupStore>>,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) issuer: Arc<dyn IssuerAuthorizer>,
    pub(crate) sms: Arc<dyn SmsGateway>,
    pub(crate) outbox: Option<Arc<InMemoryOutbox>>,
    pub(crate) notifications: Option<Arc<InMemoryNotifier>>,
    pub(crate) links: RwLock<Links>,
}

impl std::fmt::Debug for CloudCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudCard").finish_non_exhaustive()
    }
}

impl CloudCard {
    /// Starts building a service.
    pub fn builder() -> CloudCardBuilder {
        CloudCardBuilder::default()
    }

    /// The wallet.
    #[must_use]
    pub const fn wallet(&self) -> &Wallet<Arc<dyn WalletStore>> {
        &self.wallet
    }

    /// The token service.
    #[must_use]
    pub const fn tokens(&self) -> &TokenService<Arc<dyn TokenStore>> {
        &self.tokens
    }

    /// The risk engine.
    #[must_use]
    pub const fn risk(&self) -> &RiskEngine {
        &self.risk
    }

    /// The card lookup.
    #[must_use]
    pub const fn lookup(&self) -> &LookupService<Arc<dyn LookupStore>> {
        &self.lookup
    }

    /// The in-memory SMS outbox, when the default one is in use.
    #[must_use]
    pub fn outbox(&self) -> Option<&InMemoryOutbox> {
        self.outbox.as_deref()
    }

    /// The in-memory notifier, when the default one is in use.
    #[must_use]
    pub fn notifications(&self) -> Option<&InMemoryNotifier> {
        self.notifications.as_deref()
    }

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
        let decision = self.risk.assess_provisioning(&assessment, &mut self.risk.buffer());
        if matches!(decision.outcome, Outcome::Review | Outcome::Decline) {
            return Err(Error::BindingRefused(decision.outcome));
        }
        Ok(self.wallet.begin_binding(user, request)?)
    }

    /// Confirms a binding with the bank's code and provisions a cloud card for the phone.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`], [`Error::Token`], [`Error::DeviceNotFound`].
    pub fn confirm_card(
        &self,
        user: &UserId,
        device: &DeviceId,
        binding: &str,
        code: &str,
    ) -> Result<BoundCard, Error> {
        self.device_registered_at(user, device)?;
        let bound = self.wallet.confirm_binding(user, binding, code)?;
        let mut request = ProvisionRequest::new(bound.pan.clone(), device.clone());
        request.expiry = bound.expiry;
        let provisioned = self.tokens.provision(request)?;
        let mut links = self.links();
        links
            .card_tokens
            .entry(bound.card.id.clone())
            .or_default()
            .push(provisioned.token.id.clone());
        links
            .token_card
            .insert(provisioned.token.id.clone(), (user.clone(), bound.card.id.clone()));
        Ok(BoundCard {
            card: bound.card,
            token: provisioned.token,
            device_card: provisioned.device_card,
        })
    }

    /// Pays: verifies the phone's cryptogram, asks risk, and on approval detokenizes and asks
    /// the issuer; the result is recorded for velocity and loss protection. A challenge is
    /// answered with [`Self::step_up`].
    ///
    /// # Errors
    ///
    /// [`Error::Token`] ("cryptogram invalid"), [`Error::CardNotFound`], a port error.
    pub fn pay(&self, request: &PaymentRequest) -> Result<PaymentOutcome, Error> {
        let verified = self.tokens.verify(&request.device, &request.cryptogram)?;
        let (user, card) = self
            .links_read()
            .token_card
            .get(verified.token())
            .cloned()
            .ok_or(Error::CardNotFound)?;
        if user != request.user {
            return Err(Error::CardNotFound);
        }
        let txn = Transaction {
            id: TransactionId::random(),
            card,
            token: Some(verified.token().clone()),
            device: Some(request.device.clone()),
            user: user.clone(),
            amount: verified.amount(),
            merchant: verified.merchant().clone(),
            mcc: request.mcc,
            channel: verified.channel(),
            at: self.clock.now(),
            auth: request.auth,
            device_registered_at: self.device_registered_at(&user, &request.device).ok(),
        };
        let decision = self.risk.decide(&txn, &mut self.risk.buffer());
        match decision.outcome {
            Outcome::Approve => self.authorize(&verified, txn),
            Outcome::Challenge(method) => {
                if method == ChallengeMethod::Otp {
                    match self.wallet.send_otp(&user, OtpPurpose::Payment) {
                        // A code sent moments ago is still live: the user answers with it.
                        Ok(()) | Err(cloudcard_wallet::WalletError::OtpThrottled { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                let challenge =
                    format!("chl_{}", TransactionId::random().as_str().trim_start_matches("txn_"));
                let transaction = txn.id.clone();
                self.links()
                    .challenges
                    .insert(challenge.clone(), PendingPayment { user, verified, txn, method });
                Ok(PaymentOutcome::ChallengeRequired { transaction, challenge, method })
            }
            Outcome::Review => {
                self.risk.record(&txn, false);
                Ok(PaymentOutcome::HeldForReview { transaction: txn.id })
            }
            Outcome::Decline => {
                self.risk.record(&txn, false);
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
        challenge: &str,
        answer: StepUp,
    ) -> Result<PaymentOutcome, Error> {
        let pending = self.links().challenges.remove(challenge).ok_or(Error::ChallengeNotFound)?;
        if pending.user != *user || self.clock.now() - pending.txn.at > CHALLENGE_TTL {
            return Err(Error::ChallengeNotFound);
        }
        let checked = match (&answer, pending.method) {
            (StepUp::Fingerprint { passed }, ChallengeMethod::Fingerprint) => {
                if *passed {
                    Ok(Authentication::Fingerprint)
                } else {
                    Err(Error::FingerprintFailed)
                }
            }
            (StepUp::Otp { code }, ChallengeMethod::Otp) => self
                .wallet
                .verify_otp(user, OtpPurpose::Payment, code.expose_secret())
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
                let mut txn = pending.txn.clone();
                txn.auth = auth;
                self.authorize(&pending.verified, txn)
            }
            Err(e) => {
                self.links().challenges.insert(challenge.to_owned(), pending);
                Err(e)
            }
        }
    }

    /// A lost phone: cancels every cloud card on it (挂失、注销), so its payments are declined
    /// from now on, arms 72-hour protection, lists the verdict on each recent transaction and
    /// opens a claim for the eligible ones.
    ///
    /// # Errors
    ///
    /// [`Error::DeviceNotFound`], [`Error::Token`].
    pub fn report_lost_phone(
        &self,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<LossOutcome, Error> {
        self.device_registered_at(user, device)?;
        let cancelled =
            self.tokens.apply_to_device(device, TokenEvent::Delete(Actor::LossReport))?.changed;
        let report =
            self.risk.report_loss(Instrument::Device(device.clone()), user, self.clock.now());
        self.protect(cancelled, &report)
    }

    /// A lost card: deletes all its tokens, declines its further use, arms 72-hour protection
    /// and opens a claim for the eligible transactions.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`] (not the user's card), [`Error::Token`].
    pub fn report_lost_card(&self, user: &UserId, card: &CardId) -> Result<LossOutcome, Error> {
        self.wallet.card(user, card)?;
        let cancelled = self.delete_tokens_of(card, Actor::LossReport)?;
        let now = self.clock.now();
        // Risk knows the card by its wallet id for payments, and by a key derived from the card
        // number for bindings: a card reported lost is refused if anyone binds it again.
        let record = self.wallet.store().cards(user).into_iter().find(|c| c.id == *card);
        if let Some(record) = record {
            self.risk.report_loss(Instrument::Card(risk_card_key(&record.fingerprint)?), user, now);
        }
        let report = self.risk.report_loss(Instrument::Card(card.clone()), user, now);
        self.protect(cancelled, &report)
    }

    /// The first step of unbinding a card: "are you sure?".
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`].
    pub fn request_unbind(&self, user: &UserId, card: &CardId) -> Result<UnbindPrompt, Error> {
        Ok(self.wallet.request_unbind(user, card)?)
    }

    /// The second step: removes the card from the wallet and deletes its tokens.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`], [`Error::Token`].
    pub fn confirm_unbind(
        &self,
        user: &UserId,
        card: &CardId,
        ticket: &str,
    ) -> Result<UnbindOutcome, Error> {
        let removed = self.wallet.confirm_unbind(user, card, ticket)?;
        let deleted_tokens = self.delete_tokens_of(card, Actor::User)?;
        let mut links = self.links();
        for token in &deleted_tokens {
            links.token_card.remove(token);
        }
        links.card_tokens.remove(card);
        Ok(UnbindOutcome { removed, deleted_tokens })
    }

    /// One-click card lookup, step 1: apply (real-name verified users in participating regions
    /// through the app; idempotent by request id).
    ///
    /// # Errors
    ///
    /// [`Error::Lookup`], [`Error::Wallet`].
    pub fn start_lookup(
        &self,
        user: &UserId,
        region: Region,
        banks: BTreeSet<Bank>,
        request: RequestId,
    ) -> Result<QueryId, Error> {
        let applicant = Applicant {
            user: user.clone(),
            real_name_verified: self.wallet.is_real_name_verified(user)?,
            region,
        };
        let application = Application { applicant, channel: RequestChannel::App, request, banks };
        Ok(self.lookup.apply(&application, self.clock.now())?)
    }

    /// Step 2: sends the SMS code for the lookup's verification.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`].
    pub fn send_lookup_code(&self, user: &UserId) -> Result<(), Error> {
        Ok(self.wallet.send_otp(user, OtpPurpose::CardLookup)?)
    }

    /// Step 3: consent plus face check plus SMS code; the query is accepted and sent to the
    /// banks.
    ///
    /// # Errors
    ///
    /// [`Error::Lookup`] (a failed check is refused there, and audited), [`Error::Wallet`].
    pub fn authorize_lookup(
        &self,
        user: &UserId,
        query: &QueryId,
        agreement_version: &str,
        face: &FaceSample,
        code: &str,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let face_ok = self.wallet.verify_face(user, face)?;
        let otp_ok = self.wallet.verify_otp(user, OtpPurpose::CardLookup, code).is_ok();
        let auth = Authorization {
            agreement_version: agreement_version.to_owned(),
            face: Evidence::new(user.clone(), query.clone(), now, face_ok),
            otp: Evidence::new(user.clone(), query.clone(), now, otp_ok),
        };
        let events = self.lookup.submit(query, &auth, now)?;
        let rest = self.dispatcher.send(events, now);
        self.notify_ready(rest)?;
        Ok(())
    }

    /// Step 4: delivers bank answers due by now, generates reports (at the latest 24 hours
    /// after acceptance), and texts each user whose report is ready. Returns those queries.
    ///
    /// # Errors
    ///
    /// [`Error::Lookup`], a port error.
    pub fn process_lookups(&self) -> Result<Vec<QueryId>, Error> {
        let events = self.dispatcher.pump(&self.lookup, self.clock.now())?;
        self.notify_ready(events)
    }

    /// Step 5: the report, with the payment password, every time.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`] (wrong password, locked), [`Error::Lookup`] (not the owner, expired).
    pub fn view_report(
        &self,
        user: &UserId,
        query: &QueryId,
        password: &Secret<String>,
    ) -> Result<Report, Error> {
        let now = self.clock.now();
        let checked = self.wallet.verify_payment_password(user, password);
        let evidence = Evidence::new(user.clone(), query.clone(), now, checked.is_ok());
        let viewed = self.lookup.view(query, user, &evidence, now);
        checked?;
        Ok(viewed?)
    }

    /// Step 6: deletes report content whose 7 natural days have ended.
    pub fn purge_reports(&self) -> usize {
        self.lookup.purge_expired(self.clock.now())
    }

    /// POS terminal phone unbinding, step 1: the merchant's request through a channel.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`].
    pub fn request_terminal_unbind(
        &self,
        terminal: &TerminalId,
        reason: UnbindReason,
        channel: UnbindChannel,
        notify_via: cloudcard_wallet::NotifyChannel,
    ) -> Result<UnbindCase, Error> {
        Ok(self.wallet.request_terminal_unbind(terminal, reason, channel, notify_via)?)
    }

    /// Step 2: the channel's evidence verifies, the unbinding is processed and completed, and
    /// the merchant is notified once.
    ///
    /// # Errors
    ///
    /// [`Error::Wallet`].
    pub fn complete_terminal_unbind(
        &self,
        case: &str,
        evidence: &UnbindEvidence,
    ) -> Result<UnbindCase, Error> {
        self.wallet.verify_terminal_unbind(case, evidence)?;
        self.wallet.process_terminal_unbind(case)?;
        Ok(self.wallet.complete_terminal_unbind(case)?)
    }

    fn authorize(
        &self,
        verified: &VerifiedCryptogram,
        txn: Transaction,
    ) -> Result<PaymentOutcome, Error> {
        let funding = self.tokens.detokenize(verified)?;
        let request = AuthorizationRequest {
            transaction: txn.id.clone(),
            pan: funding.pan,
            expiry: funding.expiry,
            amount: txn.amount,
            merchant: MerchantId::clone(&txn.merchant),
        };
        let decision = self.issuer.authorize(&request)?;
        let approved = matches!(decision, IssuerDecision::Approved { .. });
        self.risk.record(&txn, approved);
        Ok(match decision {
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
        })
    }

    fn protect(
        &self,
        cancelled: Vec<TokenId>,
        report: &cloudcard_risk::LossReport,
    ) -> Result<LossOutcome, Error> {
        let assessments = self.risk.assess_loss(report);
        let claim = match self.risk.file_claim(report) {
            Ok(claim) => Some(claim),
            Err(cloudcard_risk::RiskError::NothingEligible) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(LossOutcome { cancelled_tokens: cancelled, assessments, claim })
    }

    fn delete_tokens_of(&self, card: &CardId, actor: Actor) -> Result<Vec<TokenId>, Error> {
        let tokens = self.links_read().card_tokens.get(card).cloned().unwrap_or_default();
        let mut deleted = Vec::new();
        for token in tokens {
            match self.tokens.apply(&token, TokenEvent::Delete(actor)) {
                Ok(_) => deleted.push(token),
                Err(cloudcard_token::TokenError::Lifecycle(
                    cloudcard_token::LifecycleError::Deleted,
                )) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(deleted)
    }

    fn notify_ready(&self, events: Vec<LookupEvent>) -> Result<Vec<QueryId>, Error> {
        let mut ready = Vec::new();
        for event in events {
            if let LookupEvent::ReportReady { query, user } = event {
                if let Some(record) = self.wallet.store().user(&user) {
                    let text = "Your card lookup report is ready. Open the app and enter your payment password to view it.";
                    self.sms.send(Sms {
                        to: record.mobile,
                        body: SmsBody::Notice { text: text.into() },
                        at: self.clock.now(),
                    })?;
                }
                ready.push(query);
            }
        }
        Ok(ready)
    }

    fn device_registered_at(
        &self,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<chrono::DateTime<chrono::Utc>, Error> {
        self.wallet
            .devices(user)
            .into_iter()
            .find(|d| d.id == *device)
            .map(|d| d.registered_at)
            .ok_or(Error::DeviceNotFound)
    }

    fn links(&self) -> RwLockWriteGuard<'_, Links> {
        self.links.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn links_read(&self) -> RwLockReadGuard<'_, Links> {
        self.links.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The card's key in provisioning risk: derived from the wallet's keyed fingerprint of the card
/// number, so it is the same whichever wallet binding the card comes through.
fn risk_card_key(fingerprint: &[u8; 32]) -> Result<CardId, Error> {
    let hex: String = fingerprint.iter().take(12).map(|b| format!("{b:02x}")).collect();
    Ok(CardId::parse(&format!("pan-{hex}"))?)
}

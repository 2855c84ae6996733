//! The one-click card lookup and POS terminal unbinding, through the facade.

use std::collections::BTreeSet;
use std::sync::Arc;

use cloudcard_core::messages::Message;
use cloudcard_core::{Bank, CaseId, Clock, QueryId, RequestId, TerminalId, UserId};
use cloudcard_masking::Secret;
use cloudcard_report::{
    Applicant, Application, Consent, IdDocument, IdentityDirectory, LookupError, LookupEvent,
    QueryView, Region, Report, RequestChannel, Verifier,
};
use cloudcard_wallet::{
    FaceSample, OtpPurpose, Sms, UnbindCase, UnbindChannel, UnbindEvidence, UnbindReason, Wallet,
    WalletError, WalletStore,
};

use crate::{CloudCard, Error};

impl CloudCard {
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
        // Only the owner consents; the lookup's verifier (the wallet) checks face and code.
        self.lookup.query(query, user)?;
        let consent = Consent {
            agreement_version: agreement_version.to_owned(),
            face: Secret::new(face.0.clone()),
            code: Secret::new(code.to_owned()),
        };
        let events = self.lookup.submit(query, &consent, now)?;
        let rest = self.dispatcher.send(&self.lookup, events, now)?;
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

    /// Where the user's lookup stands: each bank's answer so far, and once accepted the latest
    /// time the report will be ready (`ready_by`, 24 hours after acceptance).
    ///
    /// # Errors
    ///
    /// [`Error::Lookup`]: `QueryNotFound`, or `NotOwner` for another user's query.
    pub fn lookup_status(&self, user: &UserId, query: &QueryId) -> Result<QueryView, Error> {
        Ok(self.lookup.query(query, user)?)
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
        Ok(self.lookup.view(query, user, password, self.clock.now())?)
    }

    /// Step 6: deletes report content whose 7 natural days have ended.
    ///
    /// # Errors
    ///
    /// [`Error::Lookup`] if the store fails.
    pub fn purge_reports(&self) -> Result<usize, Error> {
        Ok(self.lookup.purge_expired(self.clock.now())?)
    }

    pub(crate) fn notify_ready(&self, events: Vec<LookupEvent>) -> Result<Vec<QueryId>, Error> {
        let ready = events
            .into_iter()
            .filter_map(|event| match event {
                LookupEvent::ReportReady { query, .. } => Some(query),
                _ => None,
            })
            .collect();
        self.send_notices()?;
        Ok(ready)
    }

    /// Sends the "report ready" messages that are due; one that fails is put back for a minute
    /// later, and the others go on. The queue is in the store, so a message survives a crash
    /// between the report and its SMS.
    pub(crate) fn send_notices(&self) -> Result<usize, Error> {
        let now = self.clock.now();
        let mut sent = 0;
        for (query, user) in self.lookup.take_notices(now, 1_000)? {
            let delivered = self.wallet.store().user(&user).ok().flatten().is_some_and(|record| {
                let messages = self.wallet.messages();
                self.sms
                    .send(Sms::notice(messages, record.mobile, &Message::LookupReady, now))
                    .is_ok()
            });
            if delivered {
                sent += 1;
            } else {
                let later = now.checked_add_signed(chrono::TimeDelta::minutes(1)).unwrap_or(now);
                self.lookup.notice_later(&query, later)?;
            }
        }
        Ok(sent)
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
        case: &CaseId,
        evidence: &UnbindEvidence,
    ) -> Result<UnbindCase, Error> {
        self.wallet.verify_terminal_unbind(case, evidence)?;
        self.wallet.process_terminal_unbind(case)?;
        Ok(self.wallet.complete_terminal_unbind(case)?)
    }
}

/// The lookup's credential checks, made by the wallet: the only way the lookup gets evidence.
#[derive(Debug)]
pub(crate) struct WalletChecks(pub(crate) Arc<Wallet<Arc<dyn WalletStore>>>);

impl Verifier for WalletChecks {
    fn face(&self, user: &UserId, sample: &Secret<String>) -> Result<bool, LookupError> {
        Ok(self.0.verify_face(user, &FaceSample(sample.expose_secret().clone())).unwrap_or(false))
    }

    fn code(&self, user: &UserId, code: &Secret<String>) -> Result<bool, LookupError> {
        Ok(self.0.verify_otp(user, OtpPurpose::CardLookup, code.expose_secret()).is_ok())
    }

    fn password(&self, user: &UserId, password: &Secret<String>) -> Result<bool, LookupError> {
        match self.0.verify_payment_password(user, password) {
            Ok(()) => Ok(true),
            Err(WalletError::WrongPassword { .. } | WalletError::NoPassword) => Ok(false),
            Err(WalletError::PasswordLocked { .. }) => {
                Err(LookupError::VerificationFailed("payment password locked"))
            }
            Err(_) => Err(LookupError::VerificationFailed("payment password")),
        }
    }
}

/// The banks' view of an applicant: the resident ID the wallet verified at real-name check.
impl IdentityDirectory for WalletChecks {
    fn document(&self, user: &UserId) -> Result<Option<IdDocument>, LookupError> {
        let user = self.0.store().user(user)?;
        Ok(user.and_then(|u| u.real_name).map(|r| IdDocument::resident(r.id)))
    }
}

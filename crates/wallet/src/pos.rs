//! POS terminals bound to a merchant's mobile, and the three ways to unbind one.

use cloudcard_core::{CaseId, MacKey, PersonName, PhoneNumber, ResidentId, TerminalId};

use crate::model::{
    CaseEvent, CaseState, TerminalRecord, UnbindCase, UnbindChannel, UnbindEvidence, UnbindReason,
    case_transition,
};
use crate::ports::{Notification, NotifyChannel, OtpPurpose};
use crate::service::Wallet;
use crate::store::WalletStore;
use crate::{WalletError, otp};
use cloudcard_core::messages::Message;

impl<S: WalletStore> Wallet<S> {
    /// Registers a terminal, binding `mobile` once that mobile's own code is confirmed (see
    /// [`Self::send_terminal_mobile_code`]).
    ///
    /// # Errors
    ///
    /// [`WalletError::TerminalTaken`], a code error.
    pub fn register_terminal(
        &self,
        terminal: TerminalId,
        owner: PersonName,
        owner_id: ResidentId,
        mobile: PhoneNumber,
        code: &str,
    ) -> Result<(), WalletError> {
        if self.store.terminal(&terminal)?.is_some() {
            return Err(WalletError::TerminalTaken);
        }
        self.check_mobile_code(&terminal, &mobile, code)?;
        match self.store.create_terminal(&TerminalRecord {
            id: terminal,
            owner,
            owner_id,
            mobile: Some(mobile),
            bound_at: self.clock.now(),
        }) {
            Ok(()) => Ok(()),
            Err(cloudcard_core::StoreError::Duplicate) => Err(WalletError::TerminalTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends a code to a mobile about to be bound to a terminal: binding a new mobile needs that
    /// mobile's own code.
    ///
    /// # Errors
    ///
    /// [`WalletError::OtpThrottled`], a gateway error.
    pub fn send_terminal_mobile_code(
        &self,
        terminal: &TerminalId,
        mobile: &PhoneNumber,
    ) -> Result<(), WalletError> {
        let now = self.clock.now();
        let subject = mobile_subject(&self.otp_mac, terminal, mobile);
        self.count_sms(mobile)?;
        let code = otp::issue(
            &self.store,
            &self.otp_mac,
            &self.config.otp,
            &subject,
            OtpPurpose::TerminalMobile,
            now,
        )?;
        self.ports.sms.send(self.code_sms(mobile.clone(), OtpPurpose::TerminalMobile, code, now))
    }

    /// Binds a new mobile to a terminal that has none, with that mobile's code.
    ///
    /// # Errors
    ///
    /// [`WalletError::TerminalNotFound`], [`WalletError::TerminalTaken`] if a mobile is still
    /// bound, a code error.
    pub fn bind_terminal_mobile(
        &self,
        terminal: &TerminalId,
        mobile: PhoneNumber,
        code: &str,
    ) -> Result<(), WalletError> {
        let mut record = self.store.terminal(terminal)?.ok_or(WalletError::TerminalNotFound)?;
        if record.mobile.is_some() {
            return Err(WalletError::TerminalTaken);
        }
        self.check_mobile_code(terminal, &mobile, code)?;
        record.mobile = Some(mobile);
        record.bound_at = self.clock.now();
        self.store.put_terminal(&record)?;
        Ok(())
    }

    /// A terminal.
    ///
    /// # Errors
    ///
    /// [`WalletError::TerminalNotFound`].
    pub fn terminal(&self, terminal: &TerminalId) -> Result<TerminalRecord, WalletError> {
        self.store.terminal(terminal)?.ok_or(WalletError::TerminalNotFound)
    }

    /// Opens an unbinding case. Online cases get a code sent to the bound mobile.
    ///
    /// # Errors
    ///
    /// [`WalletError::TerminalNotFound`] (or a terminal with no mobile bound), a gateway error.
    pub fn request_terminal_unbind(
        &self,
        terminal: &TerminalId,
        reason: UnbindReason,
        channel: UnbindChannel,
        notify_via: NotifyChannel,
    ) -> Result<UnbindCase, WalletError> {
        let record = self.store.terminal(terminal)?.ok_or(WalletError::TerminalNotFound)?;
        let mobile = record.mobile.ok_or(WalletError::TerminalNotFound)?;
        let now = self.clock.now();
        let case = UnbindCase {
            id: CaseId::random(),
            terminal: terminal.clone(),
            reason,
            channel,
            notify_via,
            state: CaseState::Requested,
            verified_by: None,
            history: vec![(CaseState::Requested, now)],
        };
        if channel == UnbindChannel::Online {
            self.count_sms(&mobile)?;
            let code = otp::issue(
                &self.store,
                &self.otp_mac,
                &self.config.otp,
                case.id.as_str(),
                OtpPurpose::TerminalUnbind,
                now,
            )?;
            self.ports.sms.send(self.code_sms(mobile, OtpPurpose::TerminalUnbind, code, now))?;
        }
        self.store.put_case(&case)?;
        Ok(case)
    }

    /// Verifies a case with the evidence its channel takes.
    ///
    /// # Errors
    ///
    /// [`WalletError::WrongEvidence`] for another channel's evidence,
    /// [`WalletError::VerificationFailed`] (or a code error) when it does not verify,
    /// [`WalletError::CaseTransition`], [`WalletError::CaseNotFound`].
    pub fn verify_terminal_unbind(
        &self,
        case: &CaseId,
        evidence: &UnbindEvidence,
    ) -> Result<UnbindCase, WalletError> {
        let current = self.store.case(case.as_str())?.ok_or(WalletError::CaseNotFound)?;
        case_transition(current.state, CaseEvent::Verify)?;
        let terminal =
            self.store.terminal(&current.terminal)?.ok_or(WalletError::TerminalNotFound)?;
        let verified_by = match (current.channel, evidence) {
            (UnbindChannel::Online, UnbindEvidence::OnlineOtp { code }) => {
                otp::verify(
                    &self.store,
                    &self.otp_mac,
                    &self.config.otp,
                    case.as_str(),
                    OtpPurpose::TerminalUnbind,
                    code.expose_secret(),
                    self.clock.now(),
                )?;
                "online: sms code".to_owned()
            }
            (UnbindChannel::Online, UnbindEvidence::OnlineFace { sample }) => {
                if !self.ports.face.verify(&terminal.owner_id, sample)? {
                    return Err(WalletError::VerificationFailed);
                }
                "online: face check".to_owned()
            }
            (UnbindChannel::Hotline, UnbindEvidence::Hotline { agent, asked, correct }) => {
                if *asked < 2 || correct != asked || agent.trim().is_empty() {
                    return Err(WalletError::VerificationFailed);
                }
                format!("hotline agent {agent}")
            }
            (UnbindChannel::BankCounter, UnbindEvidence::BankCounter { branch, id }) => {
                if *id != terminal.owner_id || branch.trim().is_empty() {
                    return Err(WalletError::VerificationFailed);
                }
                format!("branch {branch}")
            }
            _ => return Err(WalletError::WrongEvidence),
        };
        self.advance_case(case, CaseEvent::Verify, Some(verified_by))
    }

    /// Starts the work on a verified case.
    ///
    /// # Errors
    ///
    /// [`WalletError::CaseTransition`], [`WalletError::CaseNotFound`].
    pub fn process_terminal_unbind(&self, case: &CaseId) -> Result<UnbindCase, WalletError> {
        self.advance_case(case, CaseEvent::Process, None)
    }

    /// Completes a case: the mobile is unbound and the merchant notified, once.
    ///
    /// # Errors
    ///
    /// [`WalletError::CaseTransition`], [`WalletError::CaseNotFound`], a notifier error.
    pub fn complete_terminal_unbind(&self, case: &CaseId) -> Result<UnbindCase, WalletError> {
        self.advance_case(case, CaseEvent::Complete, None)
    }

    /// Rejects a case; the merchant is notified.
    ///
    /// # Errors
    ///
    /// [`WalletError::CaseTransition`], [`WalletError::CaseNotFound`], a notifier error.
    pub fn reject_terminal_unbind(&self, case: &CaseId) -> Result<UnbindCase, WalletError> {
        self.advance_case(case, CaseEvent::Reject, None)
    }

    fn advance_case(
        &self,
        case: &CaseId,
        event: CaseEvent,
        verified_by: Option<String>,
    ) -> Result<UnbindCase, WalletError> {
        let mut current = self.store.case(case.as_str())?.ok_or(WalletError::CaseNotFound)?;
        let next = case_transition(current.state, event)?;
        let now = self.clock.now();
        current.state = next;
        current.history.push((next, now));
        if verified_by.is_some() {
            current.verified_by = verified_by;
        }
        let mut terminal =
            self.store.terminal(&current.terminal)?.ok_or(WalletError::TerminalNotFound)?;
        if matches!(next, CaseState::Completed | CaseState::Rejected) {
            let Some(to) = terminal.mobile.clone() else {
                return Err(WalletError::TerminalNotFound);
            };
            let message = if next == CaseState::Completed {
                Message::TerminalUnbound
            } else {
                Message::TerminalUnbindRefused
            };
            self.ports.notifier.notify(Notification {
                channel: current.notify_via,
                to,
                text: self.messages.text(&message),
                at: now,
            })?;
        }
        if next == CaseState::Completed {
            terminal.mobile = None;
            self.store.put_terminal(&terminal)?;
        }
        self.store.put_case(&current)?;
        Ok(current)
    }

    fn check_mobile_code(
        &self,
        terminal: &TerminalId,
        mobile: &PhoneNumber,
        code: &str,
    ) -> Result<(), WalletError> {
        let subject = mobile_subject(&self.otp_mac, terminal, mobile);
        otp::verify(
            &self.store,
            &self.otp_mac,
            &self.config.otp,
            &subject,
            OtpPurpose::TerminalMobile,
            code,
            self.clock.now(),
        )
    }
}

/// The code subject for a mobile being bound to a terminal: the terminal and a keyed tag of
/// the mobile, never the mobile in the clear.
fn mobile_subject(key: &MacKey, terminal: &TerminalId, mobile: &PhoneNumber) -> String {
    let digest = key.mac(&[b"cloudcard/terminal-mobile/v1", mobile.expose().as_bytes()]);
    let mut subject = format!("{}#", terminal.as_str());
    cloudcard_core::store::push_hex(digest.get(..8).unwrap_or_default(), &mut subject);
    subject
}

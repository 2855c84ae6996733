//! Accounts: users, real names, payment passwords, one-time codes, face checks.

use cloudcard_core::{PersonName, PhoneNumber, ResidentId, UserId};
use cloudcard_masking::Secret;

use crate::WalletError;
use crate::model::{PasswordFailure, RealName, UserRecord};
use crate::otp;
use crate::ports::{FaceSample, OtpPurpose};
use crate::service::{AccountView, Wallet};
use crate::store::WalletStore;
use cloudcard_core::StoreError;

impl<S: WalletStore> Wallet<S> {
    /// Creates a user with a registered mobile.
    ///
    /// # Errors
    ///
    /// [`WalletError::MobileTaken`].
    pub fn create_user(&self, mobile: PhoneNumber) -> Result<UserId, WalletError> {
        let mobile_key = self.mobile_key(&mobile);
        let id = UserId::random();
        let record = UserRecord {
            id: id.clone(),
            mobile,
            real_name: None,
            password: None,
            failed_passwords: 0,
            locked_until: None,
            created_at: self.clock.now(),
            version: 0,
        };
        match self.store.create_user(&record, &mobile_key) {
            Ok(()) => Ok(id),
            Err(StoreError::Duplicate) => Err(WalletError::MobileTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// The user registered with `mobile`, if any.
    ///
    /// # Errors
    ///
    /// [`WalletError::Store`].
    pub fn user_by_mobile(&self, mobile: &PhoneNumber) -> Result<Option<UserId>, WalletError> {
        Ok(self.store.user_by_mobile(&self.mobile_key(mobile))?)
    }

    /// Real-name verification: the identity authority confirms the name and resident ID.
    ///
    /// # Errors
    ///
    /// [`WalletError::UserNotFound`], [`WalletError::AlreadyVerified`],
    /// [`WalletError::IdentityRejected`], [`WalletError::IdentityTaken`] (one identity holds
    /// one account).
    pub fn verify_real_name(
        &self,
        user: &UserId,
        name: PersonName,
        id: ResidentId,
    ) -> Result<(), WalletError> {
        let record = self.user(user)?;
        if record.real_name.is_some() {
            return Err(WalletError::AlreadyVerified);
        }
        if !self.ports.identity.verify(&name, &id)? {
            return Err(WalletError::IdentityRejected);
        }
        let identity_key = self.identity_key(&id);
        let real = RealName { name, id, verified_at: self.clock.now() };
        match self.store.set_real_name(user, &real, &identity_key) {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict) => Err(WalletError::AlreadyVerified),
            Err(StoreError::Duplicate) => Err(WalletError::IdentityTaken),
            Err(StoreError::Missing) => Err(WalletError::UserNotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// The account as the app shows it.
    ///
    /// # Errors
    ///
    /// [`WalletError::UserNotFound`].
    pub fn account(&self, user: &UserId) -> Result<AccountView, WalletError> {
        let r = self.user(user)?;
        Ok(AccountView {
            id: r.id,
            mobile: r.mobile.masked(),
            name: r.real_name.as_ref().map(|n| n.name.masked()),
            real_name_verified: r.real_name.is_some(),
            has_payment_password: r.password.is_some(),
            locked_until: r.locked_until.filter(|until| *until > self.clock.now()),
        })
    }

    /// Whether the user is real-name verified.
    ///
    /// # Errors
    ///
    /// [`WalletError::UserNotFound`].
    pub fn is_real_name_verified(&self, user: &UserId) -> Result<bool, WalletError> {
        Ok(self.user(user)?.real_name.is_some())
    }

    /// Sets the first payment password.
    ///
    /// # Errors
    ///
    /// [`WalletError::UserNotFound`], [`WalletError::PasswordFormat`], or
    /// [`WalletError::WrongPassword`] if one is set already (change it instead).
    pub fn set_payment_password(
        &self,
        user: &UserId,
        password: &Secret<String>,
    ) -> Result<(), WalletError> {
        let hash = self.hasher.hash(password)?;
        self.refuse_weak(&self.user(user)?, password)?;
        self.update_user(user, |record| {
            if record.password.is_some() {
                return Err(WalletError::WrongPassword { remaining: self.remaining(record) });
            }
            record.password = Some(hash.clone());
            Ok(())
        })
    }

    /// Checks the payment password. Five wrong tries in a row lock it for three hours (by
    /// default); a right one resets the count.
    ///
    /// # Errors
    ///
    /// [`WalletError::PasswordLocked`], [`WalletError::WrongPassword`],
    /// [`WalletError::NoPassword`], [`WalletError::UserNotFound`].
    pub fn verify_payment_password(
        &self,
        user: &UserId,
        password: &Secret<String>,
    ) -> Result<(), WalletError> {
        let now = self.clock.now();
        let record = self.user(user)?;
        if let Some(until) = record.locked_until.filter(|until| now < *until) {
            return Err(WalletError::PasswordLocked { until });
        }
        let stored = record.password.ok_or(WalletError::NoPassword)?;
        // The hash is checked outside any transaction; the count and the lock are one atomic
        // store operation, so concurrent wrong guesses lock after exactly the allowed number.
        if self.hasher.verify(password, &stored)? {
            return match self.store.record_password_success(user, now)? {
                Some(until) => Err(WalletError::PasswordLocked { until }),
                None => Ok(()),
            };
        }
        match self.store.record_password_failure(user, now, self.config.lockout)? {
            PasswordFailure::Locked { until } => Err(WalletError::PasswordLocked { until }),
            PasswordFailure::Counted { remaining } => Err(WalletError::WrongPassword { remaining }),
        }
    }

    /// Changes the payment password, given the current one.
    ///
    /// # Errors
    ///
    /// As [`Self::verify_payment_password`], and [`WalletError::PasswordFormat`].
    pub fn change_payment_password(
        &self,
        user: &UserId,
        old: &Secret<String>,
        new: &Secret<String>,
    ) -> Result<(), WalletError> {
        let hash = self.hasher.hash(new)?;
        self.verify_payment_password(user, old)?;
        self.refuse_weak(&self.user(user)?, new)?;
        self.update_user(user, |record| {
            record.password = Some(hash.clone());
            Ok(())
        })
    }

    /// Sends a reset code to the registered mobile.
    ///
    /// # Errors
    ///
    /// [`WalletError::OtpThrottled`], [`WalletError::UserNotFound`].
    pub fn request_password_reset(&self, user: &UserId) -> Result<(), WalletError> {
        self.send_otp(user, OtpPurpose::PasswordReset)
    }

    /// Resets the payment password with the code sent to the registered mobile; lifts a lock.
    ///
    /// # Errors
    ///
    /// A code error, [`WalletError::PasswordFormat`], [`WalletError::UserNotFound`].
    pub fn reset_payment_password(
        &self,
        user: &UserId,
        code: &str,
        new: &Secret<String>,
    ) -> Result<(), WalletError> {
        let hash = self.hasher.hash(new)?;
        self.refuse_weak(&self.user(user)?, new)?;
        self.verify_otp(user, OtpPurpose::PasswordReset, code)?;
        self.update_user(user, |record| {
            record.password = Some(hash.clone());
            record.failed_passwords = 0;
            record.locked_until = None;
            Ok(())
        })
    }

    /// Sends a one-time code to the user's registered mobile.
    ///
    /// # Errors
    ///
    /// [`WalletError::OtpThrottled`], [`WalletError::UserNotFound`], a gateway error.
    pub fn send_otp(&self, user: &UserId, purpose: OtpPurpose) -> Result<(), WalletError> {
        self.send_scoped_otp(user, purpose, user.as_str())
    }

    /// Sends a one-time code that answers one thing only, named by `scope` (a payment
    /// challenge): the code is bound to it, and a code sent for one challenge approves no other.
    ///
    /// # Errors
    ///
    /// As [`Self::send_otp`].
    pub fn send_otp_for(
        &self,
        user: &UserId,
        purpose: OtpPurpose,
        scope: &str,
    ) -> Result<(), WalletError> {
        self.send_scoped_otp(user, purpose, &scoped(user, scope))
    }

    /// Checks a code sent by [`Self::send_otp_for`] for the same `scope`; a right code is spent.
    ///
    /// # Errors
    ///
    /// As [`Self::verify_otp`].
    pub fn verify_otp_for(
        &self,
        user: &UserId,
        purpose: OtpPurpose,
        scope: &str,
        code: &str,
    ) -> Result<(), WalletError> {
        let subject = scoped(user, scope);
        otp::verify(
            &self.store,
            &self.otp_mac,
            &self.config.otp,
            &subject,
            purpose,
            code,
            self.clock.now(),
        )
    }

    fn send_scoped_otp(
        &self,
        user: &UserId,
        purpose: OtpPurpose,
        subject: &str,
    ) -> Result<(), WalletError> {
        let record = self.user(user)?;
        let now = self.clock.now();
        self.count_sms(&record.mobile)?;
        let code = otp::issue(&self.store, &self.otp_mac, &self.config.otp, subject, purpose, now)?;
        self.ports.sms.send(self.code_sms(record.mobile, purpose, code, now))
    }

    /// Checks a one-time code sent by [`Self::send_otp`]; a right code is spent.
    ///
    /// # Errors
    ///
    /// [`WalletError::OtpInvalid`], [`WalletError::OtpExpired`],
    /// [`WalletError::OtpTooManyTries`].
    pub fn verify_otp(
        &self,
        user: &UserId,
        purpose: OtpPurpose,
        code: &str,
    ) -> Result<(), WalletError> {
        otp::verify(
            &self.store,
            &self.otp_mac,
            &self.config.otp,
            user.as_str(),
            purpose,
            code,
            self.clock.now(),
        )
    }

    /// A face check of a real-name verified user against their ID photo.
    ///
    /// # Errors
    ///
    /// [`WalletError::NotRealNameVerified`], [`WalletError::UserNotFound`], a port error.
    pub fn verify_face(&self, user: &UserId, sample: &FaceSample) -> Result<bool, WalletError> {
        let record = self.user(user)?;
        let real = record.real_name.ok_or(WalletError::NotRealNameVerified)?;
        self.ports.face.verify(&real.id, sample)
    }

    /// Counts one code SMS to `mobile` today, refusing past the daily cap.
    pub(crate) fn count_sms(&self, mobile: &PhoneNumber) -> Result<(), WalletError> {
        let day = crate::store::beijing_day_number(self.clock.now());
        if self.store.count_sms(&self.mobile_key(mobile), day, self.config.otp.daily_cap)? {
            Ok(())
        } else {
            Err(WalletError::SmsDailyCap)
        }
    }

    /// Refuses the payment passwords people guess first (DESIGN §3.4): one digit repeated, an
    /// ascending or descending run, the birth date (YYMMDD) from the resident ID, the last six
    /// characters of the ID or of the mobile, and the password in use now.
    fn refuse_weak(
        &self,
        record: &UserRecord,
        password: &Secret<String>,
    ) -> Result<(), WalletError> {
        let p = password.expose_secret().as_bytes();
        // One digit repeated, or a run up or down: every step between neighbours the same.
        let run = |step: i16| {
            p.len() > 1
                && p.windows(2)
                    .all(|w| matches!(w, [a, b] if i16::from(*b) - i16::from(*a) == step))
        };
        let mut weak = run(0) || run(1) || run(-1);
        let last6 = |s: &str| s.len() >= 6 && s.as_bytes().get(s.len() - 6..) == Some(p);
        weak |= last6(record.mobile.expose());
        if let Some(real) = &record.real_name {
            let id = real.id.expose();
            weak |= last6(id);
            // Digits 7-14 of the ID are the birth date YYYYMMDD; YYMMDD is what people pick.
            weak |= id.as_bytes().get(8..14) == Some(p);
        }
        if !weak && let Some(current) = &record.password {
            weak = self.hasher.verify(password, current)?;
        }
        if weak { Err(WalletError::WeakPassword) } else { Ok(()) }
    }

    pub(crate) fn remaining(&self, record: &UserRecord) -> u32 {
        self.config.lockout.max_failures.saturating_sub(record.failed_passwords)
    }

    /// Changes a user record by compare-and-set, rereading on a conflict.
    fn update_user(
        &self,
        user: &UserId,
        mut change: impl FnMut(&mut UserRecord) -> Result<(), WalletError>,
    ) -> Result<(), WalletError> {
        loop {
            let mut record = self.user(user)?;
            let expected = record.version;
            change(&mut record)?;
            record.version = expected.saturating_add(1);
            match self.store.update_user(expected, &record) {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => {}
                Err(StoreError::Missing) => return Err(WalletError::UserNotFound),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The code subject of a user's code for one scope.
fn scoped(user: &UserId, scope: &str) -> String {
    format!("{}#{scope}", user.as_str())
}

//! What cloudcard says to people, and how it is worded: every SMS, notice, notification and
//! report note is a [`Message`], worded by [`Templates`] — Chinese by default, English built in,
//! or the embedder's own — and an SMS carries the sender's signature (【签名】), as carriers
//! require.
//!
//! ```
//! use cloudcard_core::messages::{Language, Message, Messages, OtpPurpose};
//!
//! let chinese = Messages::default();
//! let code = Message::Code { purpose: OtpPurpose::CardLookup, code: "271828", minutes: 5 };
//! assert_eq!(
//!     chinese.sms(&code),
//!     "【cloudcard】验证码271828，用于一键查卡身份验证，5分钟内有效。请勿告诉他人。"
//! );
//! let english = Messages::new(Language::English, "Wallet");
//! assert!(english.sms(&Message::LookupReady).starts_with("[Wallet] Your card lookup report"));
//! ```

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Why a one-time code was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OtpPurpose {
    /// Resetting the payment password.
    PasswordReset,
    /// Binding a card (sent by the bank to the reserved mobile).
    CardBinding,
    /// Verifying the user for the one-click card lookup.
    CardLookup,
    /// Binding a new mobile to a POS terminal.
    TerminalMobile,
    /// Unbinding a POS terminal's mobile online.
    TerminalUnbind,
    /// Stepping up a payment.
    Payment,
}

/// Something cloudcard tells a person, before it is worded. A code never prints in `Debug`.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message<'a> {
    /// A one-time code for `purpose`, good for `minutes`.
    Code {
        /// What it is for.
        purpose: OtpPurpose,
        /// The code.
        code: &'a str,
        /// How long it is good.
        minutes: i64,
    },
    /// The one-click card lookup's report is ready to view.
    LookupReady,
    /// A POS terminal's bound mobile was unbound, as the merchant asked.
    TerminalUnbound,
    /// A request to unbind a POS terminal's mobile was refused.
    TerminalUnbindRefused,
    /// The standing note of every lookup report: which cards may be missing from it.
    MissingCardsNote,
    /// The advice beside a dormant card in a lookup report.
    DormantAdvice,
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code { purpose, minutes, .. } => f
                .debug_struct("Code")
                .field("purpose", purpose)
                .field("code", &"[REDACTED]")
                .field("minutes", minutes)
                .finish(),
            Self::LookupReady => f.write_str("LookupReady"),
            Self::TerminalUnbound => f.write_str("TerminalUnbound"),
            Self::TerminalUnbindRefused => f.write_str("TerminalUnbindRefused"),
            Self::MissingCardsNote => f.write_str("MissingCardsNote"),
            Self::DormantAdvice => f.write_str("DormantAdvice"),
        }
    }
}

/// Words messages. Implement it to word them your own way (another language, your brand's
/// tone), falling back to a [`Language`] for the messages you leave alone:
///
/// ```
/// use cloudcard_core::messages::{Language, Message, Messages, Templates};
///
/// #[derive(Debug)]
/// struct Cantonese;
/// impl Templates for Cantonese {
///     fn word(&self, message: &Message<'_>) -> String {
///         match message {
///             Message::LookupReady => "你嘅查卡報告已經準備好。".into(),
///             other => Language::Chinese.word(other),
///         }
///     }
/// }
/// let m = Messages::new(Cantonese, "錢包");
/// assert_eq!(m.sms(&Message::LookupReady), "【錢包】你嘅查卡報告已經準備好。");
/// ```
pub trait Templates: Send + Sync + fmt::Debug {
    /// The words for `message`, without a signature.
    fn word(&self, message: &Message<'_>) -> String;
}

/// The built-in wordings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Language {
    /// Simplified Chinese: the default.
    #[default]
    Chinese,
    /// English.
    English,
}

impl Templates for Language {
    fn word(&self, message: &Message<'_>) -> String {
        match self {
            Self::Chinese => chinese(message),
            Self::English => english(message),
        }
    }
}

fn chinese(message: &Message<'_>) -> String {
    match message {
        Message::Code { purpose, code, minutes } => {
            let what = match purpose {
                OtpPurpose::PasswordReset => "重置支付密码",
                OtpPurpose::CardBinding => "绑定银行卡",
                OtpPurpose::CardLookup => "一键查卡身份验证",
                OtpPurpose::TerminalMobile => "绑定POS终端手机号",
                OtpPurpose::TerminalUnbind => "解绑POS终端手机号",
                OtpPurpose::Payment => "确认本次支付",
            };
            format!("验证码{code}，用于{what}，{minutes}分钟内有效。请勿告诉他人。")
        }
        Message::LookupReady => "您的一键查卡报告已生成，请打开应用并输入支付密码查看。".into(),
        Message::TerminalUnbound => "您的POS终端绑定的手机号已解绑。".into(),
        Message::TerminalUnbindRefused => "您解绑POS终端手机号的申请未获通过。".into(),
        Message::MissingCardsNote => "未预留手机号、证件已过期或未开通无卡支付的银行卡暂不能查询，\
            可能未列入本报告；请以发卡银行记录为准。"
            .into(),
        Message::DormantAdvice => "此卡长期未使用。如不再使用，建议到银行办理销户。".into(),
    }
}

fn english(message: &Message<'_>) -> String {
    match message {
        Message::Code { purpose, code, minutes } => {
            let what = match purpose {
                OtpPurpose::PasswordReset => "resetting your payment password",
                OtpPurpose::CardBinding => "binding your bank card",
                OtpPurpose::CardLookup => "verifying your card lookup",
                OtpPurpose::TerminalMobile => "binding a mobile to your POS terminal",
                OtpPurpose::TerminalUnbind => "unbinding your POS terminal's mobile",
                OtpPurpose::Payment => "confirming this payment",
            };
            format!("Your code for {what} is {code}, valid for {minutes} minutes. Never share it.")
        }
        Message::LookupReady => "Your card lookup report is ready. Open the app and enter your \
            payment password to view it."
            .into(),
        Message::TerminalUnbound => {
            "The mobile number bound to your POS terminal has been unbound.".into()
        }
        Message::TerminalUnbindRefused => {
            "Your request to unbind the POS terminal's mobile number was not approved.".into()
        }
        Message::MissingCardsNote => "Cards without a reserved mobile number, with an expired \
            ID, or without card-not-present service cannot be looked up yet and may be missing \
            from this report; the issuing bank's own records prevail."
            .into(),
        Message::DormantAdvice => "This card has not been used for a long time. If you no \
            longer use it, consider closing it at the bank."
            .into(),
    }
}

/// How a service words what it says: its templates and its SMS signature.
#[derive(Debug, Clone)]
pub struct Messages {
    templates: Arc<dyn Templates>,
    signature: String,
}

impl Default for Messages {
    /// Chinese, signed 【cloudcard】.
    fn default() -> Self {
        Self::new(Language::Chinese, "cloudcard")
    }
}

impl Messages {
    /// Words messages with `templates` and signs SMS with `signature` (the name registered
    /// with the carriers, without brackets).
    pub fn new(templates: impl Templates + 'static, signature: impl Into<String>) -> Self {
        Self { templates: Arc::new(templates), signature: signature.into() }
    }

    /// The same templates, signed with `signature`.
    #[must_use]
    pub fn signed(mut self, signature: impl Into<String>) -> Self {
        self.signature = signature.into();
        self
    }

    /// The words for `message`: for a notification, a report or a screen.
    #[must_use]
    pub fn text(&self, message: &Message<'_>) -> String {
        self.templates.word(message)
    }

    /// `message` as an SMS: the signature first (【签名】 when the text is Chinese, `[..]`
    /// otherwise), then the words.
    #[must_use]
    pub fn sms(&self, message: &Message<'_>) -> String {
        let text = self.text(message);
        if text.chars().next().is_some_and(|c| c.is_ascii()) {
            format!("[{}] {text}", self.signature)
        } else {
            format!("【{}】{text}", self.signature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_PURPOSES: [OtpPurpose; 6] = [
        OtpPurpose::PasswordReset,
        OtpPurpose::CardBinding,
        OtpPurpose::CardLookup,
        OtpPurpose::TerminalMobile,
        OtpPurpose::TerminalUnbind,
        OtpPurpose::Payment,
    ];

    fn every_message(code: &str) -> Vec<Message<'_>> {
        let mut all: Vec<Message<'_>> = ALL_PURPOSES
            .into_iter()
            .map(|purpose| Message::Code { purpose, code, minutes: 5 })
            .collect();
        all.extend([
            Message::LookupReady,
            Message::TerminalUnbound,
            Message::TerminalUnbindRefused,
            Message::MissingCardsNote,
            Message::DormantAdvice,
        ]);
        all
    }

    #[test]
    fn every_message_is_worded_in_both_languages_and_codes_appear_only_in_the_words() {
        for language in [Language::Chinese, Language::English] {
            let mut seen = std::collections::HashSet::new();
            for message in every_message("314159") {
                let words = language.word(&message);
                assert!(!words.is_empty());
                assert!(seen.insert(words.clone()), "{language:?} words two messages alike");
                let is_code = matches!(message, Message::Code { .. });
                assert_eq!(words.contains("314159"), is_code, "{words}");
                assert!(!format!("{message:?}").contains("314159"), "a code never prints");
            }
        }
        let code = Message::Code { purpose: OtpPurpose::Payment, code: "1", minutes: 5 };
        assert!(!Language::Chinese.word(&code).is_ascii());
        assert!(Language::English.word(&code).is_ascii());
    }

    #[test]
    fn sms_are_signed_in_the_style_of_their_language() {
        let zh = Messages::default().signed("云钱包");
        assert!(zh.sms(&Message::LookupReady).starts_with("【云钱包】您的一键查卡报告"));
        let en = Messages::new(Language::English, "Wallet");
        assert!(en.sms(&Message::TerminalUnbound).starts_with("[Wallet] The mobile number"));
        assert_eq!(
            en.text(&Message::DormantAdvice),
            Language::English.word(&Message::DormantAdvice)
        );
    }
}

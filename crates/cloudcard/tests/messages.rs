//! What people read: SMS worded from templates — Chinese by default, English or the embedder's
//! own on request — and signed; codes in the words only, never in `Debug` or serde output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use cloudcard::core::messages::{Language, Message, Messages, Templates};
use cloudcard::demo::DEMO_PEOPLE;
use cloudcard::wallet::{InMemoryOutbox, OtpPurpose, Sms, SmsGateway};
use cloudcard::{BindRequest, CloudCard, UserId};

fn service(messages: Option<Messages>) -> (CloudCard, Arc<InMemoryOutbox>) {
    let outbox = Arc::new(InMemoryOutbox::new());
    let mut builder = CloudCard::demo().sms(outbox.clone() as Arc<dyn SmsGateway>);
    if let Some(messages) = messages {
        builder = builder.messages(messages);
    }
    (builder.build().unwrap(), outbox)
}

fn zhang_san(cc: &CloudCard) -> UserId {
    let (name, id, mobile) = DEMO_PEOPLE[0];
    cc.register_user(mobile.parse().unwrap(), name.parse().unwrap(), id.parse().unwrap()).unwrap()
}

fn last(outbox: &InMemoryOutbox) -> Sms {
    outbox.messages().pop().unwrap()
}

#[test]
fn codes_are_sent_in_chinese_signed_by_the_service_and_print_nowhere_else() {
    let (cc, outbox) = service(None);
    let user = zhang_san(&cc);
    cc.request_password_reset(&user).unwrap();
    let sms = last(&outbox);
    let code = sms.body.code().unwrap().to_owned();
    assert_eq!(
        sms.text(),
        format!("【cloudcard】验证码{code}，用于重置支付密码，5分钟内有效。请勿告诉他人。")
    );
    let printed = format!("{sms:?} {}", serde_json::to_string(&sms).unwrap());
    assert!(!printed.contains(&code), "{printed}");

    // The bank words and signs its own binding code.
    let phone = cc.register_device(&user, "phone").unwrap();
    let (_, _, mobile) = DEMO_PEOPLE[0];
    cc.bind_card(
        &user,
        &phone,
        BindRequest {
            pan: "6222021234567890128".parse().unwrap(),
            expiry: None,
            cvn2: None,
            reserved_mobile: mobile.parse().unwrap(),
        },
    )
    .unwrap();
    let bank = last(&outbox);
    assert!(bank.text().starts_with("【中国工商银行】验证码"), "{}", bank.text());
    assert!(bank.text().contains("用于绑定银行卡"));
}

#[test]
fn an_embedder_chooses_english_and_its_own_signature() {
    let (cc, outbox) = service(Some(Messages::new(Language::English, "Acme Wallet")));
    let user = zhang_san(&cc);
    cc.request_password_reset(&user).unwrap();
    let sms = last(&outbox);
    let code = sms.body.code().unwrap().to_owned();
    assert_eq!(
        sms.text(),
        format!(
            "[Acme Wallet] Your code for resetting your payment password is {code}, valid for 5 \
             minutes. Never share it."
        )
    );
    let code = outbox.last_code(&DEMO_PEOPLE[0].2.parse().unwrap(), OtpPurpose::PasswordReset);
    assert!(code.is_some(), "the code is still read from the message, whatever its words");
}

#[test]
fn an_embedder_words_messages_its_own_way() {
    #[derive(Debug)]
    struct Terse;
    impl Templates for Terse {
        fn word(&self, message: &Message<'_>) -> String {
            match message {
                Message::Code { code, .. } => format!("码 {code}"),
                other => Language::Chinese.word(other),
            }
        }
    }
    let (cc, outbox) = service(Some(Messages::new(Terse, "钱包")));
    let user = zhang_san(&cc);
    cc.request_password_reset(&user).unwrap();
    let sms = last(&outbox);
    assert_eq!(sms.text(), format!("【钱包】码 {}", sms.body.code().unwrap()));
}

//! One value of every public type that can hold a secret, and errors that saw one, formatted
//! every way a program prints (`Debug`, `Display`, serde): no card number, CVN2, code, password,
//! key, token number, full ID or full mobile appears. Wire formats that must carry a token number
//! to the cloud (a cryptogram, a replenish request) are checked for everything else.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use cloudcard::core::{IssuerTable, ManualClock, MemoryKv, PersonName, StoreError};
use cloudcard::masking::{Secret, redacted};
use cloudcard::token::{
    Channel, Cvm, InMemoryTokenStore, PaymentData, ProvisionRequest, TokenBin, TokenConfig,
    TokenKeys, TokenService,
};
use cloudcard::wallet::{FaceSample, UnbindEvidence, UnbindTicket, WalletKeys};
use cloudcard::{Amount, BindRequest, Currency, Pan, PhoneNumber, ResidentId};

const PAN: &str = "6222021234567890128";
const MOBILE: &str = "13812345678";
const ID: &str = "110102199101010078";
const CODE: &str = "482913";
const CVN2: &str = "738";
const KEY: [u8; 32] = [0xa7; 32];

fn printed<T: std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

#[test]
fn no_public_type_prints_a_secret() {
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let key = || Secret::new(KEY);
    let tokens = TokenService::new(
        TokenConfig::new(TokenBin::new("990001", IssuerTable::builtin()).unwrap()),
        TokenKeys::new(&key(), &key(), &key(), &key()),
        InMemoryTokenStore::new(),
        clock.clone(),
    );
    let pan: Pan = PAN.parse().unwrap();
    let provisioned =
        tokens.provision(ProvisionRequest::new(pan.clone(), "dev_1".parse().unwrap())).unwrap();
    let token_number = provisioned.token.number.expose().to_owned();
    let mut card = provisioned.device_card.clone();
    let data = PaymentData {
        amount: Amount::from_fen(100),
        currency: Currency::CNY,
        merchant: "mch_1".parse().unwrap(),
        channel: Channel::Nfc,
        unpredictable_number: 1,
        timestamp: chrono::Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap(),
        cvm: Cvm::Biometric,
    };
    let cryptogram = card.cryptogram(data).unwrap();
    let verified = tokens.verify(&"dev_1".parse().unwrap(), &cryptogram).unwrap();
    let held = tokens.hold(&verified);
    let funding = tokens.detokenize(verified).unwrap();
    let grant = tokens.replenish(&card.replenish_request()).unwrap();
    let request = BindRequest {
        pan: pan.clone(),
        expiry: Some("08/29".parse().unwrap()),
        cvn2: Some(Secret::new(CVN2.to_owned())),
        reserved_mobile: MOBILE.parse().unwrap(),
    };
    let wallet_keys =
        WalletKeys { pepper: Secret::new(KEY.to_vec()), otp_key: key(), card_key: key() };
    let ticket = UnbindTicket {
        ticket: String::from(CODE).into(),
        user: "usr_1".parse().unwrap(),
        card: "card_1".parse().unwrap(),
        expires_at: Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap(),
    };
    let errors: Vec<String> = vec![
        serde_json::from_str::<Pan>(PAN).unwrap_err().to_string(),
        serde_json::from_str::<PhoneNumber>(MOBILE).unwrap_err().to_string(),
        serde_json::from_str::<ResidentId>(ID).unwrap_err().to_string(),
        "6222021234567890129".parse::<Pan>().unwrap_err().to_string(),
        StoreError::backend(std::io::Error::other("disk")).to_string(),
    ];

    let mut out: Vec<String> = vec![
        printed(&pan),
        pan.to_string(),
        serde_json::to_string(&pan).unwrap(),
        printed(&PhoneNumber::parse(MOBILE).unwrap()),
        serde_json::to_string(&PhoneNumber::parse(MOBILE).unwrap()).unwrap(),
        printed(&ResidentId::parse(ID).unwrap()),
        serde_json::to_string(&ResidentId::parse(ID).unwrap()).unwrap(),
        printed(&PersonName::parse("张三").unwrap()),
        printed(&Secret::new(CODE.to_owned())),
        Secret::new(CODE.to_owned()).to_string(),
        printed(&provisioned),
        printed(&provisioned.token),
        serde_json::to_string(&provisioned.token).unwrap(),
        printed(&card),
        printed(&held),
        printed(&funding),
        printed(&grant),
        printed(&tokens),
        printed(&TokenKeys::new(&key(), &key(), &key(), &key())),
        printed(&request),
        printed(&wallet_keys),
        printed(&ticket),
        printed(&FaceSample(CODE.into())),
        printed(&UnbindEvidence::OnlineOtp { code: String::from(CODE).into() }),
        printed(&MemoryKv::new()),
        printed(&cloudcard::sqlite::StaticKey::new(KEY)),
    ];
    let mut json = Vec::new();
    redacted(&Secret::new(CODE.to_owned()), &mut serde_json::Serializer::new(&mut json)).unwrap();
    out.push(String::from_utf8(json).unwrap());
    out.extend(errors);
    // Wire formats carry the token number to the cloud; they are checked for the rest.
    let wire = [
        printed(&cryptogram),
        serde_json::to_string(&cryptogram).unwrap(),
        printed(&card.replenish_request()),
    ];

    // The scan can see what it looks for: the wire format does carry the token number.
    assert!(wire[1].contains(&token_number));
    let key_hex = "a7a7a7a7";
    // Four bytes of the key in a row: two could be any MAC's or nonce's by chance.
    let key_dec = "167, 167, 167, 167";
    let grouped = "6222 0212 3456 7890 128";
    for text in &out {
        for secret in [PAN, grouped, MOBILE, ID, CODE, key_hex, key_dec, &token_number] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(!text.contains(&format!("\"{CVN2}\"")), "cvn2 in {text}");
    }
    for text in &wire {
        for secret in [PAN, grouped, MOBILE, ID, CODE, key_hex, key_dec] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

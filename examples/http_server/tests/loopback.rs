//! The HTTP service driven over loopback by a real HTTP client, as a wallet app would: register,
//! bind and confirm, pay from the phone's own cryptograms (a retry answered the same, a burst
//! stepped up by SMS code), report the phone lost, and the one-click card lookup from
//! application to report. The service's records are in a SQLite file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use cloudcard::core::{Clock, ManualClock};
use cloudcard::demo::{DEMO_PEOPLE, face_of};
use cloudcard::sqlite::KeyFile;
use cloudcard::token::{CardDelivery, Channel, Cvm, DeviceCard, PaymentData};
use cloudcard::wallet::{Argon2Cost, InMemoryOutbox, OtpPurpose, SmsGateway, WalletConfig};
use cloudcard::{Amount, CloudCard, Currency, PhoneNumber, ResidentId, TransactionId};
use serde_json::{Value, json};

struct Server {
    base: String,
    cc: Arc<CloudCard>,
    clock: Arc<ManualClock>,
    outbox: Arc<InMemoryOutbox>,
    http: ureq::Agent,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start() -> Server {
    let dir = std::env::temp_dir().join(format!(
        "cloudcard-http-test-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    // 10:00 Beijing: no night-time rule in the way.
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()));
    let outbox = Arc::new(InMemoryOutbox::new());
    let cc = CloudCard::demo()
        .clock(clock.clone())
        .sms(outbox.clone() as Arc<dyn SmsGateway>)
        .wallet_config(WalletConfig { argon2: Argon2Cost::TESTING, ..WalletConfig::default() })
        .open(dir.join("cloudcard.db"), &KeyFile::new(dir.join("kek")))
        .unwrap();
    let cc = Arc::new(cc);
    let (tx, rx) = std::sync::mpsc::channel();
    let served = cc.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            // The test runs the timed jobs itself, on its own clock.
            let tick = Duration::from_secs(3600);
            cloudcard_http_server::serve(served, listener, tick).await.unwrap();
        });
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    Server { base: format!("http://{addr}"), cc, clock, outbox, http, dir }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

impl Server {
    /// Sends `body` (or nothing) to `path`; the status and the JSON answer.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut response = match (method, body) {
            ("GET", _) => self.http.get(&url).call(),
            ("POST", Some(body)) => self.http.post(&url).send_json(&body),
            ("POST", None) => self.http.post(&url).send_empty(),
            ("PUT", Some(body)) => self.http.put(&url).send_json(&body),
            other => panic!("{other:?}"),
        }
        .unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method, path, body);
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
        answer
    }
}

struct Phone {
    user: String,
    device: String,
    card: DeviceCard,
}

impl Phone {
    /// The phone's payment request for `fen` at the shop, as JSON.
    fn payment(&mut self, clock: &ManualClock, fen: u64, transaction: &str) -> Value {
        let cryptogram = self
            .card
            .cryptogram(PaymentData {
                amount: Amount::from_fen(fen),
                currency: Currency::CNY,
                merchant: "mch_shop".parse().unwrap(),
                channel: Channel::Nfc,
                unpredictable_number: 7,
                timestamp: clock.now(),
                cvm: Cvm::None,
            })
            .unwrap();
        json!({
            "user": self.user,
            "device": self.device,
            "mcc": 5411,
            "transaction": transaction,
            "cryptogram": cryptogram,
        })
    }
}

/// Registers 张三 with a phone and a bound ICBC card, all over HTTP.
fn onboard(s: &Server) -> Phone {
    let (name, id, mobile) = DEMO_PEOPLE[0];
    let user =
        s.ok("POST", "/users", Some(json!({"mobile": mobile, "name": name, "id_number": id})));
    let user = user["user"].as_str().unwrap().to_owned();
    let device = s.ok("POST", &format!("/users/{user}/devices"), Some(json!({"label": "phone"})));
    let device = device["device"].as_str().unwrap().to_owned();
    let pan = "6222021234567890128";
    let pending = s.ok(
        "POST",
        &format!("/users/{user}/cards"),
        Some(json!({"device": device, "pan": pan, "reserved_mobile": mobile})),
    );
    assert_eq!(pending["masked"], "6222 **** **** *** 0128");
    let code = s.outbox.last_code(&mobile.parse::<PhoneNumber>().unwrap(), OtpPurpose::CardBinding);
    let bound = s.ok(
        "POST",
        &format!("/users/{user}/cards/confirm"),
        Some(json!({"device": device, "binding": pending["binding"], "code": code.unwrap()})),
    );
    assert!(!bound.to_string().contains(pan), "the card number never leaves the service");
    // The phone rebuilds its cloud card from the delivery payload.
    let delivery: CardDelivery = serde_json::from_value(bound["delivery"].clone()).unwrap();
    Phone { user, device, card: DeviceCard::from_delivery(delivery) }
}

#[test]
fn a_wallet_app_pays_over_http_and_a_retry_hears_the_same_answer() {
    let s = start();
    let mut phone = onboard(&s);

    let first = phone.payment(&s.clock, 3_500, &TransactionId::random().to_string());
    let answer = s.ok("POST", "/payments", Some(first.clone()));
    assert_eq!(answer["outcome"], "approved", "{answer}");
    assert!(answer["message"].as_str().unwrap().starts_with("approved ¥35.00"), "{answer}");
    // The terminal did not hear the answer and sends the very same request again.
    assert_eq!(s.ok("POST", "/payments", Some(first)), answer);

    // Five more within ten minutes: the sixth payment of the burst is stepped up by SMS code.
    let mut challenged = None;
    for _ in 0..5 {
        s.clock.advance(TimeDelta::seconds(20));
        let request = phone.payment(&s.clock, 100, &TransactionId::random().to_string());
        let answer = s.ok("POST", "/payments", Some(request));
        if answer["outcome"] == "challenge_required" {
            challenged = Some(answer);
            break;
        }
        assert_eq!(answer["outcome"], "approved", "{answer}");
    }
    let challenged = challenged.expect("a burst is stepped up");
    assert_eq!(challenged["method"], "otp", "{challenged}");
    let mobile: PhoneNumber = DEMO_PEOPLE[0].2.parse().unwrap();
    let code = s.outbox.last_code(&mobile, OtpPurpose::Payment).unwrap();
    let step_up =
        json!({"user": phone.user, "challenge": challenged["challenge"], "code": "000000"});
    let (status, wrong) = s.call("POST", "/payments/step-up", Some(step_up));
    assert_eq!((status, wrong["kind"].as_str()), (422, Some("refused")), "{wrong}");
    let step_up = json!({"user": phone.user, "challenge": challenged["challenge"], "code": code});
    assert_eq!(s.ok("POST", "/payments/step-up", Some(step_up))["outcome"], "approved");
    let both = json!({"user": phone.user, "challenge": challenged["challenge"], "code": "1", "password": "2"});
    assert_eq!(s.call("POST", "/payments/step-up", Some(both)).0, 400);

    // The phone is lost: its cloud card is suspended and its next payment declined.
    let lost = s.ok("POST", &format!("/users/{}/devices/{}/lost", phone.user, phone.device), None);
    assert_eq!(lost["suspended_cloud_cards"], 1, "{lost}");
    s.clock.advance(TimeDelta::minutes(1));
    let after = phone.payment(&s.clock, 100, &TransactionId::random().to_string());
    let answer = s.ok("POST", "/payments", Some(after));
    assert_eq!(answer["outcome"], "declined", "{answer}");
    assert_eq!(answer["message"], "declined: phone reported lost", "{answer}");

    // Unknown users and malformed requests are told apart from outages.
    let (status, missing) = s.call("GET", &format!("/users/{}/lookups/qry_none", phone.user), None);
    assert_eq!((status, missing["kind"].as_str()), (404, Some("not_found")), "{missing}");
    let (status, bad) = s.call("POST", "/users", Some(json!({"mobile": "12345"})));
    assert_eq!((status, bad["kind"].as_str()), (400, Some("invalid")), "{bad}");
    assert!(!bad.to_string().contains("12345"), "the error never quotes the request: {bad}");
}

#[test]
fn the_one_click_lookup_over_http() {
    let s = start();
    let phone = onboard(&s);
    let user = &phone.user;
    s.ok("PUT", &format!("/users/{user}/password"), Some(json!({"password": "135790"})));
    let applied = s.ok(
        "POST",
        &format!("/users/{user}/lookups"),
        Some(json!({"region": 31, "banks": ["ICBC", "CMB"], "request": "req_app_1"})),
    );
    let query = applied["query"].as_str().unwrap().to_owned();
    s.ok("POST", &format!("/users/{user}/lookups/code"), None);
    let mobile: PhoneNumber = DEMO_PEOPLE[0].2.parse().unwrap();
    let code = s.outbox.last_code(&mobile, OtpPurpose::CardLookup).unwrap();
    let version = s.ok("GET", "/lookups/agreement", None)["version"].clone();
    let id: ResidentId = DEMO_PEOPLE[0].1.parse().unwrap();
    let status = s.ok(
        "POST",
        &format!("/users/{user}/lookups/{query}/authorize"),
        Some(json!({"agreement_version": version, "face": face_of(&id).0, "code": code})),
    );
    assert!(status["ready_by"].is_string(), "the user is told when: {status}");

    // The banks answer; the timed jobs gather the answers and generate the report.
    s.clock.advance(TimeDelta::minutes(1));
    s.cc.run_due().unwrap();
    let status = s.ok("GET", &format!("/users/{user}/lookups/{query}"), None);
    assert_eq!(status["state"], "generated", "{status}");
    let (wrong, _) = s.call(
        "POST",
        &format!("/users/{user}/lookups/{query}/view"),
        Some(json!({"password": "000000"})),
    );
    assert_eq!(wrong, 422);
    let report = s.ok(
        "POST",
        &format!("/users/{user}/lookups/{query}/view"),
        Some(json!({"password": "135790"})),
    );
    let text = report.to_string();
    assert!(text.contains("6222****0128") || text.contains("6222 **** **** *** 0128"), "{text}");
    assert!(!text.contains("6222021234567890128"), "masked: {text}");
    assert!(report["note"].as_str().unwrap().contains("发卡银行"), "Chinese by default: {text}");
}

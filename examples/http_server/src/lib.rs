//! cloudcard behind HTTP: an axum service a wallet app talks to, with [`CloudCard`] embedded.
//!
//! `CloudCard`'s calls block (they wait on the store's transactions), so every handler hands its
//! call to tokio's blocking pool and awaits it: the async workers stay free for connections.
//! Requests and answers are JSON; card numbers only ever leave masked, codes and passwords are
//! read from requests and never echoed, and an error answers with its words and kind, mapped to
//! an HTTP status by [`Error::kind`](cloudcard::Error::kind).
//!
//! | method and path | what |
//! |---|---|
//! | `POST /users` | register and verify a user: `{mobile, name, id_number}` |
//! | `POST /users/{user}/devices` | register a phone: `{label}` |
//! | `PUT /users/{user}/password` | set the payment password: `{password}` |
//! | `POST /users/{user}/cards` | bind a card, the bank texts a code: `{device, pan, reserved_mobile}` |
//! | `POST /users/{user}/cards/confirm` | confirm with the code: the cloud card's delivery payload for the phone |
//! | `POST /payments` | a payment from the phone's cryptogram, idempotent by the terminal's `transaction` |
//! | `POST /payments/step-up` | answer a challenge: `{user, challenge, code}` or `{.., password}` or `{.., cryptogram}` |
//! | `POST /users/{user}/devices/{device}/lost` | report a phone lost: its cloud cards are suspended |
//! | `GET /lookups/agreement` | the lookup agreement version a user accepts |
//! | `POST /users/{user}/lookups` | apply for the one-click card lookup: `{region, banks, request}` |
//! | `POST /users/{user}/lookups/code` | text the lookup's verification code |
//! | `POST /users/{user}/lookups/{query}/authorize` | authorize: `{agreement_version, face, code}` |
//! | `GET /users/{user}/lookups/{query}` | where the lookup is, and when it will be ready |
//! | `POST /users/{user}/lookups/{query}/view` | the report, after the payment password: `{password}` |
//!
//! Timed jobs (deadlines, retries, expiries) are [`CloudCard::run_due`]: call it about once a
//! minute, on the blocking pool too; [`serve`] does.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use cloudcard::core::{BindingId, ChallengeId, QueryId, RequestId};
use cloudcard::report::QueryState;
use cloudcard::token::CardDelivery;
use cloudcard::wallet::FaceSample;
use cloudcard::{
    Bank, BindRequest, CloudCard, Cryptogram, DeviceId, Error, ErrorKind, Mcc, Pan, PaymentOutcome,
    PaymentRequest, PhoneNumber, Region, Report, ResidentId, Secret, StepUp, TransactionId, UserId,
};
use serde::{Deserialize, Serialize};

/// The service's shared state: the one `CloudCard`.
type App = Arc<CloudCard>;

/// The routes, over `cc`.
pub fn router(cc: Arc<CloudCard>) -> Router {
    Router::new()
        .route("/users", post(register))
        .route("/users/{user}/devices", post(add_device))
        .route("/users/{user}/password", axum::routing::put(set_password))
        .route("/users/{user}/cards", post(bind))
        .route("/users/{user}/cards/confirm", post(confirm))
        .route("/payments", post(pay))
        .route("/payments/step-up", post(step_up))
        .route("/users/{user}/devices/{device}/lost", post(phone_lost))
        .route("/lookups/agreement", get(agreement))
        .route("/users/{user}/lookups", post(start_lookup))
        .route("/users/{user}/lookups/code", post(lookup_code))
        .route("/users/{user}/lookups/{query}/authorize", post(authorize_lookup))
        .route("/users/{user}/lookups/{query}", get(lookup_status))
        .route("/users/{user}/lookups/{query}/view", post(view_report))
        .with_state(cc)
}

/// Serves `cc` on `listener` until the process ends, running the timed jobs every `tick`.
///
/// # Errors
///
/// The listener's I/O error.
pub async fn serve(
    cc: Arc<CloudCard>,
    listener: tokio::net::TcpListener,
    tick: std::time::Duration,
) -> std::io::Result<()> {
    let jobs = cc.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(tick);
        loop {
            every.tick().await;
            let cc = jobs.clone();
            // A failed pass is retried on the next tick; what it could not do stays due.
            let _ = tokio::task::spawn_blocking(move || cc.run_due()).await;
        }
    });
    axum::serve(listener, router(cc)).await
}

/// An error as the client reads it: the words, and what kind of failure it is.
#[derive(Debug)]
pub enum ApiError {
    /// The service answered with an error.
    Service(Error),
    /// The request itself does not say what it means.
    BadRequest(&'static str),
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
    kind: &'static str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = match self {
            Self::Service(e) => e,
            Self::BadRequest(what) => {
                let body = ErrorBody { error: what.to_owned(), kind: "invalid" };
                return (StatusCode::BAD_REQUEST, Json(body)).into_response();
            }
        };
        let (status, kind) = match e.kind() {
            ErrorKind::Invalid => (StatusCode::BAD_REQUEST, "invalid"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            // A refusal, and whatever kinds come later: the request was understood and refused.
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "refused"),
        };
        (status, Json(ErrorBody { error: e.to_string(), kind })).into_response()
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

/// A JSON request body; one that does not parse is answered in the service's own error shape,
/// with a fixed message (a parser's message could quote what was sent: a mobile, an ID).
struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(_) => Err(ApiError::BadRequest("the request body is not what this call takes")),
        }
    }
}

/// Runs a blocking `CloudCard` call on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    cc: App,
    call: impl FnOnce(&CloudCard) -> Result<T, Error> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(move || call(&cc)).await {
        Ok(result) => result.map_err(ApiError::Service),
        // The call panicked or the runtime is shutting down: an outage, not a refusal.
        Err(_) => Err(ApiError::Service(Error::PortUnavailable(cloudcard::core::PortError::new(
            "service worker",
        )))),
    }
}

#[derive(Deserialize)]
struct Register {
    mobile: PhoneNumber,
    name: cloudcard::core::PersonName,
    id_number: ResidentId,
}

#[derive(Serialize)]
struct Registered {
    user: UserId,
}

async fn register(State(cc): State<App>, Body(r): Body<Register>) -> Answer<Registered> {
    let user = blocking(cc, move |cc| cc.register_user(r.mobile, r.name, r.id_number)).await?;
    Ok(Json(Registered { user }))
}

#[derive(Deserialize)]
struct NewDevice {
    label: String,
}

#[derive(Serialize)]
struct DeviceAdded {
    device: DeviceId,
}

async fn add_device(
    State(cc): State<App>,
    Path(user): Path<UserId>,
    Body(d): Body<NewDevice>,
) -> Answer<DeviceAdded> {
    let device = blocking(cc, move |cc| cc.register_device(&user, &d.label)).await?;
    Ok(Json(DeviceAdded { device }))
}

#[derive(Deserialize)]
struct Password {
    password: Secret<String>,
}

async fn set_password(
    State(cc): State<App>,
    Path(user): Path<UserId>,
    Body(p): Body<Password>,
) -> Result<StatusCode, ApiError> {
    blocking(cc, move |cc| cc.set_payment_password(&user, &p.password)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Bind {
    device: DeviceId,
    pan: Pan,
    reserved_mobile: PhoneNumber,
}

#[derive(Serialize)]
struct BindStarted {
    binding: BindingId,
    masked: String,
    bank: Bank,
    expires_at: DateTime<Utc>,
}

async fn bind(
    State(cc): State<App>,
    Path(user): Path<UserId>,
    Body(b): Body<Bind>,
) -> Answer<BindStarted> {
    let request =
        BindRequest { pan: b.pan, expiry: None, cvn2: None, reserved_mobile: b.reserved_mobile };
    let pending = blocking(cc, move |cc| cc.bind_card(&user, &b.device, request)).await?;
    Ok(Json(BindStarted {
        binding: pending.binding,
        masked: pending.masked,
        bank: pending.bank,
        expires_at: pending.expires_at,
    }))
}

#[derive(Deserialize)]
struct Confirm {
    device: DeviceId,
    binding: BindingId,
    code: Secret<String>,
}

#[derive(Serialize)]
struct Bound {
    card: cloudcard::CardId,
    masked: String,
    cloud_card: String,
    /// What the phone installs: token number, limited-use key, counters. Sent once, to the
    /// phone that asked, over the app's own secured channel.
    delivery: CardDelivery,
}

async fn confirm(
    State(cc): State<App>,
    Path(user): Path<UserId>,
    Body(c): Body<Confirm>,
) -> Answer<Bound> {
    let bound = blocking(cc, move |cc| {
        cc.confirm_card(&user, &c.device, &c.binding, c.code.expose_secret())
    })
    .await?;
    Ok(Json(Bound {
        card: bound.card.id,
        masked: bound.card.masked,
        cloud_card: bound.token.number.to_string(),
        delivery: bound.device_card.export_for_delivery(),
    }))
}

#[derive(Deserialize)]
struct Pay {
    user: UserId,
    device: DeviceId,
    mcc: Mcc,
    transaction: TransactionId,
    cryptogram: Cryptogram,
}

/// A payment's outcome, and its words for the screen.
#[derive(Serialize)]
struct Paid {
    #[serde(flatten)]
    outcome: PaymentOutcome,
    message: String,
}

impl From<PaymentOutcome> for Paid {
    fn from(outcome: PaymentOutcome) -> Self {
        Self { message: outcome.to_string(), outcome }
    }
}

async fn pay(State(cc): State<App>, Body(p): Body<Pay>) -> Answer<Paid> {
    let request = PaymentRequest {
        user: p.user,
        device: p.device,
        cryptogram: p.cryptogram,
        mcc: p.mcc,
        transaction: p.transaction,
    };
    Ok(Json(blocking(cc, move |cc| cc.pay(&request)).await?.into()))
}

#[derive(Deserialize)]
struct StepUpRequest {
    user: UserId,
    challenge: ChallengeId,
    code: Option<Secret<String>>,
    password: Option<Secret<String>>,
    cryptogram: Option<Cryptogram>,
}

async fn step_up(State(cc): State<App>, Body(s): Body<StepUpRequest>) -> Answer<Paid> {
    let answer = match (s.code, s.password, s.cryptogram) {
        (Some(code), None, None) => StepUp::Otp { code },
        (None, Some(password), None) => StepUp::PaymentPassword { password },
        (None, None, Some(cryptogram)) => StepUp::Fingerprint { cryptogram },
        _ => return Err(ApiError::BadRequest("answer with one of code, password, cryptogram")),
    };
    Ok(Json(blocking(cc, move |cc| cc.step_up(&s.user, &s.challenge, answer)).await?.into()))
}

#[derive(Serialize)]
struct PhoneLost {
    suspended_cloud_cards: usize,
    claim: Option<cloudcard::core::ClaimId>,
}

async fn phone_lost(
    State(cc): State<App>,
    Path((user, device)): Path<(UserId, DeviceId)>,
) -> Answer<PhoneLost> {
    let lost = blocking(cc, move |cc| cc.report_lost_phone(&user, &device)).await?;
    Ok(Json(PhoneLost {
        suspended_cloud_cards: lost.cancelled_tokens.len(),
        claim: lost.claim.map(|c| c.id),
    }))
}

#[derive(Serialize)]
struct Agreement {
    version: String,
}

async fn agreement(State(cc): State<App>) -> Json<Agreement> {
    Json(Agreement { version: cc.lookup_agreement_version().to_owned() })
}

#[derive(Deserialize)]
struct Apply {
    region: Region,
    banks: BTreeSet<Bank>,
    request: RequestId,
}

#[derive(Serialize)]
struct Applied {
    query: QueryId,
}

async fn start_lookup(
    State(cc): State<App>,
    Path(user): Path<UserId>,
    Body(a): Body<Apply>,
) -> Answer<Applied> {
    let query =
        blocking(cc, move |cc| cc.start_lookup(&user, a.region, a.banks, a.request)).await?;
    Ok(Json(Applied { query }))
}

async fn lookup_code(
    State(cc): State<App>,
    Path(user): Path<UserId>,
) -> Result<StatusCode, ApiError> {
    blocking(cc, move |cc| cc.send_lookup_code(&user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Authorize {
    agreement_version: String,
    face: Secret<String>,
    code: Secret<String>,
}

/// Where a lookup is, in words and times.
#[derive(Serialize)]
struct LookupStatus {
    state: QueryState,
    /// The state in words.
    status: String,
    ready_by: Option<DateTime<Utc>>,
    generated_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    /// Each bank's part, in words.
    banks: Vec<(Bank, String)>,
}

impl From<cloudcard::report::QueryView> for LookupStatus {
    fn from(v: cloudcard::report::QueryView) -> Self {
        Self {
            status: v.state.to_string(),
            state: v.state,
            ready_by: v.ready_by,
            generated_at: v.generated_at,
            expires_at: v.expires_at,
            banks: v.banks.into_iter().map(|(bank, status)| (bank, status.to_string())).collect(),
        }
    }
}

async fn authorize_lookup(
    State(cc): State<App>,
    Path((user, query)): Path<(UserId, QueryId)>,
    Body(a): Body<Authorize>,
) -> Answer<LookupStatus> {
    let view = blocking(cc, move |cc| {
        let face = FaceSample(a.face.expose_secret().clone());
        cc.authorize_lookup(&user, &query, &a.agreement_version, &face, a.code.expose_secret())?;
        cc.lookup_status(&user, &query)
    })
    .await?;
    Ok(Json(view.into()))
}

async fn lookup_status(
    State(cc): State<App>,
    Path((user, query)): Path<(UserId, QueryId)>,
) -> Answer<LookupStatus> {
    Ok(Json(blocking(cc, move |cc| cc.lookup_status(&user, &query)).await?.into()))
}

async fn view_report(
    State(cc): State<App>,
    Path((user, query)): Path<(UserId, QueryId)>,
    Body(v): Body<Password>,
) -> Answer<Report> {
    Ok(Json(blocking(cc, move |cc| cc.view_report(&user, &query, &v.password)).await?))
}

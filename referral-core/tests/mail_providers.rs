//! `ApiMailer` against a local fake of each provider's API: the fake checks each request as the
//! provider does (method, path, auth, content type, required fields) and answers with the
//! provider's documented success and error bodies. Mailers are configured the way a deployment
//! is, through `MailSettings::from_lookup` with `MAIL_API_URL` pointing at the fake.

// The fakes return a refusal as the whole HTTP answer; its size is no concern in a test server.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::{to_bytes, Body};
use axum::extract::{FromRequest, Multipart, OriginalUri, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use referral_core::mailer::MailSettings;
use referral_core::testing::mailer_contract::ARRIVAL_TIMEOUT;
use referral_core::testing::{Delivered, Inbox};
use referral_core::{ApiMailer, Email, MailError, Mailer, Message};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

const KEY: &str = "test-key_0123456789";
const DOMAIN: &str = "mg.example.com";
const FROM: &str = "Referral Team <no-reply@example.com>";

/// The provider a fake imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Postmark,
    Sendgrid,
    Mailgun,
    Resend,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Postmark => "postmark",
            Kind::Sendgrid => "sendgrid",
            Kind::Mailgun => "mailgun",
            Kind::Resend => "resend",
        }
    }

    /// The documented path, as the router matches it.
    fn route(self) -> &'static str {
        match self {
            Kind::Postmark => "/email",
            Kind::Sendgrid => "/v3/mail/send",
            Kind::Mailgun => "/v3/{domain}/messages",
            Kind::Resend => "/emails",
        }
    }

    /// An error body in the provider's documented shape.
    fn error(self, status: StatusCode, code: &str, message: &str) -> Response {
        let body = match self {
            Kind::Postmark => {
                json!({ "ErrorCode": code.parse::<i64>().unwrap_or(0), "Message": message })
            }
            Kind::Sendgrid => {
                json!({ "errors": [{ "message": message, "field": code_field(code), "help": null }] })
            }
            Kind::Mailgun => json!({ "message": message }),
            Kind::Resend => {
                json!({ "statusCode": status.as_u16(), "message": message, "name": code })
            }
        };
        (status, axum::Json(body)).into_response()
    }
}

/// SendGrid names the offending field; the other providers put a code where this goes.
fn code_field(code: &str) -> Value {
    if code.contains('.') {
        Value::from(code)
    } else {
        Value::Null
    }
}

/// One request the fake accepted.
#[derive(Debug, Clone)]
struct Received {
    delivered: Delivered,
    /// The sender exactly as the provider received it (a string, or SendGrid's object).
    from: Value,
    path: String,
    content_type: String,
}

/// An answer the fake gives instead of looking at the request.
struct Scripted {
    status: StatusCode,
    retry_after: Option<&'static str>,
    code: &'static str,
    message: &'static str,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    arrived: Notify,
    script: Mutex<VecDeque<Scripted>>,
    refused: Mutex<HashSet<String>>,
    requests: Mutex<usize>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A provider's API on 127.0.0.1, optionally under a base path.
struct Fake {
    kind: Kind,
    base_url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Fake {
    async fn start(kind: Kind) -> Fake {
        Fake::start_under(kind, "").await
    }

    async fn start_under(kind: Kind, base_path: &str) -> Fake {
        let shared = Arc::new(Shared::default());
        let api = Router::new()
            .route(kind.route(), post(handle))
            .fallback(move || async move {
                kind.error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "The requested endpoint does not exist.",
                )
            })
            .with_state((kind, shared.clone()));
        let app = if base_path.is_empty() {
            api
        } else {
            Router::new().nest(base_path, api)
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fake {
            kind,
            base_url: format!("http://{address}{base_path}"),
            shared,
            server,
        }
    }

    /// The variables a deployment would set to send through this fake.
    fn variables(&self) -> HashMap<String, String> {
        [
            ("MAIL_PROVIDER", self.kind.name()),
            ("MAIL_API_KEY", KEY),
            ("MAIL_DOMAIN", DOMAIN),
            ("MAIL_FROM", FROM),
            ("MAIL_API_URL", self.base_url.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn mailer(&self) -> ApiMailer {
        self.mailer_with(&[])
    }

    fn mailer_with(&self, overrides: &[(&str, &str)]) -> ApiMailer {
        let mut variables = self.variables();
        for (name, value) in overrides {
            variables.insert((*name).to_owned(), (*value).to_owned());
        }
        mailer_from(&variables)
    }

    fn answer_next_with(&self, scripted: Scripted) {
        lock(&self.shared.script).push_back(scripted);
    }

    /// From now on the provider answers for `address` as for an invalid or suppressed one.
    fn refuse(&self, address: &str) {
        lock(&self.shared.refused).insert(address.to_owned());
    }

    fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    fn requests(&self) -> usize {
        *lock(&self.shared.requests)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[async_trait]
impl Inbox for Fake {
    async fn delivered(&self, at_least: usize) -> Vec<Delivered> {
        let deadline = Instant::now() + ARRIVAL_TIMEOUT;
        loop {
            let arrived = self.shared.arrived.notified();
            let received = self.received();
            if received.len() >= at_least {
                return received.into_iter().map(|r| r.delivered).collect();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, arrived).await.is_err() {
                return self.received().into_iter().map(|r| r.delivered).collect();
            }
        }
    }
}

fn mailer_from(variables: &HashMap<String, String>) -> ApiMailer {
    match MailSettings::from_lookup(&|name: &str| variables.get(name).cloned()) {
        Ok(MailSettings::Api(settings)) => ApiMailer::new(settings).unwrap(),
        other => panic!("expected an HTTP provider, got {other:?}"),
    }
}

fn message(to: &str) -> Message {
    Message::new(
        Email::parse(to).unwrap(),
        "Reset your password",
        "Open https://app.example.com/reset-password?token=abc\n".into(),
        "<p><a href=\"https://app.example.com/reset-password?token=abc\">Reset</a></p>".into(),
    )
}

// ---- the fake providers -------------------------------------------------------------------

async fn handle(State((kind, shared)): State<(Kind, Arc<Shared>)>, request: Request) -> Response {
    *lock(&shared.requests) += 1;
    if let Some(scripted) = lock(&shared.script).pop_front() {
        let mut answer = kind.error(scripted.status, scripted.code, scripted.message);
        if let Some(delay) = scripted.retry_after {
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, delay.parse().unwrap());
        }
        return answer;
    }
    // A router nested under a base path sees its own part of the path; keep the whole.
    let path = match request.extensions().get::<OriginalUri>() {
        Some(original) => original.path().to_owned(),
        None => request.uri().path().to_owned(),
    };
    let outcome = match kind {
        Kind::Postmark => postmark(request, path).await,
        Kind::Sendgrid => sendgrid(request, path).await,
        Kind::Mailgun => mailgun(request, path).await,
        Kind::Resend => resend(request, path).await,
    };
    let received = match outcome {
        Ok(received) => received,
        Err(refusal) => return refusal,
    };
    let recipient = received.delivered.to.first().cloned().unwrap_or_default();
    if lock(&shared.refused).contains(&recipient) {
        return invalid_recipient(kind, &recipient);
    }
    lock(&shared.received).push(received.clone());
    shared.arrived.notify_waiters();
    success(kind, &recipient)
}

/// Each provider's documented answer to an address it will not send to.
fn invalid_recipient(kind: Kind, recipient: &str) -> Response {
    match kind {
        Kind::Postmark => kind.error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "406",
            "You tried to send to recipient(s) that have been marked as inactive.",
        ),
        Kind::Sendgrid => kind.error(
            StatusCode::BAD_REQUEST,
            "personalizations.0.to.0.email",
            "Does not contain a valid address.",
        ),
        Kind::Mailgun => kind.error(
            StatusCode::BAD_REQUEST,
            "",
            &format!("'to' parameter is not a valid address ({recipient}). please check documentation"),
        ),
        Kind::Resend => kind.error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            "Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.",
        ),
    }
}

/// Each provider's documented success.
fn success(kind: Kind, recipient: &str) -> Response {
    match kind {
        Kind::Postmark => axum::Json(json!({
            "To": recipient,
            "SubmittedAt": "2024-01-15T12:01:05.1794748-05:00",
            "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817",
            "ErrorCode": 0,
            "Message": "OK",
        }))
        .into_response(),
        Kind::Sendgrid => (
            StatusCode::ACCEPTED,
            [("x-message-id", "Vn2wl3b5QjOF2ylP2Sl8kA")],
            Body::empty(),
        )
            .into_response(),
        Kind::Mailgun => axum::Json(json!({
            "id": format!("<20240115120105.1.ABCDEF@{DOMAIN}>"),
            "message": "Queued. Thank you.",
        }))
        .into_response(),
        Kind::Resend => {
            axum::Json(json!({ "id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794" })).into_response()
        }
    }
}

fn header_value(headers: &HeaderMap, name: impl header::AsHeaderName) -> String {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Headers every request must carry: `Accept: application/json` and a `User-Agent`.
fn check_common(kind: Kind, headers: &HeaderMap) -> Result<(), Response> {
    if header_value(headers, header::USER_AGENT).is_empty() {
        // Resend's edge refuses such requests before the API sees them.
        return Err((StatusCode::FORBIDDEN, "error code: 1010").into_response());
    }
    if header_value(headers, header::ACCEPT) != "application/json" {
        return Err(kind.error(
            StatusCode::NOT_ACCEPTABLE,
            "406",
            "Accept must be application/json",
        ));
    }
    Ok(())
}

async fn json_body(kind: Kind, request: Request) -> Result<(HeaderMap, Value), Response> {
    let headers = request.headers().clone();
    if header_value(&headers, header::CONTENT_TYPE) != "application/json" {
        return Err(kind.error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "402",
            "Content-Type should be application/json.",
        ));
    }
    let bytes = to_bytes(request.into_body(), 1 << 20).await.map_err(|_| {
        kind.error(
            StatusCode::BAD_REQUEST,
            "402",
            "Received invalid JSON input.",
        )
    })?;
    let body = serde_json::from_slice(&bytes).map_err(|_| {
        kind.error(
            StatusCode::BAD_REQUEST,
            "402",
            "Received invalid JSON input.",
        )
    })?;
    Ok((headers, body))
}

fn text(body: &Value, pointer: &str) -> Option<String> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// `POST /email`, `X-Postmark-Server-Token`, JSON with From, To, Subject, TextBody, HtmlBody.
async fn postmark(request: Request, path: String) -> Result<Received, Response> {
    let kind = Kind::Postmark;
    check_common(kind, request.headers())?;
    if header_value(request.headers(), "x-postmark-server-token") != KEY {
        return Err(kind.error(
            StatusCode::UNAUTHORIZED,
            "10",
            "Request does not contain a valid Server token.",
        ));
    }
    let (headers, body) = json_body(kind, request).await?;
    let field = |name: &str| {
        text(&body, &format!("/{name}")).ok_or_else(|| {
            kind.error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "300",
                &format!("Invalid email request: {name} is required"),
            )
        })
    };
    Ok(Received {
        from: Value::from(field("From")?),
        delivered: Delivered {
            to: vec![field("To")?],
            subject: field("Subject")?,
            text: field("TextBody")?,
            html: field("HtmlBody")?,
        },
        path,
        content_type: header_value(&headers, header::CONTENT_TYPE),
    })
}

/// `POST /v3/mail/send`, `Authorization: Bearer`, JSON with personalizations, from, subject
/// and content (text/plain first, then text/html).
async fn sendgrid(request: Request, path: String) -> Result<Received, Response> {
    let kind = Kind::Sendgrid;
    check_common(kind, request.headers())?;
    if header_value(request.headers(), header::AUTHORIZATION) != format!("Bearer {KEY}") {
        return Err(kind.error(
            StatusCode::UNAUTHORIZED,
            "",
            "The provided authorization grant is invalid, expired, or revoked",
        ));
    }
    let (headers, body) = json_body(kind, request).await?;
    let field = |pointer: &str, field: &'static str| {
        text(&body, pointer).ok_or_else(|| {
            kind.error(
                StatusCode::BAD_REQUEST,
                field,
                &format!("The {field} parameter is required."),
            )
        })
    };
    let to = field(
        "/personalizations/0/to/0/email",
        "personalizations.0.to.0.email",
    )?;
    field("/from/email", "from.email")?;
    if text(&body, "/content/0/type").as_deref() != Some("text/plain")
        || text(&body, "/content/1/type").as_deref() != Some("text/html")
    {
        return Err(kind.error(
            StatusCode::BAD_REQUEST,
            "content",
            "If present, text/plain and text/html may only be provided in the order: text/plain, text/html.",
        ));
    }
    Ok(Received {
        from: body.get("from").cloned().unwrap_or(Value::Null),
        delivered: Delivered {
            to: vec![to],
            subject: field("/subject", "subject")?,
            text: field("/content/0/value", "content.0.value")?,
            html: field("/content/1/value", "content.1.value")?,
        },
        path,
        content_type: header_value(&headers, header::CONTENT_TYPE),
    })
}

/// `POST /v3/{domain}/messages`, HTTP Basic `api:KEY`, multipart/form-data with from, to,
/// subject, text and html.
async fn mailgun(request: Request, path: String) -> Result<Received, Response> {
    let kind = Kind::Mailgun;
    check_common(kind, request.headers())?;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("api:{KEY}"));
    if header_value(request.headers(), header::AUTHORIZATION) != format!("Basic {basic}") {
        return Err((StatusCode::UNAUTHORIZED, "Forbidden").into_response());
    }
    if !path.ends_with(&format!("/v3/{DOMAIN}/messages")) {
        return Err(kind.error(
            StatusCode::NOT_FOUND,
            "",
            &format!("Domain not found: {path}"),
        ));
    }
    let content_type = header_value(request.headers(), header::CONTENT_TYPE);
    if !content_type.starts_with("multipart/form-data; boundary=") {
        return Err(kind.error(StatusCode::BAD_REQUEST, "", "expected multipart/form-data"));
    }
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|error| kind.error(StatusCode::BAD_REQUEST, "", &error.body_text()))?;
    let mut fields = HashMap::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|error| kind.error(StatusCode::BAD_REQUEST, "", &error.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let value = field
            .text()
            .await
            .map_err(|error| kind.error(StatusCode::BAD_REQUEST, "", &error.body_text()))?;
        if fields.insert(name.clone(), value).is_some() {
            return Err(kind.error(
                StatusCode::BAD_REQUEST,
                "",
                &format!("'{name}' given twice"),
            ));
        }
    }
    let mut field = |name: &str| {
        fields
            .remove(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| {
                kind.error(
                    StatusCode::BAD_REQUEST,
                    "",
                    &format!("'{name}' parameter is missing"),
                )
            })
    };
    Ok(Received {
        from: Value::from(field("from")?),
        delivered: Delivered {
            to: vec![field("to")?],
            subject: field("subject")?,
            text: field("text")?,
            html: field("html")?,
        },
        path,
        content_type,
    })
}

/// `POST /emails`, `Authorization: Bearer`, JSON with from, to (a string or a list), subject,
/// text and html.
async fn resend(request: Request, path: String) -> Result<Received, Response> {
    let kind = Kind::Resend;
    check_common(kind, request.headers())?;
    match header_value(request.headers(), header::AUTHORIZATION).as_str() {
        "" => {
            return Err(kind.error(
                StatusCode::UNAUTHORIZED,
                "missing_api_key",
                "Missing API key in the authorization header.",
            ))
        }
        auth if auth != format!("Bearer {KEY}") => {
            return Err(kind.error(
                StatusCode::FORBIDDEN,
                "invalid_api_key",
                "API key is invalid",
            ))
        }
        _ => {}
    }
    let (headers, body) = json_body(kind, request).await?;
    let field = |name: &str| {
        text(&body, &format!("/{name}")).ok_or_else(|| {
            kind.error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_required_field",
                &format!("Missing `{name}` field."),
            )
        })
    };
    let to = match body.get("to") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    if to.is_empty() {
        return Err(field("to").unwrap_err());
    }
    Ok(Received {
        from: Value::from(field("from")?),
        delivered: Delivered {
            to,
            subject: field("subject")?,
            text: field("text")?,
            html: field("html")?,
        },
        path,
        content_type: header_value(&headers, header::CONTENT_TYPE),
    })
}

// ---- the cases, run for every provider ----------------------------------------------------

async fn the_request_is_the_one_the_provider_documents(kind: Kind) {
    let fake = Fake::start(kind).await;
    let sent = message("reader@example.com");
    fake.mailer().send(&sent).await.unwrap();

    let received = fake.received();
    assert_eq!(received.len(), 1);
    let received = &received[0];
    assert_eq!(received.delivered, Delivered::from(sent));
    let (path, content_type, from) = match kind {
        Kind::Postmark => ("/email", "application/json", json!(FROM)),
        Kind::Sendgrid => (
            "/v3/mail/send",
            "application/json",
            json!({ "email": "no-reply@example.com", "name": "Referral Team" }),
        ),
        Kind::Mailgun => (
            "/v3/mg.example.com/messages",
            "multipart/form-data",
            json!(FROM),
        ),
        Kind::Resend => ("/emails", "application/json", json!(FROM)),
    };
    assert_eq!(received.path, path);
    assert!(
        received.content_type.starts_with(content_type),
        "{}",
        received.content_type
    );
    assert_eq!(received.from, from);
}

async fn a_base_path_in_mail_api_url_comes_before_the_documented_path(kind: Kind) {
    let fake = Fake::start_under(kind, "/relay/v1").await;
    fake.mailer()
        .send(&message("relayed@example.com"))
        .await
        .unwrap();
    let received = fake.received();
    assert_eq!(received.len(), 1);
    let documented = match kind {
        Kind::Postmark => "/email",
        Kind::Sendgrid => "/v3/mail/send",
        Kind::Mailgun => "/v3/mg.example.com/messages",
        Kind::Resend => "/emails",
    };
    assert_eq!(received[0].path, format!("/relay/v1{documented}"));
}

/// Sends one message and returns the error, checking it was one request (the mailer never
/// retries by itself: the outbox does) and that nothing was delivered.
async fn one_failed_send(fake: &Fake, mailer: &ApiMailer, to: &str) -> MailError {
    let before = fake.requests();
    let error = mailer.send(&message(to)).await.unwrap_err();
    assert_eq!(fake.requests(), before + 1, "exactly one request per send");
    assert!(fake.received().is_empty(), "nothing was delivered");
    error
}

async fn a_wrong_key_is_permanent_with_the_providers_reason(kind: Kind) {
    let fake = Fake::start(kind).await;
    let mailer = fake.mailer_with(&[("MAIL_API_KEY", "not-the-key")]);
    let error = one_failed_send(&fake, &mailer, "reader@example.com").await;
    assert!(error.is_permanent(), "{error:?}");
    let reason = match kind {
        Kind::Postmark => {
            "401 Unauthorized: Request does not contain a valid Server token. (ErrorCode 10)"
        }
        Kind::Sendgrid => "401 Unauthorized: The provided authorization grant is invalid",
        Kind::Mailgun => "401 Unauthorized: Forbidden",
        Kind::Resend => "403 Forbidden: invalid_api_key: API key is invalid",
    };
    assert!(error.to_string().contains(reason), "{error}");
    assert!(!error.to_string().contains("not-the-key"), "{error}");
}

async fn an_invalid_recipient_is_permanent_with_the_providers_reason(kind: Kind) {
    let fake = Fake::start(kind).await;
    fake.refuse("bounced@example.com");
    let error = one_failed_send(&fake, &fake.mailer(), "bounced@example.com").await;
    assert!(error.is_permanent(), "{error:?}");
    let reason = match kind {
        Kind::Postmark => "422 Unprocessable Entity: You tried to send to recipient(s) that have been marked as inactive. (ErrorCode 406)",
        Kind::Sendgrid => "400 Bad Request: personalizations.0.to.0.email: Does not contain a valid address.",
        Kind::Mailgun => "400 Bad Request: 'to' parameter is not a valid address (bounced@example.com)",
        Kind::Resend => "422 Unprocessable Entity: validation_error: Invalid `to` field.",
    };
    assert!(error.to_string().contains(reason), "{error}");
    // Other recipients still go out.
    fake.mailer()
        .send(&message("fine@example.com"))
        .await
        .unwrap();
    assert_eq!(fake.received().len(), 1);
}

async fn too_many_requests_with_retry_after_is_throttled_for_that_long(kind: Kind) {
    let fake = Fake::start(kind).await;
    fake.answer_next_with(Scripted {
        status: StatusCode::TOO_MANY_REQUESTS,
        retry_after: Some("7"),
        code: "rate_limit_exceeded",
        message: "Too many requests. Please limit the number of requests per second.",
    });
    let mailer = fake.mailer();
    let error = one_failed_send(&fake, &mailer, "busy@example.com").await;
    assert!(!error.is_permanent(), "{error:?}");
    assert_eq!(
        error.retry_after(),
        Some(Duration::from_secs(7)),
        "{error:?}"
    );
    assert!(error.to_string().contains("Too many requests"), "{error}");
    mailer.send(&message("busy@example.com")).await.unwrap();
    assert_eq!(fake.received().len(), 1, "the next attempt goes through");
}

async fn server_trouble_is_transient_and_a_503_with_retry_after_is_throttled(kind: Kind) {
    let fake = Fake::start(kind).await;
    let mailer = fake.mailer();
    for (status, retry_after) in [
        (StatusCode::INTERNAL_SERVER_ERROR, None),
        (StatusCode::SERVICE_UNAVAILABLE, None),
        (StatusCode::TOO_MANY_REQUESTS, None),
        (StatusCode::SERVICE_UNAVAILABLE, Some("120")),
    ] {
        fake.answer_next_with(Scripted {
            status,
            retry_after,
            code: "internal_server_error",
            message: "An unexpected error occurred.",
        });
        let error = one_failed_send(&fake, &mailer, "later@example.com").await;
        match retry_after {
            None => assert!(
                matches!(error, MailError::Unavailable(_)),
                "{status}: {error:?}"
            ),
            Some(_) => assert_eq!(
                error.retry_after(),
                Some(Duration::from_secs(120)),
                "{error:?}"
            ),
        }
        assert!(!error.is_permanent());
    }
}

async fn a_provider_that_never_answers_times_out_as_transient(kind: Kind) {
    // Accepts connections and says nothing.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let fake = Fake::start(kind).await;
    let mut variables = fake.variables();
    variables.insert("MAIL_API_URL".into(), format!("http://{address}"));
    let settings = match MailSettings::from_lookup(&|name: &str| variables.get(name).cloned()) {
        Ok(MailSettings::Api(settings)) => settings,
        other => panic!("{other:?}"),
    };
    let mailer = ApiMailer::new(referral_core::ApiSettings {
        timeout: Duration::from_millis(300),
        ..settings
    })
    .unwrap();
    let started = Instant::now();
    let error = mailer
        .send(&message("patient@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(error, MailError::Unavailable(_)), "{error:?}");
    assert!(
        error.to_string().contains("did not answer within 300 ms"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the timeout bounds the send"
    );
    silent.abort();
}

async fn a_closed_port_is_transient(kind: Kind) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let fake = Fake::start(kind).await;
    let mailer = fake.mailer_with(&[("MAIL_API_URL", &format!("http://{address}"))]);
    let error = mailer
        .send(&message("reader@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(error, MailError::Unavailable(_)), "{error:?}");
    assert!(
        error.to_string().contains("could not be reached"),
        "{error}"
    );
}

/// One module per provider: the mailer contract, and each case above as a named test.
macro_rules! provider_tests {
    ($($module:ident: $kind:expr),+ $(,)?) => {$(
        mod $module {
            use super::*;

            referral_core::mailer_contract_tests!(async {
                let fake = Fake::start($kind).await;
                (fake.mailer(), fake)
            });

            provider_tests!(@cases $kind;
                the_request_is_the_one_the_provider_documents,
                a_base_path_in_mail_api_url_comes_before_the_documented_path,
                a_wrong_key_is_permanent_with_the_providers_reason,
                an_invalid_recipient_is_permanent_with_the_providers_reason,
                too_many_requests_with_retry_after_is_throttled_for_that_long,
                server_trouble_is_transient_and_a_503_with_retry_after_is_throttled,
                a_provider_that_never_answers_times_out_as_transient,
                a_closed_port_is_transient,
            );
        }
    )+};
    (@cases $kind:expr; $($case:ident),+ $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            super::$case($kind).await;
        }
    )+};
}

provider_tests! {
    postmark: Kind::Postmark,
    sendgrid: Kind::Sendgrid,
    mailgun: Kind::Mailgun,
    resend: Kind::Resend,
}

//! Delivering notifications: the [`NoticeSender`] contract and its implementations.
//!
//! - [`LogSender`] (the default): writes the notice to the log; the notification itself waits
//!   in the recipient's list and under the console's bell.
//! - [`SmsSender`] over an [`SmsGateway`]: the contract an SMS provider's client implements;
//!   [`LogSmsGateway`] is the log-only stand-in.
//! - [`WebhookSender`]: POSTs the notification as JSON to `Config::notice_webhook_url`, signed
//!   with HMAC-SHA256 of the body when a secret is set (`WANGGE_NOTICE_WEBHOOK_SECRET`). Plain
//!   HTTP only: the HTTP client is built without TLS, so an HTTPS endpoint needs a local relay.
//!
//! Every delivery, sent or failed, is a row in `notice_deliveries` with its attempts.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wangge_store::notices::{DeliveryRow, Notices, NotificationRow};

use crate::state::AppState;

/// The header carrying `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Wangge-Signature";
/// Attempts per delivery over the network, with a doubling pause between them.
pub const MAX_ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Who a notification goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub username: String,
    pub display_name: Option<String>,
    /// A mobile number, when one is on record.
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again (a timeout, a refused connection, a 5xx answer).
    #[error("{0}")]
    Transient(String),
    /// Trying again will not help (no phone number, a 4xx answer).
    #[error("{0}")]
    Permanent(String),
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// A way of delivering a notification to its recipient.
pub trait NoticeSender: Send + Sync {
    /// log | sms | webhook: recorded with each delivery.
    fn channel(&self) -> &'static str;
    /// Most attempts worth making.
    fn max_attempts(&self) -> u32 {
        1
    }
    fn send<'a>(&'a self, n: &'a NotificationRow, to: &'a Recipient) -> SendFuture<'a>;
}

/// Writes notices to the log only.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogSender;

impl NoticeSender for LogSender {
    fn channel(&self) -> &'static str {
        "log"
    }

    fn send<'a>(&'a self, n: &'a NotificationRow, to: &'a Recipient) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::info!(recipient = %to.username, kind = %n.kind, case = ?n.case_id, text = %n.text, "notice");
            Ok(())
        })
    }
}

/// An SMS provider's client: sends one text to one mobile number.
pub trait SmsGateway: Send + Sync {
    fn send_sms<'a>(&'a self, phone: &'a str, text: &'a str) -> SendFuture<'a>;
}

/// The gateway used until a real one is configured: logs the message (the number masked).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogSmsGateway;

impl SmsGateway for LogSmsGateway {
    fn send_sms<'a>(&'a self, phone: &'a str, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::info!(phone = %mask_phone(phone), text, "sms (log only)");
            Ok(())
        })
    }
}

/// Shows the first three and last four digits of a number only.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < 3 || i + 4 >= chars.len() {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// Notices as text messages through a gateway.
pub struct SmsSender<G: SmsGateway> {
    pub gateway: G,
}

impl<G: SmsGateway> NoticeSender for SmsSender<G> {
    fn channel(&self) -> &'static str {
        "sms"
    }

    fn max_attempts(&self) -> u32 {
        MAX_ATTEMPTS
    }

    fn send<'a>(&'a self, n: &'a NotificationRow, to: &'a Recipient) -> SendFuture<'a> {
        Box::pin(async move {
            let Some(phone) = to.phone.as_deref() else {
                return Err(SendError::Permanent(format!(
                    "{} has no mobile number on record",
                    to.username
                )));
            };
            self.gateway.send_sms(phone, &n.text).await
        })
    }
}

/// Notices POSTed as JSON to a URL (plain HTTP).
pub struct WebhookSender {
    pub url: String,
    pub secret: Option<Arc<str>>,
    client: reqwest::Client,
}

impl WebhookSender {
    pub fn new(url: impl Into<String>, secret: Option<Arc<str>>) -> Self {
        WebhookSender {
            url: url.into(),
            secret,
            client: http_client(),
        }
    }
}

/// `sha256=<hex>` of the body under the secret, as [`SIGNATURE_HEADER`] carries it.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail; an empty tag would never verify.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + tag.len() * 2);
    out.push_str("sha256=");
    for b in tag {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The JSON a webhook receives.
pub fn webhook_body(n: &NotificationRow, to: &Recipient) -> serde_json::Value {
    serde_json::json!({
        "id": n.id,
        "district": n.district_code,
        "recipient": to.username,
        "recipient_name": to.display_name,
        "kind": n.kind,
        "case_id": n.case_id,
        "text": n.text,
        "created_at": n.created_at,
    })
}

impl NoticeSender for WebhookSender {
    fn channel(&self) -> &'static str {
        "webhook"
    }

    fn max_attempts(&self) -> u32 {
        MAX_ATTEMPTS
    }

    fn send<'a>(&'a self, n: &'a NotificationRow, to: &'a Recipient) -> SendFuture<'a> {
        Box::pin(async move {
            let body = webhook_body(n, to).to_string();
            let mut req = self
                .client
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-Wangge-Event", "notification");
            if let Some(secret) = &self.secret {
                req = req.header(
                    SIGNATURE_HEADER,
                    signature(secret.as_bytes(), body.as_bytes()),
                );
            }
            let resp = req
                .body(body)
                .send()
                .await
                .map_err(|e| SendError::Transient(format!("POST {}: {e}", self.url)))?;
            let status = resp.status();
            if status.is_success() {
                Ok(())
            } else if status.is_server_error() || status.as_u16() == 429 {
                Err(SendError::Transient(format!(
                    "POST {} answered {status}",
                    self.url
                )))
            } else {
                Err(SendError::Permanent(format!(
                    "POST {} answered {status}",
                    self.url
                )))
            }
        })
    }
}

fn http_client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .connect_timeout(CONNECT_TIMEOUT)
                .build()
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "notice HTTP client: using defaults");
                    reqwest::Client::new()
                })
        })
        .clone()
}

/// The sender the configuration asks for: the webhook when a URL is set, the log otherwise.
pub fn sender_for(state: &AppState) -> Box<dyn NoticeSender> {
    match state
        .config
        .notice_webhook_url
        .as_deref()
        .filter(|u| !u.is_empty())
    {
        Some(url) => Box::new(WebhookSender::new(
            url,
            state
                .config
                .notice_webhook_secret
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(Arc::from),
        )),
        None => Box::new(LogSender),
    }
}

/// Sends one notification, trying again after transient failures, and records the outcome.
pub async fn deliver(
    state: &AppState,
    sender: &dyn NoticeSender,
    n: &NotificationRow,
    to: &Recipient,
) -> DeliveryRow {
    let mut attempts = 0;
    let mut pause = FIRST_BACKOFF;
    let outcome = loop {
        attempts += 1;
        match sender.send(n, to).await {
            Ok(()) => break Ok(()),
            Err(SendError::Transient(e)) if attempts < sender.max_attempts() => {
                tracing::debug!(attempt = attempts, error = %e, "notice delivery failed; trying again");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(e) => break Err(e),
        }
    };
    let row = DeliveryRow {
        district_code: n.district_code.clone(),
        notification_id: n.id,
        id: wangge_domain::new_id(),
        channel: sender.channel().to_owned(),
        status: if outcome.is_ok() { "sent" } else { "failed" }.to_owned(),
        attempts: i64::from(attempts),
        error: outcome.as_ref().err().map(ToString::to_string),
        at: state.config.clock.now(),
    };
    if let Err(e) = &outcome {
        tracing::warn!(notification = %n.id, channel = sender.channel(), attempts, error = %e, "notice not delivered");
    }
    if let Err(e) = state.store.insert_delivery(&row).await {
        tracing::warn!(notification = %n.id, error = %e, "delivery not recorded");
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_known_answer() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn phones_are_masked() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("123"), "***");
    }
}

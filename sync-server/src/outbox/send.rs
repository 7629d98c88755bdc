//! The senders of the outbox: who a message is handed to.
//!
//! [`SmsSender`] speaks the template-message shape of the common mainland
//! SMS gateways: a JSON POST naming the phone (`PhoneNumbers`), the
//! signature registered with the gateway (`SignName`), the template of the
//! event (`TemplateCode`), the template's parameters as a JSON object
//! (`TemplateParam`) and the idempotency key as the gateway's own
//! reference (`OutId`); the access key goes in a header. [`WebhookSender`]
//! POSTs the event as JSON to the company's own systems. Both send the
//! key in an `Idempotency-Key` header, the same on every attempt.
//!
//! What an answer means ([`classify`]): a 2xx is delivered, unless an SMS
//! gateway's body says `Code` other than `OK`; 408, 425, 429 and 5xx, a
//! timeout or a connection that failed are tried again; any other 4xx, and
//! a gateway's code that is not about a limit, are refused for good.
//! Nothing of the configuration's secrets reaches an error or a log.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::StatusCode;
use serde_json::json;

use super::{Event, params};
use crate::config::{OutboxConfig, OutboxSender, SmsConfig, WebhookConfig};
use crate::store::OutboxRecord;

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again: the receiver was down, busy or did not answer.
    #[error("{0}")]
    Transient(String),
    /// The receiver refused the message for good.
    #[error("{0}")]
    Permanent(String),
}

/// Hands a message to its receiver.
pub trait Sender: Send + Sync + std::fmt::Debug + 'static {
    /// Sends `message`; resolves once the receiver answered, or failed to.
    fn send<'a>(&'a self, message: &'a OutboxRecord) -> BoxFuture<'a, Result<(), SendError>>;
}

/// The sender the configuration names; `None` for `keep`, whose messages
/// stay in the outbox.
pub fn sender(config: &OutboxConfig) -> Result<Option<Arc<dyn Sender>>, SendError> {
    let timeout = Duration::from_secs(config.timeout_secs);
    let sender: Arc<dyn Sender> = match &config.sender {
        OutboxSender::Keep => return Ok(None),
        OutboxSender::Sms(sms) => Arc::new(SmsSender::new(sms.clone(), timeout)?),
        OutboxSender::Webhook(webhook) => Arc::new(WebhookSender::new(webhook.clone(), timeout)?),
    };
    Ok(Some(sender))
}

/// The HTTP client of the senders: rustls on ring with the platform's
/// roots (the one client configuration of `posfield-sync-link-client`),
/// no redirects followed (a receiver that moved is configured anew), each
/// request at most `timeout`.
fn client(timeout: Duration) -> Result<reqwest::Client, SendError> {
    let tls = posfield_sync_link_client::tls::client_config(&posfield_sync_link_client::tls::Trust::Platform)
        .map_err(|e| SendError::Permanent(e.to_string()))?;
    reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .map_err(|e| SendError::Permanent(format!("the HTTP client cannot be built: {e}")))
}

/// The idempotency key's header.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// At most this much of a refusal's body is kept in the error.
const BODY_SHOWN: usize = 200;

/// What an answer with `status` and `body` means; `sms` reads a gateway's
/// `Code` in a 2xx body.
pub fn classify(status: StatusCode, body: &str, sms: bool) -> Result<(), SendError> {
    let shown: String = body.chars().take(BODY_SHOWN).collect();
    if status.is_success() {
        if !sms {
            return Ok(());
        }
        let answer: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        return match answer.get("Code").and_then(|c| c.as_str()) {
            None | Some("OK") => Ok(()),
            // Flow control and the gateway's own trouble pass; anything
            // else (a wrong number, template or signature) will not.
            Some(code)
                if code.contains("LIMIT") || code.contains("Throttling") || code.contains("SYSTEM") =>
            {
                Err(SendError::Transient(format!("the gateway answered {code}: {shown}")))
            }
            Some(code) => Err(SendError::Permanent(format!("the gateway refused it, {code}: {shown}"))),
        };
    }
    let again = matches!(status.as_u16(), 408 | 425 | 429) || status.is_server_error();
    let error = format!("{status}: {shown}");
    if again { Err(SendError::Transient(error)) } else { Err(SendError::Permanent(error)) }
}

/// A request that got no answer: a timeout, a refused or cut connection.
fn unanswered(error: reqwest::Error) -> SendError {
    // The URL carries no secret, but is left out all the same: the error
    // says what happened, the configuration where.
    SendError::Transient(error.without_url().to_string())
}

/// The POST of `body` to `url` for `message`, with its idempotency key.
fn request(
    http: &reqwest::Client,
    url: &url::Url,
    message: &OutboxRecord,
    body: &serde_json::Value,
) -> reqwest::RequestBuilder {
    http.post(url.clone()).header(IDEMPOTENCY_KEY, &message.message.key).json(body)
}

/// Sends `request` and reads what its answer means.
async fn post(request: reqwest::RequestBuilder, sms: bool) -> Result<(), SendError> {
    let response = request.send().await.map_err(unanswered)?;
    let status = response.status();
    let body = response.text().await.map_err(unanswered)?;
    classify(status, &body, sms)
}

/// An SMS gateway's template-message API.
#[derive(Debug)]
pub struct SmsSender {
    config: SmsConfig,
    http: reqwest::Client,
}

impl SmsSender {
    /// A sender to the gateway `config` names, each request at most `timeout`.
    pub fn new(config: SmsConfig, timeout: Duration) -> Result<SmsSender, SendError> {
        Ok(SmsSender { config, http: client(timeout)? })
    }

    /// The body of `message`'s request.
    pub fn body(&self, message: &OutboxRecord) -> Result<serde_json::Value, SendError> {
        let (message, id) = (&message.message, message.id);
        let template = self.config.templates.get(&message.event).ok_or_else(|| {
            SendError::Permanent(format!("no SMS template is configured for the event {:?}", message.event))
        })?;
        let phone = message
            .recipient
            .as_deref()
            .ok_or_else(|| SendError::Permanent(format!("message {id} has no phone")))?;
        Ok(json!({
            "PhoneNumbers": phone,
            "SignName": self.config.sign_name,
            "TemplateCode": template,
            "TemplateParam": params(message),
            "OutId": message.key,
        }))
    }
}

impl Sender for SmsSender {
    fn send<'a>(&'a self, message: &'a OutboxRecord) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let mut request = request(&self.http, &self.config.url, message, &self.body(message)?);
            if let Some(key) = &self.config.access_key {
                request = request.header(self.config.access_key_header.as_str(), key.expose());
            }
            post(request, true).await
        })
    }
}

/// The company's own receiver of the outbox's events.
#[derive(Debug)]
pub struct WebhookSender {
    config: WebhookConfig,
    http: reqwest::Client,
}

impl WebhookSender {
    /// A sender to the receiver `config` names, each request at most `timeout`.
    pub fn new(config: WebhookConfig, timeout: Duration) -> Result<WebhookSender, SendError> {
        Ok(WebhookSender { config, http: client(timeout)? })
    }

    /// The body of `message`'s request.
    pub fn body(message: &OutboxRecord) -> serde_json::Value {
        let record = message;
        let message = &record.message;
        let event = Event::from_code(&message.event);
        json!({
            "idempotency_key": message.key,
            "event": message.event,
            "visit_id": message.visit_id,
            "recipient": message.recipient,
            "params": params(message),
            "text_zh": super::text_zh(message),
            "event_zh": event.map(Event::zh),
            "created_at": record.created_at,
            "attempt": record.attempts,
        })
    }
}

impl Sender for WebhookSender {
    fn send<'a>(&'a self, message: &'a OutboxRecord) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let mut request = request(&self.http, &self.config.url, message, &WebhookSender::body(message));
            if let Some(token) = &self.config.bearer_token {
                request = request.bearer_auth(token.expose());
            }
            post(request, false).await
        })
    }
}

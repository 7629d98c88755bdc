//! What the merchant is told: a durable outbox of messages about the
//! desk's decisions, and the worker that delivers them.
//!
//! **Enqueued with the decision.** A decision that the merchant must learn
//! of (a reactivation application approved or rejected with its reason, a
//! deregistration done, a SIM data card renewed, a terminal back from
//! repair) puts its message on the projection row it writes
//! ([`crate::store::ProjectionRow::messages`]), so the store enqueues it in
//! the same transaction: there is no decision without its message, and no
//! message for a decision that was not stored. The desk's hooks are
//! [`messages_for_review`] and [`messages_for_application`]; [`repair_back`]
//! is the message the register gives when a repaired terminal returns.
//!
//! **One message per event of a visit.** Each message has an idempotency
//! key made of the visit and the event ([`idempotency_key`]), and the outbox
//! holds one message per key: approving a visit again after returning it,
//! projecting it again, or a decision repeated by a retried request
//! enqueues nothing new. An application approved after a rejection is
//! another event, so the merchant hears of both.
//!
//! **At least once, never twice to a receiver that keeps the key.** The
//! [`Worker`] takes due messages under a lease, marks them `sending`,
//! hands each to the configured [`Sender`] and records the outcome; a
//! failure is tried again after a doubling wait with jitter
//! ([`RetryPolicy::delay`]: 1 minute up to 6 hours by default), and given up
//! as `failed` after [`RetryPolicy::max_attempts`] or at once when the
//! receiver refuses it for good. A message left `sending` by a process that
//! died is due again when the next worker starts. Every attempt carries the
//! same key (an `Idempotency-Key` header, and the SMS gateway's `OutId`),
//! so a receiver that keeps keys acts once even when an answer was lost
//! and the message was sent again. Exactly once is not promised: no sender
//! can know whether a receiver that did not answer acted
//! (docs/decisions.md).
//!
//! **No phone, no message sent.** A merchant without a registered phone
//! has the message kept as `no_recipient`, shown in the back office, never
//! sent.

mod send;

use std::sync::Arc;
use std::time::Duration;

use posfield_shared::VisitKind;
use posfield_shared::VisitStatus;
use posfield_shared::visit::Visit;
use posfield_shared::vocab::ApplicationState;

pub use self::send::{IDEMPOTENCY_KEY, SendError, Sender, SmsSender, WebhookSender, classify, sender};
use crate::clock::Clock;
use crate::config::OutboxConfig;
use crate::store::{DeliveryOutcome, OutboxMessage, OutboxRecord, Store, StoreError};

/// What the merchant is told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The reactivation application was approved.
    ApplicationApproved,
    /// The reactivation application was rejected, with the reason.
    ApplicationRejected,
    /// The deregistration visit was approved: the terminal is unbound and taken back.
    DeregistrationDone,
    /// The SIM data card visit was approved: renewed, replaced or moved to a shared plan.
    SimRenewed,
    /// A terminal sent for repair came back.
    RepairBack,
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 5] = [
        Event::ApplicationApproved,
        Event::ApplicationRejected,
        Event::DeregistrationDone,
        Event::SimRenewed,
        Event::RepairBack,
    ];

    /// Stable code: in the outbox, the idempotency key, the webhook's body
    /// and the SMS templates' configuration.
    pub fn code(self) -> &'static str {
        match self {
            Event::ApplicationApproved => "application_approved",
            Event::ApplicationRejected => "application_rejected",
            Event::DeregistrationDone => "deregistration_done",
            Event::SimRenewed => "sim_renewed",
            Event::RepairBack => "repair_back",
        }
    }

    /// The event of a stable code.
    pub fn from_code(code: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.code() == code)
    }

    /// Its name in zh-CN, for the back office.
    pub fn zh(self) -> &'static str {
        match self {
            Event::ApplicationApproved => "复机申请已批准",
            Event::ApplicationRejected => "复机申请已驳回",
            Event::DeregistrationDone => "注销撤机完成",
            Event::SimRenewed => "流量卡已续费",
            Event::RepairBack => "维修机具已返回",
        }
    }

    /// Its name in English, for the back office.
    pub fn en(self) -> &'static str {
        match self {
            Event::ApplicationApproved => "Reactivation approved",
            Event::ApplicationRejected => "Reactivation rejected",
            Event::DeregistrationDone => "Deregistration done",
            Event::SimRenewed => "SIM data card renewed",
            Event::RepairBack => "Repaired terminal back",
        }
    }

    /// The zh-CN text the merchant reads, `${name}` standing for each
    /// parameter: what the SMS template registered with the gateway says
    /// (the gateway puts the parameters in and the signature, 【签名】,
    /// first), and the text the webhook and the back office show.
    pub fn template_zh(self) -> &'static str {
        match self {
            Event::ApplicationApproved => {
                "尊敬的${merchant}：您的POS机复机申请已批准，业务员将尽快上门为您安装调试。"
            }
            Event::ApplicationRejected => {
                "尊敬的${merchant}：您的POS机复机申请未通过，原因：${reason}。如有疑问请联系客服。"
            }
            Event::DeregistrationDone => {
                "尊敬的${merchant}：您的POS机（机身号${serial}）已完成注销撤机，感谢您的使用。"
            }
            Event::SimRenewed => "尊敬的${merchant}：您的POS机流量卡已处理（${action}），有效期至${expiry}。",
            Event::RepairBack => {
                "尊敬的${merchant}：您送修的POS机（机身号${serial}）已修复返回，业务员将与您联系安装。"
            }
        }
    }
}

/// The idempotency key of `event` of visit `visit_id`: the same for every
/// attempt, every re-approval and every re-projection of that event.
pub fn idempotency_key(visit_id: &str, event: Event) -> String {
    format!("{visit_id}/{}", event.code())
}

/// The message of `event` of `visit_id` to the merchant `merchant` at
/// `phone`, with `params` besides the merchant's name.
fn message(
    visit_id: &str,
    event: Event,
    merchant: &str,
    phone: Option<&str>,
    params: &[(&str, String)],
) -> OutboxMessage {
    let mut payload = serde_json::Map::new();
    payload.insert("merchant".into(), merchant.into());
    for (name, value) in params {
        payload.insert((*name).into(), value.clone().into());
    }
    OutboxMessage {
        key: idempotency_key(visit_id, event),
        event: event.code().to_owned(),
        visit_id: visit_id.to_owned(),
        recipient: phone.map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned),
        payload: serde_json::Value::Object(payload).to_string(),
    }
}

/// What the merchant must be told of a reviewed visit (the desk's review
/// hook): a deregistration or a SIM data card visit, once approved.
/// Nothing for a returned visit or another kind.
pub fn messages_for_review(visit: &Visit) -> Vec<OutboxMessage> {
    if visit.status != VisitStatus::Approved {
        return Vec::new();
    }
    let serial = visit.terminal.as_ref().map(|t| t.serial.clone()).unwrap_or_default();
    let (merchant, phone) = (visit.merchant.name.as_str(), visit.merchant.phone.as_deref());
    match visit.kind {
        VisitKind::Deregistration => {
            vec![message(&visit.id, Event::DeregistrationDone, merchant, phone, &[("serial", serial)])]
        }
        VisitKind::SimRenewal => {
            let sim = visit.sim.as_ref();
            let action = sim.and_then(|s| s.action.as_ref()).map(|a| a.zh()).unwrap_or_default();
            let expiry = sim.map(|s| s.current_expiry().to_string()).unwrap_or_default();
            let params = [("serial", serial), ("action", action), ("expiry", expiry)];
            vec![message(&visit.id, Event::SimRenewed, merchant, phone, &params)]
        }
        _ => Vec::new(),
    }
}

/// What the merchant must be told of a decided reactivation application
/// (the desk's application hook): its approval, or its rejection with the
/// reason. Nothing once the terminal is issued (the approval said it).
pub fn messages_for_application(visit: &Visit) -> Vec<OutboxMessage> {
    let Some(application) = &visit.reactivation.application else { return Vec::new() };
    let (merchant, phone) = (visit.merchant.name.as_str(), visit.merchant.phone.as_deref());
    match application.state.known() {
        Some(ApplicationState::Approved) => {
            vec![message(&visit.id, Event::ApplicationApproved, merchant, phone, &[])]
        }
        Some(ApplicationState::Rejected) => {
            let reason = application.reason.clone().unwrap_or_default();
            vec![message(&visit.id, Event::ApplicationRejected, merchant, phone, &[("reason", reason)])]
        }
        _ => Vec::new(),
    }
}

/// The message that a terminal sent for repair by visit `visit_id` came
/// back (serial `serial`), for the merchant `merchant` at `phone`: the
/// register puts it on the row of the change that records the return.
pub fn repair_back(visit_id: &str, serial: &str, merchant: &str, phone: Option<&str>) -> OutboxMessage {
    message(visit_id, Event::RepairBack, merchant, phone, &[("serial", serial.to_owned())])
}

/// A message's parameters: its JSON object, or none when it is not one.
pub fn params(message: &OutboxMessage) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_str(&message.payload) {
        Ok(serde_json::Value::Object(params)) => params,
        _ => serde_json::Map::new(),
    }
}

/// The zh-CN text of `message` as the merchant reads it (without the
/// gateway's signature).
pub fn text_zh(message: &OutboxMessage) -> String {
    let Some(event) = Event::from_code(&message.event) else { return message.payload.clone() };
    let mut text = event.template_zh().to_owned();
    for (name, value) in params(message) {
        let value = value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
        text = text.replace(&format!("${{{name}}}"), &value);
    }
    text
}

/// When a failed message is tried again, and when it is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure, in seconds.
    pub first_secs: i64,
    /// The longest wait, in seconds.
    pub max_secs: i64,
    /// Attempts before a message is given up as failed.
    pub max_attempts: u32,
    /// How long a taken message waits for its attempt's outcome before
    /// another worker may take it, in seconds: longer than an attempt may last.
    pub lease_secs: i64,
}

impl RetryPolicy {
    /// The policy of the outbox's configuration.
    pub fn of(config: &OutboxConfig) -> RetryPolicy {
        RetryPolicy {
            first_secs: config.retry_first_secs,
            max_secs: config.retry_max_secs,
            max_attempts: config.max_attempts,
            lease_secs: config.timeout_secs as i64 + 60,
        }
    }

    /// The wait after the `attempts`-th failed attempt: the first wait
    /// doubled for each earlier failure, at most the longest, then spread
    /// over its upper half by `jitter` (0 to 1), so that messages failed
    /// together by one outage are not all tried again in one burst.
    pub fn delay(&self, attempts: u32, jitter: f64) -> i64 {
        let doublings = attempts.saturating_sub(1).min(40);
        let full = self.first_secs.saturating_mul(1_i64 << doublings).min(self.max_secs);
        let spread = (full as f64 / 2.0 * jitter.clamp(0.0, 1.0)) as i64;
        (full - full / 2 + spread).max(1)
    }

    /// What an attempt that met `error` comes to for a message taken for
    /// its `attempts`-th time, at `now`.
    pub fn outcome(&self, error: SendError, attempts: u32, now: i64, jitter: f64) -> DeliveryOutcome {
        match error {
            SendError::Permanent(error) => DeliveryOutcome::Failed { error },
            SendError::Transient(error) if attempts >= self.max_attempts => {
                DeliveryOutcome::Failed { error: format!("{error} (gave up after {attempts} attempts)") }
            }
            SendError::Transient(error) => {
                DeliveryOutcome::Retry { error, at: now + self.delay(attempts, jitter) }
            }
        }
    }
}

/// A number from 0 to 1 from the system's randomness, for [`RetryPolicy::delay`].
fn jitter() -> f64 {
    let bytes: [u8; 4] = crate::auth::random_bytes();
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}

/// How many messages one round takes at most; a full round is followed
/// by another at once.
const ROUND: usize = 16;

/// How often the worker looks for due messages when there were none.
pub const POLL: Duration = Duration::from_secs(5);

/// What one round of delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Messages taken.
    pub taken: usize,
    /// Delivered.
    pub delivered: usize,
    /// To be tried again.
    pub retried: usize,
    /// Given up.
    pub failed: usize,
}

/// Delivers the outbox's messages through one sender.
#[derive(Debug, Clone)]
pub struct Worker {
    store: Arc<dyn Store>,
    sender: Arc<dyn Sender>,
    policy: RetryPolicy,
}

impl Worker {
    /// A worker over `store` delivering through `sender` by `policy`.
    pub fn new(store: Arc<dyn Store>, sender: Arc<dyn Sender>, policy: RetryPolicy) -> Worker {
        Worker { store, sender, policy }
    }

    /// Makes the messages a stopped process left `sending` due at `now`:
    /// called once when the worker starts, before its first round.
    pub async fn recover(&self, now: i64) -> Result<usize, StoreError> {
        self.store.release_sending_messages(now).await
    }

    /// One round at `now`: takes the messages due, sends each, records
    /// what it came to.
    pub async fn deliver_due(&self, now: i64) -> Result<Round, StoreError> {
        let taken = self.store.take_due_messages(now, now + self.policy.lease_secs, ROUND).await?;
        let mut round = Round { taken: taken.len(), ..Round::default() };
        for message in taken {
            let outcome = self.attempt(&message, now).await;
            match &outcome {
                DeliveryOutcome::Delivered => round.delivered += 1,
                DeliveryOutcome::Retry { .. } => round.retried += 1,
                DeliveryOutcome::Failed { .. } => round.failed += 1,
            }
            self.store.record_delivery(message.id, outcome, now).await?;
        }
        Ok(round)
    }

    /// One attempt at `message`, and what it comes to.
    async fn attempt(&self, message: &OutboxRecord, now: i64) -> DeliveryOutcome {
        let (id, event, attempt) = (message.id, &message.message.event, message.attempts);
        match self.sender.send(message).await {
            Ok(()) => {
                tracing::info!(message = id, %event, attempt, "merchant message delivered");
                DeliveryOutcome::Delivered
            }
            Err(error) => {
                let outcome = self.policy.outcome(error, attempt, now, jitter());
                match &outcome {
                    DeliveryOutcome::Failed { error } => {
                        tracing::warn!(message = id, %event, attempt, %error, "merchant message given up");
                    }
                    DeliveryOutcome::Retry { error, at } => {
                        tracing::info!(message = id, %event, attempt, %error, retry_at = at, "merchant message not delivered yet");
                    }
                    DeliveryOutcome::Delivered => {}
                }
                outcome
            }
        }
    }

    /// Delivers until `stop` says so: first makes what a stopped process
    /// left `sending` due, then a round whenever messages are due, by
    /// `clock`, looking again every [`POLL`].
    pub async fn run(self, clock: Clock, mut stop: tokio::sync::watch::Receiver<bool>) {
        if let Err(error) = self.recover(clock.now()).await {
            tracing::warn!(%error, "the outbox could not take back the messages a stopped server was sending");
        }
        loop {
            let wait = match self.deliver_due(clock.now()).await {
                Ok(round) if round.taken == ROUND => Duration::ZERO,
                Ok(_) => POLL,
                Err(error) => {
                    tracing::warn!(%error, "the outbox could not deliver");
                    POLL
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! What the server counts for its operator: one registry of the
//! Prometheus project's own client (`prometheus-client`), held in
//! [`crate::State`], served at `GET /metrics` in the Prometheus text
//! exposition format (version 0.0.4).
//!
//! The instrumentation points call the small functions of [`Metrics`]
//! (a sync connection opened or ended, a push answered, an HTTP response,
//! a blob upload); what the store holds (the outbox's backlog, the blobs
//! visits wait for) is read at scrape time ([`Metrics::scrape`]), so a
//! number is never older than the scrape that shows it.
//!
//! Who may read it: the holder of the configuration's `metrics_token`,
//! as `Authorization: Bearer`; without a token configured the route
//! answers 404, as if it did not exist ([`authorise`]). Every family's
//! name begins with `posfield_`; no label carries a visit, an agent, a
//! device or anything a phone sent.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::config::Config;
use crate::error::ApiError;
use crate::store::{OutboxState, Principal, Store, StoreError, UserRole};

/// The `Content-Type` of the answer: the Prometheus text format, 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Most missing blobs a scrape counts: the gauge stops there rather than
/// have a scrape read an unbounded list.
pub const PENDING_BLOBS_BOUND: usize = 100_000;

/// The name the store sees a scrape's read as (no user can take a name
/// with parentheses).
const SCRAPER: &str = "(metrics)";

/// The upper bounds of the push latency's buckets, in seconds: 5 ms to
/// about 20 s, doubling.
const PUSH_SECONDS_BUCKETS: [f64; 13] =
    [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48];

/// Why a sync connection ended in error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum SyncFailure {
    /// The websocket upgrade itself failed.
    upgrade,
    /// The store could not make a write or a read.
    storage,
    /// The connection was lost or cut.
    lost,
    /// A deadline passed.
    deadline,
    /// The repository was stopped (the server is shutting down).
    stopped,
    /// Anything else.
    other,
}

impl SyncFailure {
    /// The reason of a connection's error.
    pub fn of(error: &posfield_sync_link_server::LinkError) -> SyncFailure {
        use posfield_sync_link_server::LinkError;
        match error {
            LinkError::Storage(_) => SyncFailure::storage,
            LinkError::Lost(_) | LinkError::Unreachable(_) => SyncFailure::lost,
            LinkError::Deadline { .. } => SyncFailure::deadline,
            LinkError::Stopped => SyncFailure::stopped,
            _ => SyncFailure::other,
        }
    }
}

/// What a push request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum PushOutcome {
    /// Every visit it carried was stored.
    stored,
    /// At least one of its visits was refused (the others were stored).
    refused,
    /// The request itself was refused or failed (its body, the store).
    failed,
}

/// What a blob upload request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum UploadOutcome {
    /// The blob is whole and stored.
    completed,
    /// The upload was refused (a wrong size, offset or hash, too large).
    refused,
}

/// The class of an HTTP status: `2xx`, `4xx`...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusClass(u16);

impl prometheus_client::encoding::EncodeLabelValue for StatusClass {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        use std::fmt::Write as _;
        write!(encoder, "{}xx", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: SyncFailure,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PushLabel {
    outcome: PushOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UploadLabel {
    outcome: UploadOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ClassLabel {
    class: StatusClass,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// The server's metrics: the registry and a handle on each family.
pub struct Metrics {
    registry: Registry,
    sync_served: Counter,
    sync_open: Gauge,
    sync_failed: Family<ReasonLabel, Counter>,
    pushes: Family<PushLabel, Counter>,
    push_seconds: Histogram,
    responses: Family<ClassLabel, Counter>,
    uploads: Family<UploadLabel, Counter>,
    outbox: Family<StateLabel, Gauge>,
    blobs_pending: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every family registered, at zero, with the build's version.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("posfield");
        let sync_served = Counter::default();
        registry.register("sync_connections", "Sync connections served", sync_served.clone());
        let sync_open = Gauge::default();
        registry.register("sync_connections_open", "Sync connections open now", sync_open.clone());
        let sync_failed = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "sync_connection_errors",
            "Sync connections ended in error, by reason",
            sync_failed.clone(),
        );
        let pushes = Family::<PushLabel, Counter>::default();
        registry.register("pushes", "Document pushes answered, by outcome", pushes.clone());
        let push_seconds = Histogram::new(PUSH_SECONDS_BUCKETS);
        registry.register_with_unit(
            "push_duration",
            "Time to answer a document push",
            prometheus_client::registry::Unit::Seconds,
            push_seconds.clone(),
        );
        let responses = Family::<ClassLabel, Counter>::default();
        registry.register("http_responses", "HTTP responses, by status class", responses.clone());
        let uploads = Family::<UploadLabel, Counter>::default();
        registry.register("blob_uploads", "Blob upload requests completed or refused", uploads.clone());
        let outbox = Family::<StateLabel, Gauge>::default();
        registry.register("outbox_messages", "Messages to merchants in the outbox, by state", outbox.clone());
        let blobs_pending = Gauge::default();
        registry.register(
            "blobs_pending",
            "Blobs visits refer to that have not arrived (counted up to 100000)",
            blobs_pending.clone(),
        );
        let build = Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]);
        registry.register("build", "The server's build", build);
        // Known labels start at zero, so a rate is defined from the first scrape.
        for outcome in [PushOutcome::stored, PushOutcome::refused, PushOutcome::failed] {
            pushes.get_or_create_owned(&PushLabel { outcome });
        }
        for outcome in [UploadOutcome::completed, UploadOutcome::refused] {
            uploads.get_or_create_owned(&UploadLabel { outcome });
        }
        for state in OutboxState::ALL {
            outbox.get_or_create_owned(&StateLabel { state: state.code() });
        }
        Metrics {
            registry,
            sync_served,
            sync_open,
            sync_failed,
            pushes,
            push_seconds,
            responses,
            uploads,
            outbox,
            blobs_pending,
        }
    }

    /// A sync connection is served: counted, and open until the guard goes.
    pub fn sync_opened(&self) -> OpenConnection<'_> {
        self.sync_served.inc();
        self.sync_open.inc();
        OpenConnection(self)
    }

    /// A sync connection ended in error.
    pub fn sync_failed(&self, reason: SyncFailure) {
        self.sync_failed.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// A push was answered after `took`.
    pub fn push_answered(&self, outcome: PushOutcome, took: Duration) {
        self.pushes.get_or_create(&PushLabel { outcome }).inc();
        self.push_seconds.observe(took.as_secs_f64());
    }

    /// An HTTP response with `status` was sent.
    pub fn responded(&self, status: StatusCode) {
        let class = StatusClass(status.as_u16() / 100);
        self.responses.get_or_create(&ClassLabel { class }).inc();
    }

    /// A blob upload request came to `outcome`.
    pub fn upload(&self, outcome: UploadOutcome) {
        self.uploads.get_or_create(&UploadLabel { outcome }).inc();
    }

    /// The text of a scrape: what the store holds read now (the outbox by
    /// state, the blobs pending), then every family.
    pub async fn scrape(&self, store: &dyn Store) -> Result<String, StoreError> {
        let (_, states) = store.outbox(0).await?;
        for state in OutboxState::ALL {
            let count = states.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n);
            self.outbox.get_or_create(&StateLabel { state: state.code() }).set(count);
        }
        let scraper = Principal::Office { name: SCRAPER.into(), role: UserRole::Reviewer };
        let pending = store.missing_blobs(&scraper, PENDING_BLOBS_BOUND).await?.len();
        self.blobs_pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .map_err(|e| StoreError::Engine(format!("the metrics could not be written: {e}")))?;
        Ok(text)
    }
}

/// An open sync connection, counted in the open gauge until dropped.
#[derive(Debug)]
pub struct OpenConnection<'a>(&'a Metrics);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.sync_open.dec();
    }
}

/// Lets a scrape in: the configuration's `metrics_token` as a bearer
/// token, compared in constant time; without a token configured the
/// route is 404, with a wrong or missing one 401.
pub fn authorise(config: &Config, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &config.metrics_token else {
        return Err(ApiError::not_found("no such endpoint"));
    };
    let offered = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if crate::auth::same_secret(offered.as_bytes(), token.expose().as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "the metrics token is required"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_named_posfield_and_starts_at_zero() {
        let metrics = Metrics::new();
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &metrics.registry).unwrap();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("posfield_"), "{line}");
        }
        assert!(text.contains("posfield_pushes_total{outcome=\"refused\"} 0"), "{text}");
        assert!(text.contains("posfield_outbox_messages{state=\"pending\"} 0"), "{text}");
        assert!(
            text.contains(&format!("posfield_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))),
            "{text}"
        );
    }

    #[test]
    fn the_instrumentation_moves_its_family() {
        let metrics = Metrics::new();
        {
            let _open = metrics.sync_opened();
            assert_eq!(metrics.sync_open.get(), 1);
        }
        assert_eq!((metrics.sync_served.get(), metrics.sync_open.get()), (1, 0));
        metrics.sync_failed(SyncFailure::storage);
        metrics.push_answered(PushOutcome::stored, Duration::from_millis(30));
        metrics.responded(StatusCode::CREATED);
        metrics.responded(StatusCode::SWITCHING_PROTOCOLS);
        metrics.upload(UploadOutcome::refused);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &metrics.registry).unwrap();
        for expected in [
            "posfield_sync_connection_errors_total{reason=\"storage\"} 1",
            "posfield_pushes_total{outcome=\"stored\"} 1",
            "posfield_push_duration_seconds_bucket{le=\"0.04\"} 1",
            "posfield_push_duration_seconds_bucket{le=\"0.02\"} 0",
            "posfield_http_responses_total{class=\"2xx\"} 1",
            "posfield_http_responses_total{class=\"1xx\"} 1",
            "posfield_blob_uploads_total{outcome=\"refused\"} 1",
        ] {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
    }

    #[test]
    fn a_scrape_needs_the_configured_token() {
        let bearer = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            headers
        };
        // (configured token, Authorization sent, the status refused with or None)
        let cases = [
            (None, None, Some(404)),
            (None, Some("Bearer anything"), Some(404)),
            (Some("s3cret-metrics"), None, Some(401)),
            (Some("s3cret-metrics"), Some("Bearer s3cret-metric"), Some(401)),
            (Some("s3cret-metrics"), Some("Basic s3cret-metrics"), Some(401)),
            (Some("s3cret-metrics"), Some("Bearer s3cret-metrics"), None),
        ];
        for (token, sent, refused) in cases {
            let config = Config {
                metrics_token: token.map(|t| crate::config::Secret::new(t.into())),
                ..Config::default()
            };
            let headers = sent.map_or_else(HeaderMap::new, bearer);
            let answer = authorise(&config, &headers).err().map(|e| e.status.as_u16());
            assert_eq!(answer, refused, "{token:?} {sent:?}");
        }
    }
}

//! The S3-compatible engine of [`super::Blobs`]: AWS S3, Aliyun OSS,
//! Tencent COS, MinIO and others that speak S3, with virtual-host or
//! path-style addressing, a custom endpoint and a region.
//!
//! Requests are signed by rusty-s3 (SigV4 as presigned URLs; it does no
//! I/O itself) and sent with the server's reqwest over the one rustls
//! client configuration of `posfield-sync-link-client` (ring, the
//! platform's roots), like the outbox's senders.
//!
//! The objects, under the configured prefix:
//!
//! - `blobs/xx/<sha256>`: a whole blob in the sealed format of
//!   [`crate::blob_key`], its SHA-256 the label: byte for byte what the
//!   local engine keeps in `xx/<sha256>`, so a blob folder copied into the
//!   bucket (or out of it) reads the same.
//! - `partial/<hash of the uploader>/<sha256>/<offset, 20 digits>`: one
//!   appended piece (segment) of an upload in progress, sealed with the
//!   blob key under its own object key (without the prefix) as label, so a
//!   segment copied under another uploader, blob or offset does not open.
//!
//! **Partial uploads live in the bucket**, not on the node that received
//! them: several server nodes share one bucket, and a phone's resume may
//! reach another node, which must continue from what the first received.
//! S3's own multipart upload does not fit: each of its parts but the last
//! is 5 MiB at least, while a photo is ~150 KB appended from whatever
//! offset a cut connection left. So each request's body is one segment
//! object; what an upload has `received` is the contiguous length from 0
//! of its listed segments (a segment past a gap is ignored); a request
//! must start exactly there, as on the local engine (`409 wrong_offset`
//! otherwise), and the join trims any overlap two racing requests left.
//! When the segments reach the declared total they are read in order,
//! opened and joined, the SHA-256 checked, the blob put whole and sealed
//! under `blobs/`, and the segments deleted; a mismatch deletes the
//! segments and refuses, as the local engine does. Unlike the local
//! engine's partial file, a segment is sealed: it leaves the server.
//! Segments nobody finished are deleted by [`S3Blobs::remove_segments_older`]
//! by their last-modified time.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use posfield_shared::BlobHash;
use rusty_s3::actions::{ListObjectsV2, S3Action};
use rusty_s3::{Bucket, Credentials, UrlStyle};

use super::{
    BlobError, UploadStatus, check_hash, check_total, open_stored, too_long, uploader_key, wrong_offset,
};
use crate::blob_key::{BlobKeys, OVERHEAD};
use crate::error::ApiError;

/// How long a signed request stays valid: it is sent at once.
const SIGNED_FOR: Duration = Duration::from_secs(300);

/// The longest one request to the bucket may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest a connection to the bucket may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Seconds a phone is told to wait when the bucket cannot be reached.
const RETRY_AFTER_SECS: i64 = 30;

/// Digits of a segment's offset in its key: every `u64` fits, and the keys
/// list in the order of their offsets.
const OFFSET_DIGITS: usize = 20;

/// At most this much of a refusal's body is kept in the error.
const BODY_SHOWN: usize = 200;

/// The address of a bucket (the `blobs` setting's `s3://` form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The bucket's name.
    pub bucket: String,
    /// The folder in the bucket the objects live under: empty, or ending in `/`.
    pub prefix: String,
    /// The service's endpoint (`https://s3.oss-cn-hangzhou.aliyuncs.com`,
    /// `https://cos.ap-guangzhou.myqcloud.com`, a MinIO's address); AWS's
    /// regional endpoint when the address names none.
    pub endpoint: url::Url,
    /// The region requests are signed for (`us-east-1` when not named).
    pub region: String,
    /// Path-style addressing (`ENDPOINT/BUCKET/KEY`, MinIO's) rather than
    /// virtual-host (`BUCKET.ENDPOINT/KEY`, AWS's, OSS's and COS's).
    pub path_style: bool,
}

/// Why the `blobs` setting or the bucket's credentials cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the blobs setting: {0}")]
pub struct S3ConfigError(String);

/// The form of the setting, for the errors.
const FORM: &str = "s3://BUCKET[/PREFIX]?endpoint=https://...&region=...&path_style=true";

impl S3Config {
    /// Parses `s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION&path_style=BOOL`
    /// (each parameter optional). The address never carries credentials:
    /// they come from the environment ([`credentials_from_env`]).
    pub fn parse(text: &str) -> Result<S3Config, S3ConfigError> {
        let fail = |reason: String| S3ConfigError(reason);
        // The text is not repeated: it could hold a secret someone put in it.
        let url = url::Url::parse(text).map_err(|e| fail(format!("not an address ({e}); write {FORM}")))?;
        if url.scheme() != "s3" {
            return Err(fail(format!("the scheme is {:?}, not s3; write {FORM}", url.scheme())));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(fail(
                "credentials do not belong in the address: set POSFIELD_S3_ACCESS_KEY_ID and POSFIELD_S3_SECRET_ACCESS_KEY"
                    .into(),
            ));
        }
        let bucket = url.host_str().unwrap_or_default().to_owned();
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !bucket_ok || url.port().is_some() {
            return Err(fail(format!(
                "{bucket:?} is not a bucket name (3 to 63 lowercase letters, digits, '-' and '.'); write {FORM}"
            )));
        }
        let mut prefix = String::new();
        for segment in url.path().split('/').filter(|s| !s.is_empty()) {
            let segment_ok = !matches!(segment, "." | "..")
                && segment.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !segment_ok {
                return Err(fail(format!(
                    "the prefix's folder {segment:?} is not letters, digits, '-', '_' and '.'"
                )));
            }
            prefix.push_str(segment);
            prefix.push('/');
        }
        let (mut endpoint, mut region, mut path_style) = (None, None, None);
        for (name, value) in url.query_pairs() {
            let seen = match name.as_ref() {
                "endpoint" => endpoint.replace(value.into_owned()).is_some(),
                "region" => region.replace(value.into_owned()).is_some(),
                "path_style" => path_style.replace(value.into_owned()).is_some(),
                other => {
                    return Err(fail(format!(
                        "unknown parameter {other:?}: the address takes endpoint, region and path_style"
                    )));
                }
            };
            if seen {
                return Err(fail(format!("the parameter {name:?} is given twice")));
            }
        }
        let region = region.unwrap_or_else(|| "us-east-1".into());
        if region.is_empty() || !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(fail(format!("the region {region:?} is not letters, digits and '-'")));
        }
        let endpoint = endpoint.unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint = url::Url::parse(&endpoint)
            .ok()
            .filter(|e| matches!(e.scheme(), "http" | "https") && e.host_str().is_some())
            .filter(|e| e.username().is_empty() && e.password().is_none() && e.query().is_none())
            .ok_or_else(|| {
                fail(format!("the endpoint {endpoint:?} is not an http:// or https:// address of a host"))
            })?;
        let path_style = match path_style.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(fail(format!("path_style is {other:?}, not true or false"))),
        };
        Ok(S3Config { bucket, prefix, endpoint, region, path_style })
    }

    /// Whether requests go over plain HTTP to another machine (an in-house
    /// MinIO): allowed, with a warning. The blobs are sealed before they
    /// leave the server, but the requests' metadata travels in clear.
    pub fn plain_http_elsewhere(&self) -> bool {
        let loopback = match self.endpoint.host() {
            Some(url::Host::Domain(name)) => name == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        self.endpoint.scheme() == "http" && !loopback
    }
}

/// The bucket's credentials from the environment:
/// `POSFIELD_S3_ACCESS_KEY_ID` and `POSFIELD_S3_SECRET_ACCESS_KEY`, or the
/// standard `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, with a session
/// token when `POSFIELD_S3_SESSION_TOKEN` or `AWS_SESSION_TOKEN` holds one.
/// They are never logged: `Credentials`' `Debug` shows the key id alone,
/// and no message of this engine names either.
pub fn credentials_from_env() -> Result<Credentials, S3ConfigError> {
    let read = |ours: &str, standard: &str| {
        std::env::var(ours)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| std::env::var(standard).ok().filter(|v| !v.is_empty()))
    };
    let key = read("POSFIELD_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID");
    let secret = read("POSFIELD_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY");
    let (Some(key), Some(secret)) = (key, secret) else {
        return Err(S3ConfigError(
            "an s3:// bucket needs credentials: set POSFIELD_S3_ACCESS_KEY_ID and POSFIELD_S3_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                .into(),
        ));
    };
    Ok(match read("POSFIELD_S3_SESSION_TOKEN", "AWS_SESSION_TOKEN") {
        Some(token) => Credentials::new_with_token(key, secret, token),
        None => Credentials::new(key, secret),
    })
}

/// Why a request to the bucket failed.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// No answer: the connection failed or timed out.
    #[error("the bucket {bucket} at {endpoint} cannot be reached ({action} {key}): {reason}")]
    Unreachable {
        /// The bucket.
        bucket: String,
        /// Its endpoint.
        endpoint: String,
        /// The request's method.
        action: &'static str,
        /// The object key (or prefix) asked for.
        key: String,
        /// What failed, without the signed URL.
        reason: String,
    },
    /// An answer that refuses the request.
    #[error("the bucket {bucket} answered {status} to {action} {key}: {body}")]
    Refused {
        /// The bucket.
        bucket: String,
        /// The HTTP status.
        status: u16,
        /// The request's method.
        action: &'static str,
        /// The object key (or prefix) asked for.
        key: String,
        /// The start of the answer's body.
        body: String,
    },
    /// A listing that does not parse.
    #[error("the bucket {bucket}'s listing of {prefix} does not read: {reason}")]
    Listing {
        /// The bucket.
        bucket: String,
        /// The prefix listed.
        prefix: String,
        /// Why.
        reason: String,
    },
}

impl S3Error {
    /// Whether trying again later may succeed: no answer, or the service's
    /// own failure or throttling (5xx, 429, 408).
    pub fn retryable(&self) -> bool {
        match self {
            S3Error::Unreachable { .. } => true,
            S3Error::Refused { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            S3Error::Listing { .. } => false,
        }
    }
}

/// A bucket that cannot be reached is `503 storage_unavailable` with a
/// `Retry-After` (the phone keeps the blob and tries again at its next
/// sync); any other failure is the server's (`500`, logged).
impl From<S3Error> for ApiError {
    fn from(e: S3Error) -> Self {
        if !e.retryable() {
            return ApiError::internal(e);
        }
        tracing::warn!(error = %e, "the blob bucket cannot be reached");
        ApiError {
            retry_after_secs: Some(RETRY_AFTER_SECS),
            ..ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the photo storage cannot be reached; nothing was stored, try again later",
            )
        }
    }
}

/// The blobs in an S3-compatible bucket. Cheap to clone (one shared client).
#[derive(Clone)]
pub struct S3Blobs(Arc<Inner>);

struct Inner {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    endpoint: String,
    client: reqwest::Client,
    keys: Arc<BlobKeys>,
    max_bytes: u64,
}

impl std::fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Blobs")
            .field("bucket", &self.0.bucket.name())
            .field("prefix", &self.0.prefix)
            .field("endpoint", &self.0.endpoint)
            .field("keys", &self.0.keys)
            .finish_non_exhaustive()
    }
}

/// One segment of a partial upload, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    /// Where its bytes start in the blob.
    offset: u64,
    /// How many plain bytes it holds.
    len: u64,
    /// Its key, without the prefix (its seal's label).
    key: String,
}

/// An object as listed.
#[derive(Debug, Clone)]
struct Listed {
    /// Its key, without the prefix.
    key: String,
    /// Its stored bytes.
    size: u64,
    /// When it was last written, Unix seconds.
    modified: Option<i64>,
}

/// The key of whole blob `sha`, without the prefix.
fn blob_key(sha: &BlobHash) -> String {
    format!("blobs/{}/{sha}", &sha.as_str()[..2])
}

/// The folder of `uploader`'s segments of `sha`, without the prefix.
fn segments_of(sha: &BlobHash, uploader: &str) -> String {
    format!("partial/{}/{sha}/", uploader_key(uploader))
}

/// How far the segments reach contiguously from 0 (sorted by offset): a
/// segment past a gap does not count, an overlap counts once.
fn contiguous(segments: &[Segment]) -> u64 {
    let mut end = 0;
    for segment in segments {
        if segment.offset > end {
            break;
        }
        end = end.max(segment.offset.saturating_add(segment.len));
    }
    end
}

/// `plain` sealed under the current key for `label`, off the async threads.
async fn seal(keys: &Arc<BlobKeys>, label: String, plain: Vec<u8>) -> Result<Vec<u8>, ApiError> {
    let keys = keys.clone();
    tokio::task::spawn_blocking(move || keys.seal(label.as_bytes(), &plain)).await.map_err(ApiError::internal)
}

/// An error's words and its causes', one after the other.
fn causes(error: &dyn std::error::Error) -> String {
    let mut words = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        words.push_str(": ");
        words.push_str(&cause.to_string());
        source = cause.source();
    }
    words
}

impl S3Blobs {
    /// The engine for the bucket `config` names, signing with
    /// `credentials`, sealing with `keys`; no object larger than a
    /// `max_bytes` blob is read. Asks the bucket nothing yet. Warns when
    /// requests would go over plain HTTP to another machine.
    pub fn open(
        config: &S3Config,
        credentials: Credentials,
        keys: BlobKeys,
        max_bytes: u64,
    ) -> Result<S3Blobs, S3ConfigError> {
        let style = if config.path_style { UrlStyle::Path } else { UrlStyle::VirtualHost };
        let bucket =
            Bucket::new(config.endpoint.clone(), style, config.bucket.clone(), config.region.clone())
                .map_err(|e| {
                    S3ConfigError(format!(
                        "bucket {:?} at {}: {e} (an endpoint that is an IP address needs path_style=true)",
                        config.bucket, config.endpoint
                    ))
                })?;
        let tls =
            posfield_sync_link_client::tls::client_config(&posfield_sync_link_client::tls::Trust::Platform)
                .map_err(|e| S3ConfigError(format!("no TLS client for the bucket: {e}")))?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| S3ConfigError(format!("the HTTP client for the bucket cannot be built: {e}")))?;
        if config.plain_http_elsewhere() {
            tracing::warn!(
                endpoint = %config.endpoint,
                "the blob bucket is reached over plain HTTP: blobs are sealed before they leave the server, but the requests travel in clear"
            );
        }
        let endpoint = config.endpoint.to_string();
        Ok(S3Blobs(Arc::new(Inner {
            bucket,
            credentials,
            prefix: config.prefix.clone(),
            endpoint,
            client,
            keys: Arc::new(keys),
            max_bytes,
        })))
    }

    /// The blob keys.
    pub(super) fn keys(&self) -> &Arc<BlobKeys> {
        &self.0.keys
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        self.0.bucket.name()
    }

    fn unreachable(&self, action: &'static str, key: &str, error: reqwest::Error) -> S3Error {
        // Without the URL: its query holds the request's signature and key id.
        let error = error.without_url();
        S3Error::Unreachable {
            bucket: self.bucket().to_owned(),
            endpoint: self.0.endpoint.clone(),
            action,
            key: key.to_owned(),
            reason: causes(&error),
        }
    }

    /// Sends a signed request for `key` (without the prefix); `None` when
    /// the object is not there (a bucket that is not there is an error).
    async fn send(
        &self,
        action: &'static str,
        key: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<reqwest::Response>, S3Error> {
        let response = request.send().await.map_err(|e| self.unreachable(action, key, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Some(response));
        }
        let body = response.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::NOT_FOUND && !body.contains("NoSuchBucket") {
            return Ok(None);
        }
        Err(S3Error::Refused {
            bucket: self.bucket().to_owned(),
            status: status.as_u16(),
            action,
            key: key.to_owned(),
            body: body.chars().take(BODY_SHOWN).collect(),
        })
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.0.prefix)
    }

    /// Puts `bytes` as object `key` (without the prefix), whole or not at all.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), S3Error> {
        let full = self.full(key);
        let url = self.0.bucket.put_object(Some(&self.0.credentials), &full).sign(SIGNED_FOR);
        // The length always, an empty body's too (reqwest leaves it out; S3 answers 411).
        let request = self.0.client.put(url).header(reqwest::header::CONTENT_LENGTH, bytes.len()).body(bytes);
        match self.send("PUT", key, request).await? {
            Some(_) => Ok(()),
            None => Err(S3Error::Refused {
                bucket: self.bucket().to_owned(),
                status: 404,
                action: "PUT",
                key: key.to_owned(),
                body: String::new(),
            }),
        }
    }

    /// Gets object `key` (without the prefix), its first bytes only with `range`.
    async fn get(&self, key: &str, range: Option<&str>) -> Result<Option<reqwest::Response>, S3Error> {
        let full = self.full(key);
        let url = self.0.bucket.get_object(Some(&self.0.credentials), &full).sign(SIGNED_FOR);
        let mut request = self.0.client.get(url);
        if let Some(range) = range {
            request = request.header(reqwest::header::RANGE, range);
        }
        self.send("GET", key, request).await
    }

    /// Deletes object `key` (without the prefix); one already gone is deleted.
    async fn delete(&self, key: &str) -> Result<(), S3Error> {
        let full = self.full(key);
        let url = self.0.bucket.delete_object(Some(&self.0.credentials), &full).sign(SIGNED_FOR);
        self.send("DELETE", key, self.0.client.delete(url)).await.map(drop)
    }

    /// The objects under `folder` (without the prefix), every page of
    /// them, or the first `limit` when given.
    async fn list(&self, folder: &str, limit: Option<usize>) -> Result<Vec<Listed>, S3Error> {
        let full = self.full(folder);
        let mut listed = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action = self.0.bucket.list_objects_v2(Some(&self.0.credentials));
            action.with_prefix(full.as_str());
            if let Some(limit) = limit {
                action.with_max_keys(limit);
            }
            if let Some(token) = token.take() {
                action.with_continuation_token(token);
            }
            let url = action.sign(SIGNED_FOR);
            let listing = |reason: String| S3Error::Listing {
                bucket: self.bucket().to_owned(),
                prefix: folder.to_owned(),
                reason,
            };
            let Some(response) = self.send("LIST", folder, self.0.client.get(url)).await? else {
                return Err(listing("the bucket answered 404".into()));
            };
            let text = response.text().await.map_err(|e| self.unreachable("LIST", folder, e))?;
            let page = ListObjectsV2::parse_response(&text).map_err(|e| listing(e.to_string()))?;
            for object in page.contents {
                let Some(key) = object.key.strip_prefix(&self.0.prefix) else { continue };
                listed.push(Listed {
                    key: key.to_owned(),
                    size: object.size.unwrap_or(0),
                    modified: object
                        .last_modified
                        .as_deref()
                        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                        .map(|t| t.as_second()),
                });
            }
            match page.next_continuation_token {
                Some(next) if limit.is_none() => token = Some(next),
                _ => return Ok(listed),
            }
        }
    }

    /// `uploader`'s segments of `sha`, by offset.
    async fn segments(&self, sha: &BlobHash, uploader: &str) -> Result<Vec<Segment>, S3Error> {
        let folder = segments_of(sha, uploader);
        let mut segments: Vec<Segment> = self
            .list(&folder, None)
            .await?
            .into_iter()
            .filter_map(|object| {
                let name = object.key.strip_prefix(&folder)?;
                let offset = (name.len() == OFFSET_DIGITS && name.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| name.parse::<u64>().ok())
                    .flatten()?;
                let len = object.size.saturating_sub(OVERHEAD as u64);
                Some(Segment { offset, len, key: object.key })
            })
            .collect();
        segments.sort_by_key(|s| s.offset);
        Ok(segments)
    }

    /// The plain length of whole blob `sha`, when it is stored: the first
    /// bytes tell a sealed object from a plain one, the answer's range its length.
    async fn whole_len(&self, sha: &BlobHash) -> Result<Option<u64>, S3Error> {
        let magic = crate::blob_key::MAGIC.len();
        let key = blob_key(sha);
        let Some(response) = self.get(&key, Some(&format!("bytes=0-{}", magic - 1))).await? else {
            return Ok(None);
        };
        let total = response
            .headers()
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit('/').next())
            .and_then(|v| v.parse::<u64>().ok())
            .or(response.content_length());
        // The first piece only: a service that ignores the range sends the
        // whole object, which is not read further.
        let mut response = response;
        let start = response.chunk().await.map_err(|e| self.unreachable("GET", &key, e))?.unwrap_or_default();
        let Some(total) = total else { return Ok(Some(start.len() as u64)) };
        let sealed = crate::blob_key::is_sealed(&start);
        Ok(Some(if sealed { total.saturating_sub(OVERHEAD as u64) } else { total }))
    }

    /// Where an upload stands for `uploader` (see [`super::BlobDir::status`]):
    /// the whole blob when `known` and stored, otherwise the contiguous
    /// length of the agent's own segments.
    pub async fn status(&self, sha: &BlobHash, uploader: &str, known: bool) -> Result<UploadStatus, S3Error> {
        if known && let Some(received) = self.whole_len(sha).await? {
            return Ok(UploadStatus { complete: true, received });
        }
        let received = contiguous(&self.segments(sha, uploader).await?);
        Ok(UploadStatus { complete: false, received })
    }

    /// Appends `body` at `offset` of `uploader`'s upload of a `total`-byte
    /// blob as one sealed segment; when the segments reach `total`, joins,
    /// verifies and stores the blob (see the module's documentation). The
    /// same refusals as the local engine's, and `503 storage_unavailable`
    /// when the bucket cannot be reached: a segment or a blob is one PUT,
    /// there whole or not at all.
    #[allow(clippy::too_many_arguments)]
    pub async fn append(
        &self,
        sha: &BlobHash,
        uploader: &str,
        known: bool,
        offset: u64,
        total: u64,
        max_bytes: u64,
        mut body: axum::body::BodyDataStream,
    ) -> Result<UploadStatus, ApiError> {
        check_total(total, max_bytes)?;
        if known && let Some(received) = self.whole_len(sha).await? {
            return Ok(UploadStatus { complete: true, received });
        }
        // Where the agent's upload stands. Its segments are listed only when
        // the first one is there: a first request (nearly every upload) asks
        // for one object by key, which costs the same on any S3 service
        // however many objects the bucket holds, where a listing may not.
        let first = format!("{}{:0OFFSET_DIGITS$}", segments_of(sha, uploader), 0);
        let received = if offset == 0 && self.get(&first, Some("bytes=0-0")).await?.is_none() {
            0
        } else {
            contiguous(&self.segments(sha, uploader).await?)
        };
        if offset != received {
            return Err(wrong_offset(received, offset));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    if offset + (bytes.len() + chunk.len()) as u64 > total {
                        // As the local engine drops its partial file: the
                        // agent's upload of this blob starts again from 0.
                        self.remove_all(&self.segments(sha, uploader).await.unwrap_or_default()).await;
                        return Err(too_long(total));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                // A cut connection: what arrived is kept for the resume.
                Err(_) => break,
            }
        }
        let received = offset + bytes.len() as u64;
        if offset == 0 && received == total {
            // The whole blob in one request, as nearly every photo comes:
            // checked and put whole, without a segment between (two
            // requests to the bucket instead of six).
            check_hash(sha, &bytes)?;
            let sealed = seal(&self.0.keys, sha.as_str().to_owned(), bytes).await?;
            self.put(&blob_key(sha), sealed).await?;
            return Ok(UploadStatus { complete: true, received: total });
        }
        if !bytes.is_empty() {
            let key = format!("{}{offset:0OFFSET_DIGITS$}", segments_of(sha, uploader));
            let sealed = seal(&self.0.keys, key.clone(), bytes).await?;
            self.put(&key, sealed).await?;
        }
        if received < total {
            return Ok(UploadStatus { complete: false, received });
        }
        self.finish(sha, uploader, total).await
    }

    /// Joins `uploader`'s segments of `sha` in order, checks the hash, puts
    /// the blob whole and sealed, and deletes the segments.
    async fn finish(&self, sha: &BlobHash, uploader: &str, total: u64) -> Result<UploadStatus, ApiError> {
        let segments = self.segments(sha, uploader).await?;
        let mut plain: Vec<u8> = Vec::with_capacity(total as usize);
        for segment in &segments {
            let end = plain.len() as u64;
            if segment.offset > end || end >= total {
                break;
            }
            if segment.offset.saturating_add(segment.len) <= end {
                continue;
            }
            let bytes = match self.read_segment(segment).await? {
                Some(bytes) => bytes,
                None => {
                    // Gone under our feet: the same upload's last piece,
                    // sent twice to two nodes, was joined by the other one.
                    if let Some(received) = self.whole_len(sha).await? {
                        return Ok(UploadStatus { complete: true, received });
                    }
                    // Damaged: the upload starts again.
                    self.remove_all(&segments).await;
                    return Err(ApiError::internal(format!(
                        "segment {} of blob {sha} does not open; the upload starts again",
                        segment.key
                    )));
                }
            };
            let skip = (end - segment.offset) as usize;
            plain.extend_from_slice(bytes.get(skip..).unwrap_or_default());
        }
        if (plain.len() as u64) < total {
            return Ok(UploadStatus { complete: false, received: plain.len() as u64 });
        }
        plain.truncate(total as usize);
        if let Err(mismatch) = check_hash(sha, &plain) {
            self.remove_all(&segments).await;
            return Err(mismatch);
        }
        let sealed = seal(&self.0.keys, sha.as_str().to_owned(), plain).await?;
        self.put(&blob_key(sha), sealed).await?;
        // Segments that stay (the bucket failed in between) are collected later.
        self.remove_all(&segments).await;
        Ok(UploadStatus { complete: true, received: total })
    }

    /// A segment's plain bytes; `None` when it is gone or does not open.
    async fn read_segment(&self, segment: &Segment) -> Result<Option<Vec<u8>>, S3Error> {
        let Some(response) = self.get(&segment.key, None).await? else { return Ok(None) };
        let max = self.0.max_bytes.saturating_add(OVERHEAD as u64);
        let Some(sealed) = self.body_within(response, &segment.key, max).await? else { return Ok(None) };
        let (keys, label) = (self.0.keys.clone(), segment.key.clone());
        let opened = tokio::task::spawn_blocking(move || keys.open(label.as_bytes(), sealed)).await;
        Ok(match opened {
            Ok(Ok(plain)) => Some(plain),
            Ok(Err(reason)) => {
                tracing::error!(key = %segment.key, %reason, "a stored segment does not open");
                None
            }
            Err(_) => None,
        })
    }

    /// The body of `response`, or `None` when it runs past `max` bytes (not read further).
    async fn body_within(
        &self,
        mut response: reqwest::Response,
        key: &str,
        max: u64,
    ) -> Result<Option<Vec<u8>>, S3Error> {
        if response.content_length().is_some_and(|len| len > max) {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unreachable("GET", key, e))? {
            if (bytes.len() + chunk.len()) as u64 > max {
                return Ok(None);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(bytes))
    }

    /// Deletes `segments`; a failure is logged (the collection deletes what stays).
    async fn remove_all(&self, segments: &[Segment]) {
        for segment in segments {
            if let Err(e) = self.delete(&segment.key).await {
                tracing::warn!(error = %e, "a segment stays until the collection");
            }
        }
    }

    /// The plain bytes of stored blob `sha`, opened (or, plain, checked
    /// against its hash) as [`super::BlobDir::read`] does; an object larger
    /// than any blob is refused before its body is read.
    pub async fn read(&self, sha: &BlobHash) -> Result<Vec<u8>, BlobError> {
        let storage = |source: S3Error| BlobError::Storage { sha: sha.clone(), source: Box::new(source) };
        let key = blob_key(sha);
        let Some(response) = self.get(&key, None).await.map_err(storage)? else {
            return Err(BlobError::Missing(sha.clone()));
        };
        let max = self.0.max_bytes.saturating_add(OVERHEAD as u64);
        let len = response.content_length();
        let Some(bytes) = self.body_within(response, &key, max).await.map_err(storage)? else {
            return Err(BlobError::TooLarge {
                sha: sha.clone(),
                len: len.unwrap_or(max + 1),
                max: self.0.max_bytes,
            });
        };
        let (keys, label) = (self.0.keys.clone(), sha.clone());
        tokio::task::spawn_blocking(move || open_stored(&keys, &label, bytes))
            .await
            .map_err(|e| BlobError::Io { sha: sha.clone(), source: std::io::Error::other(e) })?
    }

    /// Puts blob `sha` as another engine stored it (`stored`: sealed, or an
    /// older server's plain file), as this engine stores it too; [`S3Blobs::read`]
    /// opens it. Objects are named by their hash, so putting one again
    /// puts the same bytes.
    pub async fn put_stored(&self, sha: &BlobHash, stored: Vec<u8>) -> Result<(), S3Error> {
        self.put(&blob_key(sha), stored).await
    }

    /// Deletes whole blob `sha`.
    pub async fn remove_blob(&self, sha: &BlobHash) -> Result<(), S3Error> {
        self.delete(&blob_key(sha)).await
    }

    /// Deletes the segments last written before `cutoff` (Unix seconds);
    /// returns how many. A bucket that cannot be listed is logged and
    /// counts none.
    pub async fn remove_segments_older(&self, cutoff: i64) -> usize {
        let listed = match self.list("partial/", None).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(error = %e, "stale segments cannot be listed");
                return 0;
            }
        };
        let mut removed = 0;
        for object in listed.iter().filter(|o| o.modified.is_some_and(|m| m < cutoff)) {
            match self.delete(&object.key).await {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!(error = %e, "a stale segment stays"),
            }
        }
        removed
    }

    /// The key of a whole blob stored in the bucket, if any: sealed blobs
    /// are there, so a missing blob key file must not be replaced.
    pub async fn any_blob(&self) -> Result<Option<String>, S3Error> {
        Ok(self.list("blobs/", Some(1)).await?.into_iter().next().map(|o| self.full(&o.key)))
    }
}

#[cfg(test)]
mod tests;

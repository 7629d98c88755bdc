//! Configuration: built-in defaults, then an optional TOML file, then
//! environment variables and flags (clap reads both), later ones winning.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Data folder: the database and the blobs.
    pub data: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest blob accepted, in bytes.
    pub max_blob_bytes: u64,
    /// Largest JSON request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest single sync message, in bytes.
    pub max_sync_message_bytes: usize,
    /// Longest a sync connection may stay open, in seconds.
    pub sync_deadline_secs: u64,
    /// Sync connections served at the same time; more wait their turn. Each
    /// holds its visits in memory while it lasts, so this bounds the
    /// server's memory however many phones come back online at once.
    pub max_sync_sessions: usize,
    /// A back-office session unused this long, in seconds, is over.
    pub office_session_idle_secs: u64,
    /// A back-office session is over this long, in seconds, after its
    /// sign-in, however much it is used.
    pub office_session_lifetime_secs: u64,
    /// The oldest app version the server syncs with; an older phone is
    /// answered `426 app_too_old` on every sync route and keeps its work.
    pub min_app_version: semver::Version,
    /// Seconds the server's credential clock runs ahead of the system's:
    /// for tests and drills only (see [`crate::clock::Clock`]).
    pub clock_offset_secs: i64,
    /// Wrong passwords for one back-office user in a window before every
    /// sign-in as that user is answered 429 until the window ends.
    pub password_failures_per_account: u32,
    /// Wrong passwords from one client address in a window before its
    /// sign-ins are answered 429; high, as many people can share an address.
    pub password_failures_per_address: u32,
    /// The window of the password limits, in seconds.
    pub password_window_secs: i64,
    /// Wrong enrolment codes from one client address in a minute before its
    /// enrolments are answered 429; high enough for many phones behind one
    /// carrier's address.
    pub code_failures_per_address: u32,
    /// Requests to the merchant's verification page (`/verify/...`) from
    /// one client address in a minute, found or not, before it is answered
    /// 429; a merchant checks once or twice, a guesser many times.
    pub verifications_per_address: u32,
    /// The server's address as merchants reach it (`https://posfield.example.com/`),
    /// printed on certificates as the start of the verification page's
    /// address; unset, the desk's own request's scheme and host are used.
    pub public_url: Option<url::Url>,
    /// Addresses of reverse proxies whose `X-Forwarded-For` and `Forwarded`
    /// headers name the client; empty (the default), no header is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Sync connections one device may have open or waiting at once; more
    /// are answered 429 before the handshake.
    pub max_sync_sessions_per_device: usize,
    /// A sync connection on which the phone sends nothing this long, in
    /// seconds, is closed (its turn goes to the next).
    pub sync_idle_secs: u64,
    /// An upload no visit refers to (a partial one, or a whole blob) is
    /// deleted this long, in seconds, after it was last written.
    pub unreferenced_upload_grace_secs: i64,
    /// Days after a visit's approval when its ID card and bank card photos
    /// leave the agents' phones (the server keeps them); phones learn it
    /// from the manifest answer.
    pub personal_photo_days_on_phone: u32,
    /// The PEM certificate chain the server serves HTTPS with, its own
    /// certificate first; with [`Config::tls_key`], or neither (plain HTTP,
    /// for local use or behind a reverse proxy that serves TLS).
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of [`Config::tls_cert`].
    pub tls_key: Option<PathBuf>,
    /// How often, in seconds, the certificate and key files are looked at;
    /// when either changed they are loaded again without a restart.
    pub tls_reload_secs: u64,
    /// Whether stored blobs (photos, signatures, thumbnails) are sealed
    /// with the blob key, and plain ones left by an older server sealed at
    /// start. Off, new blobs are stored plain; sealed ones still open.
    pub blob_encryption: bool,
    /// How the merchant is told of the desk's decisions (the `[outbox]`
    /// section; see [`crate::outbox`]).
    pub outbox: OutboxConfig,
    /// Where the blobs are kept: the data folder (the default) or an
    /// S3-compatible bucket, whose objects are always sealed whatever
    /// [`Config::blob_encryption`] says: they leave the server.
    pub blobs: crate::blobs::BlobStorage,
    /// The bearer token a scraper reads `GET /metrics` with; without one
    /// the route answers 404 ([`crate::metrics`]).
    pub metrics_token: Option<Secret>,
    /// The database: `None` for the embedded SQLite file in the data
    /// folder; a `postgres://` URL for PostgreSQL (the data folder still
    /// holds the key files and blobs).
    pub database: Option<DatabaseUrl>,
    /// Most connections to PostgreSQL open at once.
    pub database_pool_size: usize,
    /// The PEM root certificates a `sslmode=verify-full` database URL
    /// checks the server's certificate against (a URL's `sslrootcert=`
    /// wins); without either, the platform's roots.
    pub database_ca: Option<PathBuf>,
}

/// A secret of the configuration (a gateway's access key, a webhook's
/// token): shown as `***` by `Debug`, never serialised, zeroed when the
/// last copy of the configuration holding it goes. Copies of a `Config`
/// share the one text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(std::sync::Arc<SecretText>);

#[derive(PartialEq, Eq)]
struct SecretText(String);

impl Drop for SecretText {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl Secret {
    /// A secret holding `text`.
    pub fn new(text: String) -> Secret {
        Secret(std::sync::Arc::new(SecretText(text)))
    }

    /// The text, for the one header that carries it.
    pub fn expose(&self) -> &str {
        &self.0.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the merchant is told: the outbox's sender and its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Who delivers the messages.
    pub sender: OutboxSender,
    /// Attempts at one message before it is given up as failed.
    pub max_attempts: u32,
    /// The wait after the first failed attempt, in seconds; it doubles
    /// with each failure up to [`OutboxConfig::retry_max_secs`].
    pub retry_first_secs: i64,
    /// The longest wait between two attempts, in seconds.
    pub retry_max_secs: i64,
    /// The longest one attempt may take, in seconds.
    pub timeout_secs: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            sender: OutboxSender::Keep,
            max_attempts: 16,
            retry_first_secs: 60,
            retry_max_secs: 6 * 3600,
            timeout_secs: 30,
        }
    }
}

/// Who delivers the outbox's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxSender {
    /// Nobody: the messages stay in the outbox, shown in the back office.
    Keep,
    /// An SMS gateway's template-message API.
    Sms(SmsConfig),
    /// The company's own systems, by a JSON POST per message.
    Webhook(WebhookConfig),
}

impl OutboxSender {
    /// Its name in the configuration.
    pub fn code(&self) -> &'static str {
        match self {
            OutboxSender::Keep => "keep",
            OutboxSender::Sms(_) => "sms",
            OutboxSender::Webhook(_) => "webhook",
        }
    }
}

/// An SMS gateway's template-message API (`[outbox.sms]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsConfig {
    /// Where messages are POSTed.
    pub url: url::Url,
    /// The signature name registered with the gateway (签名).
    pub sign_name: String,
    /// The gateway's template code for each event, by event code.
    pub templates: std::collections::BTreeMap<String, String>,
    /// The access key, sent in [`SmsConfig::access_key_header`].
    pub access_key: Option<Secret>,
    /// The header that carries the access key.
    pub access_key_header: String,
}

/// The company's own receiver of the outbox's events (`[outbox.webhook]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Where events are POSTed.
    pub url: url::Url,
    /// A bearer token sent as `Authorization: Bearer`, when the receiver wants one.
    pub bearer_token: Option<Secret>,
}

/// The `[outbox]` section of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOutbox {
    /// `keep` (the default), `sms` or `webhook`.
    pub sender: Option<String>,
    /// See [`OutboxConfig::max_attempts`].
    pub max_attempts: Option<u32>,
    /// See [`OutboxConfig::retry_first_secs`].
    pub retry_first_secs: Option<i64>,
    /// See [`OutboxConfig::retry_max_secs`].
    pub retry_max_secs: Option<i64>,
    /// See [`OutboxConfig::timeout_secs`].
    pub timeout_secs: Option<u64>,
    /// `[outbox.sms]`.
    pub sms: Option<FileSms>,
    /// `[outbox.webhook]`.
    pub webhook: Option<FileWebhook>,
}

/// The `[outbox.sms]` section.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSms {
    /// See [`SmsConfig::url`].
    pub url: Option<String>,
    /// See [`SmsConfig::sign_name`].
    pub sign_name: Option<String>,
    /// See [`SmsConfig::templates`].
    #[serde(default)]
    pub templates: std::collections::BTreeMap<String, String>,
    /// See [`SmsConfig::access_key`].
    pub access_key: Option<String>,
    /// See [`SmsConfig::access_key_header`].
    pub access_key_header: Option<String>,
}

impl std::fmt::Debug for FileSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSms")
            .field("url", &self.url)
            .field("sign_name", &self.sign_name)
            .field("templates", &self.templates)
            .field("access_key", &self.access_key.as_ref().map(|_| "***"))
            .field("access_key_header", &self.access_key_header)
            .finish()
    }
}

/// The `[outbox.webhook]` section.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWebhook {
    /// See [`WebhookConfig::url`].
    pub url: Option<String>,
    /// See [`WebhookConfig::bearer_token`].
    pub bearer_token: Option<String>,
}

impl std::fmt::Debug for FileWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWebhook")
            .field("url", &self.url)
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A sender's URL: absolute, `http` or `https`.
fn sender_url(section: &str, url: Option<String>) -> anyhow::Result<url::Url> {
    let text = url.ok_or_else(|| anyhow::anyhow!("[{section}] needs a url"))?;
    let parsed = url::Url::parse(&text).map_err(|e| anyhow::anyhow!("[{section}] url {text:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        anyhow::bail!("[{section}] url {text:?} is not http or https");
    }
    Ok(parsed)
}

impl FileOutbox {
    /// The outbox's configuration: the defaults overlaid with this section.
    /// A sender that cannot work as written (no URL, an event without its
    /// SMS template) stops the start with what is missing.
    pub fn into_config(self) -> anyhow::Result<OutboxConfig> {
        let defaults = OutboxConfig::default();
        let sender = match self.sender.as_deref().unwrap_or("keep") {
            "keep" => OutboxSender::Keep,
            "sms" => {
                let sms = self.sms.ok_or_else(|| anyhow::anyhow!("sender = \"sms\" needs [outbox.sms]"))?;
                let url = sender_url("outbox.sms", sms.url)?;
                let sign_name = sms
                    .sign_name
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| anyhow::anyhow!("[outbox.sms] needs a sign_name"))?;
                if let Some(unknown) =
                    sms.templates.keys().find(|code| crate::outbox::Event::from_code(code).is_none())
                {
                    anyhow::bail!("[outbox.sms] templates names no event {unknown:?}");
                }
                let missing: Vec<&str> = crate::outbox::Event::ALL
                    .iter()
                    .map(|e| e.code())
                    .filter(|code| !sms.templates.contains_key(*code))
                    .collect();
                if !missing.is_empty() {
                    anyhow::bail!("[outbox.sms] templates has no template code for {}", missing.join(", "));
                }
                OutboxSender::Sms(SmsConfig {
                    url,
                    sign_name,
                    templates: sms.templates,
                    access_key: sms.access_key.map(Secret::new),
                    access_key_header: sms.access_key_header.unwrap_or_else(|| "X-Access-Key".into()),
                })
            }
            "webhook" => {
                let webhook = self
                    .webhook
                    .ok_or_else(|| anyhow::anyhow!("sender = \"webhook\" needs [outbox.webhook]"))?;
                OutboxSender::Webhook(WebhookConfig {
                    url: sender_url("outbox.webhook", webhook.url)?,
                    bearer_token: webhook.bearer_token.map(Secret::new),
                })
            }
            other => anyhow::bail!("[outbox] sender {other:?} is not keep, sms or webhook"),
        };
        // Floors: a zero would spin, or give up before the first attempt.
        let retry_first_secs = self.retry_first_secs.unwrap_or(defaults.retry_first_secs).max(1);
        Ok(OutboxConfig {
            sender,
            max_attempts: self.max_attempts.unwrap_or(defaults.max_attempts).max(1),
            retry_first_secs,
            retry_max_secs: self.retry_max_secs.unwrap_or(defaults.retry_max_secs).max(retry_first_secs),
            timeout_secs: self.timeout_secs.unwrap_or(defaults.timeout_secs).max(1),
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data: PathBuf::from("posfield-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_blob_bytes: 20 << 20,
            max_body_bytes: 1 << 20,
            max_sync_message_bytes: 16 << 20,
            sync_deadline_secs: 600,
            max_sync_sessions: 8,
            office_session_idle_secs: 8 * 3600,
            office_session_lifetime_secs: 12 * 3600,
            min_app_version: crate::versions::oldest_supported_app_version(),
            clock_offset_secs: 0,
            password_failures_per_account: 20,
            password_failures_per_address: 200,
            password_window_secs: 15 * 60,
            code_failures_per_address: 50,
            verifications_per_address: 30,
            public_url: None,
            trusted_proxies: Vec::new(),
            max_sync_sessions_per_device: 2,
            sync_idle_secs: 60,
            unreferenced_upload_grace_secs: 7 * 24 * 3600,
            personal_photo_days_on_phone: 30,
            tls_cert: None,
            tls_key: None,
            tls_reload_secs: 30,
            blob_encryption: true,
            outbox: OutboxConfig::default(),
            blobs: crate::blobs::BlobStorage::Local,
            metrics_token: None,
            database: None,
            database_pool_size: crate::store::postgres::DEFAULT_POOL_SIZE,
            database_ca: None,
        }
    }
}

/// The URL of the server's database. It holds the database's password, so
/// it is shown (debug output, logs, errors) without it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL as configured.
    pub fn new(url: impl Into<String>) -> DatabaseUrl {
        DatabaseUrl(url.into())
    }

    /// The URL with its password, to connect with; never to show.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The URL without its password.
    pub fn shown(&self) -> String {
        crate::store::postgres::redacted(&self.0)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.shown()).finish()
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

/// The optional TOML file: every key may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// See [`Config::data`].
    pub data: Option<PathBuf>,
    /// See [`Config::listen`].
    pub listen: Option<SocketAddr>,
    /// See [`Config::max_blob_bytes`].
    pub max_blob_bytes: Option<u64>,
    /// See [`Config::max_body_bytes`].
    pub max_body_bytes: Option<usize>,
    /// See [`Config::max_sync_message_bytes`].
    pub max_sync_message_bytes: Option<usize>,
    /// See [`Config::sync_deadline_secs`].
    pub sync_deadline_secs: Option<u64>,
    /// See [`Config::max_sync_sessions`].
    pub max_sync_sessions: Option<usize>,
    /// See [`Config::office_session_idle_secs`].
    pub office_session_idle_secs: Option<u64>,
    /// See [`Config::office_session_lifetime_secs`].
    pub office_session_lifetime_secs: Option<u64>,
    /// See [`Config::min_app_version`] (`"0.2.0"`).
    pub min_app_version: Option<String>,
    /// See [`Config::clock_offset_secs`].
    pub clock_offset_secs: Option<i64>,
    /// See [`Config::password_failures_per_account`].
    pub password_failures_per_account: Option<u32>,
    /// See [`Config::password_failures_per_address`].
    pub password_failures_per_address: Option<u32>,
    /// See [`Config::password_window_secs`].
    pub password_window_secs: Option<i64>,
    /// See [`Config::code_failures_per_address`].
    pub code_failures_per_address: Option<u32>,
    /// See [`Config::verifications_per_address`].
    pub verifications_per_address: Option<u32>,
    /// See [`Config::public_url`].
    pub public_url: Option<String>,
    /// See [`Config::trusted_proxies`] (`["10.0.0.2"]`).
    pub trusted_proxies: Option<Vec<IpAddr>>,
    /// See [`Config::max_sync_sessions_per_device`].
    pub max_sync_sessions_per_device: Option<usize>,
    /// See [`Config::sync_idle_secs`].
    pub sync_idle_secs: Option<u64>,
    /// See [`Config::unreferenced_upload_grace_secs`].
    pub unreferenced_upload_grace_secs: Option<i64>,
    /// See [`Config::personal_photo_days_on_phone`].
    pub personal_photo_days_on_phone: Option<u32>,
    /// See [`Config::tls_cert`].
    pub tls_cert: Option<PathBuf>,
    /// See [`Config::tls_key`].
    pub tls_key: Option<PathBuf>,
    /// See [`Config::tls_reload_secs`].
    pub tls_reload_secs: Option<u64>,
    /// See [`Config::blob_encryption`].
    pub blob_encryption: Option<bool>,
    /// See [`Config::outbox`].
    pub outbox: Option<FileOutbox>,
    /// See [`Config::blobs`] (`"s3://bucket/prefix?endpoint=...&region=..."`).
    pub blobs: Option<String>,
    /// See [`Config::metrics_token`].
    pub metrics_token: Option<String>,
    /// See [`Config::database`] (`"postgres://posfield:secret@db.internal/posfield"`).
    pub database: Option<String>,
    /// See [`Config::database_pool_size`].
    pub database_pool_size: Option<usize>,
    /// See [`Config::database_ca`].
    pub database_ca: Option<PathBuf>,
}

impl Config {
    /// Defaults overlaid with the TOML file at `path`, if given.
    pub fn from_file(path: Option<&Path>) -> anyhow::Result<Config> {
        let mut config = Config::default();
        let Some(path) = path else { return Ok(config) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the configuration file {}: {e}", path.display()))?;
        let file: FileConfig = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("the configuration file {} is not valid: {e}", path.display()))?;
        if let Some(v) = file.data {
            config.data = v;
        }
        if let Some(v) = file.listen {
            config.listen = v;
        }
        if let Some(v) = file.max_blob_bytes {
            config.max_blob_bytes = v;
        }
        if let Some(v) = file.max_body_bytes {
            config.max_body_bytes = v;
        }
        if let Some(v) = file.max_sync_message_bytes {
            config.max_sync_message_bytes = v;
        }
        if let Some(v) = file.sync_deadline_secs {
            config.sync_deadline_secs = v;
        }
        if let Some(v) = file.max_sync_sessions {
            config.max_sync_sessions = v.max(1);
        }
        // A session shorter than a minute would end between two pages.
        if let Some(v) = file.office_session_idle_secs {
            config.office_session_idle_secs = v.max(60);
        }
        if let Some(v) = file.office_session_lifetime_secs {
            config.office_session_lifetime_secs = v.max(60);
        }
        if let Some(v) = file.min_app_version {
            config.min_app_version = crate::versions::parse_minimum(&v)
                .map_err(|e| anyhow::anyhow!("the configuration file {}: {e}", path.display()))?;
        }
        if let Some(v) = file.clock_offset_secs {
            config.clock_offset_secs = v;
        }
        if let Some(v) = file.password_failures_per_account {
            config.password_failures_per_account = v.max(1);
        }
        if let Some(v) = file.password_failures_per_address {
            config.password_failures_per_address = v.max(1);
        }
        if let Some(v) = file.password_window_secs {
            config.password_window_secs = v.max(1);
        }
        if let Some(v) = file.code_failures_per_address {
            config.code_failures_per_address = v.max(1);
        }
        if let Some(v) = file.verifications_per_address {
            config.verifications_per_address = v.max(1);
        }
        if let Some(v) = file.public_url {
            config.public_url = Some(
                sender_url("public_url", Some(v))
                    .map_err(|e| anyhow::anyhow!("the configuration file {}: {e}", path.display()))?,
            );
        }
        if let Some(v) = file.trusted_proxies {
            config.trusted_proxies = v;
        }
        if let Some(v) = file.max_sync_sessions_per_device {
            config.max_sync_sessions_per_device = v.max(1);
        }
        // An idle limit under a few seconds would cut a phone between two messages.
        if let Some(v) = file.sync_idle_secs {
            config.sync_idle_secs = v.max(5);
        }
        // A grace under an hour would collect a photo between its upload and its visit's push.
        if let Some(v) = file.personal_photo_days_on_phone {
            config.personal_photo_days_on_phone = v;
        }
        if let Some(v) = file.unreferenced_upload_grace_secs {
            config.unreferenced_upload_grace_secs = v.max(3600);
        }
        if let Some(v) = file.tls_cert {
            config.tls_cert = Some(v);
        }
        if let Some(v) = file.tls_key {
            config.tls_key = Some(v);
        }
        // Looking at two files' metadata costs nothing; zero would spin.
        if let Some(v) = file.tls_reload_secs {
            config.tls_reload_secs = v.max(1);
        }
        if let Some(v) = file.blob_encryption {
            config.blob_encryption = v;
        }
        if let Some(v) = file.blobs {
            config.blobs = crate::blobs::BlobStorage::parse(&v)
                .map_err(|e| anyhow::anyhow!("the configuration file {}: {e}", path.display()))?;
        }
        if let Some(v) = file.database {
            config.database = Some(DatabaseUrl::new(v));
        }
        if let Some(v) = file.database_pool_size {
            config.database_pool_size = v.max(1);
        }
        if let Some(v) = file.database_ca {
            config.database_ca = Some(v);
        }
        if let Some(v) = file.outbox {
            config.outbox = v
                .into_config()
                .map_err(|e| anyhow::anyhow!("the configuration file {}: {e}", path.display()))?;
        }
        // An empty token would let anyone in with `Bearer ` and nothing after it.
        if let Some(v) = file.metrics_token.filter(|token| !token.trim().is_empty()) {
            config.metrics_token = Some(Secret::new(v));
        }
        Ok(config)
    }

    /// The certificate and key files the server serves TLS with: `None`
    /// for plain HTTP, an error when only one of the two is given.
    pub fn tls_files(&self) -> Result<Option<crate::tls::TlsFiles>, crate::tls::TlsError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                Ok(Some(crate::tls::TlsFiles { cert: cert.clone(), key: key.clone() }))
            }
            (None, None) => Ok(None),
            (Some(cert), None) => Err(crate::tls::TlsError::KeyMissing { cert: cert.clone() }),
            (None, Some(key)) => Err(crate::tls::TlsError::CertMissing { key: key.clone() }),
        }
    }

    /// Whether the server serves TLS itself (a certificate and a key are set).
    pub fn serves_tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without `database` the store is the data folder's SQLite file; a
    /// URL given is kept whole to connect with and shown without its
    /// password; a URL of another engine is refused, naming it without it.
    #[tokio::test]
    async fn the_database_is_the_data_folders_file_unless_a_url_names_one_and_its_password_is_never_shown() {
        assert_eq!((Config::default().database, Config::default().database_pool_size), (None, 16));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posfield.toml");
        let url = "postgres://posfield:s3cret@db.internal:5433/posfield?sslmode=disable";
        std::fs::write(&path, format!("database = \"{url}\"\ndatabase_pool_size = 4\n")).unwrap();
        let config = Config::from_file(Some(&path)).unwrap();
        let database = config.database.clone().unwrap();
        assert_eq!((database.secret(), config.database_pool_size), (url, 4));
        let shown = format!("{config:?} {database}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://posfield@db.internal:5433/posfield?sslmode=disable"), "{shown}");

        for other in ["mysql://posfield:s3cret@db.internal/posfield", "posfield.db"] {
            let config = Config {
                data: dir.path().join("data"),
                database: Some(DatabaseUrl::new(other)),
                ..Config::default()
            };
            let refused = crate::open_store(&config).await.map(drop).unwrap_err().to_string();
            assert!(refused.contains("not a postgres:// URL") && !refused.contains("s3cret"), "{refused}");
        }
        assert!(!dir.path().join("data").exists(), "a refused database opened the data folder");
    }

    #[test]
    fn a_file_overrides_some_defaults_and_unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posfield.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nmax_blob_bytes = 1000\noffice_session_idle_secs = 1800\n",
        )
        .unwrap();
        let config = Config::from_file(Some(&path)).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.max_blob_bytes, 1000);
        assert_eq!(config.office_session_idle_secs, 1800);
        assert_eq!(config.office_session_lifetime_secs, Config::default().office_session_lifetime_secs);
        assert_eq!(config.data, Config::default().data);
        std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let error = Config::from_file(Some(&path)).unwrap_err().to_string();
        assert!(error.contains("lisen"), "{error}");
    }

    #[test]
    fn the_minimum_app_version_defaults_to_the_oldest_supported_and_must_be_a_version() {
        assert_eq!(Config::default().min_app_version, semver::Version::new(0, 1, 0));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posfield.toml");
        std::fs::write(&path, "min_app_version = \"0.2.0\"\nclock_offset_secs = 86400\n").unwrap();
        let config = Config::from_file(Some(&path)).unwrap();
        assert_eq!(config.min_app_version, semver::Version::new(0, 2, 0));
        assert_eq!(config.clock_offset_secs, 86_400);
        std::fs::write(&path, "min_app_version = \"two\"\n").unwrap();
        let error = Config::from_file(Some(&path)).unwrap_err().to_string();
        assert!(error.contains("\"two\""), "{error}");
    }

    #[test]
    fn abuse_limits_default_to_room_for_shared_addresses_and_no_trusted_proxy() {
        let defaults = Config::default();
        assert!(defaults.trusted_proxies.is_empty(), "no forwarding header is believed by default");
        assert!(defaults.code_failures_per_address >= 50 && defaults.password_failures_per_account <= 20);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posfield.toml");
        std::fs::write(
            &path,
            "trusted_proxies = [\"10.0.0.2\", \"::1\"]\nmax_sync_sessions_per_device = 0\nsync_idle_secs = 1\n\
             unreferenced_upload_grace_secs = 60\n",
        )
        .unwrap();
        let config = Config::from_file(Some(&path)).unwrap();
        let proxies: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap(), "::1".parse().unwrap()];
        assert_eq!(config.trusted_proxies, proxies);
        // Values that would lock every device out or cut syncs are raised to a floor.
        assert_eq!(config.max_sync_sessions_per_device, 1);
        assert_eq!(config.sync_idle_secs, 5);
        assert_eq!(config.unreferenced_upload_grace_secs, 3600);
    }

    #[test]
    fn blobs_are_sealed_unless_the_file_turns_it_off() {
        assert!(Config::default().blob_encryption);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posfield.toml");
        std::fs::write(&path, "blob_encryption = false\n").unwrap();
        assert!(!Config::from_file(Some(&path)).unwrap().blob_encryption);
    }

    #[test]
    fn blobs_are_in_the_data_folder_unless_the_file_names_a_bucket() {
        assert_eq!(Config::default().blobs, crate::blobs::BlobStorage::Local);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posfield.toml");
        std::fs::write(
            &path,
            "blobs = \"s3://photos/prod?endpoint=http://127.0.0.1:9000&path_style=true\"\n",
        )
        .unwrap();
        let crate::blobs::BlobStorage::S3(s3) = Config::from_file(Some(&path)).unwrap().blobs else {
            panic!("an s3:// address names a bucket")
        };
        assert_eq!((s3.bucket.as_str(), s3.prefix.as_str(), s3.path_style), ("photos", "prod/", true));
        std::fs::write(&path, "blobs = \"s3://photos?colour=blue\"\n").unwrap();
        let error = Config::from_file(Some(&path)).unwrap_err().to_string();
        assert!(error.contains("posfield.toml") && error.contains("\"colour\""), "{error}");
    }

    #[test]
    fn tls_takes_a_certificate_and_a_key_or_neither() {
        let defaults = Config::default();
        assert_eq!(defaults.tls_files().unwrap(), None, "plain HTTP by default");
        assert_eq!(defaults.tls_reload_secs, 30);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posfield.toml");
        std::fs::write(&path, "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\ntls_reload_secs = 0\n")
            .unwrap();
        let config = Config::from_file(Some(&path)).unwrap();
        let files = config.tls_files().unwrap().unwrap();
        assert_eq!((files.cert, files.key), (PathBuf::from("cert.pem"), PathBuf::from("key.pem")));
        assert!(config.serves_tls());
        assert_eq!(config.tls_reload_secs, 1, "a zero interval is raised to a second");
        std::fs::write(&path, "tls_cert = \"cert.pem\"\n").unwrap();
        let error = Config::from_file(Some(&path)).unwrap().tls_files().unwrap_err().to_string();
        assert!(error.contains("cert.pem") && error.contains("key"), "{error}");
        std::fs::write(&path, "tls_key = \"key.pem\"\n").unwrap();
        let error = Config::from_file(Some(&path)).unwrap().tls_files().unwrap_err().to_string();
        assert!(error.contains("key.pem") && error.contains("certificate"), "{error}");
    }

    #[test]
    fn the_metrics_token_is_a_secret_and_an_empty_one_is_none() {
        assert_eq!(Config::default().metrics_token, None, "no /metrics unless a token is set");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posfield.toml");
        std::fs::write(&path, "metrics_token = \"scrape-me-please\"\n").unwrap();
        let config = Config::from_file(Some(&path)).unwrap();
        assert_eq!(config.metrics_token.as_ref().map(Secret::expose), Some("scrape-me-please"));
        assert!(!format!("{config:?}").contains("scrape-me-please"), "the token shows in Debug");
        std::fs::write(&path, "metrics_token = \" \"\n").unwrap();
        assert_eq!(Config::from_file(Some(&path)).unwrap().metrics_token, None);
    }
}

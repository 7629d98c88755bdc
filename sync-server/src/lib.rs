//! posfield-server: syncs visit documents and blobs with agents' phones,
//! keeps projections for the back office, and enforces who may change what.
//!
//! - [`config`]: flags, environment and an optional TOML file.
//! - [`store`]: the storage boundary: every query the server makes, and the
//!   access rule; [`store::sqlite`] is its engine.
//! - [`auth`]: enrolment codes, device credentials, back-office users.
//! - [`actors`]: the automerge actors each device may write under.
//! - [`personal`]: who sees the merchant's registered phone whole, and where; masked elsewhere.
//! - [`policy`]: the samod share policy of a sync connection (the store's access rule).
//! - [`api`]: the HTTP routes, in one table.
//! - [`routes`]: who may call each route, and the guard that refuses everyone else.
//! - [`desk`]: the back office's decisions, each once, with the role it needs.
//! - [`outbox`]: what the merchant is told of them, enqueued with the decision and delivered at least once.
//! - [`versions`]: the versions phones send, and the minimum app version.
//! - [`office`]: the back office's pages under `/office`.
//! - [`demo`]: `serve --demo`, a realistic fleet in an empty data folder.
//! - [`blobs`]: resumable, verified, content-addressed uploads, each partial one its uploader's,
//!   sealed at rest, in the data folder or an S3-compatible bucket ([`blobs::s3`]).
//! - [`blob_key`]: the keys blobs are sealed with, in a file outside the database, and the sealed format.
//! - [`backup`]: `posfield-server backup`, an online copy of the data folder while the server runs.
//! - [`files`]: files written whole (keys, sealed blobs): beside, fsynced, renamed.
//! - [`throttle`]: limits on wrong passwords and enrolment codes, the client's address,
//!   and whether it reached the server over HTTPS.
//! - [`tls`]: HTTPS served by the server itself, its certificate reloaded when the files change.
//! - [`sync_slots`]: sync connections per device, and closing a revoked device's.
//! - [`in_flight`]: sync connections not yet projected, which a manifest waits for.
//! - [`metrics`]: what the operator's Prometheus reads at `/metrics`.
//! - [`projection`]: visit and terminal tables, restored back-office fields,
//!   countersigned acceptances.

pub mod actors;
pub mod api;
pub mod auth;
pub mod backup;
pub mod blob_key;
pub mod blobs;
pub mod brief;
pub mod clock;
pub mod config;
pub mod demo;
pub mod desk;
pub mod error;
pub mod files;
pub mod in_flight;
pub mod metrics;
pub mod migrate;
pub mod office;
pub mod outbox;
pub mod personal;
pub mod policy;
pub mod priority;
pub mod projection;
pub mod push;
pub mod routes;
pub mod server_key;
pub mod store;
pub mod sync_slots;
pub mod throttle;
pub mod tls;
pub mod turns;
pub mod verify;
pub mod versions;

use std::net::SocketAddr;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use posfield_sync_link_server::ServerRepo;

use crate::blobs::{BlobDir, BlobStorage, Blobs};
use crate::config::Config;
use crate::store::Store;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;

/// The server's peer id in sync messages (each message carries it, so it is short).
pub const SYNC_PEER_ID: &str = "posfield";

/// Everything a request handler needs.
#[derive(Debug)]
pub struct State {
    /// Configuration in force.
    pub config: Config,
    /// Every query the server makes.
    pub store: Arc<dyn Store>,
    /// The document repository.
    pub repo: ServerRepo,
    /// The blobs, in the local folder or an S3-compatible bucket.
    pub blobs: Blobs,
    /// The key the server countersigns acceptances with.
    pub signing_key: SigningKey,
    /// The automerge actor this process writes its changes under
    /// ([`projection::node_actor`]): each node its own.
    pub actor: Vec<u8>,
    /// Projections take turns per visit; the desk's register decisions
    /// take the register's turn ([`turns`]).
    pub turns: turns::Turns,
    /// Sync connections whose documents are not projected yet.
    pub in_flight: Arc<in_flight::InFlight>,
    /// Turns for sync connections ([`Config::max_sync_sessions`]).
    pub sync_turns: Arc<tokio::sync::Semaphore>,
    /// Sync connections per device, open or waiting for a turn.
    pub sync_slots: Arc<sync_slots::SyncSlots>,
    /// Limits on wrong passwords and enrolment codes.
    pub throttles: throttle::Throttles,
    /// Pushes whose documents are being loaded at once: one per core.
    pub push_turns: tokio::sync::Semaphore,
    /// Photo uploads wait while pushes are served.
    pub documents_first: Arc<priority::DocumentsFirst>,
    /// The clock device credentials are issued and checked by.
    pub clock: clock::Clock,
    /// What `/metrics` shows.
    pub metrics: metrics::Metrics,
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Shared state (for in-process tests and the back office).
    pub state: Arc<State>,
    shutdown: tokio::sync::watch::Sender<bool>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting requests, lets in-flight ones finish, stops the
    /// repository (pending writes complete) and returns.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        let result = self.served.await.unwrap_or_else(|e| Err(std::io::Error::other(e)));
        self.state.repo.stop().await;
        result
    }

    /// Waits until the server stops by itself (a signal, when `serve` was
    /// started with signal handling).
    pub async fn wait(self) -> std::io::Result<()> {
        let result = (&mut { self.served }).await.unwrap_or_else(|e| Err(std::io::Error::other(e)));
        self.state.repo.stop().await;
        result
    }
}

/// Opens the configured store: without `database`, the SQLite file of the
/// data folder (creating both if needed); with a `postgres://` URL, that
/// PostgreSQL database. Any other URL is refused.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let Some(url) = &config.database else {
        std::fs::create_dir_all(&config.data)?;
        return Ok(Arc::new(SqliteStore::open(&config.data.join("posfield.db"))?));
    };
    let scheme = url.secret().split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("postgres" | "postgresql")) {
        anyhow::bail!(
            "database {url:?} is not a postgres:// URL; leave database out for the embedded SQLite file in the data folder"
        );
    }
    let store =
        PostgresStore::open_with_ca(url.secret(), config.database_pool_size, config.database_ca.as_deref())
            .await?;
    tracing::info!(database = %url, pool = config.database_pool_size, "the store is PostgreSQL");
    Ok(Arc::new(store))
}

/// Opens the data folder and starts serving on the configured address,
/// over TLS when the configuration names a certificate and key.
/// With `signals`, SIGINT/SIGTERM start a graceful shutdown.
pub async fn start(config: Config, signals: bool) -> anyhow::Result<Running> {
    // A certificate that cannot be served stops the start before anything is opened.
    let certificate = config.tls_files()?.map(tls::ServedCertificate::load).transpose()?;
    std::fs::create_dir_all(&config.data)?;
    let store = open_store(&config).await?;
    let blob_folder = config.data.join(blobs::BLOB_FOLDER);
    let blobs = open_blobs(&config, &blob_folder, store.as_ref()).await?;
    let signing_key = server_key::load_or_create(store.as_ref(), &config.data).await?;
    let repo = ServerRepo::new(store.documents(), SYNC_PEER_ID);
    let turns = turns::Turns::across(store.clone());
    let state = Arc::new(State {
        config: config.clone(),
        store,
        repo,
        blobs,
        signing_key,
        actor: projection::node_actor()?,
        turns,
        in_flight: Arc::default(),
        sync_turns: Arc::new(tokio::sync::Semaphore::new(config.max_sync_sessions.max(1))),
        sync_slots: Arc::new(sync_slots::SyncSlots::new(config.max_sync_sessions_per_device)),
        throttles: throttle::Throttles::new(&config),
        push_turns: tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from)),
        documents_first: Arc::default(),
        clock: clock::Clock::offset_by(config.clock_offset_secs),
        metrics: metrics::Metrics::new(),
    });
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let (shutdown, mut stop) = tokio::sync::watch::channel(false);
    tokio::spawn(collect_uploads(state.clone(), shutdown.subscribe()));
    // A sender that cannot be built (no TLS roots to read) stops the start.
    if let Some(sender) = outbox::sender(&config.outbox)? {
        let worker =
            outbox::Worker::new(state.store.clone(), sender, outbox::RetryPolicy::of(&config.outbox));
        tokio::spawn(worker.run(state.clock, shutdown.subscribe()));
        tracing::info!(sender = config.outbox.sender.code(), "merchant messages are delivered");
    }
    if config.blob_encryption && matches!(state.blobs, Blobs::Local(_)) {
        tokio::spawn(seal_stored_blobs(state.clone()));
    }
    let filling = state.clone();
    tokio::spawn(async move {
        match projection::fill_in_phones(&filling).await {
            Ok(0) => {}
            Ok(filled) => tracing::info!(visits = filled, "registered phones added to the visit list"),
            Err(e) => tracing::warn!(error = %e, "adding registered phones to the visit list failed"),
        }
    });
    // Handlers read the client's address from the connection (throttles).
    let app = api::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let stopping = async move {
        tokio::select! {
            _ = stop.changed() => {}
            _ = wait_for_signal(signals) => {}
        }
        tracing::info!("shutting down: finishing in-flight requests");
    };
    let served = match certificate {
        None => {
            tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(stopping).await })
        }
        Some(certificate) => {
            let reload_every = std::time::Duration::from_secs(config.tls_reload_secs);
            tls::serve(listener, certificate, reload_every, app, stopping)?
        }
    };
    let scheme = if config.serves_tls() { "https" } else { "http" };
    let blobs = state.blobs.engine();
    tracing::info!(%addr, scheme, data = %config.data.display(), blobs, "posfield-server listening");
    Ok(Running { addr, state, shutdown, served })
}

/// The blobs where the configuration keeps them, with the blob keys of the
/// data folder. On S3 the key file is shared by every node of the bucket:
/// when it is missing and the bucket already holds a blob (or cannot be
/// asked), the start stops rather than make a key that opens none of them,
/// and so it does when the database names a key the file lacks.
async fn open_blobs(
    config: &Config,
    blob_folder: &std::path::Path,
    store: &dyn Store,
) -> anyhow::Result<Blobs> {
    let BlobStorage::S3(s3) = &config.blobs else {
        let keys = blob_key::load_or_create(&config.data, blob_folder)?;
        return Ok(Blobs::Local(BlobDir::open(
            blob_folder,
            keys,
            config.blob_encryption,
            config.max_blob_bytes,
        )?));
    };
    let credentials = blobs::s3::credentials_from_env()?;
    let key_file = blob_key::key_path(&config.data);
    let had_keys = key_file.exists();
    // Only lists: its key, made in memory, seals nothing.
    let probe = blobs::s3::S3Blobs::open(s3, credentials.clone(), blob_key::BlobKeys::generate(), 0)?;
    if !had_keys {
        match probe.any_blob().await {
            Ok(None) => {}
            Ok(Some(sealed)) => anyhow::bail!(
                "the blob key file {} is missing but the bucket {} holds {sealed}: copy the key file of the other servers of this bucket (a new key would open no stored photo)",
                key_file.display(),
                probe.bucket()
            ),
            Err(e) => anyhow::bail!(
                "the blob key file {} is missing and the bucket cannot be asked whether it holds sealed blobs: {e}",
                key_file.display()
            ),
        }
        blob_key::check_shared(store, &config.data, None).await?;
    }
    let keys = blob_key::load_or_create(&config.data, blob_folder)?;
    blob_key::check_shared(store, &config.data, Some(&keys)).await?;
    let bucket = blobs::s3::S3Blobs::open(s3, credentials, keys, config.max_blob_bytes)?;
    tracing::info!(bucket = bucket.bucket(), prefix = %s3.prefix, endpoint = %s3.endpoint, "blobs are kept in an S3-compatible bucket");
    Ok(Blobs::S3(bucket))
}

/// How often uploads no visit refers to are looked for.
const COLLECT_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Collects, every [`COLLECT_EVERY`] until the server stops, the uploads no
/// visit refers to whose grace has passed ([`blobs::collect_unreferenced`]).
async fn collect_uploads(state: Arc<State>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(COLLECT_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return,
        }
        let grace = state.config.unreferenced_upload_grace_secs;
        match blobs::collect_unreferenced(&state.blobs, state.store.as_ref(), state.clock.now(), grace).await
        {
            Ok(collected) if collected != blobs::Collected::default() => {
                tracing::info!(
                    partials = collected.partials,
                    blobs = collected.blobs,
                    "unreferenced uploads collected"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "collecting unreferenced uploads failed"),
        }
    }
}

/// Seals the plain blobs an older server left and removes the plain
/// copies no longer needed ([`BlobDir::seal_stored`]), once per start, while
/// the server serves: every read opens a blob sealed or plain.
async fn seal_stored_blobs(state: Arc<State>) {
    let Blobs::Local(blobs) = state.blobs.clone() else { return };
    let thumbnails = office::thumbnail_folder(&state.config.data);
    match tokio::task::spawn_blocking(move || blobs.seal_stored(&[&thumbnails])).await {
        Ok(report) if report != blobs::SealReport::default() => tracing::info!(
            sealed = report.sealed,
            damaged = report.damaged,
            plain_copies_removed = report.plain_copies_removed,
            leftovers_removed = report.leftovers_removed,
            "stored blobs sealed"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "sealing stored blobs failed"),
    }
}

async fn wait_for_signal(enabled: bool) {
    if !enabled {
        return std::future::pending().await;
    }
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

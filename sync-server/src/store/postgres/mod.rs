//! The PostgreSQL engine of the [`Store`]: a pool of `tokio-postgres`
//! connections (`deadpool-postgres`), refinery migrations in
//! `sync-server/migrations-postgres/`.
//!
//! Several server nodes may share one database, so nothing the engine
//! decides lives in process memory: the claims of visit ids not projected
//! yet are a table (`visit_claims`), the outbox's worker takes its messages
//! with `FOR UPDATE SKIP LOCKED`, and each method runs in one transaction
//! of its own that it commits before its future resolves (PostgreSQL's
//! commit is durable: `synchronous_commit` is the server's to keep on).
//!
//! This module and its children, with the SQLite engine's, are the only
//! code of the server that names SQL (`tests/tidy.rs` fails otherwise).

mod actors;
mod arrivals;
mod held;
mod import;
mod office;
mod outbox;
mod register;
mod sessions;
#[cfg(test)]
pub(crate) mod testing;
mod tls;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use posfield_shared::protocol::ManifestEntry;
use posfield_shared::visit::outcome::Registered;
use posfield_sync_link_server::storage::{KvStore, StorageError, StorageFuture};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use tokio_postgres_rustls::MakeRustlsConnect;

pub use self::import::Import;
pub use self::tls::TlsMode;

use super::{
    ActorOwners, AlertWindow, Alerts, AuditEntry, AuditQuery, AuditRecord, COMMAND_LINE, CheckIn, CustodyRow,
    DashboardFigures, DashboardWindow, DeliveryOutcome, DeviceKeys, DeviceRecord, DeviceRow, HeldVisits,
    HolderNow, NewDevice, NewSession, OutboxMessage, OutboxRecord, OutboxView, Principal, Projected,
    ProjectionRow, RegisterCause, RegisterRow, Renewal, SeenVersion, SessionLimits, SessionRecord, Store,
    StoreError, StoreFuture, TerminalEventRow, TerminalRow, UserRecord, UserRole, VisitFacts, VisitPage,
    VisitQuery, VisitRow,
};
use crate::clock::now;

mod embedded {
    refinery::embed_migrations!("migrations-postgres");
}

/// Connections in the pool when the configuration names no number.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// The advisory lock a node holds while it checks and migrates the schema,
/// so two nodes starting at once do not migrate it together.
const MIGRATION_LOCK: i64 = 0x706f_7366_6965_6c64;

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if unreachable(&e) {
            StoreError::Unavailable(described(&e))
        } else {
            StoreError::Engine(described(&e))
        }
    }
}

/// Whether `e` says the database is gone for now rather than that a
/// statement failed: the connection closed or broke, or the server is
/// shutting down or starting (SQLSTATE classes 08 and 57P).
fn unreachable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let code = code.code();
        return code.starts_with("08") || code.starts_with("57P");
    }
    // No SQLSTATE: the failure was on the way (a cut or refused socket).
    std::error::Error::source(e).is_some_and(|cause| cause.is::<std::io::Error>())
}

/// `e` with the causes it carries (a refused connection says why).
fn described(e: &tokio_postgres::Error) -> String {
    let mut said = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(inner) = cause {
        let more = inner.to_string();
        if !said.contains(&more) {
            said = format!("{said}: {more}");
        }
        cause = inner.source();
    }
    said
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Unavailable(format!("no database connection: {e}"))
    }
}

/// A parameter of a statement.
type Param<'a> = &'a (dyn ToSql + Sync);

/// Runs `sql` (prepared once per connection) and returns its rows.
async fn query<C: GenericClient>(c: &C, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, StoreError> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

/// Runs `sql` and returns its one row, if any.
async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Option<Row>, StoreError> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&statement, params).await?)
}

/// Runs `sql` and returns its one row.
async fn query_one<C: GenericClient>(c: &C, sql: &str, params: &[Param<'_>]) -> Result<Row, StoreError> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_one(&statement, params).await?)
}

/// Runs `sql` and returns how many rows it changed.
async fn execute<C: GenericClient>(c: &C, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

/// The parameters of a statement put together as it is written; each is
/// numbered in the order it is added, after the access rule's.
#[derive(Default)]
struct Args(Vec<Box<dyn ToSql + Sync + Send>>);

impl Args {
    /// Adds a parameter and returns its placeholder (`$n`).
    fn add(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.0.push(Box::new(value));
        format!("${}", self.0.len())
    }

    /// The parameters, to run the statement with.
    fn refs(&self) -> Vec<Param<'_>> {
        self.0.iter().map(|a| a.as_ref() as Param<'_>).collect()
    }
}

/// The access rule in SQL: the condition under which `principal` reaches
/// the visit row `v` (an agent: it owns the visit or is assigned it; the
/// back office: every visit), with its parameter. It is the first
/// condition of every query it scopes, so the agent is parameter 1 and the
/// query's own parameters are numbered after it.
fn reach(principal: &Principal) -> (&'static str, Args) {
    let mut args = Args::default();
    match principal {
        Principal::Agent { agent, .. } => {
            args.add(agent.clone());
            ("(v.owner = $1 OR v.assignee = $1)", args)
        }
        Principal::Office { .. } => ("TRUE", args),
    }
}

/// A count or number read as `usize`.
fn count(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// A limit as a statement's parameter.
fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The versions a device sent, from three columns starting at `first`
/// (app version, schema version, protocol); `None` when it sent none yet.
fn seen_version(row: &Row, first: usize) -> Result<Option<SeenVersion>, StoreError> {
    let app: Option<String> = row.try_get(first)?;
    Ok(match app {
        None => None,
        Some(app) => Some(SeenVersion {
            app,
            schema: row.try_get::<_, Option<i64>>(first + 1)?.and_then(|s| u32::try_from(s).ok()),
            protocol: row
                .try_get::<_, Option<i64>>(first + 2)?
                .and_then(|p| u32::try_from(p).ok())
                .unwrap_or(1),
        }),
    })
}

/// Appends `entry` to the audit log in `c`'s transaction.
async fn audit<C: GenericClient>(c: &C, entry: &AuditEntry) -> Result<(), StoreError> {
    execute(
        c,
        "INSERT INTO audit (at, visit_id, actor, action, detail) VALUES ($1, $2, $3, $4, $5)",
        &[&now(), &entry.visit_id, &entry.actor, &entry.action, &entry.detail],
    )
    .await?;
    Ok(())
}

/// Takes, until `c`'s transaction ends, the lock of each of `blobs` (in
/// order, so two transactions never wait for each other): a blob's
/// arrival, a projection referring to it and its removal as unreferenced
/// each see what the other committed, as under SQLite's one writer.
async fn lock_blobs<C: GenericClient>(c: &C, blobs: &[&str]) -> Result<(), StoreError> {
    let mut sorted = blobs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if !sorted.is_empty() {
        // One statement: a function scan yields the array's elements in
        // their order, and each row takes its lock as it is produced.
        query(
            c,
            "SELECT pg_advisory_xact_lock(hashtextextended(sha, 0)) FROM unnest($1::text[]) AS sha",
            &[&sorted],
        )
        .await?;
    }
    Ok(())
}

/// The keys a device's rotations replaced, the most recent first.
async fn earlier_keys<C: GenericClient>(c: &C, device_id: &str) -> Result<Vec<String>, StoreError> {
    let rows = query(
        c,
        "SELECT public_key FROM device_earlier_keys WHERE device_id = $1 ORDER BY replaced_at DESC, id DESC",
        &[&device_id],
    )
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// `url` with its password left out, to log or show.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split_once(':').map_or(user_info, |(user, _)| user);
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// How long a connection to the database may take to open, unless the URL
/// says otherwise (`connect_timeout`, in seconds).
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long opening one connection may take: the URL's `connect_timeout`, else [`CONNECT_TIMEOUT`].
fn config_timeout(config: &tokio_postgres::Config) -> std::time::Duration {
    config.get_connect_timeout().copied().unwrap_or(CONNECT_TIMEOUT)
}

/// The newest schema version the migrations this server embeds reach.
fn known_version() -> i64 {
    embedded::migrations::runner().get_migrations().iter().map(|m| i64::from(m.version())).max().unwrap_or(0)
}

/// Refuses a database whose schema a newer server migrated.
async fn check_schema_version(client: &tokio_postgres::Client) -> Result<(), StoreError> {
    let history = client.query_one("SELECT to_regclass('refinery_schema_history') IS NOT NULL", &[]).await?;
    if !history.try_get::<_, bool>(0)? {
        return Ok(());
    }
    let found: Option<i64> = client
        .query_one("SELECT max(version)::BIGINT FROM refinery_schema_history", &[])
        .await?
        .try_get(0)?;
    let known = known_version();
    match found {
        Some(found) if found > known => Err(StoreError::NewerSchema { found, known }),
        _ => Ok(()),
    }
}

/// Checks and brings the schema up to date on a connection of its own,
/// holding [`MIGRATION_LOCK`].
async fn migrate(config: &tokio_postgres::Config, tls: MakeRustlsConnect) -> Result<(), StoreError> {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(socket)) => socket.display().to_string(),
        None => String::new(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    // The driver's `connect_timeout` bounds the TCP connect only: a host that
    // takes the connection and never answers the handshake is bounded here.
    let limit = config_timeout(config);
    let (mut client, connection) = tokio::time::timeout(limit, config.connect(tls))
        .await
        .map_err(|_| {
            StoreError::Engine(format!(
                "cannot connect to the database at {host}:{port}: timeout: no answer within {} s",
                limit.as_secs()
            ))
        })?
        .map_err(|e| {
            StoreError::Engine(format!("cannot connect to the database at {host}:{port}: {}", described(&e)))
        })?;
    let connection = tokio::spawn(connection);
    client.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).await?;
    let result = async {
        check_schema_version(&client).await?;
        embedded::migrations::runner()
            .run_async(&mut client)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok::<_, StoreError>(())
    }
    .await;
    // Closing the connection releases the lock.
    drop(client);
    let _ = connection.await;
    result
}

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// The writer of blob arrivals, gathered into shared transactions.
    arrivals: arrivals::Arrivals,
    /// Connections whose sessions hold visits against the other nodes ([`held`]).
    locks: Pool,
    /// The database's URL without its password.
    shown: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("url", &self.shown).finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`),
    /// refuses it when a newer server migrated it, and brings its schema
    /// up to date; at most `pool_size` connections are open at once.
    pub async fn open(url: &str, pool_size: usize) -> Result<PostgresStore, StoreError> {
        PostgresStore::open_with_ca(url, pool_size, None).await
    }

    /// [`PostgresStore::open`] over TLS as the URL's `sslmode` asks (see
    /// [`TlsMode`]), `verify-full` checking the server's certificate
    /// against the PEM roots of `ca` (the configuration's `database_ca`)
    /// unless the URL names its own (`sslrootcert=`), else the platform's.
    pub async fn open_with_ca(
        url: &str,
        pool_size: usize,
        ca: Option<&Path>,
    ) -> Result<PostgresStore, StoreError> {
        let shown = redacted(url);
        let mut connection = tls::connection(url, ca, &shown)?;
        // Without a limit a host that takes the connection and never
        // answers holds `serve` (and each pooled connection) for ever.
        if connection.config.get_connect_timeout().is_none() {
            connection.config.connect_timeout(CONNECT_TIMEOUT);
        }
        tracing::debug!(database = %shown, tls = ?connection.mode, "connecting");
        PostgresStore::connect_with(connection.config, connection.tls, shown, pool_size).await
    }

    /// Opens the database `config` names, shown as `shown`, over TLS when
    /// the server offers it (the tests' servers).
    #[cfg(test)]
    async fn connect(
        config: tokio_postgres::Config,
        shown: String,
        pool_size: usize,
    ) -> Result<PostgresStore, StoreError> {
        let connection = tls::connection("postgres://", None, &shown)?;
        PostgresStore::connect_with(config, connection.tls, shown, pool_size).await
    }

    /// Opens the database `config` names through `tls`, shown as `shown`;
    /// the migration run speaks the same TLS as the pool.
    async fn connect_with(
        config: tokio_postgres::Config,
        tls: MakeRustlsConnect,
        shown: String,
        pool_size: usize,
    ) -> Result<PostgresStore, StoreError> {
        migrate(&config, tls.clone()).await?;
        // A new connection (after a restart of the database, say) is bounded
        // as the first one is, so a request never waits on a silent host.
        let create = config_timeout(&config);
        let pooled = |config: tokio_postgres::Config| {
            let manager = Manager::from_config(
                config,
                tls.clone(),
                ManagerConfig { recycling_method: RecyclingMethod::Fast },
            );
            Pool::builder(manager)
                .max_size(pool_size.max(1))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .create_timeout(Some(create))
                .build()
                .map_err(|e| StoreError::Engine(format!("cannot pool connections to {shown:?}: {e}")))
        };
        // The lock sessions wait at most held::LOCK_TIMEOUT for a lock.
        let mut locking = config.clone();
        let options = match config.get_options() {
            Some(given) => format!("{given} -c lock_timeout={}", held::LOCK_TIMEOUT),
            None => format!("-c lock_timeout={}", held::LOCK_TIMEOUT),
        };
        locking.options(&options);
        let locks = pooled(locking)?;
        let pool = pooled(config)?;
        let arrivals = arrivals::Arrivals::start(pool.clone());
        Ok(PostgresStore { pool, arrivals, locks, shown })
    }

    /// A connection of the pool.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }
}

impl KvStore for PostgresStore {
    fn load(&self, key: String) -> StorageFuture<Option<Vec<u8>>> {
        let store = self.clone();
        Box::pin(async move {
            let found = async {
                let c = store.client().await?;
                let row = query_opt(&c, "SELECT data FROM doc_chunks WHERE key = $1", &[&key]).await?;
                row.map(|r| r.try_get(0)).transpose().map_err(StoreError::from)
            };
            found.await.map_err(|e| StorageError(e.to_string()))
        })
    }

    fn load_prefix(&self, prefix: String) -> StorageFuture<Vec<(String, Vec<u8>)>> {
        let store = self.clone();
        Box::pin(async move {
            let found = async {
                let c = store.client().await?;
                // The upper bound of keys under `prefix/`: `/` + 1 is `0`.
                let (from, to) = (format!("{prefix}/"), format!("{prefix}0"));
                let rows = query(
                    &c,
                    "SELECT key, data FROM doc_chunks WHERE key = $1 OR (key >= $2 AND key < $3)",
                    &[&prefix, &from, &to],
                )
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect::<Result<Vec<_>, StoreError>>()
            };
            found.await.map_err(|e| StorageError(e.to_string()))
        })
    }

    fn put(&self, key: String, value: Vec<u8>) -> StorageFuture<()> {
        let store = self.clone();
        Box::pin(async move {
            let written = async {
                let c = store.client().await?;
                execute(
                    &c,
                    "INSERT INTO doc_chunks (key, data) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET data = $2",
                    &[&key, &value],
                )
                .await?;
                Ok::<_, StoreError>(())
            };
            written.await.map_err(|e| StorageError(e.to_string()))
        })
    }

    fn delete(&self, key: String) -> StorageFuture<()> {
        let store = self.clone();
        Box::pin(async move {
            let written = async {
                let c = store.client().await?;
                execute(&c, "DELETE FROM doc_chunks WHERE key = $1", &[&key]).await?;
                Ok::<_, StoreError>(())
            };
            written.await.map_err(|e| StorageError(e.to_string()))
        })
    }
}

impl Store for PostgresStore {
    fn hold_visits<'a>(&'a self, ids: &'a [String]) -> StoreFuture<'a, HeldVisits> {
        Box::pin(held::hold(&self.locks, ids))
    }

    fn after_bulk_load(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            // Outside a transaction, as VACUUM must be.
            let c = self.client().await?;
            c.batch_execute("VACUUM (ANALYZE)").await?;
            Ok(())
        })
    }

    fn add_enrolment_code<'a>(
        &'a self,
        agent: &'a str,
        code_hash: &'a str,
        at: i64,
        expires_at: i64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            execute(
                &tx,
                "INSERT INTO agents (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&agent, &at],
            )
            .await?;
            execute(
                &tx,
                "INSERT INTO enrolment_codes (code_hash, agent, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[&code_hash, &agent, &at, &expires_at],
            )
            .await?;
            audit(&tx, &AuditEntry::new(None, COMMAND_LINE, "issue_enrolment_code", agent)).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn enrol(&self, device: NewDevice) -> StoreFuture<'_, Option<String>> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let agent = query_opt(
                &tx,
                "SELECT agent FROM enrolment_codes WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2
                 FOR UPDATE",
                &[&device.code_hash, &device.at],
            )
            .await?;
            // A refusal is audited by the caller, which limits how many
            // rows a flood of wrong codes writes.
            let Some(agent) = agent else { return Ok(None) };
            let agent: String = agent.try_get(0)?;
            execute(
                &tx,
                "UPDATE enrolment_codes SET used_at = $2 WHERE code_hash = $1",
                &[&device.code_hash, &device.at],
            )
            .await?;
            // The phone's previous enrolment hands over its actors (its
            // prefix first, as prefixes are unique).
            let previous = match &device.previous_token_hash {
                Some(hash) => actors::release_previous(&tx, &agent, hash, device.at).await?,
                None => None,
            };
            let prefix = previous.as_ref().and_then(|(_, prefix)| prefix.clone());
            let prefix = prefix.unwrap_or_else(|| device.actor_prefix.to_vec());
            execute(
                &tx,
                "INSERT INTO devices (id, agent, token_hash, client_device_id, name, public_key, created_at, expires_at,
                                      actor_prefix)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &device.device_id,
                    &agent,
                    &device.token_hash,
                    &device.client_device_id,
                    &device.name,
                    &device.public_key,
                    &device.at,
                    &device.expires_at,
                    &prefix,
                ],
            )
            .await?;
            audit(&tx, &AuditEntry::new(None, &agent, "enrolled", &device.device_id)).await?;
            if let Some((old, _)) = previous {
                actors::hand_over_bindings(&tx, &old, &device.device_id).await?;
                let detail = format!("{old} by {}", device.device_id);
                audit(&tx, &AuditEntry::new(None, &agent, "device_replaced", &detail)).await?;
            }
            tx.commit().await?;
            Ok(Some(agent))
        })
    }

    fn device_by_token<'a>(&'a self, token_hash: &'a str) -> StoreFuture<'a, Option<DeviceRecord>> {
        Box::pin(async move {
            let c = self.client().await?;
            // The device's own credential, or a renewal of it not used yet.
            let row = query_opt(
                &c,
                "SELECT id, agent, expires_at, revoked_at, FALSE, app_version, schema_version, protocol,
                        wipe_requested_at, key_rotation_requested_at
                   FROM devices WHERE token_hash = $1
                 UNION ALL
                 SELECT d.id, d.agent, r.expires_at, d.revoked_at, TRUE, d.app_version, d.schema_version, d.protocol,
                        d.wipe_requested_at, d.key_rotation_requested_at
                   FROM credential_renewals r JOIN devices d ON d.id = r.device_id WHERE r.token_hash = $1
                 LIMIT 1",
                &[&token_hash],
            )
            .await?;
            let Some(r) = row else { return Ok(None) };
            Ok(Some(DeviceRecord {
                id: r.try_get(0)?,
                agent: r.try_get(1)?,
                expires_at: r.try_get(2)?,
                revoked: r.try_get::<_, Option<i64>>(3)?.is_some(),
                renewal: r.try_get(4)?,
                seen: seen_version(&r, 5)?,
                wipe_requested: r.try_get::<_, Option<i64>>(8)?.is_some(),
                key_rotation_requested: r.try_get::<_, Option<i64>>(9)?.is_some(),
            }))
        })
    }

    fn revoke_device<'a>(&'a self, device_id: &'a str, at: i64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let n = execute(
                &tx,
                "UPDATE devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&device_id, &at],
            )
            .await?;
            if n > 0 {
                execute(&tx, "DELETE FROM credential_renewals WHERE device_id = $1", &[&device_id]).await?;
                audit(&tx, &AuditEntry::new(None, COMMAND_LINE, "revoke_device", device_id)).await?;
            }
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    fn request_wipe<'a>(&'a self, device_id: &'a str, actor: &'a str, at: i64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let n = execute(
                &tx,
                "UPDATE devices SET wipe_requested_at = $2, wipe_requested_by = $3
                  WHERE id = $1 AND revoked_at IS NULL AND wipe_requested_at IS NULL",
                &[&device_id, &at, &actor],
            )
            .await?;
            if n > 0 {
                audit(&tx, &AuditEntry::new(None, actor, "wipe_device", device_id)).await?;
            }
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    fn confirm_wiped<'a>(&'a self, device_id: &'a str, at: i64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let agent = query_opt(
                &tx,
                "SELECT agent FROM devices WHERE id = $1 AND wipe_requested_at IS NOT NULL AND wiped_at IS NULL
                 FOR UPDATE",
                &[&device_id],
            )
            .await?;
            let Some(agent) = agent else { return Ok(false) };
            let agent: String = agent.try_get(0)?;
            execute(
                &tx,
                "UPDATE devices SET wiped_at = $2, revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
                &[&device_id, &at],
            )
            .await?;
            execute(&tx, "DELETE FROM credential_renewals WHERE device_id = $1", &[&device_id]).await?;
            audit(&tx, &AuditEntry::new(None, &agent, "device_wiped", device_id)).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn request_key_rotation<'a>(
        &'a self,
        device_id: &'a str,
        actor: &'a str,
        at: i64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let n = execute(
                &tx,
                "UPDATE devices SET key_rotation_requested_at = $2, key_rotation_requested_by = $3
                  WHERE id = $1 AND revoked_at IS NULL AND wiped_at IS NULL AND key_rotation_requested_at IS NULL",
                &[&device_id, &at, &actor],
            )
            .await?;
            if n > 0 {
                audit(&tx, &AuditEntry::new(None, actor, "rotate_device_key", device_id)).await?;
            }
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    fn device_keys<'a>(&'a self, device_id: &'a str) -> StoreFuture<'a, Option<DeviceKeys>> {
        Box::pin(async move {
            let mut c = self.client().await?;
            // One snapshot for the device and its earlier keys.
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .start()
                .await?;
            let row = query_opt(
                &tx,
                "SELECT agent, public_key, key_rotation_requested_at FROM devices WHERE id = $1",
                &[&device_id],
            )
            .await?;
            let Some(r) = row else { return Ok(None) };
            let keys = DeviceKeys {
                agent: r.try_get(0)?,
                current: r.try_get(1)?,
                earlier: earlier_keys(&tx, device_id).await?,
                rotation_requested: r.try_get::<_, Option<i64>>(2)?.is_some(),
            };
            tx.commit().await?;
            Ok(Some(keys))
        })
    }

    fn replace_device_key<'a>(
        &'a self,
        device_id: &'a str,
        old: &'a str,
        new: &'a str,
        at: i64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let agent = query_opt(
                &tx,
                "SELECT agent FROM devices
                  WHERE id = $1 AND public_key = $2 AND key_rotation_requested_at IS NOT NULL FOR UPDATE",
                &[&device_id, &old],
            )
            .await?;
            let Some(agent) = agent else { return Ok(false) };
            let agent: String = agent.try_get(0)?;
            execute(
                &tx,
                "INSERT INTO device_earlier_keys (device_id, public_key, replaced_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&device_id, &old, &at],
            )
            .await?;
            execute(
                &tx,
                "UPDATE devices SET public_key = $2, key_rotation_requested_at = NULL, key_rotation_requested_by = NULL
                  WHERE id = $1",
                &[&device_id, &new],
            )
            .await?;
            audit(&tx, &AuditEntry::new(None, &agent, "device_key_rotated", device_id)).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn device_may_sync<'a>(&'a self, device_id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let c = self.client().await?;
            let row = query_one(
                &c,
                "SELECT EXISTS (SELECT 1 FROM devices WHERE id = $1 AND revoked_at IS NULL)",
                &[&device_id],
            )
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    fn add_renewal(&self, renewal: Renewal) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let agent = query_opt(
                &tx,
                "SELECT agent FROM devices WHERE id = $1 AND revoked_at IS NULL FOR UPDATE",
                &[&renewal.device_id],
            )
            .await?;
            let Some(agent) = agent else { return Ok(false) };
            let agent: String = agent.try_get(0)?;
            execute(
                &tx,
                "INSERT INTO credential_renewals (token_hash, device_id, issued_at, expires_at)
                 VALUES ($1, $2, $3, $4)",
                &[&renewal.token_hash, &renewal.device_id, &renewal.at, &renewal.expires_at],
            )
            .await?;
            execute(
                &tx,
                "DELETE FROM credential_renewals WHERE device_id = $1 AND token_hash NOT IN (
                     SELECT token_hash FROM credential_renewals WHERE device_id = $1
                      ORDER BY issued_at DESC, token_hash LIMIT $2)",
                &[&renewal.device_id, &super::RENEWALS_KEPT],
            )
            .await?;
            let detail = format!("{} until {}", renewal.device_id, renewal.expires_at);
            audit(&tx, &AuditEntry::new(None, &agent, "credential_renewed", &detail)).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn take_renewal<'a>(&'a self, device_id: &'a str, token_hash: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let taken = execute(
                &tx,
                "UPDATE devices SET token_hash = r.token_hash, expires_at = r.expires_at
                   FROM credential_renewals r
                  WHERE devices.id = $1 AND r.device_id = $1 AND r.token_hash = $2",
                &[&device_id, &token_hash],
            )
            .await?;
            if taken > 0 {
                // The credential it replaced went with the update; the other renewals go now.
                execute(&tx, "DELETE FROM credential_renewals WHERE device_id = $1", &[&device_id]).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn record_version<'a>(
        &'a self,
        device_id: &'a str,
        seen: &'a SeenVersion,
        at: i64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let c = self.client().await?;
            let schema = seen.schema.map(i64::from);
            let protocol = i64::from(seen.protocol);
            execute(
                &c,
                "UPDATE devices SET app_version = $2, schema_version = $3, protocol = $4, version_since = $5
                  WHERE id = $1",
                &[&device_id, &seen.app, &schema, &protocol, &at],
            )
            .await?;
            Ok(())
        })
    }

    fn devices(&self) -> StoreFuture<'_, Vec<DeviceRow>> {
        Box::pin(async move {
            let c = self.client().await?;
            let rows = query(
                &c,
                "SELECT id, agent, name, created_at, expires_at, revoked_at,
                        app_version, schema_version, protocol, version_since,
                        wipe_requested_at, wipe_requested_by, wiped_at,
                        public_key, key_rotation_requested_at, key_rotation_requested_by,
                        (SELECT count(*) FROM device_earlier_keys k WHERE k.device_id = devices.id)
                   FROM devices ORDER BY agent, created_at, id",
                &[],
            )
            .await?;
            rows.iter()
                .map(|r| {
                    let requested = |at: usize, by: usize| -> Result<Option<(i64, String)>, StoreError> {
                        Ok(match (r.try_get::<_, Option<i64>>(at)?, r.try_get::<_, Option<String>>(by)?) {
                            (Some(at), by) => Some((at, by.unwrap_or_default())),
                            (None, _) => None,
                        })
                    };
                    Ok(DeviceRow {
                        id: r.try_get(0)?,
                        agent: r.try_get(1)?,
                        name: r.try_get(2)?,
                        enrolled_at: r.try_get(3)?,
                        expires_at: r.try_get(4)?,
                        revoked_at: r.try_get(5)?,
                        seen: seen_version(r, 6)?,
                        seen_since: r.try_get(9)?,
                        wipe_requested: requested(10, 11)?,
                        wiped_at: r.try_get(12)?,
                        public_key: r.try_get(13)?,
                        key_rotation_requested: requested(14, 15)?,
                        earlier_keys: count(r.try_get(16)?),
                    })
                })
                .collect()
        })
    }

    fn actor_owners<'a>(&'a self, device_id: &'a str, actors: &'a [Vec<u8>]) -> StoreFuture<'a, ActorOwners> {
        Box::pin(async move {
            let c = self.client().await?;
            actors::owners(&c, device_id, actors).await
        })
    }

    fn bind_actors<'a>(
        &'a self,
        device_id: &'a str,
        actors: &'a [Vec<u8>],
        at: i64,
    ) -> StoreFuture<'a, Option<(Vec<u8>, String)>> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let refused = actors::bind(&tx, device_id, actors, at).await?;
            if refused.is_none() {
                tx.commit().await?;
            }
            // Dropping the transaction otherwise unbinds the actors bound before the refused one.
            Ok(refused)
        })
    }

    fn put_user<'a>(&'a self, name: &'a str, role: UserRole, password_hash: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            execute(
                &tx,
                "INSERT INTO users (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO UPDATE SET role = $2, password_hash = $3",
                &[&name, &role.code(), &password_hash, &now()],
            )
            .await?;
            // Sessions opened with the old role or password end with them.
            sessions::end_all(&tx, name).await?;
            let detail = format!("{name} ({})", role.code());
            audit(&tx, &AuditEntry::new(None, COMMAND_LINE, "add_user", &detail)).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<UserRecord>> {
        Box::pin(async move {
            let c = self.client().await?;
            let row =
                query_opt(&c, "SELECT role, password_hash FROM users WHERE name = $1", &[&name]).await?;
            let Some(r) = row else { return Ok(None) };
            Ok(Some(UserRecord {
                role: UserRole::from_code(&r.try_get::<_, String>(0)?),
                password_hash: r.try_get(1)?,
            }))
        })
    }

    fn users(&self) -> StoreFuture<'_, Vec<(String, UserRole)>> {
        Box::pin(async move {
            let c = self.client().await?;
            query(&c, "SELECT name, role FROM users ORDER BY name", &[])
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, UserRole::from_code(&r.try_get::<_, String>(1)?))))
                .collect()
        })
    }

    fn remove_user<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            sessions::end_all(&tx, name).await?;
            let removed = execute(&tx, "DELETE FROM users WHERE name = $1", &[&name]).await? > 0;
            if removed {
                audit(&tx, &AuditEntry::new(None, COMMAND_LINE, "remove_user", name)).await?;
            }
            tx.commit().await?;
            Ok(removed)
        })
    }

    fn create_session<'a>(&'a self, session: &'a NewSession, limits: SessionLimits) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let stored = sessions::create(&tx, session, limits).await?;
            tx.commit().await?;
            Ok(stored)
        })
    }

    fn session<'a>(
        &'a self,
        token_hash: &'a str,
        at: i64,
        limits: SessionLimits,
    ) -> StoreFuture<'a, Option<SessionRecord>> {
        Box::pin(async move {
            let c = self.client().await?;
            sessions::find(&c, token_hash, at, limits).await
        })
    }

    fn touch_session<'a>(&'a self, token_hash: &'a str, at: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let c = self.client().await?;
            sessions::touch(&c, token_hash, at).await
        })
    }

    fn end_session<'a>(&'a self, token_hash: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let c = self.client().await?;
            sessions::end(&c, token_hash).await
        })
    }

    fn end_user_sessions<'a>(&'a self, user: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let c = self.client().await?;
            sessions::end_all(&c, user).await
        })
    }

    fn agents(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let c = self.client().await?;
            let rows = query(&c, "SELECT name FROM agents ORDER BY name", &[]).await?;
            rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
        })
    }

    fn enrolled_agents(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let c = self.client().await?;
            let rows =
                query(&c, "SELECT DISTINCT agent FROM devices WHERE revoked_at IS NULL ORDER BY agent", &[])
                    .await?;
            rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
        })
    }

    fn setting<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            let c = self.client().await?;
            let row = query_opt(&c, "SELECT value FROM settings WHERE key = $1", &[&key]).await?;
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        })
    }

    fn set_setting<'a>(&'a self, key: &'a str, value: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let c = self.client().await?;
            execute(
                &c,
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
                &[&key, &value],
            )
            .await?;
            Ok(())
        })
    }

    fn signing_key_moved_out<'a>(&'a self, key: &'a str, public_key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            execute(
                &tx,
                "UPDATE countersignatures SET server_public_key = $1 WHERE server_public_key IS NULL",
                &[&public_key],
            )
            .await?;
            execute(&tx, "DELETE FROM settings WHERE key = $1", &[&key]).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn audit(&self, entry: AuditEntry) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let c = self.client().await?;
            audit(&c, &entry).await
        })
    }

    fn audit_search<'a>(
        &'a self,
        filter: &'a AuditQuery,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(i64, AuditRecord)>> {
        Box::pin(async move {
            let c = self.client().await?;
            let rows = query(
                &c,
                "SELECT id, at, visit_id, actor, action, detail FROM audit
                 WHERE ($1::TEXT IS NULL OR actor = $1) AND ($2::TEXT IS NULL OR action = $2)
                   AND ($3::TEXT IS NULL OR visit_id = $3) AND ($4::BIGINT IS NULL OR at >= $4)
                   AND ($5::BIGINT IS NULL OR at < $5) AND ($6::BIGINT IS NULL OR id < $6)
                 ORDER BY id DESC LIMIT $7",
                &[
                    &filter.actor as Param<'_>,
                    &filter.action,
                    &filter.visit_id,
                    &filter.from,
                    &filter.until,
                    &filter.before,
                    &limit_of(limit),
                ],
            )
            .await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get(0)?,
                        AuditRecord {
                            at: r.try_get(1)?,
                            entry: AuditEntry {
                                visit_id: r.try_get(2)?,
                                actor: r.try_get(3)?,
                                action: r.try_get(4)?,
                                detail: r.try_get(5)?,
                            },
                        },
                    ))
                })
                .collect()
        })
    }

    fn audit_log<'a>(&'a self, visit_id: Option<&'a str>, limit: usize) -> StoreFuture<'a, Vec<AuditRecord>> {
        Box::pin(async move {
            let query = AuditQuery { visit_id: visit_id.map(str::to_owned), ..AuditQuery::default() };
            Ok(self.audit_search(&query, limit).await?.into_iter().map(|(_, record)| record).collect())
        })
    }

    fn reaches_visits<'a>(
        &'a self,
        principal: &'a Principal,
        visit_ids: &'a [String],
        claim: bool,
    ) -> StoreFuture<'a, Vec<bool>> {
        Box::pin(async move {
            let Principal::Agent { agent, .. } = principal else {
                // The back office reaches every visit there is.
                return Ok(vec![true; visit_ids.len()]);
            };
            let c = self.client().await?;
            let (condition, _) = reach(principal);
            // One statement, so one snapshot: a projection committed
            // meanwhile shows its row and has dropped its claim, or neither.
            let sql = format!(
                "SELECT EXISTS (SELECT 1 FROM visits v WHERE v.id = $2),
                        EXISTS (SELECT 1 FROM visits v WHERE {condition} AND v.id = $2),
                        (SELECT agent FROM visit_claims WHERE visit_id = $2)"
            );
            let mut reached = Vec::with_capacity(visit_ids.len());
            for visit_id in visit_ids {
                let mut claimed = false;
                let reaches = loop {
                    let r = query_one(&c, &sql, &[agent, visit_id]).await?;
                    let (known, reaches, holder): (bool, bool, Option<String>) =
                        (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
                    if known {
                        if !reaches {
                            tracing::debug!(%visit_id, %agent, "another agent's visit refused");
                        }
                        break reaches;
                    }
                    match holder {
                        Some(holder) => break holder == *agent,
                        None if claim && !claimed => {
                            // Another node's claim of the same id may win:
                            // who holds it is read again.
                            execute(
                                &c,
                                "INSERT INTO visit_claims (visit_id, agent, claimed_at) VALUES ($1, $2, $3)
                                 ON CONFLICT DO NOTHING",
                                &[visit_id, agent, &now()],
                            )
                            .await?;
                            claimed = true;
                        }
                        None => break false,
                    }
                };
                reached.push(reaches);
            }
            Ok(reached)
        })
    }

    fn manifest<'a>(&'a self, principal: &'a Principal) -> StoreFuture<'a, Vec<ManifestEntry>> {
        Box::pin(async move {
            let c = self.client().await?;
            let (condition, args) = reach(principal);
            let sql = format!("SELECT v.id, v.heads FROM visits v WHERE {condition} ORDER BY v.id");
            let rows = query(&c, &sql, &args.refs()).await?;
            rows.iter().map(|r| Ok(ManifestEntry { id: r.try_get(0)?, heads: r.try_get(1)? })).collect()
        })
    }

    fn missing_blobs<'a>(&'a self, principal: &'a Principal, limit: usize) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let c = self.client().await?;
            let rows = match principal {
                // An agent's visits by key first, then their blobs, each
                // looked up in `blobs` by key (a scalar subquery, which the
                // planner does not turn into a join): joins planned from
                // statistics taken while the tables were small took 100 ms
                // per manifest during a first day's sync.
                Principal::Agent { agent, .. } => {
                    let visits = query(
                        &c,
                        "SELECT id FROM visits WHERE owner = $1 UNION SELECT id FROM visits WHERE assignee = $1",
                        &[agent],
                    )
                    .await?;
                    let visits = visits.iter().map(|r| r.try_get(0)).collect::<Result<Vec<String>, _>>()?;
                    query(
                        &c,
                        "SELECT DISTINCT vb.sha256 FROM visit_blobs vb WHERE vb.visit_id = ANY($1)
                           AND (SELECT count(*) FROM blobs b WHERE b.sha256 = vb.sha256) = 0
                         ORDER BY vb.sha256 LIMIT $2",
                        &[&visits, &limit_of(limit)],
                    )
                    .await?
                }
                Principal::Office { .. } => {
                    query(
                        &c,
                        "SELECT DISTINCT vb.sha256 FROM visit_blobs vb
                         WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = vb.sha256)
                         ORDER BY vb.sha256 LIMIT $1",
                        &[&limit_of(limit)],
                    )
                    .await?
                }
            };
            rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
        })
    }

    fn reaches_blob<'a>(&'a self, principal: &'a Principal, sha256: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let c = self.client().await?;
            let (condition, mut args) = reach(principal);
            let sha = args.add(sha256.to_owned());
            let sql = format!(
                "SELECT EXISTS (SELECT 1 FROM visit_blobs vb JOIN visits v ON v.id = vb.visit_id
                 WHERE {condition} AND vb.sha256 = {sha})"
            );
            Ok(query_one(&c, &sql, &args.refs()).await?.try_get(0)?)
        })
    }

    fn visits_with_blob<'a>(
        &'a self,
        principal: &'a Principal,
        sha256: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let c = self.client().await?;
            let (condition, mut args) = reach(principal);
            let sha = args.add(sha256.to_owned());
            let limit = args.add(limit_of(limit));
            let sql = format!(
                "SELECT v.id FROM visit_blobs vb JOIN visits v ON v.id = vb.visit_id
                 WHERE {condition} AND vb.sha256 = {sha} ORDER BY v.id LIMIT {limit}"
            );
            let rows = query(&c, &sql, &args.refs()).await?;
            rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
        })
    }

    fn blob_uploaded_by<'a>(&'a self, sha256: &'a str, agent: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let c = self.client().await?;
            let row = query_one(
                &c,
                "SELECT EXISTS (SELECT 1 FROM blob_uploads WHERE sha256 = $1 AND agent = $2)",
                &[&sha256, &agent],
            )
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    fn blob_received<'a>(&'a self, sha256: &'a str, bytes: u64, uploaded_by: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.arrivals.received(sha256, bytes, uploaded_by))
    }

    fn unreferenced_blobs(&self, received_before: i64, limit: usize) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let c = self.client().await?;
            let rows = query(
                &c,
                "SELECT b.sha256 FROM blobs b WHERE b.received_at < $1
                   AND NOT EXISTS (SELECT 1 FROM visit_blobs vb WHERE vb.sha256 = b.sha256)
                   AND NOT EXISTS (SELECT 1 FROM countersignatures c WHERE c.strokes_sha256 = b.sha256)
                 ORDER BY b.received_at LIMIT $2",
                &[&received_before, &limit_of(limit)],
            )
            .await?;
            rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
        })
    }

    fn forget_unreferenced_blob<'a>(&'a self, sha256: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            lock_blobs(&tx, &[sha256]).await?;
            let n = execute(
                &tx,
                "DELETE FROM blobs WHERE sha256 = $1
                   AND NOT EXISTS (SELECT 1 FROM visit_blobs vb WHERE vb.sha256 = $1)
                   AND NOT EXISTS (SELECT 1 FROM countersignatures c WHERE c.strokes_sha256 = $1)",
                &[&sha256],
            )
            .await?;
            if n > 0 {
                execute(&tx, "DELETE FROM blob_uploads WHERE sha256 = $1", &[&sha256]).await?;
            }
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    fn put_chunks(&self, chunks: Vec<(String, Vec<u8>)>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            for (key, data) in &chunks {
                execute(
                    &tx,
                    "INSERT INTO doc_chunks (key, data) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET data = $2",
                    &[key, data],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn quarantine_chunks<'a>(
        &'a self,
        visit_id: &'a str,
        keys: Vec<String>,
        reason: &'a str,
        entry: AuditEntry,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            for key in &keys {
                // The delete returns what it took, so no write of a sync
                // lands between the copy and the delete.
                execute(
                    &tx,
                    "WITH taken AS (DELETE FROM doc_chunks WHERE key = $1 RETURNING key, data)
                     INSERT INTO quarantined_chunks (key, visit_id, data, reason, at)
                     SELECT key, $2, data, $3, $4 FROM taken
                     ON CONFLICT (key) DO UPDATE SET data = excluded.data, reason = excluded.reason, at = excluded.at",
                    &[key, &visit_id, &reason, &now()],
                )
                .await?;
            }
            audit(&tx, &entry).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn quarantined<'a>(&'a self, visit_id: &'a str) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let c = self.client().await?;
            let row =
                query_one(&c, "SELECT count(*) FROM quarantined_chunks WHERE visit_id = $1", &[&visit_id])
                    .await?;
            Ok(count(row.try_get(0)?))
        })
    }

    fn documents(&self) -> std::sync::Arc<dyn KvStore> {
        std::sync::Arc::new(self.clone())
    }

    fn projected<'a>(&'a self, visit_id: &'a str) -> StoreFuture<'a, Option<Projected>> {
        Box::pin(async move {
            let c = self.client().await?;
            let row =
                query_opt(&c, "SELECT heads, office, owner FROM visits WHERE id = $1", &[&visit_id]).await?;
            let Some(r) = row else { return Ok(None) };
            Ok(Some(Projected { heads: r.try_get(0)?, office: r.try_get(1)?, owner: r.try_get(2)? }))
        })
    }

    fn visit_owner<'a>(&'a self, visit_id: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            let c = self.client().await?;
            // One statement, so one snapshot of the row and the claim.
            let row = query_one(
                &c,
                "SELECT COALESCE((SELECT owner FROM visits WHERE id = $1),
                                 (SELECT agent FROM visit_claims WHERE visit_id = $1))",
                &[&visit_id],
            )
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    fn write_projections(&self, rows: Vec<ProjectionRow>, entries: Vec<AuditEntry>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let blobs: BTreeSet<&str> =
                rows.iter().flat_map(|r| r.blobs.iter().map(String::as_str)).collect();
            let blobs: Vec<&str> = blobs.into_iter().collect();
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            lock_blobs(&tx, &blobs).await?;
            for mut row in rows {
                let messages = std::mem::take(&mut row.messages);
                office::write_projection(&tx, row).await?;
                outbox::enqueue(&tx, &messages, now()).await?;
            }
            for entry in &entries {
                audit(&tx, entry).await?;
            }
            // The visits are known by their rows now.
            execute(&tx, "DELETE FROM visit_claims WHERE visit_id = ANY($1)", &[&ids]).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn has_visits(&self) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let c = self.client().await?;
            Ok(query_one(&c, "SELECT EXISTS (SELECT 1 FROM visits)", &[]).await?.try_get(0)?)
        })
    }

    fn visits_without_projected_phone(&self, limit: usize) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let c = self.client().await?;
            let rows =
                query(&c, "SELECT id FROM visits WHERE merchant_phone IS NULL LIMIT $1", &[&limit_of(limit)])
                    .await?;
            rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
        })
    }

    fn set_projected_phone<'a>(&'a self, id: &'a str, phone: Option<&'a str>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let c = self.client().await?;
            let phone = phone.unwrap_or_default();
            execute(&c, "UPDATE visits SET merchant_phone = $2 WHERE id = $1", &[&id, &phone]).await?;
            Ok(())
        })
    }

    fn visit_facts<'a>(&'a self, principal: &'a Principal, visit_id: &'a str) -> StoreFuture<'a, VisitFacts> {
        Box::pin(async move {
            let c = self.client().await?;
            let (condition, args) = reach(principal);
            office::visit_facts(&c, condition, args, visit_id).await
        })
    }

    fn visit_list<'a>(
        &'a self,
        principal: &'a Principal,
        query: &'a VisitQuery,
        limit: usize,
    ) -> StoreFuture<'a, VisitPage> {
        Box::pin(async move {
            let c = self.client().await?;
            let (condition, args) = reach(principal);
            office::visits(&c, condition, args, query, limit).await
        })
    }

    fn terminal_visits<'a>(
        &'a self,
        principal: &'a Principal,
        serial: &'a str,
    ) -> StoreFuture<'a, Vec<VisitRow>> {
        Box::pin(async move {
            let c = self.client().await?;
            let (condition, args) = reach(principal);
            office::terminal_visits(&c, condition, args, serial).await
        })
    }

    fn open_visits<'a>(
        &'a self,
        principal: &'a Principal,
        serials: &'a [String],
    ) -> StoreFuture<'a, Vec<VisitRow>> {
        Box::pin(async move {
            let c = self.client().await?;
            let (condition, args) = reach(principal);
            office::open_visits(&c, condition, args, serials).await
        })
    }

    fn applications<'a>(&'a self, principal: &'a Principal) -> StoreFuture<'a, Vec<(VisitRow, String)>> {
        Box::pin(async move {
            let c = self.client().await?;
            let (condition, args) = reach(principal);
            office::applications(&c, condition, args).await
        })
    }

    fn dashboard<'a>(
        &'a self,
        principal: &'a Principal,
        window: &'a DashboardWindow,
    ) -> StoreFuture<'a, DashboardFigures> {
        Box::pin(async move {
            let c = self.client().await?;
            office::dashboard(&c, principal, window).await
        })
    }

    fn alerts<'a>(&'a self, principal: &'a Principal, window: &'a AlertWindow) -> StoreFuture<'a, Alerts> {
        Box::pin(async move {
            let mut c = self.client().await?;
            // One snapshot for every list of the page.
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let alerts = office::alerts(&tx, principal, window).await?;
            tx.commit().await?;
            Ok(alerts)
        })
    }

    fn terminals<'a>(
        &'a self,
        serial_prefix: &'a str,
        merchant: &'a str,
        after: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, (Vec<TerminalRow>, Option<String>)> {
        Box::pin(async move {
            let c = self.client().await?;
            office::terminals(&c, serial_prefix, merchant, after, limit).await
        })
    }

    fn terminal<'a>(&'a self, serial: &'a str) -> StoreFuture<'a, Option<TerminalRow>> {
        Box::pin(async move {
            let c = self.client().await?;
            office::terminal(&c, serial).await
        })
    }

    fn merchant_terminals<'a>(
        &'a self,
        merchant_number: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<TerminalRow>> {
        Box::pin(async move {
            let c = self.client().await?;
            office::merchant_terminals(&c, merchant_number, limit).await
        })
    }

    fn merchant_place<'a>(&'a self, merchant_number: &'a str) -> StoreFuture<'a, Option<(i64, i64)>> {
        Box::pin(async move {
            let c = self.client().await?;
            office::merchant_place(&c, merchant_number).await
        })
    }

    fn all_terminals(&self) -> StoreFuture<'_, Vec<TerminalRow>> {
        Box::pin(async move {
            let c = self.client().await?;
            office::all_terminals(&c).await
        })
    }

    fn registered<'a>(&'a self, serials: &'a [String]) -> StoreFuture<'a, BTreeMap<String, Registered>> {
        Box::pin(async move {
            let c = self.client().await?;
            register::registered(&c, serials).await
        })
    }

    fn custody<'a>(&'a self, serial: &'a str, limit: usize) -> StoreFuture<'a, (HolderNow, Vec<CustodyRow>)> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let custody = register::custody(&tx, serial, limit).await?;
            tx.commit().await?;
            Ok(custody)
        })
    }

    fn check_in(&self, check_in: CheckIn) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            register::check_in(&tx, &check_in).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn register_applied<'a>(&'a self, visit_id: &'a str, cause: RegisterCause) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let c = self.client().await?;
            let row = query_one(
                &c,
                "SELECT EXISTS (SELECT 1 FROM register_effects WHERE visit_id = $1 AND cause = $2)",
                &[&visit_id, &cause.code()],
            )
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    fn terminal_events<'a>(
        &'a self,
        serial: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<TerminalEventRow>> {
        Box::pin(async move {
            let c = self.client().await?;
            register::terminal_events(&c, serial, limit).await
        })
    }

    fn import_register(&self, rows: Vec<RegisterRow>, entry: AuditEntry) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            office::import_register(&tx, &rows, &entry.actor).await?;
            audit(&tx, &entry).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn enqueue_messages(&self, messages: Vec<OutboxMessage>) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let added = outbox::enqueue(&tx, &messages, now()).await?;
            tx.commit().await?;
            Ok(added)
        })
    }

    fn take_due_messages(
        &self,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<OutboxRecord>> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let taken = outbox::take_due(&tx, now, lease_until, limit).await?;
            tx.commit().await?;
            Ok(taken)
        })
    }

    fn release_sending_messages(&self, now: i64) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            let c = self.client().await?;
            outbox::release_sending(&c, now).await
        })
    }

    fn record_delivery(&self, id: i64, outcome: DeliveryOutcome, now: i64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let c = self.client().await?;
            outbox::record_delivery(&c, id, &outcome, now).await
        })
    }

    fn outbox(&self, limit: usize) -> StoreFuture<'_, OutboxView> {
        Box::pin(async move {
            let mut c = self.client().await?;
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let view = outbox::list(&tx, limit).await?;
            tx.commit().await?;
            Ok(view)
        })
    }
}

#[cfg(test)]
mod tests;

//! `posfield-server`: serve, and administer identities.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use posfield_sync_server::auth::{self, UserRole};
use posfield_sync_server::config::Config;

/// posfield-server: sync for field agents' phones, and the back office.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// TOML configuration file (every key optional).
    #[arg(long, global = true, env = "POSFIELD_CONFIG")]
    config: Option<PathBuf>,
    /// Data folder (database and blobs). Default: ./posfield-data.
    #[arg(long, global = true, env = "POSFIELD_DATA")]
    data: Option<PathBuf>,
    /// Database: a postgres:// URL. Default: the SQLite file in the data folder.
    #[arg(long, global = true, env = "POSFIELD_DATABASE", hide_env_values = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve agents' sync and the back office.
    Serve {
        /// Address to listen on. Default: 127.0.0.1:8080.
        #[arg(long, env = "POSFIELD_LISTEN")]
        listen: Option<SocketAddr>,
        /// The oldest app version to sync with (e.g. 0.2.0); older phones are
        /// told to update and keep their work. Default: the oldest supported.
        #[arg(long, env = "POSFIELD_MIN_APP_VERSION")]
        min_app_version: Option<String>,
        /// Fill an empty data folder with a demo fleet (agents, terminals,
        /// visits of every kind in every status, photos and signatures).
        #[arg(long)]
        demo: bool,
        /// Serve HTTPS with this PEM certificate chain (with --tls-key);
        /// replaced files are loaded again without a restart.
        #[arg(long, env = "POSFIELD_TLS_CERT")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, env = "POSFIELD_TLS_KEY")]
        tls_key: Option<PathBuf>,
        /// Where the blobs are kept: `local` (the data folder, the default) or
        /// s3://BUCKET[/PREFIX]?endpoint=https://...&region=...&path_style=true,
        /// with POSFIELD_S3_ACCESS_KEY_ID and POSFIELD_S3_SECRET_ACCESS_KEY set.
        #[arg(long, env = "POSFIELD_BLOBS")]
        blobs: Option<String>,
        /// The bearer token Prometheus reads GET /metrics with (better
        /// given in POSFIELD_METRICS_TOKEN or the file's `metrics_token`
        /// than on a command line others can list); without one, /metrics is 404.
        #[arg(long, env = "POSFIELD_METRICS_TOKEN", hide_env_values = true)]
        metrics_token: Option<String>,
    },
    /// Print a one-time enrolment code for an agent's phone (creates the agent).
    EnrollAgent {
        /// The agent's name (letters, digits, '-', '_', '.').
        name: String,
        /// Print an enrolment link for the phone instead of the bare code:
        /// `posfield://ADDRESS/CODE`, with the pin of the server's
        /// certificate (`tls_cert`) when it serves TLS itself. ADDRESS is how
        /// phones reach the server: HOST[:PORT][/PATH].
        #[arg(long, value_name = "ADDRESS")]
        link: Option<String>,
    },
    /// Add a back-office user, or change their role and password (which
    /// signs them out everywhere).
    AddUser {
        /// User name.
        name: String,
        /// Role.
        #[arg(long, value_enum)]
        role: UserRole,
        /// Password (read from POSFIELD_PASSWORD if not given; at least 10 characters).
        #[arg(long, env = "POSFIELD_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Remove a back-office user (which signs them out everywhere).
    RemoveUser {
        /// User name.
        name: String,
    },
    /// Revoke a device's credential.
    RevokeDevice {
        /// The device id (from the enrolment or the audit log).
        device: String,
    },
    /// Wipe a lost phone: at its next contact it sends the work it still
    /// holds, then destroys its keys, so what stays on it can no longer be
    /// read, and its credential is revoked. Without --yes, says what that
    /// means and changes nothing.
    WipeDevice {
        /// The device id (from the device list, the enrolment or the audit log).
        device: String,
        /// Confirm, having read what a wipe means.
        #[arg(long)]
        yes: bool,
    },
    /// Have a phone replace its device key at its next sync: it makes a new
    /// key and sends it vouched for by the current one. Acceptances signed
    /// before stay verifiable by the key that made them.
    RotateDeviceKey {
        /// The device id (from the device list, the enrolment or the audit log).
        device: String,
    },
    /// Replace the server's signing key (taken at the next start); earlier
    /// countersignatures stay verifiable by the key that made them.
    RotateSigningKey,
    /// Add a new blob key: blobs stored from the next start are sealed
    /// with it; those sealed earlier still open with the key that sealed them.
    RotateBlobKey,
    /// Back up the data folder while the server runs: the database as it
    /// is at one moment, then the blobs (sealed as they are) and the key
    /// files, into DEST, an empty or new folder. Restore by starting a
    /// server with `--data DEST`. The backup holds the keys: keep it as
    /// safe as the data folder, and off this machine.
    Backup {
        /// The backup folder: absent, or empty.
        dest: PathBuf,
    },
    /// Move this embedded install (the data folder's database and blobs) to
    /// PostgreSQL and, with --blobs, to a bucket, then check every table's
    /// rows and every blob's hash. Stop the server first: the database is
    /// locked while it runs. The data folder is left as it was, so rolling
    /// back is starting the old server on it.
    Migrate {
        /// The new, empty database: postgres://USER:PASSWORD@HOST/DATABASE
        /// (better given in POSFIELD_MIGRATE_TO than on a command line others can list).
        #[arg(long, env = "POSFIELD_MIGRATE_TO", hide_env_values = true)]
        to: String,
        /// The bucket for the blobs: s3://BUCKET[/PREFIX]?endpoint=...
        /// (credentials as for serve); left out, they stay in the data folder.
        #[arg(long)]
        blobs: Option<String>,
    },
    /// Print this build's version and the SQLite library it links. The
    /// server never links SQLCipher (only the phone's store needs it).
    About,
}

/// The address part of an enrolment link, `HOST[:PORT][/PATH]`, checked:
/// no scheme, no query, nothing a phone would read as another server.
fn enrolment_address(address: &str) -> anyhow::Result<String> {
    let address = address.trim().trim_end_matches('/');
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._:/[]".contains(c);
    if address.is_empty()
        || address.starts_with('/')
        || address.contains("//")
        || !address.chars().all(allowed)
    {
        anyhow::bail!(
            "--link takes how phones reach the server, HOST[:PORT][/PATH] (no https://), not {address:?}"
        );
    }
    Ok(address.to_owned())
}

fn config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = Config::from_file(cli.config.as_deref())?;
    if let Some(data) = &cli.data {
        config.data = data.clone();
    }
    if let Some(database) = &cli.database {
        config.database = Some(posfield_sync_server::config::DatabaseUrl::new(database.clone()));
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,samod=warn,refinery_core=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("posfield-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = config(&cli)?;
    let mut out = std::io::stdout().lock();
    use std::io::Write as _;
    match cli.command {
        Command::Serve { listen, min_app_version, demo, tls_cert, tls_key, blobs, metrics_token } => {
            if let Some(blobs) = blobs {
                config.blobs = posfield_sync_server::blobs::BlobStorage::parse(&blobs)?;
            }
            if let Some(listen) = listen {
                config.listen = listen;
            }
            if let Some(cert) = tls_cert {
                config.tls_cert = Some(cert);
            }
            if let Some(key) = tls_key {
                config.tls_key = Some(key);
            }
            if let Some(token) = metrics_token.filter(|token| !token.trim().is_empty()) {
                config.metrics_token = Some(posfield_sync_server::config::Secret::new(token));
            }
            if let Some(minimum) = min_app_version {
                config.min_app_version = posfield_sync_server::versions::parse_minimum(&minimum)?;
            }
            let running = posfield_sync_server::start(config, true).await?;
            if let Err(e) = posfield_sync_server::office::certificate::check_font() {
                tracing::warn!(error = %e, "acceptance certificates (PDF) cannot be made");
            }
            if demo && let Some(report) = posfield_sync_server::demo::fill(&running.state).await? {
                eprintln!(
                    "demo fleet: {} agents, {} terminals, {} visits, {} photos and signatures",
                    report.agents, report.terminals, report.visits, report.blobs
                );
            }
            if !demo {
                let state = &running.state;
                let offered = posfield_sync_server::office::setup::offer(
                    state.store.as_ref(),
                    &state.config.data,
                    state.clock.now(),
                )
                .await?;
                if let Some(file) = offered {
                    // Where the link is, never the link: logs reach more people than the data folder.
                    tracing::warn!(file = %file.display(), "no administrator yet: the first administrator's setup link is in this file");
                }
            }
            // One line for scripts and tests that start the server on port 0.
            let scheme = if running.state.config.serves_tls() { "https" } else { "http" };
            writeln!(out, "posfield-server listening on {scheme}://{}", running.addr)?;
            out.flush()?;
            drop(out);
            running.wait().await?;
        }
        Command::EnrollAgent { name, link } => {
            let address = link.map(|address| enrolment_address(&address)).transpose()?;
            let pin = match (&address, &config.tls_cert) {
                (Some(_), Some(cert)) => Some(posfield_sync_server::tls::certificate_pin(cert)?),
                _ => None,
            };
            let store = posfield_sync_server::open_store(&config).await?;
            let code =
                auth::issue_enrolment_code_by(&*store, &name, posfield_sync_server::store::COMMAND_LINE)
                    .await?;
            match (address, pin) {
                (Some(address), Some(pin)) => writeln!(out, "posfield://{address}/{code}?pin={pin}")?,
                (Some(address), None) => writeln!(out, "posfield://{address}/{code}")?,
                (None, _) => writeln!(out, "{code}")?,
            }
            eprintln!(
                "Enrolment code for {name}: enter it on the phone within {} days; it works once.",
                auth::CODE_LIFETIME_SECS / 86_400
            );
        }
        Command::AddUser { name, role, password } => {
            let store = posfield_sync_server::open_store(&config).await?;
            auth::add_user(&*store, &name, role, &password).await?;
            writeln!(out, "user {name} ({}) saved", role.code())?;
        }
        Command::RemoveUser { name } => {
            let store = posfield_sync_server::open_store(&config).await?;
            if !auth::remove_user(&*store, &name).await? {
                anyhow::bail!("no user {name:?}");
            }
            writeln!(out, "user {name} removed")?;
        }
        Command::RevokeDevice { device } => {
            let store = posfield_sync_server::open_store(&config).await?;
            match auth::revoke_by(&*store, &device, posfield_sync_server::store::COMMAND_LINE).await? {
                auth::Revoked::Done => {}
                auth::Revoked::WaitingForWipe => anyhow::bail!(
                    "device {device} is waiting to be wiped: revoking it now would keep it from its wipe's sync; the wipe revokes it once done"
                ),
                auth::Revoked::NoLiveDevice => anyhow::bail!("no device {device:?} with a live credential"),
            }
            writeln!(out, "device {device} revoked")?;
        }
        Command::WipeDevice { device, yes } => {
            if !yes {
                writeln!(out, "{}", posfield_sync_server::office::devices::WIPE_MEANS_EN)?;
                anyhow::bail!("nothing done: run again with --yes to wipe device {device}");
            }
            let store = posfield_sync_server::open_store(&config).await?;
            if !auth::request_wipe(&*store, &device, posfield_sync_server::store::COMMAND_LINE).await? {
                anyhow::bail!("no device {device:?} with a live credential and no wipe asked yet");
            }
            writeln!(out, "device {device} will be wiped at its next contact")?;
        }
        Command::RotateDeviceKey { device } => {
            let store = posfield_sync_server::open_store(&config).await?;
            let actor = posfield_sync_server::store::COMMAND_LINE;
            if !auth::request_key_rotation(&*store, &device, actor).await? {
                anyhow::bail!("no device {device:?} with a live credential and no key rotation asked yet");
            }
            writeln!(out, "device {device} will replace its device key at its next sync")?;
        }
        Command::RotateSigningKey => {
            let store = posfield_sync_server::open_store(&config).await?;
            std::fs::create_dir_all(&config.data)?;
            let public = posfield_sync_server::server_key::rotate(&*store, &config.data).await?;
            writeln!(out, "new signing key {public}; restart the server to use it")?;
        }
        Command::RotateBlobKey => {
            let store = posfield_sync_server::open_store(&config).await?;
            let id = posfield_sync_server::blob_key::rotate(&*store, &config.data).await?;
            writeln!(
                out,
                "new blob key {id:08x}; restart the server to seal new blobs with it (earlier keys stay in {} and still open what they sealed)",
                posfield_sync_server::blob_key::KEY_FILE
            )?;
        }
        Command::Backup { dest } => {
            if let Some(database) = &config.database {
                anyhow::bail!(
                    "the database is PostgreSQL ({database}): back it up with pg_dump or continuous archiving \
                     (docs/deploy.md); this command backs up an embedded install"
                );
            }
            if let posfield_sync_server::blobs::BlobStorage::S3(bucket) = &config.blobs {
                anyhow::bail!(
                    "the blobs are in the bucket {}, not the data folder: this command backs up an embedded \
                     install; back the bucket up with its own versioning or replication (docs/deploy.md)",
                    bucket.bucket
                );
            }
            let database = config.data.join(posfield_sync_server::backup::DATABASE);
            if !database.is_file() {
                anyhow::bail!(
                    "the data folder {} holds no database: nothing to back up",
                    config.data.display()
                );
            }
            let store = posfield_sync_server::store::sqlite::SqliteStore::open(&database)?;
            let now = posfield_sync_server::clock::now();
            let manifest =
                posfield_sync_server::backup::run(&config.data, &dest, now, |copy| store.backup_to(copy))?;
            writeln!(
                out,
                "backup of {} visits, {} users, {} blob files and {} key files written to {}",
                manifest.database.visits,
                manifest.database.users,
                manifest.blob_files,
                manifest.key_files.len(),
                dest.display()
            )?;
        }
        Command::Migrate { to, blobs } => {
            let bucket =
                match blobs.as_deref().map(posfield_sync_server::blobs::BlobStorage::parse).transpose()? {
                    Some(posfield_sync_server::blobs::BlobStorage::S3(bucket)) => Some(bucket),
                    Some(posfield_sync_server::blobs::BlobStorage::Local) | None => None,
                };
            let to = posfield_sync_server::config::DatabaseUrl::new(to);
            let summary = posfield_sync_server::migrate::run(&config, &to, bucket.as_ref()).await?;
            for (table, rows) in &summary.tables {
                writeln!(out, "{table:<22} {rows:>9} rows")?;
            }
            let blobs_went = match &summary.bucket {
                Some(bucket) => format!("copied to the bucket {bucket}"),
                None => "left in the data folder".to_owned(),
            };
            writeln!(
                out,
                "migrated to {to}: {} tables, {} rows; {} blobs ({} bytes) {blobs_went}, every hash checked; {:.1} s",
                summary.tables.len(),
                summary.rows(),
                summary.blobs,
                summary.blob_bytes,
                summary.elapsed.as_secs_f64()
            )?;
        }
        Command::About => {
            writeln!(
                out,
                "posfield-server {}\nstore: {}",
                env!("CARGO_PKG_VERSION"),
                posfield_sync_server::store::sqlite::library()?
            )?;
        }
    }
    Ok(())
}

//! Configuration: built-in defaults, then an optional TOML file, then
//! environment variables and flags (clap reads both), later ones winning.

use std::net::SocketAddr;
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
        }
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
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! TLS to PostgreSQL, against a throwaway cluster this test starts with
//! TLS on (a server certificate for `localhost` it issues with rcgen from
//! an authority of its own) and an access file that takes the database
//! `tlsonly` only over TLS and `plain` only in clear, so each connection
//! shows how it went: `verify-full` with the right root connects (the
//! migration run and the pool, both over TLS), with the root from the
//! configuration as well; with another root, or to a name the certificate
//! does not hold, it is refused with a clear error; `require` encrypts
//! without checking; `disable` connects in clear.
//!
//! The cluster is made with the binaries of the folder
//! `POSFIELD_TEST_POSTGRES_BIN` names (`scripts/lib.sh`'s `pg_cluster_start`
//! sets it); without it the test says in one line that it did not run,
//! and fails when `CI` is set.

use std::path::{Path, PathBuf};
use std::process::Command;

use posfield_sync_server::store::postgres::PostgresStore;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// An authority of the test's own.
fn authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A throwaway cluster with TLS on, stopped when dropped.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// Runs the cluster's binary `name` with `args`, as the user
    /// `postgres` when the test runs as root (PostgreSQL refuses root).
    fn run(&self, name: &str, args: &[&str]) {
        let binary = self.bin.join(name);
        let output = if self.as_postgres {
            Command::new("runuser").args(["-u", "postgres", "--"]).arg(&binary).args(args).output()
        } else {
            Command::new(&binary).args(args).output()
        }
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        assert!(
            output.status.success(),
            "{name} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    /// Starts a cluster whose TLS certificate `ca` issued for `localhost`.
    fn start(bin: &Path, ca: &CertifiedIssuer<'static, KeyPair>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Cluster { bin: bin.to_owned(), dir, port, as_postgres: root };
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "posfield test database");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, ca).unwrap();
        std::fs::write(cluster.path("server.crt"), cert.pem()).unwrap();
        std::fs::write(cluster.path("server.key"), key.serialize_pem()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(cluster.path("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        if root {
            let id = |flag: &str| -> u32 {
                let out = Command::new("id").args([flag, "postgres"]).output().unwrap();
                String::from_utf8(out.stdout).unwrap().trim().parse().unwrap()
            };
            for path in [cluster.path(""), cluster.path("server.crt"), cluster.path("server.key")] {
                std::os::unix::fs::chown(path, Some(id("-u")), Some(id("-g"))).unwrap();
            }
        }
        let data = cluster.path("data");
        cluster.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
        );
        // `tlsonly` only over TLS, `plain` only in clear, any other over TLS.
        let hba = "local all all trust\n\
                   hostssl plain all 127.0.0.1/32 reject\n\
                   hostnossl plain all 127.0.0.1/32 trust\n\
                   hostssl all all 127.0.0.1/32 trust\n";
        std::fs::write(Path::new(&data).join("pg_hba.conf"), hba).unwrap();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            cluster.path(""),
            cluster.path("server.crt"),
            cluster.path("server.key"),
        );
        let log = cluster.path("server.log");
        cluster.run("pg_ctl", &["-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options, "start"]);
        for database in ["tlsonly", "plain"] {
            let sql = format!("CREATE DATABASE {database}");
            cluster.run(
                "psql",
                &["-h", &cluster.path(""), "-p", &port.to_string(), "-U", "postgres", "-qc", &sql],
            );
        }
        cluster
    }

    /// The URL of `database` at `host`, with `query`.
    fn url(&self, host: &str, database: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/{database}?{query}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.path("data");
        let binary = self.bin.join("pg_ctl");
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser").args(["-u", "postgres", "--"]).arg(&binary).args(args).output()
        } else {
            Command::new(&binary).args(args).output()
        };
    }
}

/// Opens a store on `url` (with `ca` as the configuration's root) and
/// asks it one thing; the error's words when either fails.
async fn opens(url: &str, ca: Option<&Path>) -> Result<(), String> {
    let store = PostgresStore::open_with_ca(url, 2, ca).await.map_err(|e| e.to_string())?;
    use posfield_sync_server::store::Store;
    store.has_visits().await.map_err(|e| e.to_string())?;
    Ok(())
}

#[tokio::test]
async fn verify_full_checks_the_root_and_the_name_require_encrypts_and_disable_speaks_in_clear() {
    let Some(bin) = std::env::var_os("POSFIELD_TEST_POSTGRES_BIN").filter(|v| !v.is_empty()) else {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "POSFIELD_TEST_POSTGRES_BIN is not set: this test needs PostgreSQL's server binaries (scripts/lib.sh's pg_cluster_start)"
        );
        let line = "TLS to PostgreSQL was not tested: POSFIELD_TEST_POSTGRES_BIN is unset (scripts/lib.sh's pg_cluster_start sets it)\n";
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        return;
    };
    let ca = authority("posfield test database authority");
    let other = authority("another authority");
    let cluster = Cluster::start(Path::new(&bin), &ca);
    let root = cluster.dir.path().join("root.pem");
    std::fs::write(&root, ca.pem()).unwrap();
    let other_root = cluster.dir.path().join("other.pem");
    std::fs::write(&other_root, other.pem()).unwrap();
    let rootcert = |path: &Path| format!("sslrootcert={}", path.display());

    // verify-full with the right root: the migration and the pool over TLS
    // (the database takes nothing else).
    let url = cluster.url("localhost", "tlsonly", &format!("sslmode=verify-full&{}", rootcert(&root)));
    opens(&url, None).await.unwrap();
    // The root from the configuration (`database_ca`) does the same.
    opens(&cluster.url("localhost", "tlsonly", "sslmode=verify-full"), Some(&root)).await.unwrap();

    // Another root: refused, saying why.
    let url = cluster.url("localhost", "tlsonly", &format!("sslmode=verify-full&{}", rootcert(&other_root)));
    let refused = opens(&url, None).await.unwrap_err();
    assert!(refused.contains("cannot connect to the database at localhost"), "{refused}");
    assert!(refused.contains("UnknownIssuer"), "{refused}");
    // The right root, but a name the certificate does not hold.
    let url = cluster.url("127.0.0.1", "tlsonly", &format!("sslmode=verify-full&{}", rootcert(&root)));
    let refused = opens(&url, None).await.unwrap_err();
    assert!(refused.contains("certificate not valid for name \"127.0.0.1\""), "{refused}");
    // A root file that is not one.
    let url = cluster.url(
        "localhost",
        "tlsonly",
        &format!("sslmode=verify-full&{}", rootcert(&cluster.dir.path().join("missing.pem"))),
    );
    let refused = opens(&url, None).await.unwrap_err();
    assert!(refused.contains("missing.pem"), "{refused}");
    // sslrootcert with a mode that would not read it is refused rather than ignored.
    let url = cluster.url("localhost", "tlsonly", &format!("sslmode=require&{}", rootcert(&root)));
    let refused = opens(&url, None).await.unwrap_err();
    assert!(refused.contains("sslrootcert is read with sslmode=verify-full only"), "{refused}");

    // require: TLS without checking the certificate, as libpq does.
    opens(&cluster.url("127.0.0.1", "tlsonly", "sslmode=require"), None).await.unwrap();
    // disable: in clear, which `plain` takes and `tlsonly` refuses.
    opens(&cluster.url("127.0.0.1", "plain", "sslmode=disable"), None).await.unwrap();
    let refused = opens(&cluster.url("127.0.0.1", "tlsonly", "sslmode=disable"), None).await.unwrap_err();
    assert!(refused.contains("no encryption"), "{refused}");
    // A mode the engine does not take is named.
    let refused = opens(&cluster.url("127.0.0.1", "tlsonly", "sslmode=verify-ca"), None).await.unwrap_err();
    assert!(refused.contains("sslmode \"verify-ca\""), "{refused}");
}

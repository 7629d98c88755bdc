//! Certificates the tests make themselves: a test certificate authority
//! and server certificates it issues for 127.0.0.1 and localhost, written
//! as the PEM files `posfield-server serve --tls-cert --tls-key` reads.
//!
//! ```no_run
//! let dir = tempfile::tempdir().unwrap();
//! let tls = posfield_e2e::tls::TestTls::write(dir.path());
//! let server = posfield_e2e::ServerProcess::start_tls(&dir.path().join("data"), &tls);
//! // `server.base` is https://127.0.0.1:PORT/; `server.client()` trusts `tls.ca_pem` alone.
//! assert!(server.client().get(server.url("healthz")).send().unwrap().status().is_success());
//! ```

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// The names every test server certificate is valid for.
pub const SERVER_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// A certificate authority that exists only for a test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa(..)")
    }
}

/// A server certificate and its key, as PEM and DER.
#[derive(Debug, Clone)]
pub struct ServerCertificate {
    /// The certificate (PEM), what `--tls-cert` reads.
    pub cert_pem: String,
    /// Its private key (PEM, PKCS#8), what `--tls-key` reads.
    pub key_pem: String,
    /// The certificate (DER), for a client that pins it.
    pub cert_der: Vec<u8>,
}

impl TestCa {
    /// A new authority named `name`, with a fresh key.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("authority parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a key");
        TestCa { issuer: CertifiedIssuer::self_signed(params, key).expect("the authority's certificate") }
    }

    /// The authority's certificate (PEM): the one root a test client trusts.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A new server certificate for [`SERVER_NAMES`], with a fresh key.
    pub fn issue_server(&self) -> ServerCertificate {
        let names: Vec<String> = SERVER_NAMES.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server parameters");
        params.distinguished_name.push(DnType::CommonName, "posfield test server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &*self.issuer).expect("the server certificate");
        ServerCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        }
    }
}

impl ServerCertificate {
    /// Writes the certificate and key to `cert` and `key`, each replaced
    /// whole (written beside, then renamed), as a certificate tool does.
    pub fn write_to(&self, cert: &Path, key: &Path) {
        for (path, text) in [(cert, &self.cert_pem), (key, &self.key_pem)] {
            let beside = path.with_extension("new");
            std::fs::write(&beside, text).expect("a PEM file written");
            std::fs::rename(&beside, path).expect("a PEM file replaced");
        }
    }
}

/// A test authority and one server certificate it issued, written to a folder.
#[derive(Debug)]
pub struct TestTls {
    /// The authority, to issue more server certificates (a renewal).
    pub ca: TestCa,
    /// The authority's certificate (PEM), what clients trust.
    pub ca_pem: String,
    /// `ca.pem` in the folder.
    pub ca_file: PathBuf,
    /// The server certificate written.
    pub server: ServerCertificate,
    /// `cert.pem` in the folder: `--tls-cert`.
    pub cert: PathBuf,
    /// `key.pem` in the folder: `--tls-key`.
    pub key: PathBuf,
}

impl TestTls {
    /// Makes an authority and a server certificate for 127.0.0.1 and
    /// localhost, and writes `ca.pem`, `cert.pem` and `key.pem` in `dir`.
    pub fn write(dir: &Path) -> TestTls {
        let ca = TestCa::new("posfield test authority");
        let server = ca.issue_server();
        let (ca_file, cert, key) = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
        let ca_pem = ca.pem();
        std::fs::write(&ca_file, &ca_pem).expect("ca.pem written");
        server.write_to(&cert, &key);
        TestTls { ca, ca_pem, ca_file, server, cert, key }
    }

    /// A blocking HTTP client that trusts this authority alone.
    pub fn client(&self) -> reqwest::blocking::Client {
        let root =
            reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("the authority's certificate");
        reqwest::blocking::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(root)
            .build()
            .expect("a client")
    }
}

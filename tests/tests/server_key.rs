//! The server's signing key lives outside its database and can be
//! rotated: every countersignature, made before or after a rotation, is
//! verified by the public key it records. A real server process, its
//! command line, and a real agent core.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use posfield_e2e::story::{open, repair_visit};
use posfield_e2e::{ServerProcess, server_cli};
use posfield_shared::visit::acceptance::binding_message;

/// (public key, signature, message) of every countersignature in the database.
fn countersignatures(data: &std::path::Path) -> Vec<(String, String, Vec<u8>)> {
    let db = rusqlite::Connection::open(data.join("posfield.db")).unwrap();
    let mut statement = db
        .prepare(
            "SELECT server_public_key, server_signature, content_hash, strokes_sha256, image_sha256, received_at
             FROM countersignatures ORDER BY rowid",
        )
        .unwrap();
    statement
        .query_map([], |r| {
            let mut message =
                binding_message(&r.get::<_, String>(2)?, &r.get::<_, String>(3)?, &r.get::<_, String>(4)?);
            message.extend_from_slice(format!("received-at {}\n", r.get::<_, i64>(5)?).as_bytes());
            Ok((r.get(0)?, r.get(1)?, message))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn verifies(public: &str, signature: &str, message: &[u8]) -> bool {
    let key = VerifyingKey::from_bytes(&hex::decode(public).unwrap().try_into().unwrap()).unwrap();
    let signature = Signature::from_bytes(&hex::decode(signature).unwrap().try_into().unwrap());
    key.verify(message, &signature).is_ok()
}

#[test]
fn countersignatures_made_before_and_after_a_rotation_verify_by_their_own_keys() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = ServerProcess::start(&data);
    let key_file = data.join("server-signing.key");
    assert!(key_file.exists(), "the key lives in its own file");
    let db = rusqlite::Connection::open(data.join("posfield.db")).unwrap();
    let in_db: Option<String> =
        db.query_row("SELECT value FROM settings WHERE key = 'server_signing_key'", [], |r| r.get(0)).ok();
    assert_eq!(in_db, None, "the secret is not in the database");

    let mut wang = open(&dir.path().join("wang"));
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    repair_visit(&mut wang);
    wang.sync(&mut |_| {}).unwrap();
    server.kill();

    let rotated = server_cli(&data, &["rotate-signing-key"]);
    assert!(rotated.contains("new signing key"), "{rotated}");
    let server = ServerProcess::start(&data);
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    repair_visit(&mut wang);
    wang.sync(&mut |_| {}).unwrap();
    drop(server);

    let signed = countersignatures(&data);
    assert_eq!(signed.len(), 2, "one acceptance countersigned before the rotation, one after");
    assert_ne!(signed[0].0, signed[1].0, "the rotation changed the key");
    for (public, signature, message) in &signed {
        assert!(
            verifies(public, signature, message),
            "a countersignature does not verify by the key it records"
        );
    }
    assert!(!verifies(&signed[1].0, &signed[0].1, &signed[0].2), "the new key would vouch for the old one");
}

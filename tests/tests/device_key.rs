//! The device key, rotated when the server asks: an administrator asks
//! (the command line or the device list); at its next sync the phone sends
//! a new key vouched for by its current one and signs with it from then on.
//! An acceptance signed offline with the old key and pushed after the
//! rotation is still countersigned valid, by the key that made it; a
//! rotation vouched for by any other key, or malformed, is refused and
//! changes nothing. A real server on 127.0.0.1, a real agent core, and a
//! phone the test controls byte for byte.

use ed25519_dalek::SigningKey;
use posfield_e2e::ServerProcess;
use posfield_e2e::hostile::{Desk, HostilePhone};
use posfield_e2e::story::{open, repair_visit};
use posfield_shared::BlobHash;
use posfield_shared::device_key::sign_rotation;
use posfield_shared::protocol::DeviceKeyRotation;

/// The device's public key now, and its earlier ones, as the server holds them.
fn server_keys(server: &ServerProcess, device: &str) -> (String, Vec<String>) {
    let db = rusqlite::Connection::open(server.data.join("posfield.db")).unwrap();
    let current =
        db.query_row("SELECT public_key FROM devices WHERE id = ?1", [device], |r| r.get(0)).unwrap();
    let mut earlier = db
        .prepare(
            "SELECT public_key FROM device_earlier_keys WHERE device_id = ?1 ORDER BY replaced_at, rowid",
        )
        .unwrap();
    let earlier = earlier.query_map([device], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    (current, earlier)
}

/// Whether the server counts `visit`'s acceptance valid, and the device key
/// it recorded as the one that verified it.
fn countersigned(server: &ServerProcess, visit: &str) -> (bool, Option<String>) {
    let (status, shown) = server.office_get("zhou", &format!("api/v1/office/visits/{visit}"));
    assert_eq!(status, 200, "{shown}");
    let db = rusqlite::Connection::open(server.data.join("posfield.db")).unwrap();
    let key = db
        .query_row(
            "SELECT device_public_key FROM countersignatures WHERE visit_id = ?1 ORDER BY rowid DESC LIMIT 1",
            [visit],
            |r| r.get(0),
        )
        .unwrap();
    (shown["device_signature_valid"] == true, key)
}

#[test]
fn a_visit_signed_before_a_rotation_and_pushed_after_it_is_countersigned_valid() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("zhou", "admin");
    let mut wang = open(&dir.path().join("wang"));
    let device = wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap().device_id;
    let first = wang.device_public_key();

    // Not asked: a sync leaves the key alone.
    assert!(!wang.sync(&mut |_| {}).unwrap().device_key_rotated);
    assert_eq!(
        (wang.device_public_key(), server_keys(&server, &device)),
        (first.clone(), (first.clone(), vec![]))
    );

    // Offline, visit A is signed with the first key; then the administrator asks.
    let a = repair_visit(&mut wang);
    let asked = posfield_e2e::server_cli(&server.data, &["rotate-device-key", &device]);
    assert!(asked.contains("will replace its device key at its next sync"), "{asked}");

    let report = wang.sync(&mut |_| {}).unwrap();
    assert!(report.device_key_rotated, "{report:?}");
    let second = wang.device_public_key();
    assert_ne!(second, first);
    assert_eq!(wang.earlier_device_public_keys().unwrap(), vec![first.clone()]);
    assert_eq!(server_keys(&server, &device), (second.clone(), vec![first.clone()]));
    // A was pushed after the rotation and verified by the key that signed it.
    assert_eq!(countersigned(&server, a.as_str()), (true, Some(first.clone())));
    assert_eq!(wang.verify_signature(&a).unwrap(), [], "the phone no longer verifies its own acceptance");

    // Visit B is signed with the new key.
    let b = repair_visit(&mut wang);
    let report = wang.sync(&mut |_| {}).unwrap();
    assert!(!report.device_key_rotated, "rotated again without being asked");
    assert_eq!(countersigned(&server, b.as_str()), (true, Some(second.clone())));
    assert_eq!(countersigned(&server, a.as_str()), (true, Some(first)));

    let actions = server.audited("zhou", &device);
    assert!(actions.contains(&("(command line)".into(), "rotate_device_key".into())), "{actions:?}");
    assert!(actions.contains(&("wang".into(), "device_key_rotated".into())), "{actions:?}");
    // Asked once, done once.
    assert_eq!(actions.iter().filter(|(_, action)| action == "device_key_rotated").count(), 1);
}

/// The secret of a [`HostilePhone`] enrolled with `code` as `client_device_id`.
fn hostile_secret(server: &ServerProcess, client_device_id: &str, code: &str) -> SigningKey {
    let hex = BlobHash::of(format!("{}|{client_device_id}|{code}", server.base).as_bytes()).into_string();
    SigningKey::from_bytes(&hex::decode(hex).unwrap().try_into().unwrap())
}

/// Sends a rotation as the phone holding `token`; the status.
fn send_rotation(server: &ServerProcess, token: &str, rotation: &DeviceKeyRotation) -> u16 {
    let response = server
        .client()
        .post(server.url("api/v1/sync/device-key"))
        .bearer_auth(token)
        .json(rotation)
        .send()
        .unwrap();
    response.status().as_u16()
}

#[test]
fn a_forged_or_malformed_rotation_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("server"));
    server.add_user("zhou", "admin");
    server.add_user("chen", "reviewer");
    let mut wang = open(&dir.path().join("wang"));
    let wang_device =
        wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap().device_id;
    let code = server.enrolment_code("li");
    let li = HostilePhone::enrol_with_code(&server, &code, "li-phone").unwrap();
    let li_key = hostile_secret(&server, "li-phone", &code);
    let enrolled = hex::encode(li_key.verifying_key().to_bytes());
    assert_eq!(server_keys(&server, &li.server_device_id).0, enrolled, "the test's copy of the key");
    let next = SigningKey::from_bytes(&[7; 32]);
    let next_public = hex::encode(next.verifying_key().to_bytes());
    let vouched = |signer: &SigningKey, device: &str| DeviceKeyRotation {
        public_key: next_public.clone(),
        proof: sign_rotation(signer, device, &next_public),
    };
    let good = vouched(&li_key, &li.server_device_id);

    // Not asked: even a good proof is refused.
    assert_eq!(send_rotation(&server, &li.token, &good), 409);

    // The device list: a reviewer may not ask, an administrator may.
    let path = format!("office/devices/{}/rotate-key", li.server_device_id);
    let chen = Desk::sign_in(&server, "chen");
    assert_eq!(chen.post(&path, &[("csrf", &chen.csrf())]).0, 403);
    let zhou = Desk::sign_in(&server, "zhou");
    let (status, page) = zhou.get("office/devices");
    assert_eq!(status, 200);
    assert!(page.contains(&format!("/{path}")), "no rotate button for the device");
    assert_eq!(zhou.post(&path, &[("csrf", "not-the-token")]).0, 403, "without the page's CSRF token");
    let (status, page) = zhou.post(&path, &[("csrf", &zhou.csrf())]);
    assert_eq!(status, 303, "{page}");
    let (_, page) = zhou.get("office/devices");
    assert!(
        page.contains("Key rotation asked") || page.contains("已要求更换密钥"),
        "the list does not say so"
    );

    let stranger = SigningKey::from_bytes(&[9; 32]);
    let refused = [
        ("a proof by another key", vouched(&stranger, &li.server_device_id), 403),
        ("li's own proof for wang's device", vouched(&li_key, &wang_device), 403),
        (
            "a key too short",
            DeviceKeyRotation { public_key: next_public[..62].to_owned(), ..good.clone() },
            400,
        ),
        ("a key not on the curve", DeviceKeyRotation { public_key: "zz".repeat(32), ..good.clone() }, 400),
        ("a proof cut short", DeviceKeyRotation { proof: good.proof[..100].to_owned(), ..good.clone() }, 400),
        ("a proof far too long", DeviceKeyRotation { proof: "ab".repeat(4096), ..good.clone() }, 400),
    ];
    for (case, rotation, expected) in &refused {
        assert_eq!(send_rotation(&server, &li.token, rotation), *expected, "{case}");
        assert_eq!(server_keys(&server, &li.server_device_id), (enrolled.clone(), vec![]), "{case}");
    }
    // Another device's credential cannot rotate li's key with li's proof.
    let wang_keys_before = server_keys(&server, &wang_device);
    assert_eq!(send_rotation(&server, "pfd_not-a-credential", &good), 401);
    assert_eq!(server_keys(&server, &wang_device), wang_keys_before);

    assert_eq!(send_rotation(&server, &li.token, &good), 204);
    assert_eq!(server_keys(&server, &li.server_device_id), (next_public.clone(), vec![enrolled.clone()]));
    // The same request again, as after a lost answer: answered alike, nothing changes.
    assert_eq!(send_rotation(&server, &li.token, &good), 204);
    assert_eq!(server_keys(&server, &li.server_device_id), (next_public, vec![enrolled]));

    let actions = server.audited("zhou", &li.server_device_id);
    assert!(actions.contains(&("zhou".into(), "rotate_device_key".into())), "{actions:?}");
    assert!(actions.contains(&("li".into(), "device_key_rotated".into())), "{actions:?}");
    assert_eq!(actions.iter().filter(|(_, a)| a == "device_key_rotation_refused").count(), 2, "{actions:?}");
    assert!(!actions.iter().any(|(actor, _)| actor == "chen"), "{actions:?}");
    // wang was never asked, and its sync leaves its key alone.
    assert!(!wang.sync(&mut |_| {}).unwrap().device_key_rotated);
    assert_eq!(server_keys(&server, &wang_device).1, Vec::<String>::new());
}

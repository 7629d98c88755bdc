//! The server with its blobs in an S3-compatible bucket: a real server
//! process, a real agent core and the S3-compatible test server that
//! `POSFIELD_TEST_S3` names (moto on 127.0.0.1, started by `scripts/test`).
//! A field agent's photos reach the bucket sealed, the back office shows
//! them, another node without the blob key refuses to start on the bucket,
//! and a bucket that cannot be reached answers the phone `503` and keeps
//! nothing. Without `POSFIELD_TEST_S3` the test says in one line that S3
//! was not tested, and fails when `CI` is set.

use std::process::Command;

use posfield_e2e::hostile::{Desk, HostilePhone};
use posfield_e2e::search::{files_holding, files_under, stretches};
use posfield_e2e::story::{open, repair_visit_with_photos};
use posfield_e2e::{ServerProcess, server_binary};
use posfield_shared::BlobHash;
use posfield_shared::vocab::DocumentKind;

/// Any credentials do for moto; the server requires some.
const CREDENTIALS: [(&str, &str); 2] = [
    ("POSFIELD_S3_ACCESS_KEY_ID", "posfield-test"),
    ("POSFIELD_S3_SECRET_ACCESS_KEY", "posfield-test-secret"),
];

/// The test server's address and a new bucket of it, or `None` when
/// `POSFIELD_TEST_S3` is unset (a failure when `CI` is set).
fn test_bucket(name: &str) -> Option<(String, String)> {
    let Some(endpoint) = std::env::var("POSFIELD_TEST_S3").ok().filter(|v| !v.is_empty()) else {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        assert!(
            !ci,
            "POSFIELD_TEST_S3 is not set: this test needs an S3-compatible server (scripts/lib.sh's moto_start)"
        );
        // Past the test harness's capture of a passing test's output.
        let line = "S3 was not tested: POSFIELD_TEST_S3 is unset (scripts/lib.sh's moto_start sets it)\n";
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        return None;
    };
    let suffix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let bucket = format!("{name}-{}-{suffix:x}", std::process::id());
    // moto takes requests without a signature; the server's are signed.
    let made = reqwest::blocking::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .header("content-length", "0")
        .send()
        .unwrap();
    assert!(made.status().is_success(), "creating bucket {bucket}: {}", made.status());
    Some((endpoint, bucket))
}

/// The keys of the objects under `prefix` in the bucket, and their bytes
/// (read with the server's credentials: the objects are private).
fn objects(endpoint: &str, bucket: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    use rusty_s3::S3Action;
    let client = reqwest::blocking::Client::new();
    let target = rusty_s3::Bucket::new(
        endpoint.parse().unwrap(),
        rusty_s3::UrlStyle::Path,
        bucket.to_owned(),
        "us-east-1",
    )
    .unwrap();
    let credentials = rusty_s3::Credentials::new(CREDENTIALS[0].1, CREDENTIALS[1].1);
    let signed_for = std::time::Duration::from_secs(60);
    let mut list = target.list_objects_v2(Some(&credentials));
    list.with_prefix(prefix);
    let listing = client.get(list.sign(signed_for)).send().unwrap().text().unwrap();
    let listing = rusty_s3::actions::ListObjectsV2::parse_response(&listing).unwrap();
    listing
        .contents
        .into_iter()
        .map(|object| {
            let key = object.key;
            let url = target.get_object(Some(&credentials), &key).sign(signed_for);
            let response = client.get(url).send().unwrap();
            assert!(response.status().is_success(), "{key}: {}", response.status());
            let bytes = response.bytes().unwrap().to_vec();
            (key, bytes)
        })
        .collect()
}

#[test]
fn photos_reach_the_bucket_sealed_and_the_back_office_shows_them() {
    let Some((endpoint, bucket)) = test_bucket("e2e") else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let config = format!("blobs = \"s3://{bucket}/node-data?endpoint={endpoint}&path_style=true\"\n");
    let server = ServerProcess::start_with_env(&data, "127.0.0.1:0", &config, &CREDENTIALS);
    server.add_user("chen", "reviewer");
    let mut wang = open(&dir.path().join("wang"));
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    let id =
        repair_visit_with_photos(&mut wang, "code128-1/1.png", &[("code128-1/2.png", DocumentKind::IdCard)]);
    let started = std::time::Instant::now();
    wang.sync(&mut |_| {}).unwrap();
    eprintln!(
        "a visit with its photos and signature synced to the S3 engine in {} ms",
        started.elapsed().as_millis()
    );
    let visit = wang.visit(&id).unwrap();
    let card = visit.documents.iter().find(|d| d.kind.known() == Some(DocumentKind::IdCard)).unwrap();
    let card = BlobHash::parse(&card.sha256).unwrap();
    let card_bytes = wang.photo_bytes(&id, &card).unwrap();

    // The back office shows the ID card whole and as a thumbnail.
    let chen = Desk::sign_in(&server, "chen");
    let (status, shown) = chen.get_bytes(&format!("office/blobs/{card}"));
    assert_eq!(status, 200);
    assert!(shown == card_bytes, "the back office shows other bytes than the phone took");
    let (status, thumbnail) = chen.get_bytes(&format!("office/blobs/{card}?w=320"));
    assert_eq!(status, 200);
    assert!(thumbnail.starts_with(&[0xff, 0xd8]), "a thumbnail is a JPEG");

    // The blobs are in the bucket, sealed, and not in the data folder.
    let stored = objects(&endpoint, &bucket, "node-data/");
    let card_key = format!("node-data/blobs/{}/{card}", &card.as_str()[..2]);
    assert!(stored.iter().any(|(key, _)| *key == card_key), "{card_key} is not in {stored:?}");
    assert!(
        stored.len() >= 3,
        "the two photos and the signature: {:?}",
        stored.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    let needles = stretches("the ID card", &card_bytes);
    for (key, bytes) in &stored {
        assert!(key.starts_with("node-data/blobs/"), "only whole blobs stay, no segment: {key}");
        assert!(
            bytes.starts_with(b"PFSEAL"),
            "{key} is not sealed: {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        );
        for (what, needle) in &needles {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_slice()), "{what} in clear in {key}");
        }
    }
    assert!(!data.join("blobs").exists(), "a blob folder in the data folder: {:?}", files_under(&data));
    let kept = files_holding(&data, &needles);
    assert_eq!(kept, Vec::<(std::path::PathBuf, String)>::new(), "the ID card in clear in the data folder");

    // Another node without the blob key file refuses the bucket, which holds sealed blobs.
    let other = dir.path().join("other-node");
    let config_file = dir.path().join("other-node.toml");
    std::fs::write(&config_file, &config).unwrap();
    let refused = Command::new(server_binary())
        .arg("--config")
        .arg(&config_file)
        .arg("--data")
        .arg(&other)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .envs(CREDENTIALS)
        .output()
        .unwrap();
    let words = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a node without the key started on the bucket");
    assert!(words.contains("server-blob.keys is missing but the bucket"), "{words}");
    server.kill();

    // The bucket unreachable (a closed port): the phone's upload is
    // answered 503 with a retryable code, and nothing is kept.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let closed =
        format!("blobs = \"s3://{bucket}/node-data?endpoint=http://127.0.0.1:{port}&path_style=true\"\n");
    let server = ServerProcess::start_with_env(&data, "127.0.0.1:0", &closed, &CREDENTIALS);
    let li = HostilePhone::enrol(&server, "li", "li-phone");
    let photo = b"\xff\xd8\xff\xe0 li's photo".repeat(100);
    let sha = BlobHash::of(&photo);
    let (status, answer) = li.put_blob(sha.as_str(), 0, photo.len(), &photo[..1000]);
    assert_eq!((status, answer["error"].as_str()), (503, Some("storage_unavailable")), "{answer}");
    // The bucket back, on the same address: li's upload starts from 0.
    let addr = server.addr();
    server.kill();
    let _server = ServerProcess::start_with_env(&data, &addr, &config, &CREDENTIALS);
    let (status, answer) = li.blob_status(sha.as_str());
    assert_eq!((status, answer["received"].as_u64()), (200, Some(0)), "{answer}");
    assert!(objects(&endpoint, &bucket, "node-data/partial/").is_empty(), "a segment was kept");
}

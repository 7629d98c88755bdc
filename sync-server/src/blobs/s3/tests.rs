//! The blob engines' tests. The cases the phone relies on run on both
//! engines: the local folder always, and the S3 engine on a bucket of
//! their own on the S3-compatible server `POSFIELD_TEST_S3` names (moto,
//! started by `scripts/test` through `scripts/lib.sh`'s `moto_start`).
//! Without it the S3 half says in one line that it was not tested, and
//! fails when `CI` is set.

use std::path::Path;

use super::super::{BlobStorage, Collected};

use super::*;
use crate::blob_key::BlobKeys;
use crate::blobs::{BlobDir, Blobs, collect_unreferenced};
use crate::store::Store;

/// The largest blob of these tests.
const MAX: u64 = 1 << 20;

fn body(bytes: &[u8]) -> axum::body::BodyDataStream {
    axum::body::Body::from(bytes.to_vec()).into_data_stream()
}

/// A body whose connection is cut after `bytes`.
fn cut_after(bytes: &[u8]) -> axum::body::BodyDataStream {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(bytes.to_vec()), Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut"))];
    axum::body::Body::from_stream(futures::stream::iter(pieces)).into_data_stream()
}

/// A photo-like blob of `len` bytes that do not repeat.
fn photo(seed: u8, len: usize) -> Vec<u8> {
    let mut bytes = b"\xff\xd8\xff\xe0 a site photo ".to_vec();
    let mut x = u32::from(seed) + 1;
    while bytes.len() < len {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        bytes.push((x >> 16) as u8);
    }
    bytes
}

/// The bucket `name` on the test S3 server, made for this test, or `None`
/// when `POSFIELD_TEST_S3` is unset (a failure when `CI` is set).
async fn test_bucket(name: &str) -> Option<S3Config> {
    let Some(endpoint) = std::env::var("POSFIELD_TEST_S3").ok().filter(|v| !v.is_empty()) else {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        assert!(
            !ci,
            "POSFIELD_TEST_S3 is not set: the S3 engine's tests need an S3-compatible server (scripts/lib.sh's moto_start)"
        );
        // Once per run, and past the test harness's capture of passing tests' output.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            let line = "S3 was not tested: POSFIELD_TEST_S3 is unset (scripts/lib.sh's moto_start sets it)\n";
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        });
        return None;
    };
    let bucket = format!("{name}-{}", hex::encode(crate::auth::random_bytes::<4>()));
    let config = S3Config::parse(&format!(
        "s3://{bucket}/node-data?endpoint={endpoint}&region=us-east-1&path_style=true"
    ))
    .unwrap();
    let style = UrlStyle::Path;
    let target = Bucket::new(config.endpoint.clone(), style, bucket.clone(), "us-east-1").unwrap();
    let credentials = test_credentials();
    let url = target.create_bucket(&credentials).sign(SIGNED_FOR);
    let made =
        reqwest::Client::new().put(url).header(reqwest::header::CONTENT_LENGTH, 0).send().await.unwrap();
    assert!(made.status().is_success(), "creating bucket {bucket}: {}", made.status());
    Some(config)
}

fn test_credentials() -> Credentials {
    Credentials::new("posfield-test", "posfield-test-secret")
}

/// Two server nodes sharing one store of blobs (one folder, or one
/// bucket), each with its own engine and the same blob key file.
struct Nodes {
    first: Blobs,
    second: Blobs,
    _dir: tempfile::TempDir,
}

impl Nodes {
    fn engine(&self) -> &'static str {
        self.first.engine()
    }

    /// Every stored file or object, by its name under the blob root or prefix.
    async fn stored(&self) -> Vec<String> {
        match &self.first {
            Blobs::Local(dir) => {
                let mut found = Vec::new();
                let mut folders = vec![dir.root.clone()];
                while let Some(folder) = folders.pop() {
                    for entry in std::fs::read_dir(folder).unwrap().flatten() {
                        if entry.file_type().unwrap().is_dir() {
                            folders.push(entry.path());
                        } else {
                            let name = entry.path().strip_prefix(&dir.root).unwrap().display().to_string();
                            found.push(name);
                        }
                    }
                }
                found.sort();
                found
            }
            Blobs::S3(bucket) => bucket.list("", None).await.unwrap().into_iter().map(|o| o.key).collect(),
        }
    }

    /// Replaces the stored whole blob `sha` with `bytes`.
    async fn overwrite(&self, sha: &BlobHash, bytes: Vec<u8>) {
        match &self.first {
            Blobs::Local(dir) => std::fs::write(dir.path(sha), bytes).unwrap(),
            Blobs::S3(bucket) => bucket.put(&blob_key(sha), bytes).await.unwrap(),
        }
    }

    /// The stored whole blob `sha` as it is at rest.
    async fn at_rest(&self, sha: &BlobHash) -> Vec<u8> {
        match &self.first {
            Blobs::Local(dir) => std::fs::read(dir.path(sha)).unwrap(),
            Blobs::S3(bucket) => {
                bucket.get(&blob_key(sha), None).await.unwrap().unwrap().bytes().await.unwrap().to_vec()
            }
        }
    }
}

/// The blob key file two nodes share, in `dir`.
fn shared_keys(dir: &Path) -> BlobKeys {
    crate::blob_key::load_or_create(dir, &dir.join("blobs")).unwrap()
}

/// The local engine's two nodes, and the S3 engine's when a test server is
/// there: the engines every case runs on.
async fn engines(name: &str) -> Vec<Nodes> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let local = |dir: &Path| Blobs::Local(BlobDir::open(&root, shared_keys(dir), true, MAX).unwrap());
    let mut all = vec![Nodes { first: local(dir.path()), second: local(dir.path()), _dir: dir }];
    if let Some(config) = test_bucket(name).await {
        let dir = tempfile::tempdir().unwrap();
        let node = |dir: &Path| {
            Blobs::S3(S3Blobs::open(&config, test_credentials(), shared_keys(dir), MAX).unwrap())
        };
        all.push(Nodes { first: node(dir.path()), second: node(dir.path()), _dir: dir });
    }
    all
}

#[tokio::test]
async fn a_whole_upload_is_stored_sealed_and_reads_back() {
    for nodes in engines("whole").await {
        let engine = nodes.engine();
        let bytes = photo(1, 150_000);
        let sha = BlobHash::of(&bytes);
        let total = bytes.len() as u64;
        let started = std::time::Instant::now();
        let done = nodes.first.append(&sha, "wang", false, 0, total, MAX, body(&bytes)).await.unwrap();
        eprintln!("{engine}: a 150 KB photo uploaded in {} ms", started.elapsed().as_millis());
        assert_eq!(done, UploadStatus { complete: true, received: total }, "{engine}");
        let started = std::time::Instant::now();
        assert_eq!(nodes.first.read(&sha).await.unwrap(), bytes, "{engine}");
        eprintln!("{engine}: a 150 KB photo read in {} ms", started.elapsed().as_millis());
        assert_eq!(nodes.second.read(&sha).await.unwrap(), bytes, "{engine}: another node reads it");
        let stored = nodes.at_rest(&sha).await;
        assert!(crate::blob_key::is_sealed(&stored), "{engine}");
        assert_eq!(stored.len(), bytes.len() + OVERHEAD, "{engine}");
        assert!(!stored.windows(64).any(|w| w == &bytes[5000..5064]), "{engine}: no plain stretch at rest");
        // One object or file, the blob: no partial left.
        let stored = nodes.stored().await;
        assert_eq!(stored.len(), 1, "{engine}: {stored:?}");
        assert!(stored[0].ends_with(sha.as_str()), "{engine}: {stored:?}");
        let known = nodes.second.status(&sha, "wang", true).await.unwrap();
        assert_eq!(known, UploadStatus { complete: true, received: total }, "{engine}");
        let unknown = nodes.second.status(&sha, "li", false).await.unwrap();
        assert_eq!(unknown, UploadStatus { complete: false, received: 0 }, "{engine}: li may not learn it");
        assert!(matches!(nodes.first.read(&BlobHash::of(b"none")).await, Err(BlobError::Missing(_))));
    }
}

#[tokio::test]
async fn an_upload_cut_on_one_node_is_resumed_and_finished_on_another() {
    for nodes in engines("resume").await {
        let engine = nodes.engine();
        let bytes = photo(2, 150_000);
        let sha = BlobHash::of(&bytes);
        let total = bytes.len() as u64;
        // The connection is cut after 60 000 bytes reached the first node.
        let cut = nodes.first.append(&sha, "wang", false, 0, total, MAX, cut_after(&bytes[..60_000])).await;
        assert_eq!(cut.unwrap(), UploadStatus { complete: false, received: 60_000 }, "{engine}");
        // The phone asks the second node where to resume, and finishes there.
        let status = nodes.second.status(&sha, "wang", false).await.unwrap();
        assert_eq!(status, UploadStatus { complete: false, received: 60_000 }, "{engine}");
        // From 0 again, or past what is stored, is refused: the phone asks and resumes.
        for offset in [0, 70_000] {
            let refused =
                nodes.second.append(&sha, "wang", false, offset, total, MAX, body(&bytes[..10])).await;
            assert_eq!(refused.unwrap_err().code, "wrong_offset", "{engine}: offset {offset}");
        }
        let rest = body(&bytes[60_000..]);
        let done = nodes.second.append(&sha, "wang", false, 60_000, total, MAX, rest).await.unwrap();
        assert_eq!(done, UploadStatus { complete: true, received: total }, "{engine}");
        assert_eq!(nodes.first.read(&sha).await.unwrap(), bytes, "{engine}");
        assert_eq!(nodes.stored().await.len(), 1, "{engine}: the pieces are gone");
    }
}

#[tokio::test]
async fn a_wrong_hash_is_refused_and_leaves_nothing() {
    for nodes in engines("mismatch").await {
        let engine = nodes.engine();
        let bytes = photo(3, 20_000);
        let claimed = BlobHash::of(b"another photo");
        let total = bytes.len() as u64;
        nodes.first.append(&claimed, "wang", false, 0, total, MAX, body(&bytes[..8000])).await.unwrap();
        let refused =
            nodes.second.append(&claimed, "wang", false, 8000, total, MAX, body(&bytes[8000..])).await;
        assert_eq!(refused.unwrap_err().code, "hash_mismatch", "{engine}");
        assert_eq!(nodes.stored().await, Vec::<String>::new(), "{engine}");
        let status = nodes.first.status(&claimed, "wang", true).await.unwrap();
        assert_eq!(status, UploadStatus { complete: false, received: 0 }, "{engine}");
        assert!(matches!(nodes.first.read(&claimed).await, Err(BlobError::Missing(_))), "{engine}");
    }
}

#[tokio::test]
async fn a_blob_too_large_is_refused_before_anything_is_stored() {
    for nodes in engines("large").await {
        let engine = nodes.engine();
        let sha = BlobHash::of(b"large");
        let refused = nodes.first.append(&sha, "wang", false, 0, MAX + 1, MAX, body(&[0u8; 1000])).await;
        let refused = refused.unwrap_err();
        assert_eq!((refused.status.as_u16(), refused.code), (413, "blob_too_large"), "{engine}");
        assert!(refused.message.contains(&(MAX + 1).to_string()), "{engine}: {}", refused.message);
        // A body longer than it declared is refused too, and drops the upload.
        let long = nodes.first.append(&sha, "wang", false, 0, 100, MAX, body(&[0u8; 101])).await;
        assert_eq!(long.unwrap_err().code, "blob_too_long", "{engine}");
        assert_eq!(nodes.stored().await, Vec::<String>::new(), "{engine}");
    }
}

/// Each damage to a stored blob, and that no byte of it is served.
#[tokio::test]
async fn a_tampered_blob_is_refused_never_served() {
    for nodes in engines("tamper").await {
        let engine = nodes.engine();
        let bytes = photo(4, 5000);
        let sha = BlobHash::of(&bytes);
        let total = bytes.len() as u64;
        nodes.first.append(&sha, "wang", false, 0, total, MAX, body(&bytes)).await.unwrap();
        let other = photo(5, 5000);
        let other_sha = BlobHash::of(&other);
        nodes.first.append(&other_sha, "wang", false, 0, 5000, MAX, body(&other)).await.unwrap();
        let sealed = nodes.at_rest(&sha).await;
        let with = |change: &dyn Fn(&mut Vec<u8>)| {
            let mut damaged = sealed.clone();
            change(&mut damaged);
            damaged
        };
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("a flipped ciphertext byte", with(&|b| b[500] ^= 1), "tag does not match"),
            ("a flipped magic byte", with(&|b| b[1] ^= 1), "neither sealed nor its plain bytes"),
            ("another key id", with(&|b| b[8] ^= 1), "not in the blob key file"),
            ("cut short", with(&|b| b.truncate(2000)), "tag does not match"),
            ("another blob's sealed object", nodes.at_rest(&other_sha).await, "tag does not match"),
            ("the plain bytes of another blob", other.clone(), "neither sealed nor its plain bytes"),
            ("larger than any blob", vec![0u8; MAX as usize + OVERHEAD + 1], "more than a blob"),
        ];
        for (what, damaged, words) in cases {
            nodes.overwrite(&sha, damaged).await;
            let error = nodes.second.read(&sha).await.expect_err(what);
            assert!(error.to_string().contains(words), "{engine}, {what}: {error}");
            assert!(error.to_string().contains(sha.as_str()), "{engine}, {what}: names the blob: {error}");
        }
        // The plain bytes themselves are still read (a blob of an older server).
        nodes.overwrite(&sha, bytes.clone()).await;
        assert_eq!(nodes.second.read(&sha).await.unwrap(), bytes, "{engine}");
    }
}

#[tokio::test]
async fn another_uploaders_partial_upload_is_untouched_by_a_failing_upload() {
    for nodes in engines("uploaders").await {
        let engine = nodes.engine();
        let bytes = photo(6, 3000);
        let sha = BlobHash::of(&bytes);
        nodes.first.append(&sha, "wang", false, 0, 3000, MAX, body(&bytes[..1200])).await.unwrap();
        // li's over-long body, li's wrong offset, li's wrong bytes: each
        // fails on li's own upload.
        let long = nodes.second.append(&sha, "li", false, 0, 3000, MAX, body(&[0u8; 3001])).await;
        assert_eq!(long.unwrap_err().code, "blob_too_long", "{engine}");
        let offset = nodes.second.append(&sha, "li", false, 1200, 3000, MAX, body(&[0u8; 10])).await;
        assert_eq!(offset.unwrap_err().code, "wrong_offset", "{engine}");
        let wrong = nodes.second.append(&sha, "li", false, 0, 3000, MAX, body(&[0u8; 3000])).await;
        assert_eq!(wrong.unwrap_err().code, "hash_mismatch", "{engine}");
        assert_eq!(
            nodes.second.status(&sha, "wang", false).await.unwrap(),
            UploadStatus { complete: false, received: 1200 },
            "{engine}"
        );
        assert_eq!(
            nodes.first.status(&sha, "li", false).await.unwrap(),
            UploadStatus { complete: false, received: 0 },
            "{engine}"
        );
        let done = nodes.second.append(&sha, "wang", false, 1200, 3000, MAX, body(&bytes[1200..])).await;
        assert_eq!(done.unwrap(), UploadStatus { complete: true, received: 3000 }, "{engine}");
        assert_eq!(nodes.first.read(&sha).await.unwrap(), bytes, "{engine}");
    }
}

#[tokio::test]
async fn stale_partial_uploads_and_unreferenced_blobs_are_collected() {
    for nodes in engines("collect").await {
        let engine = nodes.engine();
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("posfield.db")).unwrap();
        let orphan = photo(7, 2000);
        let orphan_sha = BlobHash::of(&orphan);
        nodes.first.append(&orphan_sha, "wang", false, 0, 2000, MAX, body(&orphan)).await.unwrap();
        store.blob_received(orphan_sha.as_str(), 2000, "wang").await.unwrap();
        let partial = BlobHash::of(b"a photo cut short");
        nodes.first.append(&partial, "li", false, 0, 5000, MAX, body(&[1u8; 700])).await.unwrap();
        nodes.second.append(&partial, "li", false, 700, 5000, MAX, body(&[1u8; 300])).await.unwrap();
        let now = crate::clock::now();
        let grace = 7 * 24 * 3600;
        let early = collect_unreferenced(&nodes.second, &store, now + grace - 3600, grace).await.unwrap();
        assert_eq!(early, Collected::default(), "{engine}: within the grace nothing goes");
        assert_eq!(nodes.first.status(&partial, "li", false).await.unwrap().received, 1000, "{engine}");
        let late = collect_unreferenced(&nodes.second, &store, now + grace + 3600, grace).await.unwrap();
        // The local engine's partial upload is one file, the S3 engine's two segments.
        let pieces = if engine == "s3" { 2 } else { 1 };
        assert_eq!(late, Collected { partials: pieces, blobs: 1 }, "{engine}");
        assert_eq!(nodes.stored().await, Vec::<String>::new(), "{engine}");
        assert_eq!(nodes.first.status(&partial, "li", false).await.unwrap().received, 0, "{engine}");
    }
}

/// An engine whose bucket is a closed port of 127.0.0.1.
fn closed_bucket() -> S3Blobs {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = S3Config::parse(&format!(
        "s3://closed/prefix?endpoint=http://127.0.0.1:{port}&region=us-east-1&path_style=true"
    ))
    .unwrap();
    S3Blobs::open(&config, test_credentials(), BlobKeys::generate(), MAX).unwrap()
}

#[tokio::test]
async fn an_unreachable_bucket_answers_503_retryable_and_names_it() {
    let closed = Blobs::S3(closed_bucket());
    let sha = BlobHash::of(b"a photo");
    let refused = closed.append(&sha, "wang", false, 0, 7, MAX, body(b"a photo")).await.unwrap_err();
    assert_eq!((refused.status.as_u16(), refused.code), (503, "storage_unavailable"));
    assert_eq!(refused.retry_after_secs, Some(RETRY_AFTER_SECS));
    let status = closed.status(&sha, "wang", true).await.unwrap_err();
    assert_eq!(status.code, "storage_unavailable");
    let read = closed.read(&sha).await.unwrap_err();
    let words = read.to_string();
    assert!(words.contains("the bucket closed") && words.contains("cannot be reached"), "{words}");
    assert!(!words.contains("X-Amz"), "no signed URL in the words: {words}");
    assert_eq!(crate::error::ApiError::from(read).code, "storage_unavailable");
}

#[tokio::test]
async fn a_bucket_lost_between_two_pieces_leaves_nothing_half_written() {
    let Some(config) = test_bucket("lost").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let node = S3Blobs::open(&config, test_credentials(), shared_keys(dir.path()), MAX).unwrap();
    let bytes = photo(8, 150_000);
    let sha = BlobHash::of(&bytes);
    let total = bytes.len() as u64;
    node.append(&sha, "wang", false, 0, total, MAX, body(&bytes[..50_000])).await.unwrap();
    // The rest reaches a node whose bucket cannot be reached.
    let closed = closed_bucket();
    let lost = closed.append(&sha, "wang", false, 50_000, total, MAX, body(&bytes[50_000..])).await;
    assert_eq!(lost.unwrap_err().code, "storage_unavailable");
    assert_eq!(
        node.status(&sha, "wang", true).await.unwrap(),
        UploadStatus { complete: false, received: 50_000 }
    );
    assert!(matches!(node.read(&sha).await, Err(BlobError::Missing(_))));
    let done = node.append(&sha, "wang", false, 50_000, total, MAX, body(&bytes[50_000..])).await.unwrap();
    assert_eq!(done, UploadStatus { complete: true, received: total });
}

#[tokio::test]
async fn overlapping_segments_are_trimmed_and_a_gap_ends_what_was_received() {
    let Some(config) = test_bucket("overlap").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let node = S3Blobs::open(&config, test_credentials(), shared_keys(dir.path()), MAX).unwrap();
    let bytes = photo(9, 1000);
    let sha = BlobHash::of(&bytes);
    let folder = segments_of(&sha, "wang");
    let put_piece = |start: usize, end: usize| {
        let key = format!("{folder}{start:020}");
        let sealed = node.keys().seal(key.as_bytes(), &bytes[start..end]);
        let node = node.clone();
        async move { node.put(&key, sealed).await.unwrap() }
    };
    // Two racing requests left 0..400 and 300..600; one past a gap, 800..1000.
    put_piece(0, 400).await;
    put_piece(300, 600).await;
    put_piece(800, 1000).await;
    assert_eq!(node.status(&sha, "wang", false).await.unwrap().received, 600);
    // A segment moved under another offset does not open: the upload starts again.
    let moved = format!("{folder}{:020}", 600);
    let sealed = node.keys().seal(format!("{folder}{:020}", 0).as_bytes(), &bytes[600..800]);
    node.put(&moved, sealed).await.unwrap();
    // Its length counts in the listing, so the phone sends what it thinks
    // is left (nothing); the join opens each segment and refuses.
    assert_eq!(node.status(&sha, "wang", false).await.unwrap().received, 1000);
    let refused = node.append(&sha, "wang", false, 1000, 1000, MAX, body(b"")).await;
    assert_eq!(refused.unwrap_err().code, "internal");
    assert_eq!(node.status(&sha, "wang", false).await.unwrap().received, 0);
    // Honest pieces, overlapping, join into the blob.
    put_piece(0, 400).await;
    put_piece(300, 700).await;
    let done = node.append(&sha, "wang", false, 700, 1000, MAX, body(&bytes[700..])).await.unwrap();
    assert_eq!(done, UploadStatus { complete: true, received: 1000 });
    assert_eq!(node.read(&sha).await.unwrap(), bytes);
    assert!(node.list("partial/", None).await.unwrap().is_empty());
}

#[test]
fn what_was_received_is_the_contiguous_length_from_zero() {
    let segment = |offset: u64, len: u64| Segment { offset, len, key: String::new() };
    assert_eq!(contiguous(&[]), 0);
    assert_eq!(contiguous(&[segment(0, 100), segment(100, 50)]), 150);
    assert_eq!(contiguous(&[segment(0, 100), segment(60, 100)]), 160, "an overlap counts once");
    assert_eq!(contiguous(&[segment(0, 100), segment(20, 30)]), 100, "one inside another adds nothing");
    assert_eq!(contiguous(&[segment(0, 100), segment(150, 50)]), 100, "past a gap does not count");
    assert_eq!(contiguous(&[segment(10, 100)]), 0, "nothing from 0");
}

#[test]
fn the_blobs_setting_names_a_bucket_of_any_s3_compatible_service() {
    let aws = BlobStorage::parse("s3://posfield-photos").unwrap();
    let BlobStorage::S3(aws) = aws else { panic!("an s3:// address is the S3 engine") };
    assert_eq!(aws.endpoint.as_str(), "https://s3.us-east-1.amazonaws.com/");
    assert_eq!((aws.region.as_str(), aws.prefix.as_str(), aws.path_style), ("us-east-1", "", false));
    let oss = S3Config::parse(
        "s3://posfield-photos/prod/blobs?endpoint=https://s3.oss-cn-hangzhou.aliyuncs.com&region=cn-hangzhou",
    )
    .unwrap();
    assert_eq!(oss.prefix, "prod/blobs/");
    assert!(!oss.path_style && !oss.plain_http_elsewhere());
    let cos = S3Config::parse(
        "s3://photos-1250000000?endpoint=https://cos.ap-guangzhou.myqcloud.com&region=ap-guangzhou",
    )
    .unwrap();
    assert_eq!(cos.bucket, "photos-1250000000");
    let minio = S3Config::parse("s3://photos?endpoint=http://10.0.0.5:9000&region=us-east-1&path_style=true")
        .unwrap();
    assert!(minio.path_style && minio.plain_http_elsewhere(), "plain HTTP to another machine is warned of");
    let local = S3Config::parse("s3://photos?endpoint=http://127.0.0.1:9000&path_style=true").unwrap();
    assert!(!local.plain_http_elsewhere(), "loopback is not");
    assert_eq!(BlobStorage::parse("local").unwrap(), BlobStorage::Local);
    let climbing = S3Config::parse("s3://photos/a/../../up").unwrap();
    assert_eq!(climbing.prefix, "up/", "a prefix does not climb out of the bucket");
    let virtual_host_on_ip = S3Blobs::open(
        &S3Config { path_style: false, ..minio },
        test_credentials(),
        BlobKeys::generate(),
        MAX,
    );
    assert!(virtual_host_on_ip.unwrap_err().to_string().contains("path_style=true"));
    for (text, words) in [
        ("https://bucket", "not s3"),
        ("s3://key:secret@bucket", "credentials do not belong"),
        ("s3://Bucket_Name", "\"Bucket_Name\" is not a bucket name"),
        ("s3://ab", "\"ab\" is not a bucket name"),
        ("s3://bucket/my photos", "\"my%20photos\""),
        ("s3://bucket?endpont=https://x", "unknown parameter \"endpont\""),
        ("s3://bucket?region=a&region=b", "given twice"),
        ("s3://bucket?endpoint=ftp://x", "\"ftp://x\" is not an http"),
        ("s3://bucket?path_style=yes", "\"yes\", not true or false"),
        ("s3://bucket?region=us east", "\"us east\""),
    ] {
        let error = BlobStorage::parse(text).unwrap_err().to_string();
        assert!(error.contains(words), "{text}: {error}");
        assert!(!error.contains("secret"), "{text}: the words never repeat a secret: {error}");
    }
}

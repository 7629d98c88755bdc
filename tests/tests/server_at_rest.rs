//! The server's blobs at rest: photos and signatures are sealed with a key
//! in a file of its own, so no file of the server's data folder (the blob
//! folder, the thumbnails, the database and its `-wal`, the partial
//! uploads) holds a merchant's ID card photo in clear, while the back
//! office still shows it and the certificate still carries the signature.
//! Plain blobs of an older server are sealed at its next start, and a
//! rotated key seals new blobs while the old one still opens the old.
//! A real server process, its command line, and a real agent core.

use std::path::{Path, PathBuf};

use posfield_core::Agent;
use posfield_e2e::hostile::Desk;
use posfield_e2e::search::{files_holding, stretches};
use posfield_e2e::story::{open, repair_visit_with_photos};
use posfield_e2e::{ServerProcess, server_cli};
use posfield_shared::vocab::DocumentKind;
use posfield_shared::{BlobHash, VisitId};

/// A signed repair visit with an ID card photo made from test photo
/// `id_photo`, synced; its id, the ID card's hash and plain bytes.
fn visit_with_id_card(wang: &mut Agent, id_photo: &str) -> (VisitId, BlobHash, Vec<u8>) {
    let id = repair_visit_with_photos(wang, "code128-1/1.png", &[(id_photo, DocumentKind::IdCard)]);
    let visit = wang.visit(&id).unwrap();
    let card = visit.documents.iter().find(|d| d.kind.known() == Some(DocumentKind::IdCard)).unwrap();
    let sha = BlobHash::parse(&card.sha256).unwrap();
    let bytes = wang.photo_bytes(&id, &sha).unwrap();
    wang.sync(&mut |_| {}).unwrap();
    (id, sha, bytes)
}

/// The key id in a sealed blob file's header.
fn key_id_of(data: &Path, sha: &BlobHash) -> [u8; 4] {
    let file = std::fs::read(data.join("blobs").join(&sha.as_str()[..2]).join(sha.as_str())).unwrap();
    assert!(file.starts_with(b"PFSEAL"), "blob {sha} is not sealed");
    file[7..11].try_into().unwrap()
}

#[test]
fn no_file_of_the_server_holds_an_id_photo_in_clear_and_the_back_office_still_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let mut wang = open(&dir.path().join("wang"));

    // An older server's way: blobs stored plain. The search finds the photo.
    let server = ServerProcess::start_configured(&data, "127.0.0.1:0", "blob_encryption = false\n");
    server.add_user("chen", "reviewer");
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    let (first, first_card, first_bytes) = visit_with_id_card(&mut wang, "code128-1/2.png");
    server.kill();
    let plain = files_holding(&data, &stretches("first ID card", &first_bytes));
    assert!(!plain.is_empty(), "the search does not find a plain blob");

    // Sealing on (the default): the plain blob is sealed at start.
    let server = ServerProcess::start(&data);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !files_holding(&data.join("blobs"), &stretches("first ID card", &first_bytes)).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the plain blob was not sealed at start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let first_key = key_id_of(&data, &first_card);
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    let (second, second_card, second_bytes) = visit_with_id_card(&mut wang, "code128-1/3.png");
    assert_eq!(key_id_of(&data, &second_card), first_key);
    server.kill();

    // A rotated key seals new blobs; the old key still opens the old ones.
    let rotated = server_cli(&data, &["rotate-blob-key"]);
    assert!(rotated.starts_with("new blob key"), "{rotated}");
    let server = ServerProcess::start(&data);
    wang.enroll(&server.base, &server.enrolment_code("wang"), "华为 Mate 60").unwrap();
    let (third, third_card, third_bytes) = visit_with_id_card(&mut wang, "code128-1/4.png");
    assert_ne!(key_id_of(&data, &third_card), first_key, "the new blob is sealed under the old key");

    // The back office shows each photo whole and as a thumbnail, and each
    // certificate carries the signature's image.
    let chen = Desk::sign_in(&server, "chen");
    let mut needles = Vec::new();
    for (id, sha, bytes) in [
        (&first, &first_card, &first_bytes),
        (&second, &second_card, &second_bytes),
        (&third, &third_card, &third_bytes),
    ] {
        let (status, shown) = chen.get_bytes(&format!("office/blobs/{sha}"));
        assert_eq!(status, 200, "{sha}");
        assert!(shown == *bytes, "the back office shows other bytes than the phone took for {sha}");
        let (status, thumbnail) = chen.get_bytes(&format!("office/blobs/{sha}?w=320"));
        assert_eq!(status, 200, "{sha}");
        assert!(thumbnail.starts_with(&[0xff, 0xd8]), "a thumbnail is a JPEG");
        // Asked twice: the second comes from the kept (sealed) thumbnail.
        assert_eq!(chen.get_bytes(&format!("office/blobs/{sha}?w=320")).1, thumbnail);
        let (status, pdf) = chen.get_bytes(&format!("office/visits/{id}/certificate.pdf"));
        assert_eq!(status, 200, "{id}");
        let pdf_text = String::from_utf8_lossy(&pdf);
        assert!(pdf_text.contains("/Subtype /Image"), "the certificate of {id} has no signature image");
        let visit = wang.visit(id).unwrap();
        let signature = BlobHash::parse(&visit.acceptance.unwrap().signature.sha256).unwrap();
        needles.extend(stretches(&format!("ID card {sha}"), bytes));
        needles.extend(stretches(&format!("thumbnail of {sha}"), &thumbnail));
        needles.extend(stretches("the signature image", &wang.photo_bytes(id, &signature).unwrap()));
    }
    server.kill();

    // Every file of the data folder: blobs, thumbnails, partial uploads,
    // the database, its -wal and -shm, the keys.
    let found = files_holding(&data, &needles);
    assert_eq!(found, Vec::<(PathBuf, String)>::new(), "personal data in clear in the server's data folder");
    let thumbnails = std::fs::read_dir(data.join("office-thumbs")).unwrap().count();
    assert!(thumbnails >= 3, "the thumbnails were kept ({thumbnails}), sealed");

    // The keys are in their own file and nowhere else.
    let keys = std::fs::read_to_string(data.join("server-blob.keys")).unwrap();
    assert_eq!(keys.lines().count(), 2, "the first key and the rotated one: {}", keys.len());
    let mut key_needles = Vec::new();
    for line in keys.lines() {
        let (_, key) = line.split_once(' ').unwrap();
        key_needles.push(("a blob key in hex".to_owned(), key.as_bytes().to_vec()));
        key_needles.push(("a blob key's bytes".to_owned(), hex::decode(key).unwrap()));
    }
    let holding: Vec<PathBuf> =
        files_holding(&data, &key_needles).into_iter().map(|(path, _)| path).collect();
    assert!(
        holding.iter().all(|path| path.ends_with("server-blob.keys")),
        "a blob key outside its file: {holding:?}"
    );
}

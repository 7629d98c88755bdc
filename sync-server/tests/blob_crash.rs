//! A server stopped between storing a photo whole and recording it: the
//! photo is in the blob store, the database does not count it, and the
//! phone asking where its upload stands is told it is complete, so it
//! never sends the photo again. Asking records it, and the visit waiting
//! for it is complete (on SQLite, and on PostgreSQL when
//! `POSFIELD_TEST_POSTGRES` names a server).
//!
//! The crash's window is made here in-process (the blob written through
//! the blob store alone, as the upload route does before recording it),
//! since a SIGKILL lands in it only by chance:
//! `tests/tests/faults.rs`'s killed server found it so.

mod common;

use posfield_shared::protocol::{PUSH_MEDIA_TYPE, PushRequest, PushedVisit, encode_cbor};
use posfield_shared::visit::{BlobInfo, Ctx, MerchantInput, VisitDoc};
use posfield_shared::vocab::DocumentKind;
use posfield_shared::{Actor, Timestamp, VisitKind};
use posfield_sync_server::auth::{self, UserRole};
use posfield_sync_server::blobs::check_sha;
use posfield_sync_server::config::Config;
use sha2::{Digest, Sha256};

const PASSWORD: &str = "correct horse battery";
const KEY: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_stored_but_not_recorded_before_a_crash_counts_once_the_phone_asks_about_it() {
    for database in common::engines("blob_crash").await {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data: dir.path().to_owned(),
            listen: "127.0.0.1:0".parse().unwrap(),
            database,
            database_pool_size: 2,
            ..Config::default()
        };
        let running = posfield_sync_server::start(config, false).await.unwrap();
        let state = running.state.clone();
        let store = state.store.as_ref();
        auth::add_user(store, "chen", UserRole::Reviewer, PASSWORD).await.unwrap();
        let code = auth::issue_enrolment_code(store, "wang").await.unwrap();
        let now = posfield_sync_server::clock::now();
        let token = auth::enrol(store, &code, "phone-a", "phone", KEY, now).await.unwrap().token;
        let base = format!("http://{}", running.addr);
        let http = reqwest::Client::new();

        // Wang's visit, referring to a photo, reaches the server first.
        let photo: Vec<u8> = (0..50_000u32).map(|i| (i * 13 % 251) as u8).collect();
        let sha = hex::encode(Sha256::digest(&photo));
        let visit = uuid::Uuid::now_v7().to_string();
        let ctx = Ctx::new(Actor::agent("wang", "phone-a"), Timestamp(1_795_000_000_000), "op-1");
        let merchant = MerchantInput { name: "老王便利店".into(), ..MerchantInput::default() };
        let mut doc =
            VisitDoc::create_visit(&ctx, b"phone-a", &visit, VisitKind::Inspection, &merchant, "wang")
                .unwrap();
        let info = BlobInfo {
            sha256: sha.clone(),
            mime: "image/jpeg".into(),
            bytes: photo.len() as u64,
            width: 1,
            height: 1,
        };
        doc.attach_document(&ctx, &info, DocumentKind::BusinessLicence, ctx.at).unwrap();
        let pushed = PushedVisit { id: visit.clone(), base: Vec::new(), bytes: doc.save().into() };
        let response = http
            .post(format!("{base}/api/v1/sync/push"))
            .bearer_auth(&token)
            .header("content-type", PUSH_MEDIA_TYPE)
            .body(encode_cbor(&PushRequest { visits: vec![pushed] }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let missing = || async {
            let office = http.get(format!("{base}/api/v1/office/visits/{visit}"));
            json(office.basic_auth("chen", Some(PASSWORD))).await["blobs_missing"].clone()
        };
        assert_eq!(missing().await, 1);

        // The photo stored whole, and the server stopped before recording it.
        let hash = check_sha(&sha).unwrap();
        let body = axum::body::Body::from(photo.clone()).into_data_stream();
        let max = state.config.max_blob_bytes;
        let stored =
            state.blobs.append(&hash, "wang", false, 0, photo.len() as u64, max, body).await.unwrap();
        assert!(stored.complete);
        assert_eq!(missing().await, 1, "stored, not yet counted");

        // The phone resumes its upload by asking where it stands: complete,
        // and from now on counted.
        let status = json(http.get(format!("{base}/api/v1/blobs/{sha}/status")).bearer_auth(&token)).await;
        assert_eq!(status, serde_json::json!({ "complete": true, "received": photo.len() }));
        assert_eq!(missing().await, 0, "the photo the phone was told is stored counts");
        // Asking again records nothing twice.
        let again = http.get(format!("{base}/api/v1/blobs/{sha}/status")).bearer_auth(&token).send().await;
        assert_eq!(again.unwrap().status(), 200);
        assert_eq!(missing().await, 0);
        running.stop().await.unwrap();
    }
}

/// The JSON answer to `request`.
async fn json(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

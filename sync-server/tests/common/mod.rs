//! What the server's in-process tests share: the engines they run on.

use posfield_sync_server::auth;
use posfield_sync_server::config::DatabaseUrl;

/// The engines a test runs on: the data folder's SQLite file, and a
/// PostgreSQL database of its own on the server `POSFIELD_TEST_POSTGRES`
/// names (`scripts/lib.sh`'s `pg_cluster_start`), named after `what` (a
/// word or two, in snake case). Without that variable the test runs on
/// SQLite alone and says so, or fails when `CI` is set.
pub(crate) async fn engines(what: &str) -> Vec<Option<DatabaseUrl>> {
    let Some(server) = std::env::var("POSFIELD_TEST_POSTGRES").ok().filter(|v| !v.is_empty()) else {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "POSFIELD_TEST_POSTGRES is not set: under CI {what} runs on PostgreSQL too (scripts/test starts one)"
        );
        eprintln!("{what} ran on SQLite only: POSFIELD_TEST_POSTGRES is not set");
        return vec![None];
    };
    let name = format!("posfield_{what}_{}", hex::encode(auth::random_bytes::<8>()));
    let (client, connection) =
        server.parse::<tokio_postgres::Config>().unwrap().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"))
        .await
        .unwrap();
    let (server_path, _) = server.rsplit_once('/').expect("a postgres://HOST/DATABASE URL");
    vec![None, Some(DatabaseUrl::new(format!("{server_path}/{name}")))]
}

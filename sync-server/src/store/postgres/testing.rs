//! Databases for the store's tests on PostgreSQL: each test store gets a
//! database of its own, `posfield_test_<random>`, created in the server
//! `POSFIELD_TEST_POSTGRES` names (a `postgres://` URL of a server where
//! the tests may `CREATE DATABASE`) and dropped when the store is done with,
//! best effort.

use tokio_postgres::NoTls;

use super::PostgresStore;

/// The variable naming the PostgreSQL server the tests use.
pub(crate) const SERVER_VARIABLE: &str = "POSFIELD_TEST_POSTGRES";

/// A database made for one test, dropped with it.
#[derive(Debug)]
pub(crate) struct TestDatabase {
    server: tokio_postgres::Config,
    name: String,
}

impl TestDatabase {
    /// A fresh empty database for a test of the PostgreSQL engine; `None`,
    /// said once, when `POSFIELD_TEST_POSTGRES` is not set. Under CI (the
    /// variable `CI` set) a missing server fails the test instead: the
    /// engine must not pass untested.
    pub(crate) async fn for_test() -> Option<TestDatabase> {
        let database = TestDatabase::create().await;
        if database.is_none() {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{SERVER_VARIABLE} is not set: under CI the store's tests run on PostgreSQL too (scripts/test starts one)"
                );
            }
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                eprintln!("the PostgreSQL engine was not tested: {SERVER_VARIABLE} is not set; SQLite only");
            });
        }
        database
    }

    /// A fresh empty database on the server `POSFIELD_TEST_POSTGRES` names;
    /// `None` when the variable is not set.
    async fn create() -> Option<TestDatabase> {
        let url = std::env::var(SERVER_VARIABLE).ok().filter(|u| !u.is_empty())?;
        let server: tokio_postgres::Config =
            url.parse().unwrap_or_else(|e| panic!("{SERVER_VARIABLE} is not a postgres:// URL: {e}"));
        let name = format!("posfield_test_{}", hex::encode(crate::auth::random_bytes::<8>()));
        let client = connect(&server).await;
        client
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"))
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name} on {SERVER_VARIABLE}'s server: {e}"));
        Some(TestDatabase { server, name })
    }

    /// The connection settings of this database.
    pub(crate) fn config(&self) -> tokio_postgres::Config {
        let mut config = self.server.clone();
        config.dbname(&self.name);
        config
    }

    /// A client of this database.
    pub(crate) async fn client(&self) -> tokio_postgres::Client {
        connect(&self.config()).await
    }

    /// Opens a store on this database (migrating it), with a small pool.
    pub(crate) async fn open(&self) -> Result<PostgresStore, crate::store::StoreError> {
        PostgresStore::connect(self.config(), format!("test database {}", self.name), 4).await
    }
}

/// A client of the database `config` names; its connection runs on the current runtime.
async fn connect(config: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the server {SERVER_VARIABLE} names: {e}"));
    tokio::spawn(connection);
    client
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // On a runtime of its own: the test's may be ending.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async move {
                let (client, connection) = server.connect(NoTls).await.ok()?;
                tokio::spawn(connection);
                client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("test database {} was not dropped", self.name);
        }
    }
}

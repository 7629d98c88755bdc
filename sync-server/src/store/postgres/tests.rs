//! The PostgreSQL engine's own tests: what several server nodes sharing one
//! database rely on, and the refusal of a schema a newer server migrated.

use super::testing::TestDatabase;
use super::{StoreError, known_version};
use crate::store::Store;
use crate::store::tests::{agent, row};

/// What a test can compare to prove the database unchanged: every column
/// of the schema and the migrations' history.
async fn schema_of(client: &tokio_postgres::Client) -> Vec<String> {
    let columns = client
        .query(
            "SELECT table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns
             WHERE table_schema = current_schema() ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let history = client
        .query("SELECT version || ' ' || name FROM refinery_schema_history ORDER BY version", &[])
        .await
        .unwrap();
    columns.iter().chain(&history).map(|r| r.get(0)).collect()
}

/// A database whose schema a newer server migrated is refused before
/// anything is checked or migrated, naming both versions, and left as it was.
#[tokio::test]
async fn a_database_a_newer_server_migrated_is_refused_and_left_as_it_was() {
    let Some(database) = TestDatabase::for_test().await else { return };
    drop(database.open().await.unwrap());
    let client = database.client().await;
    let newer = i32::try_from(known_version() + 1).unwrap();
    client
        .execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES ($1, 'from_a_newer_server', '2030-01-01T00:00:00Z', '0')",
            &[&newer],
        )
        .await
        .unwrap();
    let before = schema_of(&client).await;
    let refused = database.open().await.unwrap_err();
    assert!(
        matches!(refused, StoreError::NewerSchema { found, known } if found == i64::from(newer) && known == known_version()),
        "{refused}"
    );
    let said = refused.to_string();
    assert!(said.contains(&format!("version {newer}, newer than the {}", known_version())), "{said}");
    assert_eq!(schema_of(&client).await, before, "the refused database was changed");
}

/// Two nodes on one database see each other's claims: the first claim of a
/// visit id not projected yet wins on every node, until the projection,
/// written by either, decides and drops it.
#[tokio::test]
async fn a_claim_made_on_one_node_holds_on_another() {
    let Some(database) = TestDatabase::for_test().await else { return };
    let (one, other) = (database.open().await.unwrap(), database.open().await.unwrap());
    assert!(one.reaches_visit(&agent("li"), "v1", true).await.unwrap());
    assert!(!other.reaches_visit(&agent("wang"), "v1", true).await.unwrap(), "li claimed it first");
    assert!(other.reaches_visit(&agent("li"), "v1", false).await.unwrap());
    assert_eq!(other.visit_owner("v1").await.unwrap().as_deref(), Some("li"));

    other.write_projections(vec![row("v1", "li", "zhao", &[])], Vec::new()).await.unwrap();
    let client = database.client().await;
    let claims: i64 = client.query_one("SELECT count(*) FROM visit_claims", &[]).await.unwrap().get(0);
    assert_eq!(claims, 0, "the projection drops the claim");
    assert!(one.reaches_visit(&agent("zhao"), "v1", false).await.unwrap());
    assert!(!one.reaches_visit(&agent("wang"), "v1", true).await.unwrap());
}

/// Two delivery workers on two nodes never take one message together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_take_the_same_message() {
    let Some(database) = TestDatabase::for_test().await else { return };
    let (one, other) = (database.open().await.unwrap(), database.open().await.unwrap());
    let messages = (0..40)
        .map(|n| crate::store::OutboxMessage {
            key: format!("v{n}/approved"),
            event: "visit_approved".into(),
            visit_id: format!("v{n}"),
            recipient: Some("13800000000".into()),
            payload: "{}".into(),
        })
        .collect();
    assert_eq!(one.enqueue_messages(messages).await.unwrap(), 40);
    let now = crate::clock::now();
    let take = |store: super::PostgresStore| {
        tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let taken = store.take_due_messages(now, now + 600, 3).await.unwrap();
                if taken.is_empty() {
                    return ids;
                }
                ids.extend(taken.into_iter().map(|m| m.id));
            }
        })
    };
    let (a, b) = (take(one), take(other));
    let mut ids = a.await.unwrap();
    ids.extend(b.await.unwrap());
    ids.sort_unstable();
    let taken = ids.len();
    ids.dedup();
    assert_eq!((taken, ids.len()), (40, 40), "a message was taken twice or not at all");
}

/// A node starting releases only the messages whose lease ran out: one
/// another node is sending stays its own.
#[tokio::test]
async fn a_node_starting_leaves_the_messages_another_node_is_sending() {
    let Some(database) = TestDatabase::for_test().await else { return };
    let (one, other) = (database.open().await.unwrap(), database.open().await.unwrap());
    let message = |n: u32| crate::store::OutboxMessage {
        key: format!("v{n}/approved"),
        event: "visit_approved".into(),
        visit_id: format!("v{n}"),
        recipient: Some("13800000000".into()),
        payload: "{}".into(),
    };
    one.enqueue_messages(vec![message(1), message(2)]).await.unwrap();
    let now = crate::clock::now();
    assert_eq!(one.take_due_messages(now, now + 600, 1).await.unwrap().len(), 1);
    assert_eq!(one.take_due_messages(now, now + 5, 1).await.unwrap().len(), 1);
    assert_eq!(other.release_sending_messages(now + 1).await.unwrap(), 0, "both leases run");
    assert_eq!(other.release_sending_messages(now + 10).await.unwrap(), 1, "the short lease ran out");
    assert_eq!(other.take_due_messages(now + 10, now + 600, 10).await.unwrap().len(), 1);
}

/// Columns by name.
fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// An import keeps the ids it is given and moves the identity sequences
/// past them, takes 0/1 into a boolean column, refuses a value or a
/// column the schema does not take before anything is sent, and a second
/// import into a database that holds rows is refused.
#[tokio::test]
async fn an_import_keeps_its_ids_moves_the_sequences_on_and_a_second_is_refused() {
    use crate::store::AuditEntry;
    use crate::store::rows::Value::{Integer, Null, Text};
    let Some(database) = TestDatabase::for_test().await else { return };
    let store = database.open().await.unwrap();
    let import = store.import().await.unwrap();
    let audit = columns(&["id", "at", "visit_id", "actor", "action", "detail"]);
    let row =
        |id: i64| vec![Integer(id), Integer(1), Null, Text("cli".into()), Text("x".into()), Text("d".into())];
    import.insert("audit", &audit, &[row(7), row(41)]).await.unwrap();
    let register = columns(&["serial", "state", "imported_at", "sim_shared_plan"]);
    let terminal = vec![Text("N1".into()), Text("installed".into()), Integer(1), Integer(1)];
    import.insert("terminal_register", &register, &[terminal]).await.unwrap();
    let refused = import
        .insert("settings", &columns(&["key", "value"]), &[vec![Text("k".into()), Integer(3)]])
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("settings.value") && refused.contains("an integer"), "{refused}");
    let refused = import.insert("settings", &columns(&["key", "colour"]), &[]).await.unwrap_err().to_string();
    assert!(refused.contains("settings.colour"), "{refused}");
    assert_eq!(import.count("audit").await.unwrap(), 2);
    import.restart_identities().await.unwrap();
    import.commit().await.unwrap();

    store.audit(AuditEntry::new(None, "cli", "after", "the first row a server writes")).await.unwrap();
    let client = database.client().await;
    let ids: Vec<i64> = client
        .query("SELECT id FROM audit ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, vec![7, 41, 42]);
    let shared: bool =
        client.query_one("SELECT sim_shared_plan FROM terminal_register", &[]).await.unwrap().get(0);
    assert!(shared);

    let refused = store.import().await.unwrap_err().to_string();
    assert!(refused.contains("is not empty") && refused.contains("audit"), "{refused}");
}

/// What one node holds of a visit the others wait for, until it lets go
/// (or its session ends); other visits do not wait, and a set is taken
/// whole in id order, so two nodes taking overlapping sets both finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_one_node_holds_waits_on_the_others_until_let_go() {
    use std::time::Duration;
    let Some(database) = TestDatabase::for_test().await else { return };
    let (one, other) = (database.open().await.unwrap(), database.open().await.unwrap());
    let (a, b) = ("visit-a".to_owned(), "visit-b".to_owned());
    let waits = |store: &super::PostgresStore, ids: Vec<String>| {
        let store = store.clone();
        async move {
            tokio::time::timeout(Duration::from_millis(300), async move {
                store.hold_visits(&ids).await.map(drop)
            })
            .await
            .is_err()
        }
    };
    let held = one.hold_visits(std::slice::from_ref(&a)).await.unwrap();
    assert!(!waits(&other, vec![b.clone()]).await, "another visit waited");
    assert!(waits(&other, vec![a.clone()]).await, "the held visit did not wait on the other node");
    assert!(waits(&other, vec![a.clone(), b.clone()]).await, "a set holding the visit did not wait");
    drop(held);
    // Given back by a task of its own: the other node gets it soon after.
    let taken =
        tokio::time::timeout(Duration::from_secs(5), other.hold_visits(&[a.clone(), b.clone()])).await;
    drop(taken.expect("the visit was not given back").unwrap());

    // Many overlapping sets from both nodes at once all finish.
    let mut tasks = Vec::new();
    for round in 0..40 {
        let store = if round % 2 == 0 { one.clone() } else { other.clone() };
        let ids = vec![a.clone(), b.clone()];
        tasks.push(tokio::spawn(async move {
            let held = store.hold_visits(&ids).await.unwrap();
            tokio::task::yield_now().await;
            drop(held);
        }));
    }
    let all = futures::future::join_all(tasks);
    let done = tokio::time::timeout(Duration::from_secs(30), all).await.expect("the nodes deadlocked");
    assert!(done.into_iter().all(|task| task.is_ok()));
}

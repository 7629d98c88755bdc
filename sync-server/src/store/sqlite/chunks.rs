//! samod's document chunks: a reader connection of their own, and a writer
//! thread that commits every write waiting at that moment in one
//! transaction (group commit) and answers each once it is durable, or with
//! the error that kept it from being stored.

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::store::StoreError;

/// A write run by the writer thread, in a savepoint of its own.
pub(super) type Job = Box<dyn FnOnce(&Connection) -> Result<(), StoreError> + Send>;

/// A write to the database, answered once it is durable.
pub(super) enum Write {
    /// A chunk stored under its key.
    Put(String, Vec<u8>),
    /// A chunk removed.
    Delete(String),
    /// Any other small write that may share the batch's disk sync (a
    /// push's chunks, a blob's arrival); it runs in a savepoint of its own,
    /// so its failure is its own.
    Job(Job),
}

/// A write and who waits for its outcome.
pub(super) struct Pending {
    pub(super) write: Write,
    pub(super) done: oneshot::Sender<Result<(), StoreError>>,
}

/// Most writes in one transaction.
const MAX_BATCH: usize = 1024;

/// Commits writes as they come, all that are waiting at once, until every
/// sender is gone. A batch that fails is answered with its error, every
/// write of it: none of them is stored.
pub(super) fn write_batches(mut conn: Connection, writes: std::sync::mpsc::Receiver<Pending>) {
    while let Ok(first) = writes.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match writes.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        let mut outcomes: Vec<Option<Result<(), StoreError>>> = Vec::with_capacity(batch.len());
        let result = (|| {
            let mut tx = conn.transaction()?;
            for pending in &mut batch {
                match &mut pending.write {
                    Write::Put(key, value) => {
                        tx.prepare_cached(
                            "INSERT INTO doc_chunks (key, data) VALUES (?1, ?2)
                             ON CONFLICT (key) DO UPDATE SET data = ?2",
                        )?
                        .execute(params![key.as_str(), value.as_slice()])?;
                        outcomes.push(None);
                    }
                    Write::Delete(key) => {
                        tx.prepare_cached("DELETE FROM doc_chunks WHERE key = ?1")?
                            .execute([key.as_str()])?;
                        outcomes.push(None);
                    }
                    Write::Job(job) => {
                        let job = std::mem::replace(job, Box::new(|_| Ok(())));
                        let savepoint = tx.savepoint()?;
                        let outcome = job(&savepoint);
                        if outcome.is_ok() {
                            savepoint.commit()?;
                        }
                        outcomes.push(Some(outcome));
                    }
                }
            }
            tx.commit()
        })();
        if let Err(e) = &result {
            tracing::error!(writes = batch.len(), error = %e, "a batch of database writes failed: none is stored");
        }
        // One outcome per write, in the batch's order.
        let mut outcomes = outcomes.into_iter();
        for pending in batch {
            let own = outcomes.next().flatten();
            let outcome = match (&result, own) {
                (Err(e), _) => Err(StoreError::Engine(e.to_string())),
                (Ok(()), Some(outcome)) => outcome,
                (Ok(()), None) => Ok(()),
            };
            let _ = pending.done.send(outcome);
        }
    }
}

/// The value under `key`.
pub(super) fn load(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>, rusqlite::Error> {
    conn.prepare_cached("SELECT data FROM doc_chunks WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

/// Every chunk under `prefix/`, and `prefix` itself.
pub(super) fn load_prefix(
    conn: &Connection,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>, rusqlite::Error> {
    let mut statement =
        conn.prepare_cached("SELECT key, data FROM doc_chunks WHERE key = ?1 OR (key >= ?2 AND key < ?3)")?;
    // The upper bound of keys under `prefix/`: `/` + 1 is `0`.
    let rows = statement.query_map(params![prefix, format!("{prefix}/"), format!("{prefix}0")], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    rows.collect()
}

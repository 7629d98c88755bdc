//! Blob arrivals, gathered: a photo's upload ends with one small write (the
//! blob is there, who sent it, and each visit naming it waits for one blob
//! fewer). Many agents upload at once, so the arrivals waiting at the same
//! moment are written in one transaction by one task, as the SQLite engine's
//! writer thread does with its group commit. Alone, an arrival is written
//! at once in a transaction of its own; the caller's answer waits for the
//! commit either way.

use std::collections::{BTreeMap, BTreeSet};

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

use super::{execute, lock_blobs, query};
use crate::clock::now;
use crate::store::StoreError;

/// Arrivals written in one transaction at most.
const BATCH: usize = 128;

/// Arrivals waiting for the writer at most; a caller beyond waits to queue.
const QUEUED: usize = 1024;

/// One blob's arrival, and where its outcome goes.
struct Arrival {
    sha256: String,
    bytes: i64,
    uploaded_by: String,
    done: oneshot::Sender<Result<(), Failed>>,
}

/// Why a batch was not written, told to each of its callers.
#[derive(Clone)]
enum Failed {
    /// The database could not be reached ([`StoreError::Unavailable`]).
    Unavailable(String),
    /// Any other failure.
    Engine(String),
}

/// Where arrivals are queued for the writer task.
#[derive(Clone)]
pub(super) struct Arrivals {
    queue: mpsc::Sender<Arrival>,
}

impl Arrivals {
    /// Starts the writer task on `pool`; it ends when the last handle goes.
    pub(super) fn start(pool: Pool) -> Arrivals {
        let (queue, waiting) = mpsc::channel(QUEUED);
        tokio::spawn(write_arrivals(pool, waiting));
        Arrivals { queue }
    }

    /// Records that blob `sha256` (`bytes` long) arrived from `uploaded_by`,
    /// once its transaction is committed.
    pub(super) async fn received(
        &self,
        sha256: &str,
        bytes: u64,
        uploaded_by: &str,
    ) -> Result<(), StoreError> {
        let (done, outcome) = oneshot::channel();
        let arrival = Arrival {
            sha256: sha256.to_owned(),
            bytes: i64::try_from(bytes).unwrap_or(i64::MAX),
            uploaded_by: uploaded_by.to_owned(),
            done,
        };
        self.queue.send(arrival).await.map_err(|_| StoreError::Cancelled)?;
        match outcome.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Failed::Unavailable(why))) => Err(StoreError::Unavailable(why)),
            Ok(Err(Failed::Engine(why))) => Err(StoreError::Engine(why)),
            Err(_) => Err(StoreError::Cancelled),
        }
    }
}

/// The writer: takes what waits (up to [`BATCH`]), writes it in one
/// transaction and answers each caller with the outcome.
async fn write_arrivals(pool: Pool, mut waiting: mpsc::Receiver<Arrival>) {
    let mut batch = Vec::with_capacity(BATCH);
    while waiting.recv_many(&mut batch, BATCH).await > 0 {
        let outcome = write(&pool, &batch).await.map_err(|e| match e {
            StoreError::Unavailable(why) => Failed::Unavailable(why),
            other => Failed::Engine(other.to_string()),
        });
        for arrival in batch.drain(..) {
            let _ = arrival.done.send(outcome.clone());
        }
    }
}

/// Writes `batch` in one transaction: the blobs' rows, the uploaders' rows,
/// and one blob fewer missing for every visit naming a blob that was not
/// there before. The blobs' locks order this against projections counting
/// the same blobs ([`lock_blobs`]).
async fn write(pool: &Pool, batch: &[Arrival]) -> Result<(), StoreError> {
    // The first arrival of a blob counts; the same blob twice in a batch
    // (two agents sent one photo) is one blob with two uploaders.
    let mut blobs: BTreeMap<&str, &Arrival> = BTreeMap::new();
    let mut uploads: BTreeSet<(&str, &str)> = BTreeSet::new();
    for arrival in batch {
        blobs.entry(arrival.sha256.as_str()).or_insert(arrival);
        uploads.insert((arrival.sha256.as_str(), arrival.uploaded_by.as_str()));
    }
    let shas: Vec<&str> = blobs.keys().copied().collect();
    let bytes: Vec<i64> = blobs.values().map(|a| a.bytes).collect();
    let senders: Vec<&str> = blobs.values().map(|a| a.uploaded_by.as_str()).collect();
    let (upload_shas, upload_agents): (Vec<&str>, Vec<&str>) = uploads.into_iter().unzip();
    let at = now();

    let mut c = pool.get().await?;
    let tx = c.transaction().await?;
    lock_blobs(&tx, &shas).await?;
    let arrived = query(
        &tx,
        "INSERT INTO blobs (sha256, bytes, received_at, uploaded_by)
         SELECT sha, n, $3, agent FROM unnest($1::text[], $2::bigint[], $4::text[]) AS a(sha, n, agent)
         ON CONFLICT DO NOTHING RETURNING sha256",
        &[&shas, &bytes, &at, &senders],
    )
    .await?;
    execute(
        &tx,
        "INSERT INTO blob_uploads (sha256, agent, received_at)
         SELECT sha, agent, $3 FROM unnest($1::text[], $2::text[]) AS u(sha, agent)
         ON CONFLICT DO NOTHING",
        &[&upload_shas, &upload_agents, &at],
    )
    .await?;
    let arrived = arrived.iter().map(|r| r.try_get(0)).collect::<Result<Vec<String>, _>>()?;
    if !arrived.is_empty() {
        // Every visit naming a new blob counted it as missing (a projection
        // counts under the blob's lock, held here). The visits are looked
        // up first and changed by key, so no plan here rests on statistics
        // taken while the tables were small: a recount joined to `visits`
        // turned into sequential scans during a first day's sync.
        let rows = query(&tx, "SELECT visit_id FROM visit_blobs WHERE sha256 = ANY($1)", &[&arrived]).await?;
        let mut fewer: BTreeMap<String, i64> = BTreeMap::new();
        for row in &rows {
            *fewer.entry(row.try_get(0)?).or_default() += 1;
        }
        // One statement for each distinct count (nearly always just 1).
        let mut by_count: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for (visit, n) in fewer {
            by_count.entry(n).or_default().push(visit);
        }
        for (n, visits) in by_count {
            execute(
                &tx,
                "UPDATE visits SET blobs_missing = GREATEST(blobs_missing - $2, 0)
                 WHERE id = ANY($1) AND blobs_missing > 0",
                &[&visits, &n],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

//! The SQL of the outbox: messages enqueued once per idempotency key,
//! taken by a delivery worker under a lease (`FOR UPDATE SKIP LOCKED`, so
//! the workers of several nodes never take one message together), and
//! what each attempt came to.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{execute, limit_of, query};
use crate::store::{DeliveryOutcome, OutboxMessage, OutboxRecord, OutboxState, OutboxView, StoreError};

const COLUMNS: &str = "id, idempotency_key, event, visit_id, recipient, payload, state, attempts, \
     next_attempt_at, last_error, created_at, delivered_at";

fn record(r: &Row) -> Result<OutboxRecord, StoreError> {
    let state: String = r.try_get(6)?;
    Ok(OutboxRecord {
        id: r.try_get(0)?,
        message: OutboxMessage {
            key: r.try_get(1)?,
            event: r.try_get(2)?,
            visit_id: r.try_get(3)?,
            recipient: r.try_get(4)?,
            payload: r.try_get(5)?,
        },
        // The table's CHECK admits only the states there are.
        state: OutboxState::from_code(&state).unwrap_or(OutboxState::Failed),
        attempts: u32::try_from(r.try_get::<_, i64>(7)?).unwrap_or(u32::MAX),
        next_attempt_at: r.try_get(8)?,
        last_error: r.try_get(9)?,
        created_at: r.try_get(10)?,
        delivered_at: r.try_get(11)?,
    })
}

/// Enqueues `messages` at `now` in `c`'s transaction, leaving out every one
/// whose key the outbox holds; returns how many were new.
pub(super) async fn enqueue<C: GenericClient>(
    c: &C,
    messages: &[OutboxMessage],
    now: i64,
) -> Result<usize, StoreError> {
    let mut added = 0;
    for message in messages {
        let recipient = message.recipient.as_deref().map(str::trim).filter(|p| !p.is_empty());
        let state = if recipient.is_some() { OutboxState::Pending } else { OutboxState::NoRecipient };
        added += execute(
            c,
            "INSERT INTO outbox (idempotency_key, event, visit_id, recipient, payload, state,
                next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (idempotency_key) DO NOTHING",
            &[
                &message.key,
                &message.event,
                &message.visit_id,
                &recipient,
                &message.payload,
                &state.code(),
                &now,
            ],
        )
        .await?;
    }
    Ok(usize::try_from(added).unwrap_or(usize::MAX))
}

/// Takes, in `c`'s transaction, up to `limit` due messages that no other
/// transaction holds, under a lease until `lease_until`.
pub(super) async fn take_due<C: GenericClient>(
    c: &C,
    now: i64,
    lease_until: i64,
    limit: usize,
) -> Result<Vec<OutboxRecord>, StoreError> {
    let rows = query(
        c,
        &format!(
            "SELECT {COLUMNS} FROM outbox
             WHERE state IN ('pending', 'sending') AND next_attempt_at <= $1
             ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED"
        ),
        &[&now, &limit_of(limit)],
    )
    .await?;
    let mut taken = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut message = record(row)?;
        execute(
            c,
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, next_attempt_at = $2 WHERE id = $1",
            &[&message.id, &lease_until],
        )
        .await?;
        message.state = OutboxState::Sending;
        message.attempts = message.attempts.saturating_add(1);
        message.next_attempt_at = lease_until;
        taken.push(message);
    }
    Ok(taken)
}

/// Makes the messages being sent whose lease ran out due at `now`. Unlike
/// the SQLite engine's, one whose lease still runs is left to its worker:
/// several nodes share this database, and a node starting cannot tell a
/// worker that stopped from another node's that is sending.
pub(super) async fn release_sending<C: GenericClient>(c: &C, now: i64) -> Result<usize, StoreError> {
    let n = execute(
        c,
        "UPDATE outbox SET state = 'pending', next_attempt_at = $1
         WHERE state = 'sending' AND next_attempt_at <= $1",
        &[&now],
    )
    .await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Records what an attempt at message `id` came to.
pub(super) async fn record_delivery<C: GenericClient>(
    c: &C,
    id: i64,
    outcome: &DeliveryOutcome,
    now: i64,
) -> Result<(), StoreError> {
    match outcome {
        DeliveryOutcome::Delivered => {
            execute(
                c,
                "UPDATE outbox SET state = 'delivered', delivered_at = $2, last_error = NULL
                 WHERE id = $1 AND state <> 'delivered'",
                &[&id, &now],
            )
            .await?
        }
        DeliveryOutcome::Retry { error, at } => {
            execute(
                c,
                "UPDATE outbox SET state = 'pending', next_attempt_at = $2, last_error = $3
                 WHERE id = $1 AND state = 'sending'",
                &[&id, at, error],
            )
            .await?
        }
        DeliveryOutcome::Failed { error } => {
            execute(
                c,
                "UPDATE outbox SET state = 'failed', last_error = $2 WHERE id = $1 AND state = 'sending'",
                &[&id, error],
            )
            .await?
        }
    };
    Ok(())
}

/// The newest `limit` messages and the count in each state.
pub(super) async fn list<C: GenericClient>(c: &C, limit: usize) -> Result<OutboxView, StoreError> {
    let rows =
        query(c, &format!("SELECT {COLUMNS} FROM outbox ORDER BY id DESC LIMIT $1"), &[&limit_of(limit)])
            .await?
            .iter()
            .map(record)
            .collect::<Result<Vec<_>, _>>()?;
    let mut counts = Vec::new();
    for row in query(c, "SELECT state, count(*) FROM outbox GROUP BY state", &[]).await? {
        let (state, count): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        if let Some(state) = OutboxState::from_code(&state) {
            counts.push((state, count));
        }
    }
    counts.sort_by_key(|(state, _)| OutboxState::ALL.iter().position(|s| s == state));
    Ok((rows, counts))
}

//! The SQL of the outbox (migration V15): messages enqueued once per
//! idempotency key, taken by a delivery worker under a lease, and what each
//! attempt came to.

use rusqlite::{Connection, Transaction, params};

use crate::store::{DeliveryOutcome, OutboxMessage, OutboxRecord, OutboxState, OutboxView, StoreError};

const COLUMNS: &str = "id, idempotency_key, event, visit_id, recipient, payload, state, attempts, \
     next_attempt_at, last_error, created_at, delivered_at";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRecord> {
    let state: String = r.get(6)?;
    Ok(OutboxRecord {
        id: r.get(0)?,
        message: OutboxMessage {
            key: r.get(1)?,
            event: r.get(2)?,
            visit_id: r.get(3)?,
            recipient: r.get(4)?,
            payload: r.get(5)?,
        },
        // The table's CHECK admits only the states there are.
        state: OutboxState::from_code(&state).unwrap_or(OutboxState::Failed),
        attempts: r.get(7)?,
        next_attempt_at: r.get(8)?,
        last_error: r.get(9)?,
        created_at: r.get(10)?,
        delivered_at: r.get(11)?,
    })
}

/// Enqueues `messages` at `now` in `tx`, leaving out every one whose key
/// the outbox holds; returns how many were new.
pub(super) fn enqueue(
    tx: &Transaction<'_>,
    messages: &[OutboxMessage],
    now: i64,
) -> Result<usize, StoreError> {
    let mut added = 0;
    for message in messages {
        let recipient = message.recipient.as_deref().map(str::trim).filter(|p| !p.is_empty());
        let state = if recipient.is_some() { OutboxState::Pending } else { OutboxState::NoRecipient };
        added += tx
            .prepare_cached(
                "INSERT OR IGNORE INTO outbox (idempotency_key, event, visit_id, recipient, payload, state,
                    next_attempt_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            )?
            .execute(params![
                message.key,
                message.event,
                message.visit_id,
                recipient,
                message.payload,
                state.code(),
                now
            ])?;
    }
    Ok(added)
}

/// Takes up to `limit` due messages, under a lease until `lease_until`.
pub(super) fn take_due(
    c: &mut Connection,
    now: i64,
    lease_until: i64,
    limit: usize,
) -> Result<Vec<OutboxRecord>, StoreError> {
    let tx = c.transaction()?;
    let taken = {
        let mut statement = tx.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox
             WHERE state IN ('pending', 'sending') AND next_attempt_at <= ?1
             ORDER BY next_attempt_at, id LIMIT ?2"
        ))?;
        statement.query_map(params![now, limit as i64], record)?.collect::<Result<Vec<_>, _>>()?
    };
    let mut out = Vec::with_capacity(taken.len());
    for mut message in taken {
        tx.prepare_cached(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, next_attempt_at = ?2 WHERE id = ?1",
        )?
        .execute(params![message.id, lease_until])?;
        message.state = OutboxState::Sending;
        message.attempts += 1;
        message.next_attempt_at = lease_until;
        out.push(message);
    }
    tx.commit()?;
    Ok(out)
}

/// Makes every message being sent due at `now`.
pub(super) fn release_sending(c: &Connection, now: i64) -> Result<usize, StoreError> {
    Ok(c.prepare_cached("UPDATE outbox SET state = 'pending', next_attempt_at = ?1 WHERE state = 'sending'")?
        .execute([now])?)
}

/// Records what an attempt at message `id` came to.
pub(super) fn record_delivery(
    c: &Connection,
    id: i64,
    outcome: &DeliveryOutcome,
    now: i64,
) -> Result<(), StoreError> {
    match outcome {
        DeliveryOutcome::Delivered => c
            .prepare_cached(
                "UPDATE outbox SET state = 'delivered', delivered_at = ?2, last_error = NULL
                 WHERE id = ?1 AND state != 'delivered'",
            )?
            .execute(params![id, now])?,
        DeliveryOutcome::Retry { error, at } => c
            .prepare_cached(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, last_error = ?3
                 WHERE id = ?1 AND state = 'sending'",
            )?
            .execute(params![id, at, error])?,
        DeliveryOutcome::Failed { error } => c
            .prepare_cached(
                "UPDATE outbox SET state = 'failed', last_error = ?2 WHERE id = ?1 AND state = 'sending'",
            )?
            .execute(params![id, error])?,
    };
    Ok(())
}

/// The newest `limit` messages and the count in each state.
pub(super) fn list(c: &Connection, limit: usize) -> Result<OutboxView, StoreError> {
    let rows = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM outbox ORDER BY id DESC LIMIT ?1"))?
        .query_map([limit as i64], record)?
        .collect::<Result<Vec<_>, _>>()?;
    let mut counts = Vec::new();
    let mut statement = c.prepare_cached("SELECT state, count(*) FROM outbox GROUP BY state")?;
    let found = statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in found {
        let (state, count) = row?;
        if let Some(state) = OutboxState::from_code(&state) {
            counts.push((state, count));
        }
    }
    counts.sort_by_key(|(state, _)| OutboxState::ALL.iter().position(|s| s == state));
    Ok((rows, counts))
}

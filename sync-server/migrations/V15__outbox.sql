-- Version 15: the outbox. What the merchant must be told of a desk decision
-- is enqueued in the transaction of that decision's projection row, once per
-- idempotency key (visit, event); a worker delivers it at least once, the
-- receiver drops repeats by the key. A message without a registered phone is
-- kept as `no_recipient` and never sent.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    event           TEXT NOT NULL,
    visit_id        TEXT NOT NULL,
    recipient       TEXT,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'failed', 'no_recipient')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
-- The worker's question: which messages are due.
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

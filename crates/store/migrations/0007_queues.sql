-- SQS queues: one row per queue (its attributes and tags as JSON), the messages of each queue
-- (gone with it), and the deduplication ids FIFO queues remember for five minutes.
CREATE TABLE queues (
    name        TEXT PRIMARY KEY,
    fifo        INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    -- The next SequenceNumber of a FIFO queue.
    next_seq    INTEGER NOT NULL DEFAULT 1,
    record      TEXT NOT NULL
) STRICT;

CREATE TABLE queue_messages (
    -- Send order, also FIFO order.
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    queue            TEXT NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
    message_id       TEXT NOT NULL,
    body             TEXT NOT NULL,
    -- What never changes after the send: attributes, digests, sender, group, dedup id.
    record           TEXT NOT NULL,
    group_id         TEXT,
    seq              INTEGER,
    sent_ms          INTEGER NOT NULL,
    -- Visible (receivable) from this time on; later: delayed (never received) or in flight.
    visible_at       INTEGER NOT NULL,
    receive_count    INTEGER NOT NULL DEFAULT 0,
    first_receive_ms INTEGER,
    -- The token of the latest receive, which its receipt handle carries (NULL: never received).
    receipt          TEXT,
    -- The queue a dead-letter move took the message from.
    source_queue     TEXT
) STRICT;

CREATE INDEX queue_messages_visible ON queue_messages (queue, visible_at);
CREATE INDEX queue_messages_sent ON queue_messages (queue, sent_ms);
CREATE INDEX queue_messages_group ON queue_messages (queue, group_id, visible_at);

CREATE TABLE queue_dedup (
    queue      TEXT NOT NULL REFERENCES queues (name) ON DELETE CASCADE,
    dedup_id   TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (queue, dedup_id)
) STRICT;

CREATE INDEX queue_dedup_expiry ON queue_dedup (queue, expires_ms);

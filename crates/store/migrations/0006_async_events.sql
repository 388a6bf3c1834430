-- Asynchronous invocation (InvocationType Event): the durable queue of accepted events and the
-- event invoke configurations (retries, maximum age, destinations) per function and qualifier.

-- One row per accepted event until it is done (succeeded, or given up and its failure handed
-- on). `due_ms` is when it may next be dispatched; `leased` marks one a dispatcher holds (at
-- start-up the one server of a data directory releases them all: a crash left them unfinished).
-- `chain` counts the destination records an event descends from (a record sent to a function
-- is an event of that function), so that a loop of destinations can be stopped. Events outlive
-- their function's deletion here: the dispatcher drops them when it finds the function gone.
CREATE TABLE async_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    function       TEXT NOT NULL,
    qualifier      TEXT NOT NULL,
    region         TEXT NOT NULL,
    request_id     TEXT NOT NULL,
    payload        BLOB NOT NULL,
    client_context TEXT,
    trace_header   TEXT,
    enqueued_ms    INTEGER NOT NULL,
    due_ms         INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    throttles      INTEGER NOT NULL DEFAULT 0,
    chain          INTEGER NOT NULL DEFAULT 0,
    leased         INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX async_events_due ON async_events (leased, due_ms);

-- PutFunctionEventInvokeConfig, per qualifier ('$LATEST', a version, an alias), gone with their
-- function; versions and aliases take theirs along.
CREATE TABLE event_invoke_configs (
    function  TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    qualifier TEXT NOT NULL,
    record    TEXT NOT NULL,
    PRIMARY KEY (function, qualifier)
) STRICT;

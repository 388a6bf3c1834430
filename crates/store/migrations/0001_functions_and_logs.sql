-- The schema of every release before migrations: data directories written by those releases
-- already have these tables, so each statement leaves what exists alone.
CREATE TABLE IF NOT EXISTS functions (
    name        TEXT PRIMARY KEY NOT NULL,
    revision_id TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    code_size   INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    record      TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS log_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    log_group  TEXT NOT NULL,
    log_stream TEXT NOT NULL,
    ts_ms      INTEGER NOT NULL,
    message    TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS log_events_by_group ON log_events (log_group, id);
CREATE INDEX IF NOT EXISTS log_events_by_time ON log_events (ts_ms);

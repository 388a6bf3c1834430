-- EventBridge Scheduler: schedule groups and their schedules. `due_ms` is a schedule's next
-- scheduled time and `fire_ms` when it is invoked (later within a flexible time window); both
-- are null when it has nothing more to fire (disabled, past its end). Firing is one
-- transaction that checks `fire_ms`, stores the asynchronous event and moves `due_ms` on, so
-- each scheduled time is invoked once whatever crashes or restarts.
CREATE TABLE schedule_groups (
    name   TEXT PRIMARY KEY,
    record TEXT NOT NULL
) STRICT;

CREATE TABLE schedules (
    group_name TEXT NOT NULL REFERENCES schedule_groups (name) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    record     TEXT NOT NULL,
    due_ms     INTEGER,
    fire_ms    INTEGER,
    PRIMARY KEY (group_name, name)
) STRICT;
CREATE INDEX schedules_fire ON schedules (fire_ms) WHERE fire_ms IS NOT NULL;

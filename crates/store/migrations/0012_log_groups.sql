-- Log groups made by CreateLogGroup or given a retention policy (PutRetentionPolicy); groups
-- functions write to exist through their streams without a row here. A group's own
-- retention replaces the server's default for its events.
CREATE TABLE log_groups (
    name           TEXT PRIMARY KEY,
    created_ms     INTEGER NOT NULL,
    retention_days INTEGER
) STRICT;

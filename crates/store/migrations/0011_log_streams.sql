-- The CloudWatch Logs API's view of the stored log events: one row per log stream (a function's
-- execution environment writes one), kept in the transaction that appends its events, so that
-- DescribeLogGroups and DescribeLogStreams read this small table, never the events.
CREATE TABLE log_streams (
    log_group   TEXT NOT NULL,
    log_stream  TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    first_ms    INTEGER NOT NULL,
    last_ms     INTEGER NOT NULL,
    ingested_ms INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    PRIMARY KEY (log_group, log_stream)
) STRICT;
INSERT INTO log_streams
    SELECT log_group, log_stream, min(ts_ms), min(ts_ms), max(ts_ms), max(ts_ms), sum(length(message))
    FROM log_events GROUP BY log_group, log_stream;
CREATE INDEX log_events_by_stream ON log_events (log_group, log_stream, id);

-- Event source mappings (CreateEventSourceMapping): a function polling a queue, gone with the
-- function.
CREATE TABLE event_source_mappings (
    uuid       TEXT PRIMARY KEY,
    function   TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    source_arn TEXT NOT NULL,
    record     TEXT NOT NULL
) STRICT;
CREATE INDEX event_source_mappings_function ON event_source_mappings (function);

-- The cost ledger: billed figures per function, version, UTC hour, architecture and kind of
-- environment (on demand or provisioned), folded from the server's local journal. Figures are
-- integers (billed ms × MB), so sums are exact.
CREATE TABLE cost_hours (
    function      TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    hour_ms       INTEGER NOT NULL,
    architecture  TEXT    NOT NULL,
    provisioned   INTEGER NOT NULL,
    requests      INTEGER NOT NULL,
    mb_ms         INTEGER NOT NULL,
    storage_mb_ms INTEGER NOT NULL,
    PRIMARY KEY (function, version, hour_ms, architecture, provisioned)
) STRICT;

CREATE INDEX cost_hours_by_hour ON cost_hours (hour_ms);

-- How far the journal has been folded: committed with the rows it added.
CREATE TABLE cost_journal (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL,
    byte_offset INTEGER NOT NULL
) STRICT;

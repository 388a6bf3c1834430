-- Published versions (PublishVersion): immutable snapshots of a function's code and
-- configuration, numbered from 1, gone with their function. `last_version` is the highest
-- number given so far: numbers are never reused, not even after their version is deleted. It is
-- a column of its own, written only by publishing, so that no other write of a function's record
-- can set it back (and publishing leaves `$LATEST`'s revision as it is, as Lambda does).
CREATE TABLE function_versions (
    name        TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    code_sha256 TEXT NOT NULL,
    record      TEXT NOT NULL,
    PRIMARY KEY (name, version)
) STRICT;
ALTER TABLE functions ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;

-- Resource-based policies (AddPermission), one per function, version or alias ('' is the
-- unqualified function), gone with their function; versions and aliases take theirs along.
CREATE TABLE policies (
    function    TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    qualifier   TEXT NOT NULL,
    revision_id TEXT NOT NULL,
    record      TEXT NOT NULL,
    PRIMARY KEY (function, qualifier)
) STRICT;

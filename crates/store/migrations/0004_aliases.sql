-- Aliases (CreateAlias): a name for a version, with optional weighted routing to a second one,
-- gone with their function.
CREATE TABLE aliases (
    function    TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    revision_id TEXT NOT NULL,
    record      TEXT NOT NULL,
    PRIMARY KEY (function, name)
) STRICT;

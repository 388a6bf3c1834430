-- Function URLs (CreateFunctionUrlConfig): at most one per function and qualifier ('' for the
-- unqualified function, else an alias), found by the id in its host name; gone with their
-- function (and, by the store's delete_alias, with their alias).
CREATE TABLE function_urls (
    function  TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    qualifier TEXT NOT NULL,
    url_id    TEXT NOT NULL UNIQUE,
    record    TEXT NOT NULL,
    PRIMARY KEY (function, qualifier)
) STRICT;

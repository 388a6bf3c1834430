-- Reserved concurrency (PutFunctionConcurrency), a column so that the account's unreserved
-- concurrency is one SUM. NULL: none reserved. The record holds the same value.
ALTER TABLE functions ADD COLUMN reserved_concurrency INTEGER;

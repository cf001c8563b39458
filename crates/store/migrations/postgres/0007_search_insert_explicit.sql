-- SQLite's full-text entries are now written by the store instead of an INSERT trigger
-- (see the sqlite twin). PostgreSQL's stored tsvector needs no change.
SELECT 1;

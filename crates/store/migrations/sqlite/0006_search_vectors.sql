-- PostgreSQL's matter search moves to a stored tsvector (see the postgres twin); SQLite's
-- FTS5 table needs no change.

-- "Unread" counts in the inbox read only the account's unread rows.
CREATE INDEX notifications_unread ON notifications (account_id) WHERE read_at IS NULL;

-- Matter search on PostgreSQL reads a stored tsvector instead of an expression index:
-- with the expression, every row the planner checks (walking a community newest first, or
-- rechecking a bitmap) re-parses the whole search text, which made a common word take
-- seconds under load. SQLite's FTS5 table needs no change.
DROP INDEX matters_search;
ALTER TABLE matters
    ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED;
CREATE INDEX matters_search ON matters USING gin (search_vector);

-- "Unread" counts in the inbox read only the account's unread rows.
CREATE INDEX notifications_unread ON notifications (account_id) WHERE read_at IS NULL;

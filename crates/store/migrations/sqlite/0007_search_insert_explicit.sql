-- A new matter's full-text entry is written by the statement after the matter's own
-- (store::matters::records, and a rebuild after a bulk load in matters::history), not by
-- a trigger. A table with an INSERT trigger makes each insert open a statement journal,
-- and FTS5 flushes its pending index to disk at every such statement savepoint: one
-- index segment per matter, then merges, which was a third of the group-commit writer's
-- time. Without the trigger a whole batch goes to the index in one flush at commit.
DROP TRIGGER matters_search_insert;

-- The matters' full-text index, made again with two changes.
--
-- 1. The `ascii` tokenizer. `matters.search_text` is already split into terms (see
--    `linli_domain::matters::search`): lower-cased, letters and digits only, one space
--    between. `ascii` splits on the spaces and nothing else, so the index holds exactly
--    those terms, as PostgreSQL's `simple` vectors do and as a search that tests a
--    matter's terms itself does (`dense_scan` in `store::matters::records`). `unicode61`
--    also folded diacritics ("é" matched "e") and spent its time looking up Unicode
--    classes for every character of every report.
-- 2. No "automerge". FTS5 merges its segments inside the commit that crosses a threshold
--    (every 64 leaf pages written, 64 pages per level of the index), so one group commit
--    of reports in forty stalled for 20–60 ms while every other report waited. The direct
--    lane merges a few pages in every batch instead (`merge_search_index_step` in
--    `store::lite`); writes outside the lane leave their segments to the next batch, and
--    FTS5's crisis merge (16 segments on one level) still bounds what a search reads.
DROP TABLE matter_search;
CREATE VIRTUAL TABLE matter_search USING fts5 (
    search_text, content = 'matters', content_rowid = 'rowid', detail = 'none',
    tokenize = 'ascii'
);
INSERT INTO matter_search (matter_search) VALUES ('rebuild');
INSERT INTO matter_search (matter_search, rank) VALUES ('automerge', 0);

-- Matter search vectors hold the store's own terms as they are, instead of running them
-- through PostgreSQL's text parser.
--
-- `matters.search_text` is already split into terms (see `linli_domain::matters::search`):
-- lower-cased, letters and digits only, one space between, each prefixed with its
-- community. `to_tsvector('simple', …)` parsed that text again, converting every character
-- to a wide character and classifying it under the server's locale: a quarter of
-- PostgreSQL's work per report in a profile of the submit benchmark (docs/benchmarks.md).
-- `array_to_tsvector` takes the terms as lexemes unchanged (no positions: searches only
-- ever ask for every term, never a phrase), and searches now ask for exactly those
-- lexemes (`::tsquery`, not `to_tsquery`), so both sides agree by construction, whatever
-- the locale. SQLite's index already takes the terms as they are (migration 0012 there).
DROP INDEX matters_search;
ALTER TABLE matters DROP COLUMN search_vector;
ALTER TABLE matters
    ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (array_to_tsvector(array_remove(string_to_array(search_text, ' '), ''))) STORED;
CREATE INDEX matters_search ON matters USING gin (search_vector);

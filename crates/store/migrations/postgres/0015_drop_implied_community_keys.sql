-- Foreign keys to communities that another key of the same row already implies. A
-- matter's (community_id, category_id) references matter_categories, a transfer's
-- (community_id, from_account) points_accounts and a redemption's (community_id,
-- offer_id) points_offers; each of those rows references communities in turn, and a
-- community cannot go while they refer to it. So the plain community_id key of these
-- three tables can never refuse a row the composite key accepts: every insert paid for a
-- lookup (and a row lock on the community) that decided nothing.
--
-- Why now: these are the hot inserts of the report and ledger batches, and PostgreSQL
-- checks a foreign key per row with a query of its own. A profile of a redemption run
-- put 42 % of the ledger lane's backend time in foreign-key checks. SQLite keeps the
-- keys (dropping one there means rebuilding the table, and its checks are index probes
-- in the same process).
ALTER TABLE matters DROP CONSTRAINT matters_community_id_fkey;
ALTER TABLE points_transfers DROP CONSTRAINT points_transfers_community_id_fkey;
ALTER TABLE points_redemptions DROP CONSTRAINT points_redemptions_community_id_fkey;

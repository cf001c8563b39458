-- Caps read a resident's entries (their primary key already orders them by account and
-- sequence) from a sequence found through the time index below, instead of a separate
-- index per resident, rule and time. That index cost every award one more randomly
-- placed B-tree leaf written in the commit (and again in the checkpoint): about a fifth
-- of what an award writes to disk on SQLite, where the disk bounds the award rate.
DROP INDEX points_transfers_usage;

-- A community's transfers by time: appended to at one end (time moves forward), so cheap
-- to keep; used to find where a cap's period starts in the sequence, and by the monthly
-- ranking and the engagement ladder, which read a period's awards.
CREATE INDEX points_transfers_by_time ON points_transfers (community_id, at);

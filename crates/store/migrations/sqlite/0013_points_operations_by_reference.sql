-- A ledger request's stored answer, kept by reference instead of in full.
--
-- Each key kept its whole receipt as JSON (about 420 bytes), which repeated the transfer
-- it made field by field: the largest table of the ledger (231 of 711 MB after a bench
-- run), and the largest write of every group commit. Now an operation keeps the seq of
-- its transfer and what the transfer does not hold — whose balance the answer showed and
-- what it was — and a replay rebuilds the receipt from the transfer (`StoredOperation`
-- in `store::points::ledger`). Transfers are append-only, so the rebuilt answer is the
-- one first given.
--
-- No foreign key to the transfer: it would add a lookup to every write of the hot path,
-- and the operation is written in the transaction that writes its transfer.
--
-- WITHOUT ROWID: the key is the table's only index, so rows live in the key's b-tree
-- rather than in a table plus an index that repeats the key.
CREATE TABLE points_operations_by_reference (
    community_id BLOB NOT NULL REFERENCES communities (id),
    actor_account_id BLOB NOT NULL REFERENCES accounts (id),
    idempotency_key TEXT NOT NULL,
    operation TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    transfer_seq INTEGER NOT NULL,
    resident_id BLOB,
    balance INTEGER,
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, actor_account_id, idempotency_key)
) WITHOUT ROWID;

INSERT INTO points_operations_by_reference
SELECT community_id, actor_account_id, idempotency_key, operation, request_hash,
       json_extract(result, '$.seq'),
       unhex(replace(json_extract(result, '$.resident_id'), '-', '')),
       json_extract(result, '$.balance'),
       created_at
FROM points_operations;

DROP TABLE points_operations;
ALTER TABLE points_operations_by_reference RENAME TO points_operations;

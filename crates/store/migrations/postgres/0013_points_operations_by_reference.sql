-- A ledger request's stored answer, kept by reference instead of in full.
--
-- Each key kept its whole receipt as JSON (about 420 bytes), which repeated the transfer
-- it made field by field: the ledger's largest table (527 MB of 1.7 GB after a bench
-- run), and the largest write of every batch. Now an operation keeps the seq of its
-- transfer and what the transfer does not hold — whose balance the answer showed and
-- what it was — and a replay rebuilds the receipt from the transfer (`StoredOperation`
-- in `store::points::ledger`). Transfers are append-only, so the rebuilt answer is the
-- one first given.
--
-- No foreign key to the transfer: it would add a trigger to every row of the hot path,
-- and the operation is written in the transaction that writes its transfer.
CREATE TABLE points_operations_by_reference (
    community_id UUID NOT NULL REFERENCES communities (id),
    actor_account_id UUID NOT NULL REFERENCES accounts (id),
    idempotency_key TEXT NOT NULL,
    operation TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    transfer_seq BIGINT NOT NULL,
    resident_id UUID,
    balance BIGINT,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT points_operations_by_reference_pkey
        PRIMARY KEY (community_id, actor_account_id, idempotency_key)
);

INSERT INTO points_operations_by_reference
SELECT community_id, actor_account_id, idempotency_key, operation, request_hash,
       (result::jsonb ->> 'seq')::bigint,
       (result::jsonb ->> 'resident_id')::uuid,
       (result::jsonb ->> 'balance')::bigint,
       created_at
FROM points_operations;

DROP TABLE points_operations;
ALTER TABLE points_operations_by_reference RENAME TO points_operations;
ALTER TABLE points_operations RENAME CONSTRAINT points_operations_by_reference_pkey
    TO points_operations_pkey;
ALTER TABLE points_operations RENAME CONSTRAINT points_operations_by_reference_community_id_fkey
    TO points_operations_community_id_fkey;
ALTER TABLE points_operations
    RENAME CONSTRAINT points_operations_by_reference_actor_account_id_fkey
    TO points_operations_actor_account_id_fkey;

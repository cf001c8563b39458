-- Contribution points (issue 5, DOMAIN §6): earning rules, accounts, the double-entry
-- ledger hash-chained per community, and the record of every ledger-changing request
-- under its idempotency key. Points are integers; nothing here is ever a float.

-- One row per version of a rule: a change writes a new version and retires the old one
-- (superseded_at), so every transfer names the exact rule that produced it.
CREATE TABLE points_rules (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    code TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    basis TEXT NOT NULL CHECK (basis IN ('per_hour', 'per_occasion', 'manual')),
    points INTEGER NOT NULL CHECK (points > 0),
    rounding_minutes INTEGER NOT NULL CHECK (rounding_minutes > 0),
    min_minutes INTEGER NOT NULL CHECK (min_minutes >= 0),
    per_occasion_cap INTEGER,
    per_day_cap INTEGER,
    per_month_cap INTEGER,
    verifier_role TEXT,
    approval_threshold INTEGER,
    active BOOLEAN NOT NULL,
    created_by BLOB REFERENCES accounts (id),
    created_at TEXT NOT NULL,
    superseded_at TEXT,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, code, version)
);

-- At most one current version of each rule.
CREATE UNIQUE INDEX points_rules_current ON points_rules (community_id, code)
    WHERE superseded_at IS NULL;

-- A resident's account has the resident's id, a station's the service point's, a
-- partner's the organisation's; the community's issuance and escrow accounts have ids
-- of their own. Only issuance goes below zero (its balance is minus what circulates).
CREATE TABLE points_accounts (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('issuance', 'escrow', 'resident', 'station', 'partner')),
    balance INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, id),
    CHECK (kind = 'issuance' OR balance >= 0)
);

CREATE UNIQUE INDEX points_accounts_one_issuance_one_escrow ON points_accounts (community_id, kind)
    WHERE kind IN ('issuance', 'escrow');

-- Transfers in chain order. Each has exactly two entries (below); the hash covers every
-- field and the previous transfer's hash, so an edit, a deletion or a reordering shows up
-- in `linli check`.
CREATE TABLE points_transfers (
    community_id BLOB NOT NULL REFERENCES communities (id),
    seq INTEGER NOT NULL CHECK (seq >= 1),
    id BLOB NOT NULL,
    kind TEXT NOT NULL
        CHECK (kind IN ('award', 'redeem', 'settle', 'refund', 'reversal', 'expiry')),
    from_account BLOB NOT NULL,
    to_account BLOB NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    reverses_id BLOB,
    rule_id BLOB,
    rule_code TEXT,
    subject_id BLOB,
    actor_account_id BLOB REFERENCES accounts (id),
    approver_account_id BLOB REFERENCES accounts (id),
    memo TEXT NOT NULL,
    at TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (community_id, seq),
    UNIQUE (community_id, id),
    -- A transfer is reversed at most once.
    UNIQUE (community_id, reverses_id),
    CHECK (from_account <> to_account),
    FOREIGN KEY (community_id, from_account) REFERENCES points_accounts (community_id, id),
    FOREIGN KEY (community_id, to_account) REFERENCES points_accounts (community_id, id),
    FOREIGN KEY (community_id, rule_id) REFERENCES points_rules (community_id, id)
);

-- What the caps count: a resident's awards under one rule in a period.
CREATE INDEX points_transfers_usage ON points_transfers (community_id, to_account, rule_code, at)
    WHERE kind = 'award';

-- The two legs of every transfer: minus on the account it leaves, plus on the one it
-- reaches. Per community they sum to zero; per account they sum to its balance.
CREATE TABLE points_entries (
    community_id BLOB NOT NULL,
    account_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    amount INTEGER NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (community_id, account_id, seq),
    FOREIGN KEY (community_id, seq) REFERENCES points_transfers (community_id, seq),
    FOREIGN KEY (community_id, account_id) REFERENCES points_accounts (community_id, id)
);

CREATE TABLE points_chain_heads (
    community_id BLOB NOT NULL PRIMARY KEY REFERENCES communities (id),
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL
);

-- Every ledger-changing request that succeeded, under the key its sender gave it: a
-- replay returns `result` and changes nothing; the same key with another request
-- (another `request_hash`) is refused.
CREATE TABLE points_operations (
    community_id BLOB NOT NULL REFERENCES communities (id),
    actor_account_id BLOB NOT NULL REFERENCES accounts (id),
    idempotency_key TEXT NOT NULL,
    operation TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    result TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, actor_account_id, idempotency_key)
);

CREATE TRIGGER points_transfers_no_update BEFORE UPDATE ON points_transfers
BEGIN
    SELECT RAISE(ABORT, 'points_transfers is append-only');
END;

CREATE TRIGGER points_transfers_no_delete BEFORE DELETE ON points_transfers
BEGIN
    SELECT RAISE(ABORT, 'points_transfers is append-only');
END;

CREATE TRIGGER points_entries_no_update BEFORE UPDATE ON points_entries
BEGIN
    SELECT RAISE(ABORT, 'points_entries is append-only');
END;

CREATE TRIGGER points_entries_no_delete BEFORE DELETE ON points_entries
BEGIN
    SELECT RAISE(ABORT, 'points_entries is append-only');
END;

CREATE TRIGGER points_chain_heads_forward_only BEFORE UPDATE ON points_chain_heads
WHEN NEW.seq <= OLD.seq OR NEW.community_id IS NOT OLD.community_id
BEGIN
    SELECT RAISE(ABORT, 'points chain heads only move forward');
END;

CREATE TRIGGER points_chain_heads_no_delete BEFORE DELETE ON points_chain_heads
BEGIN
    SELECT RAISE(ABORT, 'points chain heads cannot be deleted');
END;

-- A transfer is named by its id alone in the API (a reversal names the award it undoes).
CREATE INDEX points_transfers_by_id ON points_transfers (id);

-- The catalogue: what service stations (service points) and partners (organisations)
-- offer for points, with a stock that is never oversold and a period it is offered in.
CREATE TABLE points_offers (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    provider_kind TEXT NOT NULL CHECK (provider_kind IN ('station', 'partner')),
    provider_id BLOB NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('service', 'goods', 'discount')),
    cost INTEGER NOT NULL CHECK (cost > 0),
    stock INTEGER NOT NULL CHECK (stock >= 0),
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (community_id, id),
    CHECK (valid_until > valid_from)
);

-- A redemption holds its points in the community's escrow account until the station or
-- partner confirms it with the one-time code (only the code's hash is kept), or until it
-- is cancelled or expires and the points go back.
CREATE TABLE points_redemptions (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    offer_id BLOB NOT NULL,
    resident_id BLOB NOT NULL,
    cost INTEGER NOT NULL CHECK (cost > 0),
    code_hash BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'expired')),
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    settled_at TEXT,
    settled_by BLOB REFERENCES accounts (id),
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, code_hash),
    FOREIGN KEY (community_id, offer_id) REFERENCES points_offers (community_id, id)
);

CREATE INDEX points_redemptions_due ON points_redemptions (expires_at) WHERE status = 'pending';
CREATE INDEX points_redemptions_by_resident ON points_redemptions (community_id, resident_id, id);
CREATE INDEX points_redemptions_by_id ON points_redemptions (id);

-- Who may confirm redemptions for a station or partner (besides community staff, who
-- may confirm at any station).
CREATE TABLE points_confirmers (
    community_id BLOB NOT NULL REFERENCES communities (id),
    provider_id BLOB NOT NULL,
    account_id BLOB NOT NULL REFERENCES accounts (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, provider_id, account_id)
);

CREATE INDEX points_offers_by_id ON points_offers (id);

-- The API names residents by id alone (an award, GET /residents/{id}); without this a
-- lookup scanned every resident of every community.
CREATE INDEX residents_by_id ON residents (id);

-- Manual awards above their rule's threshold wait here for a second approver (DOMAIN §6:
-- dual approval). Approving makes the ledger transfer, naming both people, in the same
-- transaction; declining leaves the ledger untouched. A request moves out of `pending`
-- once.
CREATE TABLE points_approvals (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    resident_id BLOB NOT NULL,
    rule_id BLOB NOT NULL,
    rule_code TEXT NOT NULL,
    points INTEGER NOT NULL CHECK (points > 0),
    memo TEXT NOT NULL,
    subject_id BLOB,
    requested_by BLOB NOT NULL REFERENCES accounts (id),
    request_key TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    requested_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'declined')),
    decided_by BLOB REFERENCES accounts (id),
    decision_key TEXT,
    decision_note TEXT,
    decided_at TEXT,
    transfer_id BLOB,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, requested_by, request_key),
    FOREIGN KEY (community_id, resident_id) REFERENCES residents (community_id, id),
    FOREIGN KEY (community_id, rule_id) REFERENCES points_rules (community_id, id),
    CHECK (status = 'pending' OR decided_by IS NOT NULL),
    CHECK (decided_by IS NULL OR decided_by <> requested_by)
);

CREATE INDEX points_approvals_pending ON points_approvals (community_id, requested_at)
    WHERE status = 'pending';
CREATE INDEX points_approvals_by_id ON points_approvals (id);

-- Who may act on an elderly resident's points for them (a family member, their building
-- head): redeem, cancel, read the account. Only with the resident's consent, recorded
-- with how it was given and by whom; revocable; every grant, revocation and act is
-- audited. A revoked grant stays as the record of what was allowed when.
CREATE TABLE points_proxies (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    resident_id BLOB NOT NULL,
    proxy_account_id BLOB NOT NULL REFERENCES accounts (id),
    relation TEXT NOT NULL CHECK (relation IN ('family', 'building_head')),
    consent_evidence TEXT NOT NULL,
    granted_by BLOB NOT NULL REFERENCES accounts (id),
    granted_at TEXT NOT NULL,
    revoked_by BLOB REFERENCES accounts (id),
    revoked_at TEXT,
    revoke_reason TEXT,
    PRIMARY KEY (community_id, id),
    FOREIGN KEY (community_id, resident_id) REFERENCES residents (community_id, id),
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);

-- One standing grant per resident and proxy.
CREATE UNIQUE INDEX points_proxies_standing ON points_proxies (community_id, resident_id, proxy_account_id)
    WHERE revoked_at IS NULL;
CREATE INDEX points_proxies_by_account ON points_proxies (proxy_account_id) WHERE revoked_at IS NULL;
CREATE INDEX points_proxies_by_id ON points_proxies (id);

-- Per-community points settings. Expiry is off (NULL) unless a community turns it on:
-- points then expire `expiry_months` after they were earned, oldest first, and residents
-- are told `notice_days` ahead.
CREATE TABLE points_settings (
    community_id BLOB NOT NULL PRIMARY KEY REFERENCES communities (id),
    expiry_months INTEGER CHECK (expiry_months BETWEEN 1 AND 120),
    notice_days INTEGER NOT NULL CHECK (notice_days BETWEEN 1 AND 90),
    -- The engagement ladder's thresholds (see linli_domain::engagement).
    ladder_window_days INTEGER NOT NULL DEFAULT 90 CHECK (ladder_window_days BETWEEN 7 AND 730),
    ladder_participant_occasions INTEGER NOT NULL DEFAULT 1 CHECK (ladder_participant_occasions >= 1),
    ladder_volunteer_minutes INTEGER NOT NULL DEFAULT 240 CHECK (ladder_volunteer_minutes >= 1),
    last_expiry_run TEXT,
    updated_by BLOB REFERENCES accounts (id),
    updated_at TEXT NOT NULL
);

-- When each resident was last told that points will expire (one notice per window).
CREATE TABLE points_expiry_notices (
    community_id BLOB NOT NULL REFERENCES communities (id),
    resident_id BLOB NOT NULL,
    noticed_at TEXT NOT NULL,
    amount INTEGER NOT NULL,
    PRIMARY KEY (community_id, resident_id)
);

-- Monthly rankings per grid, published for public notice (公示) with names masked; the
-- lines are kept as published. Anyone in the community may object until
-- `objections_until`; staff answer every objection.
CREATE TABLE points_rankings (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    grid_id BLOB NOT NULL,
    month TEXT NOT NULL,
    lines TEXT NOT NULL,
    published_by BLOB NOT NULL REFERENCES accounts (id),
    published_at TEXT NOT NULL,
    objections_until TEXT NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, grid_id, month),
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);

CREATE INDEX points_rankings_by_id ON points_rankings (id);

CREATE TABLE points_ranking_objections (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    ranking_id BLOB NOT NULL,
    line INTEGER,
    reason TEXT NOT NULL,
    filed_by BLOB NOT NULL REFERENCES accounts (id),
    filed_at TEXT NOT NULL,
    outcome TEXT CHECK (outcome IN ('upheld', 'dismissed')),
    answer TEXT,
    answered_by BLOB REFERENCES accounts (id),
    answered_at TEXT,
    PRIMARY KEY (community_id, id),
    FOREIGN KEY (community_id, ranking_id) REFERENCES points_rankings (community_id, id),
    CHECK ((outcome IS NULL) = (answered_at IS NULL))
);

CREATE INDEX points_ranking_objections_by_ranking ON points_ranking_objections (community_id, ranking_id);
CREATE INDEX points_ranking_objections_by_id ON points_ranking_objections (id);

-- Foundation: tenancy (district → subdistrict → community), accounts, roles, sessions,
-- login throttling and the hash-chained audit log.
-- Every tenant-owned table leads its primary and unique keys with community_id so a city
-- deployment can distribute by community (docs/scaling.md).

CREATE TABLE districts (
    id BLOB PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE subdistricts (
    id BLOB PRIMARY KEY,
    district_id BLOB NOT NULL REFERENCES districts (id),
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE communities (
    id BLOB PRIMARY KEY,
    subdistrict_id BLOB NOT NULL REFERENCES subdistricts (id),
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    totp_required BOOLEAN NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE grids (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, code)
);

CREATE TABLE accounts (
    id BLOB PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    locale TEXT NOT NULL,
    home_community_id BLOB REFERENCES communities (id),
    totp_secret_enc BLOB,
    totp_enabled BOOLEAN NOT NULL DEFAULT 0,
    totp_last_step BIGINT,
    disabled_at TEXT,
    password_changed_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE role_grants (
    community_id BLOB NOT NULL REFERENCES communities (id),
    account_id BLOB NOT NULL REFERENCES accounts (id),
    role TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    PRIMARY KEY (community_id, account_id, role)
);
CREATE INDEX role_grants_by_account ON role_grants (account_id);

CREATE TABLE role_grant_grids (
    community_id BLOB NOT NULL,
    account_id BLOB NOT NULL,
    role TEXT NOT NULL,
    grid_id BLOB NOT NULL,
    PRIMARY KEY (community_id, account_id, role, grid_id),
    FOREIGN KEY (community_id, account_id, role)
        REFERENCES role_grants (community_id, account_id, role) ON DELETE CASCADE,
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);

CREATE TABLE district_admins (
    district_id BLOB NOT NULL REFERENCES districts (id),
    account_id BLOB NOT NULL REFERENCES accounts (id),
    granted_at TEXT NOT NULL,
    PRIMARY KEY (district_id, account_id)
);
CREATE INDEX district_admins_by_account ON district_admins (account_id);

-- Browser sessions and API tokens alike; only the SHA-256 of the secret is stored.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    account_id BLOB NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX sessions_by_account ON sessions (account_id);

-- Failed sign-ins per account and per client address, shared by every server process.
CREATE TABLE login_throttle (
    throttle_key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_started_at TEXT NOT NULL,
    locked_until TEXT
);

CREATE TABLE audit_chain_heads (
    community_id BLOB PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash BLOB NOT NULL
);

CREATE TABLE audit_log (
    community_id BLOB NOT NULL,
    seq BIGINT NOT NULL,
    at TEXT NOT NULL,
    actor_account_id BLOB,
    actor_ip TEXT,
    request_id TEXT,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (community_id, seq)
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- A chain's head only moves forward and is never removed, so a chain cannot be rewound
-- or hidden from `linli check`.
CREATE TRIGGER audit_chain_heads_no_delete BEFORE DELETE ON audit_chain_heads
BEGIN
    SELECT RAISE(ABORT, 'audit chain heads cannot be deleted');
END;

CREATE TRIGGER audit_chain_heads_forward_only BEFORE UPDATE ON audit_chain_heads
WHEN NEW.seq <= OLD.seq OR NEW.community_id IS NOT OLD.community_id
BEGIN
    SELECT RAISE(ABORT, 'audit chain heads only move forward');
END;

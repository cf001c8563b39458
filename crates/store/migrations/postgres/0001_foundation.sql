-- Foundation: tenancy (district → subdistrict → community), accounts, roles, sessions,
-- login throttling and the hash-chained audit log.
-- Every tenant-owned table leads its primary and unique keys with community_id so a city
-- deployment can distribute by community (docs/scaling.md).

CREATE TABLE districts (
    id UUID PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE subdistricts (
    id UUID PRIMARY KEY,
    district_id UUID NOT NULL REFERENCES districts (id),
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE communities (
    id UUID PRIMARY KEY,
    subdistrict_id UUID NOT NULL REFERENCES subdistricts (id),
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    totp_required BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE grids (
    community_id UUID NOT NULL REFERENCES communities (id),
    id UUID NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, code)
);

CREATE TABLE accounts (
    id UUID PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    locale TEXT NOT NULL,
    home_community_id UUID REFERENCES communities (id),
    totp_secret_enc BYTEA,
    totp_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    totp_last_step BIGINT,
    disabled_at TIMESTAMPTZ,
    password_changed_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE role_grants (
    community_id UUID NOT NULL REFERENCES communities (id),
    account_id UUID NOT NULL REFERENCES accounts (id),
    role TEXT NOT NULL,
    granted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, account_id, role)
);
CREATE INDEX role_grants_by_account ON role_grants (account_id);

CREATE TABLE role_grant_grids (
    community_id UUID NOT NULL,
    account_id UUID NOT NULL,
    role TEXT NOT NULL,
    grid_id UUID NOT NULL,
    PRIMARY KEY (community_id, account_id, role, grid_id),
    FOREIGN KEY (community_id, account_id, role)
        REFERENCES role_grants (community_id, account_id, role) ON DELETE CASCADE,
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);

CREATE TABLE district_admins (
    district_id UUID NOT NULL REFERENCES districts (id),
    account_id UUID NOT NULL REFERENCES accounts (id),
    granted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (district_id, account_id)
);
CREATE INDEX district_admins_by_account ON district_admins (account_id);

-- Browser sessions and API tokens alike; only the SHA-256 of the secret is stored.
CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    account_id UUID NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX sessions_by_account ON sessions (account_id);

-- Failed sign-ins per account and per client address, shared by every server process.
CREATE TABLE login_throttle (
    throttle_key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_started_at TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ
);

CREATE TABLE audit_chain_heads (
    community_id UUID PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL
);

CREATE TABLE audit_log (
    community_id UUID NOT NULL,
    seq BIGINT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    actor_account_id UUID,
    actor_ip TEXT,
    request_id TEXT,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (community_id, seq)
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;

CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- A chain's head only moves forward and is never removed, so a chain cannot be rewound
-- or hidden from `linli check`.
CREATE FUNCTION audit_chain_heads_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.seq <= OLD.seq OR NEW.community_id <> OLD.community_id THEN
        RAISE EXCEPTION 'audit chain heads only move forward';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_chain_heads_guard BEFORE UPDATE OR DELETE ON audit_chain_heads
    FOR EACH ROW EXECUTE FUNCTION audit_chain_heads_forward_only();

CREATE TRIGGER audit_chain_heads_no_truncate BEFORE TRUNCATE ON audit_chain_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

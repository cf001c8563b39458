-- Volunteer service records (issue 5, DOMAIN §6): hours served, recorded by whoever
-- organised the service and verified by someone else. Nothing here is ever edited: a
-- mistake is corrected by a new record that names the one it replaces (corrects_id) and
-- says why; a verifier's decision is a row of its own, written once.

CREATE TABLE volunteer_records (
    community_id UUID NOT NULL REFERENCES communities (id),
    id UUID NOT NULL,
    volunteer_id UUID NOT NULL,
    activity TEXT NOT NULL,
    content TEXT NOT NULL,
    organiser TEXT NOT NULL,
    -- The contribution type it earns points under when verified (NULL: hours only).
    rule_code TEXT,
    started_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ NOT NULL,
    minutes BIGINT NOT NULL CHECK (minutes >= 0 AND minutes <= 1440),
    evidence TEXT NOT NULL,
    corrects_id UUID,
    reason TEXT,
    recorded_by UUID NOT NULL REFERENCES accounts (id),
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, id),
    FOREIGN KEY (community_id, volunteer_id) REFERENCES residents (community_id, id),
    FOREIGN KEY (community_id, corrects_id) REFERENCES volunteer_records (community_id, id),
    CHECK ((corrects_id IS NULL) = (reason IS NULL))
);

CREATE INDEX volunteer_records_by_volunteer
    ON volunteer_records (community_id, volunteer_id, started_at);
CREATE INDEX volunteer_records_by_time ON volunteer_records (community_id, started_at);
CREATE INDEX volunteer_records_corrections
    ON volunteer_records (community_id, corrects_id) WHERE corrects_id IS NOT NULL;
CREATE INDEX volunteer_records_by_id ON volunteer_records (id);

-- One decision per record. `idempotency_key` lets a retried request see its own answer;
-- `points` is what the decision added to the volunteer's account (0 when a cap was
-- reached, the record earns nothing, or a correction could not take spent points back:
-- `points_note` says which).
CREATE TABLE volunteer_verifications (
    community_id UUID NOT NULL,
    record_id UUID NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('verified', 'rejected')),
    verifier_id UUID NOT NULL REFERENCES accounts (id),
    note TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    points BIGINT NOT NULL,
    points_note TEXT,
    verified_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, record_id),
    FOREIGN KEY (community_id, record_id) REFERENCES volunteer_records (community_id, id)
);

-- Certificates as issued (the issuer keeps files, 民发〔2015〕149号): numbered per
-- community and year, with the hours they stated.
CREATE TABLE volunteer_certificates (
    community_id UUID NOT NULL REFERENCES communities (id),
    number TEXT NOT NULL,
    id UUID NOT NULL,
    volunteer_id UUID NOT NULL,
    minutes BIGINT NOT NULL,
    records BIGINT NOT NULL,
    -- The records it states, as printed (JSON): a reprint shows what was certified.
    lines TEXT NOT NULL,
    period_from TIMESTAMPTZ,
    period_until TIMESTAMPTZ,
    issued_by UUID NOT NULL REFERENCES accounts (id),
    issued_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, number),
    UNIQUE (id),
    FOREIGN KEY (community_id, volunteer_id) REFERENCES residents (community_id, id)
);

CREATE TRIGGER volunteer_records_append_only BEFORE UPDATE OR DELETE ON volunteer_records
    FOR EACH ROW EXECUTE FUNCTION points_append_only();

CREATE TRIGGER volunteer_records_no_truncate BEFORE TRUNCATE ON volunteer_records
    FOR EACH STATEMENT EXECUTE FUNCTION points_append_only();

CREATE TRIGGER volunteer_verifications_append_only BEFORE UPDATE OR DELETE ON volunteer_verifications
    FOR EACH ROW EXECUTE FUNCTION points_append_only();

CREATE TRIGGER volunteer_verifications_no_truncate BEFORE TRUNCATE ON volunteer_verifications
    FOR EACH STATEMENT EXECUTE FUNCTION points_append_only();

CREATE TRIGGER volunteer_certificates_append_only BEFORE UPDATE OR DELETE ON volunteer_certificates
    FOR EACH ROW EXECUTE FUNCTION points_append_only();

CREATE TRIGGER volunteer_certificates_no_truncate BEFORE TRUNCATE ON volunteer_certificates
    FOR EACH STATEMENT EXECUTE FUNCTION points_append_only();

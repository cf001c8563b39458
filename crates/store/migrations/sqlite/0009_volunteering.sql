-- Volunteer service records (issue 5, DOMAIN §6): hours served, recorded by whoever
-- organised the service and verified by someone else. Nothing here is ever edited: a
-- mistake is corrected by a new record that names the one it replaces (corrects_id) and
-- says why; a verifier's decision is a row of its own, written once.

CREATE TABLE volunteer_records (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    volunteer_id BLOB NOT NULL,
    activity TEXT NOT NULL,
    content TEXT NOT NULL,
    organiser TEXT NOT NULL,
    -- The contribution type it earns points under when verified (NULL: hours only).
    rule_code TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    minutes INTEGER NOT NULL CHECK (minutes >= 0 AND minutes <= 1440),
    evidence TEXT NOT NULL,
    corrects_id BLOB,
    reason TEXT,
    recorded_by BLOB NOT NULL REFERENCES accounts (id),
    recorded_at TEXT NOT NULL,
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
    community_id BLOB NOT NULL,
    record_id BLOB NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('verified', 'rejected')),
    verifier_id BLOB NOT NULL REFERENCES accounts (id),
    note TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    points INTEGER NOT NULL,
    points_note TEXT,
    verified_at TEXT NOT NULL,
    PRIMARY KEY (community_id, record_id),
    FOREIGN KEY (community_id, record_id) REFERENCES volunteer_records (community_id, id)
);

-- Certificates as issued (the issuer keeps files, 民发〔2015〕149号): numbered per
-- community and year, with the hours they stated.
CREATE TABLE volunteer_certificates (
    community_id BLOB NOT NULL REFERENCES communities (id),
    number TEXT NOT NULL,
    id BLOB NOT NULL,
    volunteer_id BLOB NOT NULL,
    minutes INTEGER NOT NULL,
    records INTEGER NOT NULL,
    -- The records it states, as printed (JSON): a reprint shows what was certified.
    lines TEXT NOT NULL,
    period_from TEXT,
    period_until TEXT,
    issued_by BLOB NOT NULL REFERENCES accounts (id),
    issued_at TEXT NOT NULL,
    PRIMARY KEY (community_id, number),
    UNIQUE (id),
    FOREIGN KEY (community_id, volunteer_id) REFERENCES residents (community_id, id)
);

CREATE TRIGGER volunteer_records_no_update BEFORE UPDATE ON volunteer_records
BEGIN
    SELECT RAISE(ABORT, 'volunteer_records is append-only: correct with a new record');
END;

CREATE TRIGGER volunteer_records_no_delete BEFORE DELETE ON volunteer_records
BEGIN
    SELECT RAISE(ABORT, 'volunteer_records is append-only: correct with a new record');
END;

CREATE TRIGGER volunteer_verifications_no_update BEFORE UPDATE ON volunteer_verifications
BEGIN
    SELECT RAISE(ABORT, 'volunteer_verifications is append-only');
END;

CREATE TRIGGER volunteer_verifications_no_delete BEFORE DELETE ON volunteer_verifications
BEGIN
    SELECT RAISE(ABORT, 'volunteer_verifications is append-only');
END;

CREATE TRIGGER volunteer_certificates_no_update BEFORE UPDATE ON volunteer_certificates
BEGIN
    SELECT RAISE(ABORT, 'volunteer_certificates is append-only');
END;

CREATE TRIGGER volunteer_certificates_no_delete BEFORE DELETE ON volunteer_certificates
BEGIN
    SELECT RAISE(ABORT, 'volunteer_certificates is append-only');
END;

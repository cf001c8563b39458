-- Matters (事项): report, three-way triage, dispatch, working-time limits, supervision and
-- closure (issue 4, DOMAIN §4–§5); the working calendar; background jobs; the in-app
-- inbox and webhook endpoints.

-- A community's two-level catalogue: leaves carry the default class and the time limit.
CREATE TABLE matter_categories (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    code TEXT NOT NULL,
    parent_id BLOB,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    default_class TEXT NOT NULL,
    time_limit INTEGER NOT NULL,
    time_unit TEXT NOT NULL,
    position INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, code),
    FOREIGN KEY (community_id, parent_id) REFERENCES matter_categories (community_id, id)
);

-- Office hours ("09:00-12:00,14:00-18:00") and the supervision ladder, per community.
CREATE TABLE matter_settings (
    community_id BLOB NOT NULL REFERENCES communities (id),
    working_hours TEXT NOT NULL,
    yellow_after_days INTEGER NOT NULL,
    red_after_days INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (community_id)
);

-- Exceptions to the Monday-to-Friday week: public holidays and make-up working days.
CREATE TABLE calendar_days (
    community_id BLOB NOT NULL REFERENCES communities (id),
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (community_id, day)
);

-- One row per matter, its current state; matter_events keeps how it got there.
-- version counts the steps taken (If-Match); the deadlines are fixed when the clock
-- starts or an extension is approved, so the escalation sweep is a plain indexed read.
CREATE TABLE matters (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    number TEXT NOT NULL,
    category_id BLOB NOT NULL,
    grid_id BLOB,
    building_id BLOB,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    class TEXT,
    proposed_class TEXT,
    reporter_resident_id BLOB,
    reporter_account_id BLOB REFERENCES accounts (id),
    recorded_by BLOB REFERENCES accounts (id),
    contact_enc BLOB,
    place TEXT,
    latitude REAL,
    longitude REAL,
    handler_kind TEXT,
    handler_id BLOB,
    referral_kind TEXT,
    due_at TEXT,
    remind_at TEXT,
    yellow_at TEXT,
    red_at TEXT,
    reminded_at TEXT,
    supervise_level TEXT NOT NULL,
    extension_until TEXT,
    fixed_by BLOB,
    rating INTEGER,
    reopen_count INTEGER NOT NULL,
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, number),
    FOREIGN KEY (community_id, category_id) REFERENCES matter_categories (community_id, id),
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id),
    FOREIGN KEY (community_id, building_id) REFERENCES buildings (community_id, id),
    FOREIGN KEY (community_id, reporter_resident_id) REFERENCES residents (community_id, id)
);
CREATE INDEX matters_by_grid ON matters (community_id, grid_id, status, id);
CREATE INDEX matters_by_status ON matters (community_id, status, id);
CREATE INDEX matters_by_reporter ON matters (community_id, reporter_account_id, id);
CREATE INDEX matters_by_handler ON matters (community_id, handler_id, status);
-- The escalation sweep's reads: only running matters are indexed.
CREATE INDEX matters_to_remind ON matters (remind_at)
    WHERE reminded_at IS NULL AND status IN ('dispatched', 'in_progress');
CREATE INDEX matters_due ON matters (due_at)
    WHERE supervise_level = 'none' AND status IN ('dispatched', 'in_progress');
CREATE INDEX matters_for_yellow ON matters (yellow_at)
    WHERE supervise_level IN ('none', 'normal') AND status IN ('dispatched', 'in_progress');
CREATE INDEX matters_for_red ON matters (red_at)
    WHERE supervise_level <> 'red' AND status IN ('dispatched', 'in_progress');

-- The append-only timeline: seq is the matter's version after the step, so two steps
-- racing on one version cannot both be written.
CREATE TABLE matter_events (
    community_id BLOB NOT NULL,
    matter_id BLOB NOT NULL,
    seq BIGINT NOT NULL,
    at TEXT NOT NULL,
    actor_account_id BLOB REFERENCES accounts (id),
    step TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    comment TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (community_id, matter_id, seq),
    FOREIGN KEY (community_id, matter_id) REFERENCES matters (community_id, id)
);

-- The in-app inbox: one row per person a step concerns.
CREATE TABLE notifications (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    account_id BLOB NOT NULL REFERENCES accounts (id),
    matter_id BLOB,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at TEXT,
    PRIMARY KEY (community_id, id)
);
CREATE INDEX notifications_by_account ON notifications (account_id, id);

-- Where a community's events are delivered (an SMS or WeChat gateway), signed with a
-- shared secret (sealed like personal data).
CREATE TABLE webhooks (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    url TEXT NOT NULL,
    secret_enc BLOB NOT NULL,
    events TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, id)
);

-- Background work, in the same database so a job is enqueued in the transaction of the
-- change that causes it (DESIGN §3). A worker claims a job by setting locked_until; a
-- claim that runs out (the worker died) makes the job claimable again. unique_key keeps
-- one row per recurring job however many servers start. Not tenant data: a job names its
-- community in its payload.
CREATE TABLE jobs (
    id BLOB PRIMARY KEY,
    kind TEXT NOT NULL,
    unique_key TEXT UNIQUE,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    run_at TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    locked_until TEXT,
    locked_by TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX jobs_ready ON jobs (run_at) WHERE state = 'queued';

-- Full-text search over titles and descriptions (character pairs, see the domain's
-- matters::search): FTS5 over matters.search_text, kept in step by triggers.
CREATE VIRTUAL TABLE matter_search USING fts5 (
    search_text, content = 'matters', content_rowid = 'rowid', detail = 'none'
);
CREATE TRIGGER matters_search_insert AFTER INSERT ON matters BEGIN
    INSERT INTO matter_search (rowid, search_text) VALUES (new.rowid, new.search_text);
END;
CREATE TRIGGER matters_search_delete AFTER DELETE ON matters BEGIN
    INSERT INTO matter_search (matter_search, rowid, search_text)
        VALUES ('delete', old.rowid, old.search_text);
END;
CREATE TRIGGER matters_search_update AFTER UPDATE OF search_text ON matters BEGIN
    INSERT INTO matter_search (matter_search, rowid, search_text)
        VALUES ('delete', old.rowid, old.search_text);
    INSERT INTO matter_search (rowid, search_text) VALUES (new.rowid, new.search_text);
END;

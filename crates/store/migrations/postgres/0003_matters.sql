-- Matters (事项): report, three-way triage, dispatch, working-time limits, supervision and
-- closure (issue 4, DOMAIN §4–§5); the working calendar; background jobs; the in-app
-- inbox and webhook endpoints.

-- A community's two-level catalogue: leaves carry the default class and the time limit.
CREATE TABLE matter_categories (
    community_id UUID NOT NULL REFERENCES communities (id),
    id UUID NOT NULL,
    code TEXT NOT NULL,
    parent_id UUID,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    default_class TEXT NOT NULL,
    time_limit INTEGER NOT NULL,
    time_unit TEXT NOT NULL,
    position INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, code),
    FOREIGN KEY (community_id, parent_id) REFERENCES matter_categories (community_id, id)
);

-- Office hours ("09:00-12:00,14:00-18:00") and the supervision ladder, per community.
CREATE TABLE matter_settings (
    community_id UUID NOT NULL REFERENCES communities (id),
    working_hours TEXT NOT NULL,
    yellow_after_days INTEGER NOT NULL,
    red_after_days INTEGER NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id)
);

-- Exceptions to the Monday-to-Friday week: public holidays and make-up working days.
CREATE TABLE calendar_days (
    community_id UUID NOT NULL REFERENCES communities (id),
    day DATE NOT NULL,
    kind TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (community_id, day)
);

-- One row per matter, its current state; matter_events keeps how it got there.
-- version counts the steps taken (If-Match); the deadlines are fixed when the clock
-- starts or an extension is approved, so the escalation sweep is a plain indexed read.
CREATE TABLE matters (
    community_id UUID NOT NULL REFERENCES communities (id),
    id UUID NOT NULL,
    number TEXT NOT NULL,
    category_id UUID NOT NULL,
    grid_id UUID,
    building_id UUID,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    class TEXT,
    proposed_class TEXT,
    reporter_resident_id UUID,
    reporter_account_id UUID REFERENCES accounts (id),
    recorded_by UUID REFERENCES accounts (id),
    contact_enc BYTEA,
    place TEXT,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    handler_kind TEXT,
    handler_id UUID,
    referral_kind TEXT,
    due_at TIMESTAMPTZ,
    remind_at TIMESTAMPTZ,
    yellow_at TIMESTAMPTZ,
    red_at TIMESTAMPTZ,
    reminded_at TIMESTAMPTZ,
    supervise_level TEXT NOT NULL,
    extension_until TIMESTAMPTZ,
    fixed_by UUID,
    rating INTEGER,
    reopen_count INTEGER NOT NULL,
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    closed_at TIMESTAMPTZ,
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
    community_id UUID NOT NULL,
    matter_id UUID NOT NULL,
    seq BIGINT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    actor_account_id UUID REFERENCES accounts (id),
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
    community_id UUID NOT NULL REFERENCES communities (id),
    id UUID NOT NULL,
    account_id UUID NOT NULL REFERENCES accounts (id),
    matter_id UUID,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    read_at TIMESTAMPTZ,
    PRIMARY KEY (community_id, id)
);
CREATE INDEX notifications_by_account ON notifications (account_id, id);

-- Where a community's events are delivered (an SMS or WeChat gateway), signed with a
-- shared secret (sealed like personal data).
CREATE TABLE webhooks (
    community_id UUID NOT NULL REFERENCES communities (id),
    id UUID NOT NULL,
    url TEXT NOT NULL,
    secret_enc BYTEA NOT NULL,
    events TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, id)
);

-- Background work, in the same database so a job is enqueued in the transaction of the
-- change that causes it (DESIGN §3). A worker claims a job by setting locked_until; a
-- claim that runs out (the worker died) makes the job claimable again. unique_key keeps
-- one row per recurring job however many servers start. Not tenant data: a job names its
-- community in its payload.
CREATE TABLE jobs (
    id UUID PRIMARY KEY,
    kind TEXT NOT NULL,
    unique_key TEXT UNIQUE,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    run_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    locked_until TIMESTAMPTZ,
    locked_by TEXT,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);
CREATE INDEX jobs_ready ON jobs (run_at) WHERE state = 'queued';

-- Full-text search over titles and descriptions (character pairs, see the domain's
-- matters::search), as for resident names.
CREATE INDEX matters_search ON matters USING gin (to_tsvector('simple', search_text));

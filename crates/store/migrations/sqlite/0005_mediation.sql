-- People's mediation (issue 4, DOMAIN §8): cases, parties, mediators with recusal,
-- session records and the append-only timeline. Parties' phone and ID numbers are sealed.
-- A case is private by default (the 2002 rules let mediation be public only when no party
-- objects and nothing private is at stake).
CREATE TABLE mediation_cases (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    number TEXT NOT NULL,
    matter_id BLOB,
    source TEXT NOT NULL,
    dispute_type TEXT NOT NULL,
    facts TEXT NOT NULL,
    status TEXT NOT NULL,
    is_public BOOLEAN NOT NULL,
    created_by BLOB REFERENCES accounts (id),
    accepted_on TEXT,
    agreement_kind TEXT,
    responsibilities TEXT,
    agreement_terms TEXT,
    performance_method TEXT,
    performance_place TEXT,
    performance_deadline TEXT,
    effective_on TEXT,
    termination_reason TEXT,
    advice TEXT,
    performance TEXT,
    judicial_requested_on TEXT,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, number),
    FOREIGN KEY (community_id, matter_id) REFERENCES matters (community_id, id)
);

CREATE TABLE mediation_parties (
    community_id BLOB NOT NULL,
    case_id BLOB NOT NULL,
    id BLOB NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    gender TEXT,
    birth_year INTEGER,
    address TEXT,
    phone_enc BLOB,
    id_number_enc BLOB,
    position INTEGER NOT NULL,
    PRIMARY KEY (community_id, case_id, id),
    FOREIGN KEY (community_id, case_id) REFERENCES mediation_cases (community_id, id)
);

CREATE TABLE mediation_mediators (
    community_id BLOB NOT NULL,
    case_id BLOB NOT NULL,
    account_id BLOB NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    chosen_by_parties BOOLEAN NOT NULL,
    assigned_at TEXT NOT NULL,
    recused_at TEXT,
    recusal_reason TEXT,
    PRIMARY KEY (community_id, case_id, account_id),
    FOREIGN KEY (community_id, case_id) REFERENCES mediation_cases (community_id, id)
);
CREATE INDEX mediation_mediators_by_account ON mediation_mediators (account_id);

-- 调解笔录: one record per session, signed on paper by the mediator and the parties.
CREATE TABLE mediation_sessions (
    community_id BLOB NOT NULL,
    case_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    held_on TEXT NOT NULL,
    place TEXT NOT NULL,
    attendees TEXT NOT NULL,
    minutes TEXT NOT NULL,
    recorded_by BLOB REFERENCES accounts (id),
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (community_id, case_id, seq),
    FOREIGN KEY (community_id, case_id) REFERENCES mediation_cases (community_id, id)
);

CREATE TABLE mediation_events (
    community_id BLOB NOT NULL,
    case_id BLOB NOT NULL,
    seq BIGINT NOT NULL,
    at TEXT NOT NULL,
    actor_account_id BLOB REFERENCES accounts (id),
    step TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (community_id, case_id, seq),
    FOREIGN KEY (community_id, case_id) REFERENCES mediation_cases (community_id, id)
);

-- People's mediation (issue 4, DOMAIN §8): cases, parties, mediators with recusal,
-- session records and the append-only timeline. Parties' phone and ID numbers are sealed.
-- A case is private by default (the 2002 rules let mediation be public only when no party
-- objects and nothing private is at stake).
CREATE TABLE mediation_cases (
    community_id UUID NOT NULL REFERENCES communities (id),
    id UUID NOT NULL,
    number TEXT NOT NULL,
    matter_id UUID,
    source TEXT NOT NULL,
    dispute_type TEXT NOT NULL,
    facts TEXT NOT NULL,
    status TEXT NOT NULL,
    is_public BOOLEAN NOT NULL,
    created_by UUID REFERENCES accounts (id),
    accepted_on DATE,
    agreement_kind TEXT,
    responsibilities TEXT,
    agreement_terms TEXT,
    performance_method TEXT,
    performance_place TEXT,
    performance_deadline DATE,
    effective_on DATE,
    termination_reason TEXT,
    advice TEXT,
    performance TEXT,
    judicial_requested_on DATE,
    version BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, number),
    FOREIGN KEY (community_id, matter_id) REFERENCES matters (community_id, id)
);

CREATE TABLE mediation_parties (
    community_id UUID NOT NULL,
    case_id UUID NOT NULL,
    id UUID NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    gender TEXT,
    birth_year INTEGER,
    address TEXT,
    phone_enc BYTEA,
    id_number_enc BYTEA,
    position INTEGER NOT NULL,
    PRIMARY KEY (community_id, case_id, id),
    FOREIGN KEY (community_id, case_id) REFERENCES mediation_cases (community_id, id)
);

CREATE TABLE mediation_mediators (
    community_id UUID NOT NULL,
    case_id UUID NOT NULL,
    account_id UUID NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    chosen_by_parties BOOLEAN NOT NULL,
    assigned_at TIMESTAMPTZ NOT NULL,
    recused_at TIMESTAMPTZ,
    recusal_reason TEXT,
    PRIMARY KEY (community_id, case_id, account_id),
    FOREIGN KEY (community_id, case_id) REFERENCES mediation_cases (community_id, id)
);
CREATE INDEX mediation_mediators_by_account ON mediation_mediators (account_id);

-- 调解笔录: one record per session, signed on paper by the mediator and the parties.
CREATE TABLE mediation_sessions (
    community_id UUID NOT NULL,
    case_id UUID NOT NULL,
    seq INTEGER NOT NULL,
    held_on DATE NOT NULL,
    place TEXT NOT NULL,
    attendees TEXT NOT NULL,
    minutes TEXT NOT NULL,
    recorded_by UUID REFERENCES accounts (id),
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, case_id, seq),
    FOREIGN KEY (community_id, case_id) REFERENCES mediation_cases (community_id, id)
);

CREATE TABLE mediation_events (
    community_id UUID NOT NULL,
    case_id UUID NOT NULL,
    seq BIGINT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    actor_account_id UUID REFERENCES accounts (id),
    step TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (community_id, case_id, seq),
    FOREIGN KEY (community_id, case_id) REFERENCES mediation_cases (community_id, id)
);

-- Registry: places (zones, buildings, dwellings), people (residents, households,
-- guardians, sensitive tags, consents), comprehensive grid workers, organisations, grid
-- groups and the service circle (issue 3, DOMAIN §2–§3).
-- Personal data (document numbers, phones, sensitive tags) is stored only sealed
-- (XChaCha20-Poly1305) with an HMAC blind index for exact lookup (DESIGN §4).

ALTER TABLE grids ADD COLUMN boundary TEXT;

-- "Who looked at my data": reveals and changes are found by the object they concern.
CREATE INDEX audit_log_by_object ON audit_log (community_id, object_type, object_id);

-- 共治片区: a co-governance zone groups grids for joint meetings.
CREATE TABLE zones (
    community_id UUID NOT NULL REFERENCES communities (id),
    id UUID NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, code)
);

CREATE TABLE zone_grids (
    community_id UUID NOT NULL,
    zone_id UUID NOT NULL,
    grid_id UUID NOT NULL,
    PRIMARY KEY (community_id, zone_id, grid_id),
    FOREIGN KEY (community_id, zone_id) REFERENCES zones (community_id, id) ON DELETE CASCADE,
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);

-- grid_id is the building's current grid; building_grids keeps every assignment, because
-- grids get redrawn and old matters must still be counted where they happened.
CREATE TABLE buildings (
    community_id UUID NOT NULL REFERENCES communities (id),
    id UUID NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    address_code TEXT,
    floors INTEGER,
    grid_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, code),
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);
CREATE INDEX buildings_by_grid ON buildings (community_id, grid_id, code);

CREATE TABLE building_grids (
    community_id UUID NOT NULL,
    building_id UUID NOT NULL,
    grid_id UUID NOT NULL,
    valid_from TIMESTAMPTZ NOT NULL,
    valid_to TIMESTAMPTZ,
    PRIMARY KEY (community_id, building_id, valid_from),
    FOREIGN KEY (community_id, building_id) REFERENCES buildings (community_id, id),
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);

CREATE TABLE dwellings (
    community_id UUID NOT NULL,
    id UUID NOT NULL,
    building_id UUID NOT NULL,
    room TEXT NOT NULL,
    address_code TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, building_id, room),
    FOREIGN KEY (community_id, building_id) REFERENCES buildings (community_id, id)
);

CREATE TABLE households (
    community_id UUID NOT NULL,
    id UUID NOT NULL,
    dwelling_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, id),
    FOREIGN KEY (community_id, dwelling_id) REFERENCES dwellings (community_id, id)
);
CREATE INDEX households_by_dwelling ON households (community_id, dwelling_id);

-- household_id, building_id and grid_id are where the resident lives now (null once moved
-- away); household_members keeps the history. search_text holds the name's index terms.
CREATE TABLE residents (
    community_id UUID NOT NULL REFERENCES communities (id),
    id UUID NOT NULL,
    name TEXT NOT NULL,
    gender TEXT,
    birth_date DATE,
    document_kind TEXT,
    document_enc BYTEA,
    document_idx BYTEA,
    phone_enc BYTEA,
    phone_idx BYTEA,
    household_id UUID,
    building_id UUID,
    grid_id UUID,
    party_status TEXT,
    party_organisation TEXT,
    skills TEXT NOT NULL,
    tags TEXT NOT NULL,
    account_id UUID REFERENCES accounts (id),
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, document_idx),
    UNIQUE (community_id, account_id),
    FOREIGN KEY (community_id, household_id) REFERENCES households (community_id, id),
    FOREIGN KEY (community_id, building_id) REFERENCES buildings (community_id, id),
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);
CREATE INDEX residents_by_phone ON residents (community_id, phone_idx);
CREATE INDEX residents_by_grid ON residents (community_id, grid_id, id);
CREATE INDEX residents_by_household ON residents (community_id, household_id);
CREATE INDEX residents_by_building ON residents (community_id, building_id, id);

-- Name search: a GIN index over the search terms with the 'simple' configuration (DESIGN §3).
CREATE INDEX residents_search ON residents USING gin (to_tsvector('simple', search_text));

CREATE TABLE household_members (
    community_id UUID NOT NULL,
    household_id UUID NOT NULL,
    resident_id UUID NOT NULL,
    relation TEXT NOT NULL,
    moved_in DATE NOT NULL,
    moved_out DATE,
    PRIMARY KEY (community_id, household_id, resident_id, moved_in),
    FOREIGN KEY (community_id, household_id) REFERENCES households (community_id, id),
    FOREIGN KEY (community_id, resident_id) REFERENCES residents (community_id, id)
);
CREATE INDEX household_members_by_resident ON household_members (community_id, resident_id);

CREATE TABLE guardians (
    community_id UUID NOT NULL,
    minor_id UUID NOT NULL,
    guardian_id UUID NOT NULL,
    relation TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, minor_id, guardian_id),
    FOREIGN KEY (community_id, minor_id) REFERENCES residents (community_id, id),
    FOREIGN KEY (community_id, guardian_id) REFERENCES residents (community_id, id)
);

-- Consent to process sensitive data for one purpose (PIPL art. 29, 31). given_by is the
-- guardian when the resident is a child under 14.
CREATE TABLE consents (
    community_id UUID NOT NULL,
    id UUID NOT NULL,
    resident_id UUID NOT NULL,
    purpose TEXT NOT NULL,
    given_by_resident_id UUID NOT NULL,
    method TEXT NOT NULL,
    given_at TIMESTAMPTZ NOT NULL,
    withdrawn_at TIMESTAMPTZ,
    recorded_by UUID REFERENCES accounts (id),
    PRIMARY KEY (community_id, id),
    FOREIGN KEY (community_id, resident_id) REFERENCES residents (community_id, id),
    FOREIGN KEY (community_id, given_by_resident_id) REFERENCES residents (community_id, id)
);
CREATE INDEX consents_by_resident ON consents (community_id, resident_id, purpose);

-- Sensitive tags live apart from residents so that no ordinary query can reach them.
CREATE TABLE resident_sensitive_tags (
    community_id UUID NOT NULL,
    resident_id UUID NOT NULL,
    tag_idx BYTEA NOT NULL,
    tag_enc BYTEA NOT NULL,
    consent_id UUID,
    recorded_by UUID REFERENCES accounts (id),
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, resident_id, tag_idx),
    FOREIGN KEY (community_id, resident_id) REFERENCES residents (community_id, id),
    FOREIGN KEY (community_id, consent_id) REFERENCES consents (community_id, id)
);

-- Comprehensive grid workers: one staff record whatever the origin ("one identity").
CREATE TABLE staff (
    community_id UUID NOT NULL REFERENCES communities (id),
    id UUID NOT NULL,
    name TEXT NOT NULL,
    origin_role TEXT NOT NULL,
    operational_role TEXT NOT NULL,
    -- A work phone, posted on the grid's contact card: not personal data to hide.
    work_phone TEXT,
    account_id UUID REFERENCES accounts (id),
    created_at TIMESTAMPTZ NOT NULL,
    left_at TIMESTAMPTZ,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, account_id)
);

CREATE TABLE staff_grids (
    community_id UUID NOT NULL,
    staff_id UUID NOT NULL,
    grid_id UUID NOT NULL,
    is_leader BOOLEAN NOT NULL DEFAULT FALSE,
    valid_from TIMESTAMPTZ NOT NULL,
    valid_to TIMESTAMPTZ,
    PRIMARY KEY (community_id, staff_id, grid_id, valid_from),
    FOREIGN KEY (community_id, staff_id) REFERENCES staff (community_id, id),
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);
CREATE INDEX staff_grids_by_grid ON staff_grids (community_id, grid_id);

-- One duty catalogue for every grid worker ("one set of duties").
CREATE TABLE duty_items (
    community_id UUID NOT NULL REFERENCES communities (id),
    id UUID NOT NULL,
    code TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, code)
);

CREATE TABLE organisations (
    community_id UUID NOT NULL REFERENCES communities (id),
    id UUID NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    uscc TEXT,
    contact_name TEXT,
    contact_phone TEXT,
    address TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, uscc)
);

CREATE TABLE grid_groups (
    community_id UUID NOT NULL,
    id UUID NOT NULL,
    grid_id UUID NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, id),
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);

-- Exactly one of staff_id, resident_id, organisation_id names the member.
CREATE TABLE grid_group_members (
    community_id UUID NOT NULL,
    group_id UUID NOT NULL,
    id UUID NOT NULL,
    staff_id UUID,
    resident_id UUID,
    organisation_id UUID,
    role TEXT NOT NULL,
    joined_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, group_id, id),
    FOREIGN KEY (community_id, group_id) REFERENCES grid_groups (community_id, id),
    FOREIGN KEY (community_id, staff_id) REFERENCES staff (community_id, id),
    FOREIGN KEY (community_id, resident_id) REFERENCES residents (community_id, id),
    FOREIGN KEY (community_id, organisation_id) REFERENCES organisations (community_id, id),
    CHECK (num_nonnulls(staff_id, resident_id, organisation_id) = 1)
);

-- The configurable list of services a service point may offer.
CREATE TABLE service_kinds (
    community_id UUID NOT NULL REFERENCES communities (id),
    code TEXT NOT NULL,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    PRIMARY KEY (community_id, code)
);

-- The service circle: the community centre, its stations and the grid-group posts.
CREATE TABLE service_points (
    community_id UUID NOT NULL REFERENCES communities (id),
    id UUID NOT NULL,
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    opening_hours TEXT NOT NULL,
    phone TEXT,
    grid_id UUID,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, code),
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);

CREATE TABLE service_point_services (
    community_id UUID NOT NULL,
    service_point_id UUID NOT NULL,
    service_code TEXT NOT NULL,
    PRIMARY KEY (community_id, service_point_id, service_code),
    FOREIGN KEY (community_id, service_point_id) REFERENCES service_points (community_id, id) ON DELETE CASCADE,
    FOREIGN KEY (community_id, service_code) REFERENCES service_kinds (community_id, code)
);

CREATE TABLE venues (
    community_id UUID NOT NULL,
    id UUID NOT NULL,
    service_point_id UUID NOT NULL,
    name TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    PRIMARY KEY (community_id, id),
    FOREIGN KEY (community_id, service_point_id) REFERENCES service_points (community_id, id) ON DELETE CASCADE
);

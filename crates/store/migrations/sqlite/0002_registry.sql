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
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, code)
);

CREATE TABLE zone_grids (
    community_id BLOB NOT NULL,
    zone_id BLOB NOT NULL,
    grid_id BLOB NOT NULL,
    PRIMARY KEY (community_id, zone_id, grid_id),
    FOREIGN KEY (community_id, zone_id) REFERENCES zones (community_id, id) ON DELETE CASCADE,
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);

-- grid_id is the building's current grid; building_grids keeps every assignment, because
-- grids get redrawn and old matters must still be counted where they happened.
CREATE TABLE buildings (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    address_code TEXT,
    floors INTEGER,
    grid_id BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, code),
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);
CREATE INDEX buildings_by_grid ON buildings (community_id, grid_id, code);

CREATE TABLE building_grids (
    community_id BLOB NOT NULL,
    building_id BLOB NOT NULL,
    grid_id BLOB NOT NULL,
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    PRIMARY KEY (community_id, building_id, valid_from),
    FOREIGN KEY (community_id, building_id) REFERENCES buildings (community_id, id),
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);

CREATE TABLE dwellings (
    community_id BLOB NOT NULL,
    id BLOB NOT NULL,
    building_id BLOB NOT NULL,
    room TEXT NOT NULL,
    address_code TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, building_id, room),
    FOREIGN KEY (community_id, building_id) REFERENCES buildings (community_id, id)
);

CREATE TABLE households (
    community_id BLOB NOT NULL,
    id BLOB NOT NULL,
    dwelling_id BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, id),
    FOREIGN KEY (community_id, dwelling_id) REFERENCES dwellings (community_id, id)
);
CREATE INDEX households_by_dwelling ON households (community_id, dwelling_id);

-- household_id, building_id and grid_id are where the resident lives now (null once moved
-- away); household_members keeps the history. search_text holds the name's index terms.
CREATE TABLE residents (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    name TEXT NOT NULL,
    gender TEXT,
    birth_date TEXT,
    document_kind TEXT,
    document_enc BLOB,
    document_idx BLOB,
    phone_enc BLOB,
    phone_idx BLOB,
    household_id BLOB,
    building_id BLOB,
    grid_id BLOB,
    party_status TEXT,
    party_organisation TEXT,
    skills TEXT NOT NULL,
    tags TEXT NOT NULL,
    account_id BLOB REFERENCES accounts (id),
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
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

-- Name search: FTS5 over residents.search_text, kept in step by triggers (DESIGN §3).
-- detail=none: no positions are kept, since no query asks for phrases; the index is
-- smaller and posting lists merge faster.
CREATE VIRTUAL TABLE resident_search USING fts5 (
    search_text, content = 'residents', content_rowid = 'rowid', detail = 'none'
);
CREATE TRIGGER residents_search_insert AFTER INSERT ON residents BEGIN
    INSERT INTO resident_search (rowid, search_text) VALUES (new.rowid, new.search_text);
END;
CREATE TRIGGER residents_search_delete AFTER DELETE ON residents BEGIN
    INSERT INTO resident_search (resident_search, rowid, search_text)
        VALUES ('delete', old.rowid, old.search_text);
END;
CREATE TRIGGER residents_search_update AFTER UPDATE OF search_text ON residents BEGIN
    INSERT INTO resident_search (resident_search, rowid, search_text)
        VALUES ('delete', old.rowid, old.search_text);
    INSERT INTO resident_search (rowid, search_text) VALUES (new.rowid, new.search_text);
END;

CREATE TABLE household_members (
    community_id BLOB NOT NULL,
    household_id BLOB NOT NULL,
    resident_id BLOB NOT NULL,
    relation TEXT NOT NULL,
    moved_in TEXT NOT NULL,
    moved_out TEXT,
    PRIMARY KEY (community_id, household_id, resident_id, moved_in),
    FOREIGN KEY (community_id, household_id) REFERENCES households (community_id, id),
    FOREIGN KEY (community_id, resident_id) REFERENCES residents (community_id, id)
);
CREATE INDEX household_members_by_resident ON household_members (community_id, resident_id);

CREATE TABLE guardians (
    community_id BLOB NOT NULL,
    minor_id BLOB NOT NULL,
    guardian_id BLOB NOT NULL,
    relation TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, minor_id, guardian_id),
    FOREIGN KEY (community_id, minor_id) REFERENCES residents (community_id, id),
    FOREIGN KEY (community_id, guardian_id) REFERENCES residents (community_id, id)
);

-- Consent to process sensitive data for one purpose (PIPL art. 29, 31). given_by is the
-- guardian when the resident is a child under 14.
CREATE TABLE consents (
    community_id BLOB NOT NULL,
    id BLOB NOT NULL,
    resident_id BLOB NOT NULL,
    purpose TEXT NOT NULL,
    given_by_resident_id BLOB NOT NULL,
    method TEXT NOT NULL,
    given_at TEXT NOT NULL,
    withdrawn_at TEXT,
    recorded_by BLOB REFERENCES accounts (id),
    PRIMARY KEY (community_id, id),
    FOREIGN KEY (community_id, resident_id) REFERENCES residents (community_id, id),
    FOREIGN KEY (community_id, given_by_resident_id) REFERENCES residents (community_id, id)
);
CREATE INDEX consents_by_resident ON consents (community_id, resident_id, purpose);

-- Sensitive tags live apart from residents so that no ordinary query can reach them.
CREATE TABLE resident_sensitive_tags (
    community_id BLOB NOT NULL,
    resident_id BLOB NOT NULL,
    tag_idx BLOB NOT NULL,
    tag_enc BLOB NOT NULL,
    consent_id BLOB,
    recorded_by BLOB REFERENCES accounts (id),
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (community_id, resident_id, tag_idx),
    FOREIGN KEY (community_id, resident_id) REFERENCES residents (community_id, id),
    FOREIGN KEY (community_id, consent_id) REFERENCES consents (community_id, id)
);

-- Comprehensive grid workers: one staff record whatever the origin ("one identity").
CREATE TABLE staff (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    name TEXT NOT NULL,
    origin_role TEXT NOT NULL,
    operational_role TEXT NOT NULL,
    -- A work phone, posted on the grid's contact card: not personal data to hide.
    work_phone TEXT,
    account_id BLOB REFERENCES accounts (id),
    created_at TEXT NOT NULL,
    left_at TEXT,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, account_id)
);

CREATE TABLE staff_grids (
    community_id BLOB NOT NULL,
    staff_id BLOB NOT NULL,
    grid_id BLOB NOT NULL,
    is_leader BOOLEAN NOT NULL DEFAULT 0,
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    PRIMARY KEY (community_id, staff_id, grid_id, valid_from),
    FOREIGN KEY (community_id, staff_id) REFERENCES staff (community_id, id),
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);
CREATE INDEX staff_grids_by_grid ON staff_grids (community_id, grid_id);

-- One duty catalogue for every grid worker ("one set of duties").
CREATE TABLE duty_items (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    code TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, code)
);

CREATE TABLE organisations (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    uscc TEXT,
    contact_name TEXT,
    contact_phone TEXT,
    address TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, uscc)
);

CREATE TABLE grid_groups (
    community_id BLOB NOT NULL,
    id BLOB NOT NULL,
    grid_id BLOB NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, id),
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);

-- Exactly one of staff_id, resident_id, organisation_id names the member.
CREATE TABLE grid_group_members (
    community_id BLOB NOT NULL,
    group_id BLOB NOT NULL,
    id BLOB NOT NULL,
    staff_id BLOB,
    resident_id BLOB,
    organisation_id BLOB,
    role TEXT NOT NULL,
    joined_at TEXT NOT NULL,
    PRIMARY KEY (community_id, group_id, id),
    FOREIGN KEY (community_id, group_id) REFERENCES grid_groups (community_id, id),
    FOREIGN KEY (community_id, staff_id) REFERENCES staff (community_id, id),
    FOREIGN KEY (community_id, resident_id) REFERENCES residents (community_id, id),
    FOREIGN KEY (community_id, organisation_id) REFERENCES organisations (community_id, id),
    CHECK ((staff_id IS NOT NULL) + (resident_id IS NOT NULL) + (organisation_id IS NOT NULL) = 1)
);

-- The configurable list of services a service point may offer.
CREATE TABLE service_kinds (
    community_id BLOB NOT NULL REFERENCES communities (id),
    code TEXT NOT NULL,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    PRIMARY KEY (community_id, code)
);

-- The service circle: the community centre, its stations and the grid-group posts.
CREATE TABLE service_points (
    community_id BLOB NOT NULL REFERENCES communities (id),
    id BLOB NOT NULL,
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    opening_hours TEXT NOT NULL,
    phone TEXT,
    grid_id BLOB,
    created_at TEXT NOT NULL,
    PRIMARY KEY (community_id, id),
    UNIQUE (community_id, code),
    FOREIGN KEY (community_id, grid_id) REFERENCES grids (community_id, id)
);

CREATE TABLE service_point_services (
    community_id BLOB NOT NULL,
    service_point_id BLOB NOT NULL,
    service_code TEXT NOT NULL,
    PRIMARY KEY (community_id, service_point_id, service_code),
    FOREIGN KEY (community_id, service_point_id) REFERENCES service_points (community_id, id) ON DELETE CASCADE,
    FOREIGN KEY (community_id, service_code) REFERENCES service_kinds (community_id, code)
);

CREATE TABLE venues (
    community_id BLOB NOT NULL,
    id BLOB NOT NULL,
    service_point_id BLOB NOT NULL,
    name TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    PRIMARY KEY (community_id, id),
    FOREIGN KEY (community_id, service_point_id) REFERENCES service_points (community_id, id) ON DELETE CASCADE
);

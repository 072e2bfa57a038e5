-- Reference tables (small, replicated in a distributed deployment).
CREATE TABLE regions (
    id          BLOB PRIMARY KEY,
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('city','district','street','community','grid')),
    parent_code TEXT,
    area_class  TEXT NOT NULL CHECK (area_class IN ('key','general')),
    geometry    TEXT NOT NULL,           -- GeoJSON geometry, WGS-84
    area_m2     REAL NOT NULL,
    source_crs  TEXT NOT NULL,
    valid_from  TEXT NOT NULL,
    valid_to    TEXT,
    UNIQUE (code, valid_from)
);
CREATE UNIQUE INDEX regions_current_code ON regions (code) WHERE valid_to IS NULL;
CREATE INDEX regions_current_parent ON regions (parent_code) WHERE valid_to IS NULL;

CREATE TABLE categories (
    kind                  TEXT NOT NULL CHECK (kind IN ('component','matter')),
    code                  TEXT NOT NULL,
    class_code            TEXT NOT NULL,
    class_name            TEXT NOT NULL,
    name                  TEXT NOT NULL,
    registration_standard TEXT NOT NULL,
    closing_standard      TEXT NOT NULL,
    deadline_amount       INTEGER NOT NULL CHECK (deadline_amount > 0),
    deadline_type         TEXT NOT NULL CHECK (deadline_type IN ('urgent_hours','working_hours','working_days','natural_days')),
    active                INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (kind, code)
);

CREATE TABLE units (
    id            BLOB PRIMARY KEY,
    code          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    district_code TEXT,
    active        INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE users (
    id            BLOB PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    region_code   TEXT,
    unit_id       BLOB REFERENCES units (id),
    password_hash TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);

-- Tables that grow with the city: the district code leads every key (the distribution key).
CREATE TABLE cases (
    district_code  TEXT NOT NULL,
    id             BLOB NOT NULL,
    category_kind  TEXT NOT NULL DEFAULT 'matter',
    category_code  TEXT NOT NULL,
    description    TEXT NOT NULL,
    address        TEXT,
    lon            REAL NOT NULL,
    lat            REAL NOT NULL,
    grid_code      TEXT NOT NULL,
    community_code TEXT NOT NULL,
    street_code    TEXT NOT NULL,
    source         TEXT NOT NULL,
    external_id    TEXT,
    state          TEXT NOT NULL,
    version        INTEGER NOT NULL,
    reported_at    TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (category_kind, category_code) REFERENCES categories (kind, code)
);
CREATE INDEX cases_id ON cases (id);
CREATE INDEX cases_state ON cases (district_code, state, reported_at);
CREATE INDEX cases_grid ON cases (district_code, grid_code, reported_at);
CREATE UNIQUE INDEX cases_external ON cases (district_code, source, external_id) WHERE external_id IS NOT NULL;

-- The append-only timeline: one row per transition; the case row caches the state it leads to.
CREATE TABLE case_events (
    district_code TEXT NOT NULL,
    case_id       BLOB NOT NULL,
    seq           INTEGER NOT NULL,
    action        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    role          TEXT,
    at            TEXT NOT NULL,
    from_state    TEXT,
    to_state      TEXT NOT NULL,
    payload       TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (district_code, case_id, seq),
    FOREIGN KEY (district_code, case_id) REFERENCES cases (district_code, id)
);

-- Timeline rows are never changed or removed.
CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events
BEGIN SELECT RAISE(ABORT, 'case_events is append-only'); END;
CREATE TRIGGER case_events_no_delete BEFORE DELETE ON case_events
BEGIN SELECT RAISE(ABORT, 'case_events is append-only'); END;

-- The registered base data (基础数据): houses, people and their residences, organisations, city
-- components, the versions of every record, proposed changes and the access log of personal
-- data. Every table grows with the city, so each carries the district code first in its key and
-- in every foreign key between them (the distribution key of a distributed PostgreSQL).
--
-- Grid codes are compared byte-wise (COLLATE "C"), so a jurisdiction's `grid_code LIKE '990106%'`
-- is a range scan of the grid index.
--
-- `body` is the record's fields as JSON (wangge_domain::registry::Fields). For people and
-- organisations it is sealed by the vault (ChaCha20-Poly1305, key outside the database); the
-- columns beside it hold only what lists and searches need: masked numbers, blind indexes.

CREATE TABLE houses (
    district_code TEXT NOT NULL,
    house_code    TEXT NOT NULL,
    grid_code     TEXT COLLATE "C" NOT NULL,
    building_key  TEXT,
    address       TEXT NOT NULL,
    use_kind      TEXT NOT NULL,
    lon           DOUBLE PRECISION,
    lat           DOUBLE PRECISION,
    body          BYTEA NOT NULL,
    version       BIGINT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (district_code, house_code)
);
CREATE INDEX houses_grid ON houses (grid_code);
CREATE INDEX houses_building ON houses (district_code, building_key);

CREATE TABLE people (
    district_code TEXT NOT NULL,
    id            UUID NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    -- HMAC of the identity number: exact lookups and the natural key of an import.
    id_index      BYTEA,
    id_masked     TEXT NOT NULL,
    id_tail       TEXT NOT NULL,
    phone_index   BYTEA,
    phone_masked  TEXT,
    phone_tail    TEXT,
    gender        TEXT,
    birth_date    DATE,
    -- ',elderly,low_income,': a tag is found with LIKE '%,elderly,%'.
    tags          TEXT NOT NULL,
    -- Of the current actual home (or the last one): what jurisdiction scoping reads.
    grid_code     TEXT COLLATE "C" NOT NULL,
    house_code    TEXT,
    floating      BOOLEAN NOT NULL,
    status        TEXT NOT NULL,
    left_on       DATE,
    body          BYTEA,
    version       BIGINT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (district_code, id)
);
CREATE UNIQUE INDEX people_identity ON people (district_code, id_index);
CREATE INDEX people_grid ON people (grid_code);
CREATE INDEX people_name ON people (district_code, name);
CREATE INDEX people_id_masked ON people (district_code, id_masked);
CREATE INDEX people_id_tail ON people (district_code, id_tail);
CREATE INDEX people_phone ON people (district_code, phone_index);
CREATE INDEX people_phone_tail ON people (district_code, phone_tail);
CREATE INDEX people_house ON people (district_code, house_code);

CREATE TABLE residences (
    district_code TEXT NOT NULL,
    id            UUID NOT NULL,
    person_id     UUID NOT NULL,
    house_code    TEXT NOT NULL,
    kind          TEXT NOT NULL,
    moved_in      DATE NOT NULL,
    moved_out     DATE,
    relation      TEXT,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, person_id) REFERENCES people (district_code, id),
    FOREIGN KEY (district_code, house_code) REFERENCES houses (district_code, house_code)
);
CREATE INDEX residences_person ON residences (district_code, person_id);
CREATE INDEX residences_house ON residences (district_code, house_code);

CREATE TABLE organisations (
    district_code      TEXT NOT NULL,
    credit_code        TEXT NOT NULL,
    name               TEXT COLLATE "C" NOT NULL,
    org_kind           TEXT NOT NULL,
    house_code         TEXT,
    grid_code          TEXT COLLATE "C" NOT NULL,
    responsible_person TEXT,
    contact_masked     TEXT,
    body               BYTEA NOT NULL,
    version            BIGINT NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (district_code, credit_code)
);
CREATE INDEX organisations_grid ON organisations (grid_code);

CREATE TABLE components (
    district_code    TEXT NOT NULL,
    component_code   TEXT NOT NULL,
    category_code    TEXT NOT NULL,
    name             TEXT,
    grid_code        TEXT COLLATE "C" NOT NULL,
    lon              DOUBLE PRECISION NOT NULL,
    lat              DOUBLE PRECISION NOT NULL,
    owner_unit       TEXT,
    maintenance_unit TEXT,
    responsible_unit TEXT,
    status           TEXT NOT NULL,
    body             BYTEA NOT NULL,
    version          BIGINT NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (district_code, component_code)
);
CREATE INDEX components_grid ON components (grid_code);
CREATE INDEX components_unit ON components (responsible_unit);

-- Every version of every record: who, when, which change, and the fields after it (sealed for
-- people and organisations; NULL once anonymised). The record's previous version is "before".
CREATE TABLE record_versions (
    district_code TEXT NOT NULL,
    kind          TEXT NOT NULL,
    record_key    TEXT NOT NULL,
    version       BIGINT NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    actor         TEXT NOT NULL,
    op            TEXT NOT NULL,
    change_id     UUID,
    body          BYTEA,
    PRIMARY KEY (district_code, kind, record_key, version)
);

-- Proposed changes (a grid worker's create / update / move out) and their review.
CREATE TABLE record_changes (
    district_code TEXT NOT NULL,
    id            UUID NOT NULL,
    kind          TEXT NOT NULL,
    op            TEXT NOT NULL,
    record_key    TEXT,
    grid_code     TEXT COLLATE "C" NOT NULL,
    state         TEXT NOT NULL,
    proposed_by   TEXT NOT NULL,
    proposed_at   TIMESTAMPTZ NOT NULL,
    reviewed_by   TEXT,
    reviewed_at   TIMESTAMPTZ,
    reason        TEXT,
    body          BYTEA,
    PRIMARY KEY (district_code, id)
);
CREATE INDEX record_changes_state ON record_changes (state, grid_code);

-- Who read whose full personal record, and every export: append-only. The triggers refuse
-- UPDATE and DELETE from anyone, the application included.
CREATE TABLE access_log (
    district_code TEXT NOT NULL,
    id            UUID NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    user_id       UUID,
    username      TEXT NOT NULL,
    role          TEXT NOT NULL,
    action        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    record_key    TEXT,
    purpose       TEXT,
    client        TEXT,
    PRIMARY KEY (district_code, id)
);
CREATE INDEX access_log_at ON access_log (at);
CREATE INDEX access_log_record ON access_log (kind, record_key);

CREATE FUNCTION access_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the access log is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER access_log_no_update BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_append_only();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only();

-- A case can name the component it is about; the component's responsible unit at the time of
-- the report is kept with it, for the dispatch rules.
ALTER TABLE cases ADD COLUMN component_code TEXT;
ALTER TABLE cases ADD COLUMN component_unit TEXT;

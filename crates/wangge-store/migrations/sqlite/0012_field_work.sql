-- The grid worker's field day (issue 8): patrols with their tracks, visit logs, and the daily
-- quotas a district sets. Patrols, positions and visit logs grow with the city, so the district
-- code leads every key and every foreign key (the distribution key).

CREATE TABLE patrols (
    district_code TEXT NOT NULL,
    id            BLOB NOT NULL,
    worker_id     BLOB NOT NULL,
    -- The worker's username, as case events name actors.
    worker        TEXT NOT NULL,
    grid_code     TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    ended_at      TEXT,
    -- Computed when the patrol ends (docs/field-work.md has the rules).
    length_m      REAL,
    coverage      REAL,
    points        INTEGER NOT NULL DEFAULT 0,
    -- running | ended
    status        TEXT NOT NULL,
    PRIMARY KEY (district_code, id)
);
-- One running patrol per worker.
CREATE UNIQUE INDEX patrols_running ON patrols (district_code, worker) WHERE status = 'running';
CREATE INDEX patrols_worker ON patrols (worker, started_at);
CREATE INDEX patrols_grid ON patrols (district_code, grid_code, started_at);
CREATE INDEX patrols_ended ON patrols (district_code, ended_at);

-- The track: one row per fix. The instant is kept as milliseconds since 1970 (UTC): the table
-- takes a fix every few seconds of every patrol, and the key doubles as the idempotency check
-- of a resent batch, so it is a compact number rather than text.
CREATE TABLE patrol_positions (
    district_code TEXT NOT NULL,
    patrol_id     BLOB NOT NULL,
    at_ms         INTEGER NOT NULL,
    lon           REAL NOT NULL,
    lat           REAL NOT NULL,
    accuracy      REAL,
    PRIMARY KEY (district_code, patrol_id, at_ms),
    FOREIGN KEY (district_code, patrol_id) REFERENCES patrols (district_code, id)
) WITHOUT ROWID;

CREATE TABLE visit_logs (
    district_code     TEXT NOT NULL,
    id                BLOB NOT NULL,
    worker            TEXT NOT NULL,
    -- The worker's grid when the visit was logged (who may read it).
    grid_code         TEXT NOT NULL,
    at                TEXT NOT NULL,
    -- person | house | organisation | other
    kind              TEXT NOT NULL,
    -- A house code, a person's or organisation's record id, or nothing.
    target            TEXT,
    -- What lists show: never a name, phone or identity number.
    label             TEXT NOT NULL,
    notes             TEXT,
    follow_up         TEXT,
    -- A day (YYYY-MM-DD, Beijing time).
    follow_up_due     TEXT,
    follow_up_done_at TEXT,
    follow_up_done_by TEXT,
    created_at        TEXT NOT NULL,
    PRIMARY KEY (district_code, id)
);
CREATE INDEX visit_logs_grid ON visit_logs (district_code, grid_code, at);
CREATE INDEX visit_logs_worker ON visit_logs (worker, at);

-- A district's daily quotas; a district without a row has the defaults (2 / 1 / 0).
CREATE TABLE field_quotas (
    district_code   TEXT NOT NULL PRIMARY KEY,
    patrols_per_day INTEGER NOT NULL,
    reports_per_day INTEGER NOT NULL,
    visits_per_day  INTEGER NOT NULL,
    updated_by      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

-- The case loop: a cache of each case's derived status beside the append-only timeline.
ALTER TABLE cases ADD COLUMN unit_code TEXT;
ALTER TABLE cases ADD COLUMN level TEXT NOT NULL DEFAULT 'grid';
ALTER TABLE cases ADD COLUMN suspended BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cases ADD COLUMN urgent BOOLEAN NOT NULL DEFAULT FALSE;
-- The derived status as JSON (parts, returns, reworks, extensions …), rebuilt from the timeline.
ALTER TABLE cases ADD COLUMN status TEXT NOT NULL DEFAULT '{}';
-- The deadline node the case is in (confirm, register, dispatch, handle, check, close), when it
-- started, and when it turns yellow (80 %) and red (due); NULL while the clock is stopped.
ALTER TABLE cases ADD COLUMN node TEXT;
ALTER TABLE cases ADD COLUMN node_started_at TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN warn_at TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN due_at TIMESTAMPTZ;
CREATE INDEX cases_unit ON cases (district_code, unit_code, state);
CREATE INDEX cases_due ON cases (district_code, due_at);
CREATE INDEX cases_reported ON cases (district_code, reported_at);

-- Units named in a whistled case (吹哨报到), so a unit finds the cases it must join.
CREATE TABLE case_parts (
    district_code TEXT NOT NULL,
    case_id       UUID NOT NULL,
    unit_code     TEXT NOT NULL,
    PRIMARY KEY (district_code, case_id, unit_code),
    FOREIGN KEY (district_code, case_id) REFERENCES cases (district_code, id)
);
CREATE INDEX case_parts_unit ON case_parts (unit_code);

-- Bearer tokens: only a SHA-256 of the token is kept.
CREATE TABLE api_tokens (
    token_hash   TEXT PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id),
    label        TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- (category, region, component's responsible unit) → handling unit; the most specific wins.
CREATE TABLE dispatch_rules (
    id             UUID PRIMARY KEY,
    category_code  TEXT,
    region_code    TEXT,
    component_unit TEXT,
    unit_code      TEXT NOT NULL REFERENCES units (code),
    auto_dispatch  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMPTZ NOT NULL
);

-- A category whose checked cases close without the shift leader.
ALTER TABLE categories ADD COLUMN auto_close BOOLEAN NOT NULL DEFAULT FALSE;

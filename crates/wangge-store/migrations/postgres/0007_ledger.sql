-- The evaluation ledger (考核台账): each case's node spans as one compact record
-- (wangge_domain::ledger::encode), derived from its timeline and kept beside it, so the
-- indicators of a year are read back rather than replayed from millions of events. The version
-- and updated_at are the case's when the record was made: a case whose version differs has a
-- stale record, which the server remakes.
CREATE TABLE case_ledger (
    district_code TEXT NOT NULL,
    case_id       UUID NOT NULL,
    version       BIGINT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    record        BYTEA NOT NULL,
    PRIMARY KEY (district_code, case_id),
    FOREIGN KEY (district_code, case_id) REFERENCES cases (district_code, id)
);

-- Finding the cases changed since the ledger was last brought up to date.
CREATE INDEX cases_updated ON cases (updated_at);

-- The whole ledger as an image in a few large chunks (wangge_domain::ledger::Ledger::image),
-- written by a server after it has caught up, so a restarted server reads it back in seconds
-- rather than row by row; changes after `through` are caught up from the cases. Derived data:
-- losing it costs time, never figures.
CREATE TABLE ledger_image (
    n       INTEGER PRIMARY KEY,
    through TIMESTAMPTZ NOT NULL,
    bytes   BYTEA NOT NULL
);

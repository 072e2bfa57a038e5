-- Hotline tickets (12345 / 96181 工单, issue 8): each ticket is tied to one case — a case it
-- became, or a case already held (found on patrol first: 未诉先办) — and carries the outcome back
-- to the hotline platform when the case ends. Both tables grow with the city, so the district
-- code leads every key (the distribution key).
--
-- A ticket number is unique per channel. The key includes the district so it distributes; the
-- importer looks a number up across districts (hotline_tickets_number) before it locates a
-- ticket, so a repeat answers the stored ticket whatever district it lies in.
--
-- The caller's name and phone are kept masked beside the ticket; the full values only sealed
-- (`sealed`, by the vault) when one is configured, never in clear text.

CREATE TABLE hotline_tickets (
    district_code     TEXT NOT NULL,
    id                BLOB NOT NULL,
    -- 12345 | 96181
    channel           TEXT NOT NULL,
    ticket_no         TEXT NOT NULL,
    text              TEXT NOT NULL,
    address           TEXT,
    lon               REAL NOT NULL,
    lat               REAL NOT NULL,
    -- How the place was found: position | address (a house) | grid (a house without a position)
    located_by        TEXT NOT NULL,
    house_code        TEXT,
    grid_code         TEXT NOT NULL,
    category_code     TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    caller_masked     TEXT,
    phone_masked      TEXT,
    sealed            BLOB,
    case_id           BLOB NOT NULL,
    -- created | matched | duplicate
    how               TEXT NOT NULL,
    match_reason      TEXT NOT NULL,
    distance_m        REAL,
    hours             REAL,
    patrol_first      INTEGER NOT NULL DEFAULT 0,
    imported_by       TEXT NOT NULL,
    imported_at       TEXT NOT NULL,
    -- The case's end: closed | invalid (void) | merged; null while it runs.
    outcome           TEXT,
    outcome_note      TEXT,
    closed_at         TEXT,
    -- none (no callback configured) | pending | delivered | failed; null while the case runs.
    callback_status   TEXT,
    callback_attempts INTEGER NOT NULL DEFAULT 0,
    callback_error    TEXT,
    callback_next_at  TEXT,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, case_id) REFERENCES cases (district_code, id)
);
CREATE UNIQUE INDEX hotline_tickets_number ON hotline_tickets (district_code, channel, ticket_no);
CREATE INDEX hotline_tickets_lookup ON hotline_tickets (channel, ticket_no);
CREATE INDEX hotline_tickets_case ON hotline_tickets (district_code, case_id);
CREATE INDEX hotline_tickets_received ON hotline_tickets (district_code, received_at);
CREATE INDEX hotline_tickets_closed ON hotline_tickets (district_code, closed_at);
CREATE INDEX hotline_tickets_callback ON hotline_tickets (callback_status, callback_next_at);

-- 回访核查: a grid worker checks how a hotline case was handled.
CREATE TABLE hotline_verifications (
    district_code TEXT NOT NULL,
    id            BLOB NOT NULL,
    ticket_id     BLOB NOT NULL,
    case_id       BLOB NOT NULL,
    grid_code     TEXT NOT NULL,
    -- The username of the grid's worker.
    worker        TEXT NOT NULL,
    assigned_by   TEXT NOT NULL,
    assigned_at   TEXT NOT NULL,
    due_at        TEXT NOT NULL,
    -- satisfied | unsatisfied | not_fixed | unreachable; null until recorded.
    result        TEXT,
    notes         TEXT,
    recorded_by   TEXT,
    recorded_at   TEXT,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, ticket_id) REFERENCES hotline_tickets (district_code, id)
);
CREATE INDEX hotline_verifications_worker ON hotline_verifications (worker, recorded_at);
CREATE INDEX hotline_verifications_ticket ON hotline_verifications (district_code, ticket_id);

-- Campaigns (普查 / 核查 / 排查, issue 7): a list of records — imported from a file and matched to
-- house codes, or taken from the registry — de-duplicated, grouped by grid into verification
-- tasks for the grid's worker, with one result per record. Every table grows with the city, so
-- the district code leads every key and every foreign key (the distribution key).
--
-- A record's original fields (name, identity number, phone, address …) are kept in `body`,
-- sealed by the vault like people are; the columns beside it hold only masked numbers.

CREATE TABLE campaigns (
    district_code TEXT NOT NULL,
    id            BLOB NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    -- file | people | houses
    source        TEXT NOT NULL,
    source_note   TEXT,
    -- The creator's jurisdiction: who else sees the campaign.
    region_code   TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    -- open | closed
    status        TEXT NOT NULL,
    -- JSON: {"outcomes": [...]}
    form          TEXT NOT NULL,
    threshold     REAL NOT NULL,
    PRIMARY KEY (district_code, id)
);

CREATE TABLE campaign_records (
    district_code TEXT NOT NULL,
    campaign_id   BLOB NOT NULL,
    seq           INTEGER NOT NULL,
    source_row    INTEGER NOT NULL,
    address       TEXT NOT NULL,
    name          TEXT,
    id_masked     TEXT,
    phone_masked  TEXT,
    body          BLOB,
    house_code    TEXT,
    grid_code     TEXT,
    -- The street whose queue an unmatched record waits in.
    queue_region  TEXT,
    confidence    REAL NOT NULL,
    reason        TEXT NOT NULL,
    candidates    TEXT NOT NULL,
    -- matched | unmatched | duplicate | manual
    status        TEXT NOT NULL,
    duplicate_of  INTEGER,
    dup_rule      TEXT,
    matched_by    TEXT,
    matched_at    TEXT,
    outcome       TEXT,
    notes         TEXT,
    photo         TEXT,
    done_by       TEXT,
    done_at       TEXT,
    version       INTEGER NOT NULL,
    PRIMARY KEY (district_code, campaign_id, seq),
    FOREIGN KEY (district_code, campaign_id) REFERENCES campaigns (district_code, id)
);
CREATE INDEX campaign_records_grid ON campaign_records (district_code, campaign_id, grid_code);
CREATE INDEX campaign_records_queue ON campaign_records (district_code, status, queue_region);

CREATE TABLE campaign_tasks (
    district_code TEXT NOT NULL,
    campaign_id   BLOB NOT NULL,
    grid_code     TEXT NOT NULL,
    worker        TEXT,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (district_code, campaign_id, grid_code),
    FOREIGN KEY (district_code, campaign_id) REFERENCES campaigns (district_code, id)
);
CREATE INDEX campaign_tasks_grid ON campaign_tasks (grid_code);

-- Every result recorded, the latest also on the record: who found what, when.
CREATE TABLE campaign_results (
    district_code TEXT NOT NULL,
    campaign_id   BLOB NOT NULL,
    seq           INTEGER NOT NULL,
    id            BLOB NOT NULL,
    outcome       TEXT NOT NULL,
    notes         TEXT,
    photo         TEXT,
    recorded_by   TEXT NOT NULL,
    recorded_at   TEXT NOT NULL,
    PRIMARY KEY (district_code, campaign_id, seq, id),
    FOREIGN KEY (district_code, campaign_id, seq) REFERENCES campaign_records (district_code, campaign_id, seq)
);

-- The address base the matcher uses is rebuilt when a district's houses change: their count and
-- latest change, read through this index, tell.
CREATE INDEX houses_updated ON houses (district_code, updated_at);

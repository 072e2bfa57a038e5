-- Open311 GeoReport v2 (issue 8): the API keys an administrator issues to outside clients, and
-- what an Open311 request adds to the case it became.
--
-- A key is kept only as its SHA-256 (hex) with a short prefix to recognise it by; the key itself
-- is shown once, when it is issued. A key reports only inside its jurisdiction (region_code).
-- Keys are few and never grow with the city: a small reference table, like users.
CREATE TABLE api_keys (
    id           BLOB PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    region_code  TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
);

-- One row per case created through Open311: its token, the key that sent it, the house it was
-- located by, the photo link,
-- the answered attributes (JSON) and the requester's contact details sealed by the vault (NULL
-- when the server runs without a data key: then they are not kept at all). Grows with the
-- cases, so the district code leads the keys like the case's own.
CREATE TABLE open311_requests (
    district_code TEXT NOT NULL,
    case_id       BLOB NOT NULL,
    token         TEXT NOT NULL,
    api_key_id    BLOB NOT NULL REFERENCES api_keys (id),
    -- The house code the request was located by (address_id), if it was.
    address_id    TEXT,
    media_url     TEXT,
    attributes    TEXT NOT NULL,
    requester     BLOB,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (district_code, case_id),
    FOREIGN KEY (district_code, case_id) REFERENCES cases (district_code, id)
);

CREATE UNIQUE INDEX open311_requests_token ON open311_requests (district_code, token);

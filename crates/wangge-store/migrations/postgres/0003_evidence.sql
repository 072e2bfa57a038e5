-- Evidence attached to a case: the file itself lives in the content-addressed evidence store.
CREATE TABLE attachments (
    district_code TEXT NOT NULL,
    id            UUID NOT NULL,
    case_id       UUID NOT NULL,
    sha256        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    size          BIGINT NOT NULL,
    width         BIGINT,
    height        BIGINT,
    -- report, handling, verification or other: before/after photos are told apart by this.
    stage         TEXT NOT NULL,
    file_name     TEXT,
    uploaded_by   TEXT NOT NULL,
    uploaded_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (district_code, id),
    FOREIGN KEY (district_code, case_id) REFERENCES cases (district_code, id)
);
CREATE INDEX attachments_case ON attachments (district_code, case_id);

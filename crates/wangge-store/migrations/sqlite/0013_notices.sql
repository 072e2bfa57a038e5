-- Notices (issue 8): announcements to roles in a region, and personal notifications made by the
-- case loop and the deadline sweep, with every attempt to deliver them. Every table grows with
-- the city, so the district code leads every key (the distribution key).

-- An announcement (通知公告) to the users of some roles inside a region.
CREATE TABLE announcements (
    -- The district the audience region lies in (the first six digits of its code).
    district_code TEXT NOT NULL,
    id            BLOB NOT NULL,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    -- Comma-separated role names; empty = every role.
    audience_roles TEXT NOT NULL,
    -- Users whose region code starts with this see it.
    region_code   TEXT NOT NULL,
    author        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    PRIMARY KEY (district_code, id)
);
CREATE INDEX announcements_created ON announcements (district_code, created_at);

CREATE TABLE announcement_reads (
    district_code   TEXT NOT NULL,
    announcement_id BLOB NOT NULL,
    username        TEXT NOT NULL,
    read_at         TEXT NOT NULL,
    PRIMARY KEY (district_code, announcement_id, username),
    FOREIGN KEY (district_code, announcement_id) REFERENCES announcements (district_code, id)
);
CREATE INDEX announcement_reads_user ON announcement_reads (username);

-- A personal notification (assigned, due_soon, overdue, urged, returned, rework, check_task …).
CREATE TABLE notifications (
    district_code TEXT NOT NULL,
    id            BLOB NOT NULL,
    recipient     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    case_id       BLOB,
    text          TEXT NOT NULL,
    -- What makes a notice the same notice ("overdue:<case>:<node>:<node started>"): one per
    -- recipient, however many servers sweep or however often.
    dedupe_key    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    read_at       TEXT,
    PRIMARY KEY (district_code, id),
    UNIQUE (district_code, recipient, dedupe_key)
);
CREATE INDEX notifications_recipient ON notifications (recipient, created_at);

-- Each delivery of a notification over a channel (log, sms, webhook), with its outcome.
CREATE TABLE notice_deliveries (
    district_code   TEXT NOT NULL,
    notification_id BLOB NOT NULL,
    id              BLOB NOT NULL,
    -- log | sms | webhook
    channel         TEXT NOT NULL,
    -- sent | failed
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    error           TEXT,
    at              TEXT NOT NULL,
    PRIMARY KEY (district_code, notification_id, id),
    FOREIGN KEY (district_code, notification_id) REFERENCES notifications (district_code, id)
);

-- The deadline sweep looks for cases whose yellow or red instant has just passed.
CREATE INDEX cases_warn_at ON cases (warn_at);
CREATE INDEX cases_due_at ON cases (due_at);

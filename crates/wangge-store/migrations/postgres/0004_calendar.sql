-- Holidays and make-up working days (调休) set by administrators, on top of the built-in year.
CREATE TABLE calendar_days (
    day  TEXT PRIMARY KEY,  -- YYYY-MM-DD
    kind TEXT NOT NULL CHECK (kind IN ('holiday', 'workday'))
);

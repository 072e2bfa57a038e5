-- Finding possible duplicates: open cases of one subcategory in one district, by time.
CREATE INDEX cases_category_time ON cases (district_code, category_code, reported_at);

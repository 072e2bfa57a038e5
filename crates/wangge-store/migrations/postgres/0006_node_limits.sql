-- Per-category limits of the deadline nodes, overriding the defaults, and the handling limit of
-- urgent cases: a JSON object such as {"confirm": {"amount": 1, "type": "working_hours"},
-- "urgent": {"amount": 2, "type": "urgent_hours"}}.
ALTER TABLE categories ADD COLUMN node_limits TEXT NOT NULL DEFAULT '{}';

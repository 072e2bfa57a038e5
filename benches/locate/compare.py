#!/usr/bin/env python3
"""Compares two locate outputs row by row: prints the number of rows whose grid differs, and for
those, whether the point lies within 1e-9 degrees of a grid boundary (allowed to differ)."""
import json
import sys

import pandas as pd
import shapely

a = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
b = pd.read_csv(sys.argv[2], dtype=str, keep_default_na=False)
assert len(a) == len(b), f"row counts differ: {len(a)} vs {len(b)}"
assert (a["id"] == b["id"]).all(), "row order differs"
diff = a.index[a["grid_code"] != b["grid_code"]]
on_boundary = 0
if len(diff):
    with open(sys.argv[3], encoding="utf-8") as f:
        fc = json.load(f)
    grids = [ft for ft in fc["features"] if ft["properties"].get("level") == "grid"]
    boundaries = shapely.union_all([shapely.boundary(shapely.from_geojson(json.dumps(g["geometry"]))) for g in grids])
    for i in diff:
        p = shapely.Point(float(a.at[i, "lon"]), float(a.at[i, "lat"]))
        if shapely.distance(p, boundaries) < 1e-9:
            on_boundary += 1
print(f"rows={len(a)} differing={len(diff)} on_boundary={on_boundary} off_boundary={len(diff) - on_boundary}")

#!/usr/bin/env python3
"""Reference locator for the benchmark: the same job as `wangge locate --regions`, written the
way a GIS analyst would in Python with shapely 2's STRtree (vectorised, GEOS in C).

usage: locate_shapely.py regions.geojson points.csv out.csv
"""
import json
import sys

import numpy as np
import pandas as pd
import shapely


def main(regions_path, points_path, out_path):
    with open(regions_path, encoding="utf-8") as f:
        fc = json.load(f)
    grids = [ft for ft in fc["features"] if ft["properties"].get("level") == "grid"]
    codes = np.array([ft["properties"]["code"] for ft in grids], dtype=object)
    polys = shapely.from_geojson([json.dumps(ft["geometry"]) for ft in grids])
    tree = shapely.STRtree(polys)

    df = pd.read_csv(points_path, dtype={"id": str}, keep_default_na=False)
    lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy()
    lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy()
    pts = shapely.points(lon, lat)
    # Points on a shared edge intersect two grids; keep the first answer for each point.
    point_ix, grid_ix = tree.query(pts, predicate="intersects")
    first = np.full(len(df), -1, dtype=np.int64)
    order = np.argsort(point_ix, kind="stable")[::-1]
    first[point_ix[order]] = grid_ix[order]
    found = first >= 0
    grid_code = np.where(found, codes[np.maximum(first, 0)], "")
    error = np.where(found, "", "outside_jurisdiction")
    out = pd.DataFrame({"id": df["id"], "lon": df["lon"], "lat": df["lat"], "grid_code": grid_code, "error": error})
    out.to_csv(out_path, index=False)


if __name__ == "__main__":
    main(*sys.argv[1:4])

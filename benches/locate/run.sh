#!/usr/bin/env bash
# Benchmark: `wangge locate --regions` against shapely 2's STRtree on the same files.
# usage: benches/locate/run.sh [GRIDS=18000] [POINTS=10000000]
# Prints the two wall times (whole process: read, index, locate, write) and their ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
GRIDS=${1:-18000}
POINTS=${2:-10000000}
WORK=${BENCH_DIR:-target/bench-locate}
mkdir -p "$WORK"
python3 -c "import shapely, pandas, numpy" 2>/dev/null || pip install -q shapely pandas numpy
cargo build --release -q
BIN=target/release/wangge
[ -f "$WORK/regions-$GRIDS.geojson" ] || { $BIN generate city --grids "$GRIDS" --seed 1 --out "$WORK/city-$GRIDS" && mv "$WORK/city-$GRIDS/regions.geojson" "$WORK/regions-$GRIDS.geojson"; }
[ -f "$WORK/points-$POINTS.csv" ] || $BIN generate points --regions "$WORK/regions-$GRIDS.geojson" --count "$POINTS" --seed 2 --out "$WORK/points-$POINTS.csv"

seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
rust=$(seconds $BIN locate --regions "$WORK/regions-$GRIDS.geojson" --input "$WORK/points-$POINTS.csv" --output "$WORK/out-rust.csv")
python=$(seconds python3 benches/locate/locate_shapely.py "$WORK/regions-$GRIDS.geojson" "$WORK/points-$POINTS.csv" "$WORK/out-shapely.csv")
python3 benches/locate/compare.py "$WORK/out-rust.csv" "$WORK/out-shapely.csv" "$WORK/regions-$GRIDS.geojson"
echo "grids=$GRIDS points=$POINTS wangge=${rust}s shapely=${python}s speedup=$(echo "scale=2; $python / $rust" | bc)x"

#!/usr/bin/env bash
# Benchmark: the command-centre map with a big city — time from navigation start until the map
# is interactive (body.dataset.mapReady = "1"), in Debian's chromium driven by playwright-core.
#
# usage: benches/map/run.sh [--grids N] [--cases N] [--runs N] [--user NAME]
#   --grids N   grids of the generated city (default 18000)
#   --cases N   open cases (default 50000)
#   --runs N    measured runs after one cold-server run (default 7); the median is the figure
#   --user NAME who signs in (default demo-admin: no region, so every case is in scope)
#
# The seeded database is kept in target/bench-map/ and reused by later runs with the same sizes.
# Seeding uses `wangge bench map-seed` (cases at random points all over the city, none closed)
# when the binary has it, else `wangge demo --cases` scaled so about N cases stay open (the
# demo closes ~30 % and puts most cases in one district, at grid centres).
set -euo pipefail
cd "$(dirname "$0")/../.."

GRIDS=18000
CASES=50000
RUNS=7
USER_NAME=demo-admin
while [ $# -gt 0 ]; do
  case "$1" in
    --grids) GRIDS=$2; shift 2 ;;
    --cases) CASES=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --user) USER_NAME=$2; shift 2 ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

WORK=${BENCH_DIR:-target/bench-map}
mkdir -p "$WORK"
if [ -z "${SKIP_BUILD:-}" ]; then cargo build --release -q -p wangge; fi
# A private copy, so a rebuild during the run does not swap the binary under the server.
BIN="$WORK/wangge"
cp target/release/wangge "$BIN"
PORT=${BENCH_PORT:-18091}
ADDR=127.0.0.1:$PORT
DB="$WORK/map-$GRIDS-$CASES.db"

if [ ! -d benches/map/node_modules/playwright-core ] && [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd benches/map && npm install --no-save playwright-core@1)
fi

SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
}
trap cleanup EXIT

wait_up() {
  for _ in $(seq 1 7200); do
    curl -sf "http://$ADDR/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER" 2>/dev/null || { echo "server failed:" >&2; tail -20 "$WORK/server.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "server did not come up" >&2
  exit 1
}

if [ ! -f "$DB" ]; then
  started=$(date +%s)
  if "$BIN" bench --help 2>/dev/null | grep -q map-seed; then
    echo "seeding $DB: $GRIDS grids, $CASES open cases (wangge bench map-seed) …" >&2
    "$BIN" bench map-seed --db "$DB.tmp" --grids "$GRIDS" --cases "$CASES"
  else
    DEMO_CASES=$((CASES * 10 / 7 + 100))
    echo "seeding $DB: $GRIDS grids, $DEMO_CASES demo cases (≈$CASES open) with wangge demo …" >&2
    rm -f "$DB.tmp" "$DB.tmp-wal" "$DB.tmp-shm"
    WANGGE_LOG=warn "$BIN" demo --db "$DB.tmp" --addr "$ADDR" --grids "$GRIDS" --cases "$DEMO_CASES" \
      --files "$WORK/files" >"$WORK/server.log" 2>&1 &
    SERVER=$!
    wait_up
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
    SERVER=""
  fi
  # Fold the WAL into the file before renaming it.
  sqlite3 "$DB.tmp" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null 2>&1 || true
  mv "$DB.tmp" "$DB"
  rm -f "$DB.tmp-wal" "$DB.tmp-shm"
  echo "seeded in $(( $(date +%s) - started )) s" >&2
fi

WANGGE_LOG=warn "$BIN" serve --db "$DB" --addr "$ADDR" --files "$WORK/files" >"$WORK/server.log" 2>&1 &
SERVER=$!
wait_up
echo "open cases in the database: $(sqlite3 "$DB" "SELECT COUNT(*) FROM cases WHERE state NOT IN ('closed','invalid','merged')" 2>/dev/null || echo '?'), grids: $(sqlite3 "$DB" "SELECT COUNT(*) FROM regions WHERE level='grid' AND valid_to IS NULL" 2>/dev/null || echo '?')" >&2
node benches/map/measure.mjs "http://$ADDR" "$RUNS" "$USER_NAME"

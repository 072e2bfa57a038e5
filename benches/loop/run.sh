#!/usr/bin/env bash
# Benchmark: case-loop throughput over HTTP (`wangge bench loop`) against a release server.
#
# usage: benches/loop/run.sh [--pg BASE_URL] [--cases N] [--grids N] [CLIENTS...]
#   CLIENTS   client counts to try, one fresh database and server each (default: 4 8 16 32)
#   --pg URL  run on PostgreSQL: a fresh database per run is created beside the one URL names
#             (e.g. postgres://postgres@127.0.0.1:5432/postgres) and dropped afterwards
#   --cases N cases per run (default 2000); --grids N demo city size (default 500)
#
# Prints the bench summary line of each run plus the server's CPU time per transition
# (user+system from /proc), so it shows whether the server is CPU-bound.
set -euo pipefail
cd "$(dirname "$0")/../.."

PG=""
CASES=2000
GRIDS=500
CLIENTS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --pg) PG=$2; shift 2 ;;
    --cases) CASES=$2; shift 2 ;;
    --grids) GRIDS=$2; shift 2 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) CLIENTS+=("$1"); shift ;;
  esac
done
[ ${#CLIENTS[@]} -gt 0 ] || CLIENTS=(4 8 16 32)

WORK=${BENCH_DIR:-target/bench-loop}
mkdir -p "$WORK"
cargo build --release -q -p wangge
# A private copy, so a rebuild during the run does not swap the binary under the server.
BIN="$WORK/wangge"
cp target/release/wangge "$BIN"
PORT=${BENCH_PORT:-18090}
ADDR=127.0.0.1:$PORT
TICKS=$(getconf CLK_TCK)

SERVER=""
PGDB=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  if [ -n "$PGDB" ]; then dropdb -h 127.0.0.1 -U postgres --if-exists "$PGDB" 2>/dev/null || true; fi
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for c in "${CLIENTS[@]}"; do
  if [ -n "$PG" ]; then
    PGDB="wangge_bench_loop_$$_$c"
    dropdb -h 127.0.0.1 -U postgres --if-exists "$PGDB" 2>/dev/null
    createdb -h 127.0.0.1 -U postgres "$PGDB"
    DB="${PG%/*}/$PGDB"
  else
    DB="$WORK/loop-$c.db"
    rm -f "$DB" "$DB-wal" "$DB-shm"
  fi
  WANGGE_LOG=warn "$BIN" demo --db "$DB" --addr "$ADDR" --grids "$GRIDS" --cases 0 \
    >"$WORK/server-$c.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 120); do
    curl -sf "http://$ADDR/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVER" 2>/dev/null || { echo "server failed:"; cat "$WORK/server-$c.log"; exit 1; }
    sleep 0.5
  done
  before=$(cpu_ticks "$SERVER")
  set +e
  line=$(timeout 600 "$BIN" bench loop --url "http://$ADDR" --clients "$c" --cases "$CASES" 2>"$WORK/bench-$c.err")
  set -e
  after=$(cpu_ticks "$SERVER")
  transitions=$(sed -n 's/.*transitions=\([0-9]*\).*/\1/p' <<<"$line")
  cpu_s=$(echo "scale=2; ($after - $before) / $TICKS" | bc)
  per=$(echo "scale=3; ($after - $before) * 1000 / $TICKS / ${transitions:-1}" | bc)
  echo "$line server_cpu_s=$cpu_s server_cpu_ms_per_transition=$per"
  sed 's/^/    /' "$WORK/bench-$c.err"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
  SERVER=""
  if [ -n "$PG" ]; then dropdb -h 127.0.0.1 -U postgres --if-exists "$PGDB"; PGDB=""; fi
done

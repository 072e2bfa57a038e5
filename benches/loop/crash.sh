#!/usr/bin/env bash
# Crash test: kill -9 the server in the middle of the case loop, restart it on the same database,
# and check that every transition a client saw acknowledged is stored and that every stored
# timeline is a legal path of the loop whose cached status agrees with it.
#
# usage: benches/loop/crash.sh [--pg BASE_URL] [--kill-after SECONDS] [--clients N]
#   --pg URL          use PostgreSQL: a fresh database beside the one URL names
#                     (e.g. postgres://postgres@127.0.0.1:5432/postgres), dropped at the end
#   --kill-after S    seconds of load before the SIGKILL (default 4)
#   --clients N       concurrent bench clients (default 8)
#
# Prints PASS or FAIL (exit status 0 or 1). Loopback only; every step is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/../.."

PG=""
KILL_AFTER=4
CLIENTS=8
while [ $# -gt 0 ]; do
  case "$1" in
    --pg) PG=$2; shift 2 ;;
    --kill-after) KILL_AFTER=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

WORK=${CRASH_DIR:-target/bench-crash}
mkdir -p "$WORK"
timeout 1800 cargo build --release -q -p wangge
BIN="$WORK/wangge"
cp target/release/wangge "$BIN"
PORT=${CRASH_PORT:-18095}
ADDR=127.0.0.1:$PORT
ACKS="$WORK/acks.csv"
rm -f "$ACKS"

SERVER=""
BENCH=""
PGDB=""
cleanup() {
  [ -z "$BENCH" ] || kill "$BENCH" 2>/dev/null || true
  [ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "$PGDB" ]; then dropdb -h 127.0.0.1 -U postgres --if-exists "$PGDB" 2>/dev/null || true; fi
}
trap cleanup EXIT

if [ -n "$PG" ]; then
  PGDB="wangge_crash_$$"
  createdb -h 127.0.0.1 -U postgres "$PGDB"
  DB="${PG%/*}/$PGDB"
else
  DB="$WORK/crash.db"
  rm -f "$DB" "$DB-wal" "$DB-shm"
fi

wait_healthy() {
  for _ in $(seq 1 120); do
    curl -sf "http://$ADDR/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

echo "== creating the demo city and serving it ($DB)"
WANGGE_LOG=warn "$BIN" demo --db "$DB" --addr "$ADDR" --grids 300 --cases 0 >"$WORK/server-1.log" 2>&1 &
SERVER=$!
wait_healthy || { echo "FAIL: the server did not start"; cat "$WORK/server-1.log"; exit 1; }

echo "== loop load with $CLIENTS clients; SIGKILL to the server after ${KILL_AFTER}s"
# Far more cases than fit in the time: the bench stops by itself after 100 errors once the
# server is gone (connection refused), and timeout bounds it in any case.
timeout 120 "$BIN" bench loop --url "http://$ADDR" --clients "$CLIENTS" --cases 10000000 \
  --ack-log "$ACKS" --max-errors 100 --timeout-s 5 >"$WORK/bench.out" 2>"$WORK/bench.err" &
BENCH=$!
sleep "$KILL_AFTER"
kill -KILL "$SERVER"
wait "$SERVER" 2>/dev/null || true
SERVER=""
set +e
wait "$BENCH"
bench_status=$?
set -e
BENCH=""
echo "bench (exit $bench_status): $(cat "$WORK/bench.out")"
acked=$(wc -l <"$ACKS" | tr -d ' ')
echo "acknowledged transitions: $acked"

echo "== restarting the server on the same database"
WANGGE_LOG=warn "$BIN" serve --db "$DB" --addr "$ADDR" >"$WORK/server-2.log" 2>&1 &
SERVER=$!
wait_healthy || { echo "FAIL: the server did not restart"; cat "$WORK/server-2.log"; exit 1; }
set +e
after=$(timeout 120 "$BIN" bench loop --url "http://$ADDR" --clients 2 --cases 20 2>/dev/null)
after_status=$?
set -e
echo "after restart: $after"

echo "== checking timelines and acknowledged transitions"
set +e
WANGGE_LOG=warn timeout 600 "$BIN" check timelines --db "$DB" --acks "$ACKS" 2>&1 | tee "$WORK/check.out"
check_status=${PIPESTATUS[0]}
set -e
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
SERVER=""

if [ "$check_status" -eq 0 ] && [ "$acked" -gt 0 ] && [ "$after_status" -eq 0 ]; then
  echo "PASS: $acked acknowledged transitions all stored, every timeline legal, server works after restart"
else
  echo "FAIL: check exit $check_status, $acked acknowledged transitions, bench after restart exit $after_status"
  exit 1
fi

#!/usr/bin/env bash
# Benchmark: the base data of a Chaoyang-sized city — 300,000 houses and 1,000,000 people with
# their residences imported district by district through `wangge import base`'s code path
# (rows/s), then people searched over HTTP by partial name, masked identity number, last four
# of the identity number and of the phone, full identity number and address, as a district
# user, a community user and the administrator, whose jurisdiction is the whole city (p50/p99
# per kind). See `wangge bench base --help`.
#
# usage: benches/base/run.sh [--grids N] [--houses N] [--people N] [--searches N] [--pg URL]
#                            [--no-sqlite] [--with-count]
#   --grids N     grids of the generated city (default 18000)
#   --houses N    houses (rooms) to import (default 300000)
#   --people N    people to import (default 1000000)
#   --searches N  searches of each kind per user (default 200)
#   --pg URL      also on PostgreSQL: a scratch database wangge_bench_base is made (and
#                 dropped afterwards unless KEEP_DB=1) beside URL's database, e.g.
#                 postgres://postgres@127.0.0.1:5432/postgres
#   --no-sqlite   PostgreSQL only
#   --with-count  every search also asks for its total (count=true), as the console does
#
# Each run starts from an empty database (target/bench-base/base.db is removed first). Set
# WANGGE_BENCH_VERBOSE=1 for per-district import times and peak memory as it goes.
# `wangge bench base --db …` on a database that holds data measures the searches only.
set -euo pipefail
cd "$(dirname "$0")/../.."

GRIDS=18000
HOUSES=300000
PEOPLE=1000000
SEARCHES=200
PG=
SQLITE=1
COUNT=
while [ $# -gt 0 ]; do
  case "$1" in
    --grids) GRIDS=$2; shift 2 ;;
    --houses) HOUSES=$2; shift 2 ;;
    --people) PEOPLE=$2; shift 2 ;;
    --searches) SEARCHES=$2; shift 2 ;;
    --pg) PG=$2; shift 2 ;;
    --no-sqlite) SQLITE=; shift ;;
    --with-count) COUNT=--with-count; shift ;;
    -h|--help) sed -n 2,24p "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

WORK=${BENCH_DIR:-target/bench-base}
mkdir -p "$WORK"
if [ -z "${SKIP_BUILD:-}" ]; then cargo build --release -q -p wangge; fi
export WANGGE_LOG=${WANGGE_LOG:-warn}
ARGS=(--grids "$GRIDS" --houses "$HOUSES" --people "$PEOPLE" --searches "$SEARCHES" $COUNT)

# Peak memory of the whole process, when GNU time is there.
timed() {
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "  wall %e s, user %U s, system %S s, peak RSS %M KB" "$@"
  else
    "$@"
  fi
}

if [ -n "$SQLITE" ]; then
  echo "SQLite:"
  db="$WORK/base.db"
  rm -f "$db" "$db-wal" "$db-shm"
  timed ./target/release/wangge bench base --db "$db" "${ARGS[@]}"
fi

if [ -n "$PG" ]; then
  echo "PostgreSQL:"
  base=${PG%/*}
  psql -q "$PG" -c "DROP DATABASE IF EXISTS wangge_bench_base" -c "CREATE DATABASE wangge_bench_base"
  timed ./target/release/wangge bench base --db "$base/wangge_bench_base" "${ARGS[@]}"
  psql -q "$PG" -c "SELECT pg_size_pretty(pg_database_size('wangge_bench_base')) AS database_size"
  if [ -z "${KEEP_DB:-}" ]; then
    psql -q "$PG" -c "DROP DATABASE wangge_bench_base"
  fi
fi

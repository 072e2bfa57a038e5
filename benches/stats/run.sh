#!/usr/bin/env bash
# Benchmark: every indicator of a Chaoyang-sized year (1.6 million cases, ~12 million timeline
# events, an 18,000-grid city) from the evaluation ledger — a server's first start, a restart
# (cold), a new question to a running server (warm), the same question again, and today's
# figures after a few hundred transitions. See `wangge bench stats --help`.
#
# usage: benches/stats/run.sh [--cases N] [--pg postgres://…/postgres]
#   --cases N   cases in the year (default 1600000)
#   --pg URL    also on PostgreSQL: a scratch database wangge_bench_stats is made beside URL's
#
# The generated SQLite database (~5 GB at full size) is kept in target/bench-stats/ and reused
# by later runs with the same size; generating it takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

CASES=1600000
PG=
while [ $# -gt 0 ]; do
  case "$1" in
    --cases) CASES=$2; shift 2 ;;
    --pg) PG=$2; shift 2 ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

WORK=${BENCH_DIR:-target/bench-stats}
mkdir -p "$WORK"
if [ -z "${SKIP_BUILD:-}" ]; then cargo build --release -q -p wangge; fi
export WANGGE_LOG=${WANGGE_LOG:-warn}

echo "SQLite:"
./target/release/wangge bench stats --db "$WORK/stats-$CASES.db" --cases "$CASES"

if [ -n "$PG" ]; then
  echo "PostgreSQL:"
  base=${PG%/*}
  psql -q "$PG" -c "DROP DATABASE IF EXISTS wangge_bench_stats" -c "CREATE DATABASE wangge_bench_stats"
  ./target/release/wangge bench stats --db "$base/wangge_bench_stats" --cases "$CASES"
fi

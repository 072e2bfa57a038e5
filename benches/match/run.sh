#!/usr/bin/env bash
# Benchmark: address matching at full size (issue 7, "Measured") through the real commands —
# `wangge generate registry` writes a 5,000,000-room address base (houses.csv),
# `wangge generate declared` makes 10,000,000 noisy citizen-declared records with known truth
# from it, `wangge match` gives every record a house code on all cores; score.py then counts
# precision and recall (by threshold and noise kind) against the truth.
#
# usage: benches/match/run.sh [--rooms N] [--records N] [--grids N] [--threshold T] [--dedup]
#                             [--seed S]
#   --rooms N      rooms (house codes) in the base (default 5000000)
#   --records N    declared records to match (default 10000000)
#   --grids N      grids of the generated city (default 18000)
#   --threshold T  confidence at which a match is taken (default: the matcher's)
#   --dedup        also de-duplicate (identity number; name + phone + matched house)
#
# The generated files (~0.9 GB houses.csv, ~1.6 GB declared.csv, ~2.5 GB matched.csv at full
# size) are kept in target/bench-match/ and reused by later runs of the same size and seed
# (FRESH=1 makes them again). `wangge bench match --rooms N --records N` measures the same
# in memory, without the files.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROOMS=5000000
RECORDS=10000000
GRIDS=18000
SEED=42
THRESHOLD=
DEDUP=
while [ $# -gt 0 ]; do
  case "$1" in
    --rooms) ROOMS=$2; shift 2 ;;
    --records) RECORDS=$2; shift 2 ;;
    --grids) GRIDS=$2; shift 2 ;;
    --threshold) THRESHOLD=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --dedup) DEDUP=--dedup; shift ;;
    -h|--help) sed -n 2,19p "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

WORK=${BENCH_DIR:-target/bench-match}
mkdir -p "$WORK"
if [ -z "${SKIP_BUILD:-}" ]; then cargo build --release -q -p wangge; fi
export WANGGE_LOG=${WANGGE_LOG:-warn}
W=${WANGGE_BIN:-./target/release/wangge}
REG="$WORK/registry-$GRIDS-$ROOMS-$SEED"
DECLARED="$WORK/declared-$GRIDS-$ROOMS-$RECORDS-$SEED.csv"
MATCHED="$WORK/matched.csv"
TIMES="$WORK/time.txt"

# Runs a command, keeping its wall, user and system seconds and peak RSS (KB) in $TIMES.
timed() {
  /usr/bin/time -f "%e %U %S %M" -o "$TIMES" "$@"
}
wall() { cut -d' ' -f1 "$TIMES"; }
cpu() { awk '{ print $2 + $3 }' "$TIMES"; }
peak_mb() { awk '{ printf "%.0f", $4 / 1024 }' "$TIMES"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)"

if [ -n "${FRESH:-}" ] || [ ! -s "$REG/houses.csv" ]; then
  timed "$W" generate registry --grids "$GRIDS" --seed "$SEED" --houses "$ROOMS" \
    --people 0 --organisations 0 --components 0 --out "$REG"
  echo "houses.csv: written in $(wall) s"
fi
echo "rooms in the base: $(($(wc -l < "$REG/houses.csv") - 1))"

if [ -n "${FRESH:-}" ] || [ ! -s "$DECLARED" ]; then
  timed "$W" generate declared --houses "$REG/houses.csv" --count "$RECORDS" --seed "$SEED" \
    --out "$DECLARED"
  echo "declared.csv: $RECORDS records written in $(wall) s"
fi

# The matcher's default threshold, as `wangge match --help` states it.
THRESHOLD=${THRESHOLD:-$("$W" match --help | sed -n 's/.*\[default: \([0-9.]*\)\].*/\1/p' | head -1)}
ARGS=(--input "$DECLARED" --address-column address --houses "$REG/houses.csv"
      --output "$MATCHED" --threshold "$THRESHOLD" $DEDUP)
timed "$W" match "${ARGS[@]}" 2> "$WORK/match.log" || { cat "$WORK/match.log" >&2; exit 1; }
grep -v '^$' "$WORK/match.log" | sed 's/^/wangge match: /'
echo "match wall time: $(wall) s (base build, reading, matching, writing)"
echo "match records/s: $(awk -v n="$RECORDS" -v t="$(wall)" 'BEGIN { printf "%.0f", n / t }')"
echo "match CPU time: $(cpu) s"
echo "match records per CPU-second (per core): $(awk -v n="$RECORDS" -v t="$(cpu)" 'BEGIN { printf "%.0f", n / t }')"
echo "match peak memory: $(peak_mb) MB"

python3 benches/match/score.py "$MATCHED" --threshold "$THRESHOLD"

#!/usr/bin/env bash
# The benchmark suite at tiny sizes (bench/run --smoke), so it cannot rot:
# every benchmark must run, RESULTS.md must carry the summary table with
# every figure, the end-to-end run must lose and double-count nothing
# (its loadgen verification), and the plot must be a PNG.
# usage: smoke.sh BIN_DIR (ctest passes the build's bin/)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "bench smoke: $*" >&2; [ -f "$out/RESULTS.md" ] && cat "$out/RESULTS.md" >&2; exit 1; }

TP_BIN_DIR=$1 "$root/bench/run" --smoke --out "$out" || fail "bench/run failed"
r=$out/RESULTS.md
[ -f "$r" ] || fail "no RESULTS.md"
grep -q '^| figure | twinpipe | limit measured in the same run | ratio | target |' "$r" || fail "no summary table"
for f in "Parquet rows per CPU-second" "Parquet file size" "ingest readings/s, 100 per POST" \
    "ingest p99, 100 per POST" "ingest single-reading POSTs/s" "10,000 keep-alive connections" \
    "ingest peak RSS, broker frozen" "ingest recovery after the broker returns" \
    "end to end readings/s into PostgreSQL" "freshness p99" "readings lost or double-counted" \
    "projector bytes per twin" "projector fold events/s per core" "projector bytes per twin at 20000 twins" \
    "replay events/s" "projector flush, twin rows/s" "projector journal -> PostgreSQL events/s"; do
    grep -q "^| $f" "$r" || fail "summary lacks \"$f\""
done
# correctness is not a speed figure: it must hold even at tiny sizes
grep -q '^| readings lost or double-counted | 0  |' "$r" || fail "the end-to-end run lost or double-counted readings"
grep -q 'verify: 200 devices: 200 equal, 0 mismatched, 0 still behind' "$r" || fail "loadgen verification did not pass"
for s in "Parquet writing" "Projector in memory" "Projector flush" "HTTP layer" "Ingest" "Ingest under overload" "End to end" "Replay" "Projector journal -> PostgreSQL"; do
    grep -q "^## $s" "$r" || fail "no section \"$s\""
done
! grep -q 'failed\*\*' "$r" || fail "a benchmark failed"
[ "$(head -c 8 "$out/e2e.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "e2e.png is not a PNG"
echo "bench smoke: ok"

#!/usr/bin/env bash
# tests/fuzz/run.sh - runs libFuzzer harnesses of build/fuzz (tests/fuzz/README.md).
#
#   run.sh --bin-dir DIR [--work-dir DIR] [--seconds N] [--fresh] [harness...]
#
# Each harness first runs every file of its committed seed corpus
# (tests/fuzz/corpus/<harness>/), then fuzzes for N seconds (default 60), with
# -timeout=10 per input. New inputs go to <work-dir>/corpus/<harness> (kept
# between runs unless --fresh), crashes to <work-dir>/artifacts/. Prints one
# line per harness: executions, exec/s, corpus size, and the outcome. Exits 1
# if any harness found a crash, a leak, a timeout or a sanitizer report.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin= work= seconds=60 fresh=0
harnesses=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--bin-dir) bin=$2; shift 2 ;;
	--work-dir) work=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--fresh) fresh=1; shift ;;
	-*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	*) harnesses+=("$1"); shift ;;
	esac
done
[[ -n $bin ]] || { echo "run.sh: --bin-dir is required" >&2; exit 2; }
work=${work:-$bin/../fuzz-work}
if [[ ${#harnesses[@]} -eq 0 ]]; then
	for d in "$here"/corpus/*/; do harnesses+=("$(basename "$d")"); done
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rc=0
for h in "${harnesses[@]}"; do
	exe=$bin/$h
	seeds=$here/corpus/$h
	[[ -x $exe ]] || { echo "run.sh: $exe is not built" >&2; rc=1; continue; }
	[[ -d $seeds ]] || { echo "run.sh: no seed corpus $seeds" >&2; rc=1; continue; }
	corpus=$work/corpus/$h
	[[ $fresh == 1 ]] && rm -rf "$corpus"
	mkdir -p "$corpus" "$work/artifacts" "$work/logs"
	log=$work/logs/$h.log
	dict=()
	[[ -f $here/$h.dict ]] && dict=(-dict="$here/$h.dict")
	set +e
	# the first corpus directory receives new inputs; the committed seeds stay untouched
	"$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/$h-" "${dict[@]}" \
		"$corpus" "$seeds" >"$log" 2>&1
	status=$?
	set -e
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
	speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
	units=$(find "$corpus" -type f | wc -l)
	if [[ $status -eq 0 ]]; then
		outcome=ok
	else
		outcome="FAILED (exit $status; log $log)"
		rc=1
		grep -m5 -E 'ERROR: |SUMMARY: |runtime error|Timeout|deadly signal' "$log" >&2 || true
		tail -n 40 "$log" >&2
	fi
	printf '%-14s %12s execs %8s/s  %5s new corpus units  %s s  %s\n' "$h" "${execs:-?}" \
		"${speed:-?}" "$units" "$seconds" "$outcome"
done
exit $rc

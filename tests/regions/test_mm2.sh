#!/usr/bin/env bash
#
# test_mm2.sh - scripts/regions end to end (ctest regions_mm2, label integration):
# `scripts/regions up` on a folder, ports and database names of its own; the
# three site databases exist on the dev stack's PostgreSQL; mm2_flow.py produces
# records with known keys to both regions' aggregates and detail topics, reads
# them back exactly from the global broker's mirrored topics, SIGKILLs
# MirrorMaker mid-flow and restarts it (nothing lost, duplicates only of records
# mirrored before the kill, counted), and a policy on global reaches both
# regions; `scripts/regions status` before and after; `down --purge` stops
# every process it started. Prints the run time of each step.
#
# Needs the dev stack's PostgreSQL (TP_PG_DSN: eval "$(scripts/devstack env)"),
# java and mvn (the dev stack's Kafka jars, fetched once), and the Python venv
# with confluent-kafka (tests/registry/confluent_venv.sh makes it on first use).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
REGIONS=$ROOT/scripts/regions
[[ -n "${TP_PG_DSN:-}" ]] || { echo "test_mm2: TP_PG_DSN unset: eval \"\$(scripts/devstack env)\"" >&2; exit 1; }

PY=$(bash "$ROOT/tests/registry/confluent_venv.sh")
export TP_REGIONS_DIR
TP_REGIONS_DIR=$(mktemp -d /tmp/tp-regions-test.XXXXXX)
export TP_REGIONS_PORT_BASE=${TP_REGIONS_TEST_PORT_BASE:-29600}
export TP_REGIONS_DB_PREFIX=regions_test_
RUN_ID=t$$x$RANDOM
t_start=${EPOCHREALTIME/./}

step() { echo "test_mm2: [$(((${EPOCHREALTIME/./} - t_start) / 100000))e-1 s] $*"; }
fail() {
	echo "test_mm2: FAIL: $*" >&2
	exit 1
}

cleanup() {
	local rc=$?
	if [[ $rc -ne 0 ]]; then
		for f in "$TP_REGIONS_DIR"/*/log; do
			[[ -f "$f" ]] || continue
			echo "test_mm2: last lines of $f:" >&2
			tail -n 15 "$f" | sed 's/^/    /' >&2
		done
	fi
	local f pids=()
	for f in "$TP_REGIONS_DIR"/*/pid; do
		[[ -f "$f" ]] && pids+=("$(<"$f")")
	done
	"$REGIONS" down --purge || rc=1
	# every process it started is gone
	for f in "${pids[@]}"; do
		# gone, or a zombie waiting for its parent (init) to reap it
		if kill -0 "$f" 2>/dev/null && [[ "$(awk '/^State:/ {print $2}' "/proc/$f/status" 2>/dev/null)" != Z ]]; then
			echo "test_mm2: FAIL: pid $f still runs after down" >&2
			rc=1
		fi
	done
	if "$REGIONS" status >/dev/null; then
		echo "test_mm2: FAIL: status says something still runs after down" >&2
		rc=1
	fi
	rm -rf "$TP_REGIONS_DIR"
	step "done (exit $rc)"
	exit $rc
}
trap cleanup EXIT

step "scripts/regions up ($TP_REGIONS_DIR, ports $((TP_REGIONS_PORT_BASE + 92)), $((TP_REGIONS_PORT_BASE + 192)), $((TP_REGIONS_PORT_BASE + 292)))"
"$REGIONS" up
step "up"
"$REGIONS" status || fail "status after up"
eval "$("$REGIONS" env)"
for v in TP_REGION_A_KAFKA TP_REGION_B_KAFKA TP_GLOBAL_KAFKA; do
	[[ -n "${!v:-}" ]] || fail "scripts/regions env sets no $v"
done
[[ "$TP_REGION_A_KAFKA" == "127.0.0.1:$((TP_REGIONS_PORT_BASE + 92))" ]] || fail "TP_REGION_A_KAFKA=$TP_REGION_A_KAFKA"
for db in regions_test_a regions_test_b regions_test_global; do
	[[ "$(psql "$TP_PG_DSN" -XtAq -c "select count(*) from pg_database where datname = '$db'")" == 1 ]] ||
		fail "database $db not created"
done
[[ "$(psql "$TP_GLOBAL_PG_DSN" -XtAq -c 'select current_database()')" == regions_test_global ]] ||
	fail "TP_GLOBAL_PG_DSN does not reach regions_test_global"

# up again: a no-op that keeps the same processes
before=$("$REGIONS" status)
"$REGIONS" up >/dev/null
[[ "$("$REGIONS" status)" == "$before" ]] || fail "a second up changed what runs"

step "mm2_flow.py (run $RUN_ID)"
"$PY" "$ROOT/tests/regions/mm2_flow.py" --regions "$REGIONS" --run-id "$RUN_ID" \
	--region-a "$TP_REGION_A_KAFKA" --region-b "$TP_REGION_B_KAFKA" --global "$TP_GLOBAL_KAFKA" \
	--n "${TP_REGIONS_TEST_N:-1000}"
step "mirrored exactly"
"$REGIONS" status || fail "status after the flow"

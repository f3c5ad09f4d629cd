#!/usr/bin/env bash
#
# test_regions.sh - two regions and a global site on one machine, end to end (ctest
# regions_topology, label integration; docs/decisions/regions.md, section 4):
# scripts/sites up (scripts/regions' three brokers, MirrorMaker 2 and databases on a
# folder, ports and database names of their own, then every site's services) with
# aggregate.window_ms=10000 and aggregate.grace_ms=2000, one tp-loadgen per region
# (300 vehicles over 4 models, every 3 s), then regions_check.py: global aggregates equal
# an independent computation over both journals; a raw policy for region-a's trucks
# (periods in the 202 bodies, exactly those readings at global, nothing after until);
# MirrorMaker SIGKILLed for 15 s loses nothing. Everything it started is stopped by pid,
# checked. Prints the run time of each step.
#
# Needs the dev stack's PostgreSQL (TP_PG_DSN: eval "$(scripts/devstack env)"), java and
# mvn (the dev stack's Kafka jars), the built services (TP_BIN_DIR, default
# build/release/bin) and the Python venv with confluent-kafka and protobuf
# (tests/registry/confluent_venv.sh makes it on first use).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
REGIONS=$ROOT/scripts/regions
SITES=$ROOT/scripts/sites
[[ -n "${TP_PG_DSN:-}" ]] || { echo "test_regions: TP_PG_DSN unset: eval \"\$(scripts/devstack env)\"" >&2; exit 1; }

PY=$(bash "$ROOT/tests/registry/confluent_venv.sh")
export TP_REGIONS_DIR
TP_REGIONS_DIR=$(mktemp -d /tmp/tp-regions-topology.XXXXXX)
export TP_REGIONS_PORT_BASE=${TP_REGIONS_TOPOLOGY_PORT_BASE:-30000}
export TP_REGIONS_DB_PREFIX=regions_topology_
export TP_SITES_BIN_DIR=${TP_BIN_DIR:-$ROOT/build/release/bin}
export TP_SITES_PORT_BASE=${TP_SITES_TOPOLOGY_PORT_BASE:-28500}
export TP_SITES_WINDOW_MS=10000 TP_SITES_GRACE_MS=2000
export TP_SITES_DEVICES=${TP_REGIONS_TOPOLOGY_DEVICES:-300} TP_SITES_PERIOD_MS=3000 TP_SITES_DURATION_S=600
t_start=${EPOCHREALTIME/./}

step() { echo "test_regions: [$(((${EPOCHREALTIME/./} - t_start) / 100000))e-1 s] $*"; }

cleanup() {
	local rc=$? f pids=()
	if [[ $rc -ne 0 ]]; then
		for f in "$TP_REGIONS_DIR"/*/log "$TP_REGIONS_DIR"/sites/*.log; do
			[[ -f "$f" ]] || continue
			echo "test_regions: last lines of $f:" >&2
			tail -n 8 "$f" | sed 's/^/    /' >&2
		done
	fi
	for f in "$TP_REGIONS_DIR"/*/pid "$TP_REGIONS_DIR"/sites/*.pid; do
		[[ -f "$f" ]] && pids+=("$(<"$f")")
	done
	"$SITES" down || rc=1
	# the services stopped cleanly: no sanitizer report in their logs (ASan builds)
	if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TP_REGIONS_DIR"/sites/*.log 2>/dev/null; then
		echo "test_regions: FAIL: sanitizer reports in the logs above" >&2
		grep -hE -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TP_REGIONS_DIR"/sites/*.log | head -60 >&2
		rc=1
	fi
	"$SITES" down --regions --purge || rc=1
	# every process it started is gone (or a zombie waiting for init to reap it)
	for f in "${pids[@]}"; do
		if kill -0 "$f" 2>/dev/null && [[ "$(awk '/^State:/ {print $2}' "/proc/$f/status" 2>/dev/null)" != Z ]]; then
			echo "test_regions: FAIL: pid $f still runs after down" >&2
			rc=1
		fi
	done
	if "$SITES" status >/dev/null 2>&1; then
		echo "test_regions: FAIL: status says something still runs after down" >&2
		rc=1
	fi
	rm -rf "$TP_REGIONS_DIR"
	step "done (exit $rc)"
	exit $rc
}
trap cleanup EXIT

step "scripts/sites up ($TP_REGIONS_DIR, brokers $((TP_REGIONS_PORT_BASE + 92)), $((TP_REGIONS_PORT_BASE + 192)), $((TP_REGIONS_PORT_BASE + 292)), services $TP_SITES_PORT_BASE+)"
"$SITES" up
step "up"
"$SITES" status >/dev/null || { "$SITES" status; exit 1; }
eval "$("$SITES" env)"
start_ms=$(($(date +%s%3N)))
"$SITES" loadgen start
step "loadgen started"
"$PY" "$ROOT/tests/regions/regions_check.py" --root "$ROOT" --bin "$TP_SITES_BIN_DIR" --regions "$REGIONS" \
	--region-a "$TP_REGION_A_KAFKA" --region-b "$TP_REGION_B_KAFKA" --global-kafka "$TP_GLOBAL_KAFKA" \
	--ingest-a "$TP_SITES_INGEST_REGION_A_URL" --ingest-b "$TP_SITES_INGEST_REGION_B_URL" \
	--query "$TP_SITES_QUERY_URL" --policy "$TP_SITES_POLICY_URL" \
	--window-ms "$TP_SITES_WINDOW_MS" --grace-ms "$TP_SITES_GRACE_MS" --start-ms "$start_ms"
step "checks passed"
# loadgen answered every POST: nothing failed on the way
"$SITES" loadgen stop
for site in region-a region-b; do
	tail -n 3 "$TP_REGIONS_DIR/sites/loadgen-$site.log" | sed "s/^/test_regions: loadgen $site: /"
done
"$SITES" status >/dev/null || { "$SITES" status; exit 1; }

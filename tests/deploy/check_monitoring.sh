#!/usr/bin/env bash
#
# check_monitoring.sh - the alert rules and the dashboard (ctest deploy_monitoring):
#   1. `promtool check rules` on deploy/helm/twinpipe/files/prometheus/twinpipe-rules.yml;
#   2. `promtool test rules tests/deploy/rules_test.yml`: each alert fires on the series
#      that should trigger it, with its exact labels and text, and not on the near miss;
#   3. `promtool check config` on compose's deploy/compose/prometheus.yml;
#   4. check_monitoring.py: every metric used is exported today, the dashboard's panels
#      and datasource, compose's profile consistent with the chart; then every dashboard
#      query parsed by promtool (as a recording rule).
#
#   tests/deploy/check_monitoring.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
promtool=$("$root/tests/deploy/tools.sh" promtool)
py=$("$root/tests/deploy/tools.sh" kvalidate) # a python with PyYAML
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

step() {
	local what=$1
	shift
	if ! "$@" >"$work/out" 2>&1; then
		cat "$work/out" >&2
		echo "check_monitoring: $what failed" >&2
		fail=1
	fi
}
cd "$root"
step "promtool check rules" "$promtool" check rules deploy/helm/twinpipe/files/prometheus/twinpipe-rules.yml
step "promtool test rules" "$promtool" test rules tests/deploy/rules_test.yml
step "promtool check config" "$promtool" check config deploy/compose/prometheus.yml
"$py" tests/deploy/check_monitoring.py "$root" "$work" || fail=1
if [[ -f "$work/dashboard-exprs.yml" ]]; then
	step "promtool check rules (the dashboard's queries)" "$promtool" check rules "$work/dashboard-exprs.yml"
fi
if [[ $fail -ne 0 ]]; then
	echo "check_monitoring: FAILED" >&2
	exit 1
fi
echo "check_monitoring: ok (rules checked and unit-tested, compose config, dashboard queries parsed)"

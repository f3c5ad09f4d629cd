#!/usr/bin/env bash
#
# check_chart.sh - the Helm chart deploy/helm/twinpipe checked offline (ctest deploy_chart):
#   1. `helm lint --strict` with the default values, with ci/all-values.yaml
#      ("everything on": MQTT on a LoadBalancer Service of its own, and the regions' parts:
#      tp-policy, tp-forward, the fleet fold, the aggregator, policies on ingest, the
#      site's region) and with MQTT on as one more port of the ingest Service
#      (--set ingest.mqtt.enabled=true);
#   2. `helm template` of each, every object checked by check_objects.py: the
#      Kubernetes API schemas (kubernetes-validate, strict) and the chart's promises;
#      the PrometheusRule's rules by `promtool check rules`;
#   3. values the chart must refuse are refused, with their reason: more projector
#      replicas than journal partitions, a generated Secret without its data, a lake
#      with neither a claim nor a volume, an MQTT port that is another port's, more
#      tp-forward replicas than journal partitions, the fleet fold in the projector's group,
#      tp-policy's generated Secret without its operator keys.
# helm, promtool and the venv come from tests/deploy/tools.sh (installed and cached on
# first use; a tool that cannot be installed fails the check).
#
#   tests/deploy/check_chart.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
chart="$root/deploy/helm/twinpipe"
# the chart's lowest supported Kubernetes (Chart.yaml kubeVersion)
KUBE_VERSION=1.30.0

helm=$("$root/tests/deploy/tools.sh" helm)
promtool=$("$root/tests/deploy/tools.sh" promtool)
py=$("$root/tests/deploy/tools.sh" kvalidate)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# helm keeps its config and caches here, not in the user's home
export HELM_CONFIG_HOME="$work/helm/config" HELM_CACHE_HOME="$work/helm/cache" HELM_DATA_HOME="$work/helm/data"
fail=0

for mode in default all mqtt; do
	args=()
	[[ $mode == all ]] && args=(-f "$chart/ci/all-values.yaml")
	[[ $mode == mqtt ]] && args=(--set ingest.mqtt.enabled=true)
	if ! "$helm" lint --strict --kube-version "$KUBE_VERSION" "${args[@]}" "$chart" >"$work/lint.$mode" 2>&1; then
		cat "$work/lint.$mode" >&2
		echo "check_chart: helm lint ($mode values) failed" >&2
		fail=1
	fi
	if ! "$helm" template tp "$chart" --namespace twinpipe --kube-version "$KUBE_VERSION" "${args[@]}" \
		>"$work/$mode.yaml" 2>"$work/template.$mode"; then
		cat "$work/template.$mode" >&2
		echo "check_chart: helm template ($mode values) failed" >&2
		fail=1
		continue
	fi
	mkdir -p "$work/$mode"
	"$py" "$root/tests/deploy/check_objects.py" "$mode" "$work/$mode.yaml" "$chart" "$work/$mode" || fail=1
	if [[ -f "$work/$mode/prometheusrule.yml" ]]; then
		"$promtool" check rules "$work/$mode/prometheusrule.yml" >/dev/null ||
			{ echo "check_chart: promtool rejects the PrometheusRule's rules" >&2; fail=1; }
	fi
done

# refused values: exit status non-zero and the chart's own message
refused() {
	local want=$1
	shift
	if "$helm" template tp "$chart" --kube-version "$KUBE_VERSION" "$@" >/dev/null 2>"$work/err"; then
		echo "check_chart: helm template $* rendered; the chart must refuse it" >&2
		fail=1
	elif ! grep -qF -- "$want" "$work/err"; then
		cat "$work/err" >&2
		echo "check_chart: helm template $* failed without \"$want\"" >&2
		fail=1
	fi
}
refused "projector.replicas (7) must be at most journal.partitions (6)" --set projector.replicas=7
refused "secrets.data.auth-secret (secrets.create=true)" --set secrets.create=true
refused "rollup.lake: enable persistence or give a volume" --set rollup.lake.persistence.enabled=false
refused "ingest.mqtt.port (9100) must differ from ingest.port (8080) and metricsPort (9100)" \
	--set ingest.mqtt.enabled=true --set ingest.mqtt.port=9100
refused "forward.replicas (7) must be at most journal.partitions (6)" \
	--set forward.enabled=true --set forward.replicas=7
refused "fleetProjector.group (tp-projector) must differ from projector.group" \
	--set fleetProjector.enabled=true --set fleetProjector.group=tp-projector
refused "secrets.data.policy-operator-keys (secrets.create=true)" \
	-f "$chart/ci/all-values.yaml" --set secrets.data.policy-operator-keys=null

if [[ $fail -ne 0 ]]; then
	echo "check_chart: FAILED" >&2
	exit 1
fi
echo "check_chart: ok (lint + template + schemas, default, everything-on and MQTT-on values; 7 refusals)"

#!/usr/bin/env bash
#
# check_chart_config.sh - the chart's TP_* names, values and defaults against the
# services' config tables (ctest deploy_chart_config; check_chart_config.py says what
# is checked). Renders the chart with its default values and ci/all-values.yaml.
#
#   tests/deploy/check_chart_config.sh BIN_DIR     (the built tp-* programs)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
chart="$root/deploy/helm/twinpipe"
bin=${1:?usage: check_chart_config.sh BIN_DIR}
for p in tp-ingest tp-projector tp-query tp-migrate tp-rollup tp-registry tp-replay tp-policy tp-forward; do
	[[ -x "$bin/$p" ]] || { echo "check_chart_config: \"$bin/$p\" not built" >&2; exit 1; }
done

helm=$("$root/tests/deploy/tools.sh" helm)
py=$("$root/tests/deploy/tools.sh" kvalidate)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# helm keeps its config and caches here, not in the user's home
export HELM_CONFIG_HOME="$work/helm/config" HELM_CACHE_HOME="$work/helm/cache" HELM_DATA_HOME="$work/helm/data"

"$helm" template tp "$chart" --kube-version 1.30.0 >"$work/default.yaml"
"$helm" template tp "$chart" --kube-version 1.30.0 -f "$chart/ci/all-values.yaml" >"$work/all.yaml"
exec "$py" "$root/tests/deploy/check_chart_config.py" "$bin" "$root" "$work/default.yaml" "$work/all.yaml"

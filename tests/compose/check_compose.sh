#!/usr/bin/env bash
#
# check_compose.sh - validate docker-compose.yml without a docker engine:
#   1. docker-compose (v1) accepts it: `docker-compose config -q`
#   2. the services kafka, postgres, migrate, ingest, projector, query, rollup, registry exist
#   3. every TP_* variable in the file (raw text and resolved config, so
#      anchors count) is one the services read
# Exit 0 when all hold, 1 with a message per problem (also when
# docker-compose is missing: scripts/install-deps installs it, and a check
# that cannot run must not pass).
#
#   tests/compose/check_compose.sh [path/to/docker-compose.yml [bin-dir]]
#
# With bin-dir, the allowed variables are the ones the built services print
# in --help (the config tables themselves), plus TP_KAFKA_* passthrough.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
FILE=${1:-$ROOT/docker-compose.yml}

REQUIRED_SERVICES=(kafka postgres migrate ingest projector query rollup registry)
# the TP_* variables the services are configured by (config key dots become
# underscores: journal.topic -> TP_JOURNAL_TOPIC)
ALLOWED_VARS=(
	TP_PG_DSN
	TP_KAFKA_BOOTSTRAP_SERVERS
	TP_JOURNAL_TOPIC
	TP_JOURNAL_PARTITIONS
	TP_JOURNAL_REPLICATION
	TP_HTTP_LISTEN
	TP_MIGRATIONS_DIR
)

fail=0
problem() {
	printf 'check_compose: %s\n' "$*" >&2
	fail=1
}

if ! command -v docker-compose >/dev/null; then
	echo "check_compose: docker-compose not found (run scripts/install-deps)" >&2
	exit 1
fi
# docker-compose.yml requires the secrets and credentials from the environment
export TP_AUTH_SECRET=${TP_AUTH_SECRET:-check-compose-placeholder-secret}
export TP_QUERY_API_KEYS=${TP_QUERY_API_KEYS:-0000000000000000000000000000000000000000000000000000000000000000}
export TP_QUERY_CURSOR_SECRET=${TP_QUERY_CURSOR_SECRET:-check-compose-placeholder-cursor-secret}
export TP_REGISTRY_CREDENTIALS=${TP_REGISTRY_CREDENTIALS:-check:0000000000000000000000000000000000000000000000000000000000000000:read}
export TP_REGISTRY_USER=${TP_REGISTRY_USER:-check} TP_REGISTRY_PASSWORD=${TP_REGISTRY_PASSWORD:-check}
BIN_DIR=${2:-}
if [[ -n "$BIN_DIR" ]]; then
	ALLOWED_VARS=()
	for prog in tp-ingest tp-projector tp-query tp-migrate tp-rollup tp-registry tp-replay; do
		[[ -x "$BIN_DIR/$prog" ]] || {
			echo "check_compose: \"$BIN_DIR/$prog\" not built" >&2
			exit 1
		}
		while read -r v; do ALLOWED_VARS+=("$v"); done < <("$BIN_DIR/$prog" --help | grep -o 'TP_[A-Z0-9_]*' | sort -u)
	done
fi
[[ -f "$FILE" ]] || {
	echo "check_compose: \"$FILE\" not found" >&2
	exit 1
}
FILE=$(cd "$(dirname "$FILE")" && pwd -P)/$(basename "$FILE")

# compose resolves relative build contexts against the file's folder
cd "$(dirname "$FILE")"

if ! out=$(docker-compose -f "$FILE" config -q 2>&1); then
	printf '%s\n' "$out" >&2
	echo "check_compose: docker-compose rejects \"$FILE\"" >&2
	exit 1
fi

resolved=$(docker-compose -f "$FILE" config 2>/dev/null)
services=$(docker-compose -f "$FILE" config --services 2>/dev/null)
for s in "${REQUIRED_SERVICES[@]}"; do
	grep -qx -- "$s" <<<"$services" || problem "service \"$s\" is missing"
done

# TP_ names in the raw text (comments stripped) and in the resolved config
used=$(
	{
		sed 's/#.*//' "$FILE"
		printf '%s\n' "$resolved"
	} | grep -oE '\bTP_[A-Z0-9_]+' | sort -u
)
for v in $used; do
	ok=0
	[[ "$v" == TP_KAFKA_* ]] && ok=1 # passed through to librdkafka
	for a in "${ALLOWED_VARS[@]}"; do
		[[ "$v" == "$a" ]] && ok=1 && break
	done
	[[ $ok -eq 1 ]] || problem "unknown variable \"$v\": the services read only ${ALLOWED_VARS[*]}"
done

# the services must get their configuration: each twinpipe service sets
# TP_PG_DSN (anchor merged) in the resolved config
for s in migrate ingest projector query registry; do
	block=$(awk -v s="  $s:" '$0 == s {on = 1; next} on && /^  [^ ]/ {on = 0} on' <<<"$resolved")
	grep -q 'TP_PG_DSN:' <<<"$block" || problem "service \"$s\" has no TP_PG_DSN in its environment"
done

if [[ $fail -ne 0 ]]; then
	echo "check_compose: \"$FILE\" failed the checks above" >&2
	exit 1
fi
echo "check_compose: ok ($(wc -l <<<"$services") services, $(wc -w <<<"$used") TP_* variables)"

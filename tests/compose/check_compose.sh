#!/usr/bin/env bash
#
# check_compose.sh - validate docker-compose.yml without a docker engine:
#   1. docker-compose (v1) accepts it: `docker-compose config -q`
#   2. the services kafka, postgres, migrate, ingest, projector, query, rollup, registry exist
#   3. every TP_* variable in the file (raw text and resolved config, so
#      anchors count) is one the services read: without bin-dir a fixed list;
#      with bin-dir (ctest passes it) the keys of the built services' config
#      tables themselves (`tp-* --config-json`, the source of --help and the
#      READMEs), plus TP_KAFKA_* passthrough
# and with bin-dir:
#   4. each service running a tp-* command reads every TP_* variable set in its
#      own environment block (the shared x-tp-env anchor: at least one of the
#      services merging it does);
#   5. each such service accepts its resolved environment: `tp-* --config-check`
#      (types, ranges, enum names and the cross-key rules) exits 0;
#   6. a service with an MQTT listener (TP_MQTT_LISTEN) publishes that port.
# Exit 0 when all hold, 1 with a message per problem (also when
# docker-compose or python3's yaml module is missing: scripts/install-deps
# installs them, and a check that cannot run must not pass).
#
#   tests/compose/check_compose.sh [path/to/docker-compose.yml [bin-dir]]
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
export TP_POLICY_OPERATOR_KEYS=${TP_POLICY_OPERATOR_KEYS:-1111111111111111111111111111111111111111111111111111111111111111}
BIN_DIR=${2:-}
PROGRAMS=(tp-ingest tp-projector tp-query tp-migrate tp-rollup tp-registry tp-replay tp-policy tp-forward)
TABLES=""
if [[ -n "$BIN_DIR" ]]; then
	BIN_DIR=$(cd "$BIN_DIR" && pwd -P)
	python3 -c 'import yaml' 2>/dev/null || {
		echo "check_compose: python3 with the yaml module is needed (run scripts/install-deps)" >&2
		exit 1
	}
	ALLOWED_VARS=()
	TABLES=$(mktemp -d)
	trap 'rm -rf "$TABLES"' EXIT
	for prog in "${PROGRAMS[@]}"; do
		[[ -x "$BIN_DIR/$prog" ]] || {
			echo "check_compose: \"$BIN_DIR/$prog\" not built" >&2
			exit 1
		}
		"$BIN_DIR/$prog" --config-json >"$TABLES/$prog.json"
		while read -r v; do ALLOWED_VARS+=("$v"); done < <(python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))
for k in t["keys"]:
    print(k["env"])' "$TABLES/$prog.json" | sort -u)
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

# per service, against its own table: the variables it is given are ones it reads, and
# their values pass its checks
if [[ -n "$TABLES" ]]; then
	printf '%s\n' "$resolved" >"$TABLES/resolved.yml"
	while IFS='|' read -r kind service prog rest; do
		case $kind in
		unread) problem "service \"$service\" ($prog) sets $rest, which $prog does not read" ;;
		shared) problem "$rest (x-tp-env) is read by none of the services that merge it" ;;
		refused) problem "service \"$service\": $prog --config-check refuses its environment: $rest" ;;
		unpublished) problem "service \"$service\": $rest is not a published container port" ;;
		esac
	done < <(python3 - "$FILE" "$TABLES/resolved.yml" "$TABLES" "$BIN_DIR" <<'PY'
import json, os, subprocess, sys, yaml
raw = yaml.safe_load(open(sys.argv[1]))
resolved = yaml.safe_load(open(sys.argv[2]))
tables, bin_dir = sys.argv[3], sys.argv[4]
shared = set((raw.get("x-tp-env") or {}).keys())
def reads(prog):
    t = json.load(open(os.path.join(tables, prog + ".json")))
    envs = {k["env"] for k in t["keys"]}
    prefix = None
    if t.get("passthrough"):
        prefix = "TP_" + t["passthrough"].upper().replace(".", "_")
    return lambda v: v in envs or (prefix is not None and v.startswith(prefix))
shared_read = {v: False for v in shared}
for name, svc in sorted((resolved.get("services") or {}).items()):
    cmd = svc.get("command") or []
    if isinstance(cmd, str):
        cmd = cmd.split()
    if not cmd or not os.path.exists(os.path.join(tables, cmd[0] + ".json")):
        continue
    prog = cmd[0]
    read = reads(prog)
    env = {k: "" if v is None else str(v) for k, v in (svc.get("environment") or {}).items()}
    for v in sorted(env):
        if not v.startswith("TP_"):
            continue
        if v in shared:
            shared_read[v] = shared_read[v] or read(v)
        elif not read(v):
            print("unread|%s|%s|%s" % (name, prog, v))
    mqtt = env.get("TP_MQTT_LISTEN", "")
    if mqtt:
        published = {str(p.get("target") if isinstance(p, dict) else str(p).split(":")[-1].split("/")[0])
                     for p in svc.get("ports") or []}
        if mqtt.rpartition(":")[2] not in published:
            print("unpublished|%s|%s|TP_MQTT_LISTEN %s" % (name, prog, mqtt))
    run_env = dict(env, PATH=os.environ.get("PATH", "/usr/bin:/bin"))
    r = subprocess.run([os.path.join(bin_dir, prog), "--config-check"], env=run_env, cwd=tables,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode != 0:
        print("refused|%s|%s|%s" % (name, prog, " ".join(r.stdout.split())))
for v in sorted(shared_read):
    if not shared_read[v]:
        print("shared|-|-|%s" % v)
PY
	)
fi

if [[ $fail -ne 0 ]]; then
	echo "check_compose: \"$FILE\" failed the checks above" >&2
	exit 1
fi
echo "check_compose: ok ($(wc -l <<<"$services") services, $(wc -w <<<"$used") TP_* variables)"

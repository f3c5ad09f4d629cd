#!/usr/bin/env bash
#
# confluent_venv.sh - make the Python venv with Confluent's official client
# (confluent-kafka[schemaregistry,protobuf] from PyPI) that
# tests/registry/confluent_clients.py uses, under .devstack/cfvenv.
# Idempotent: does nothing when the venv already imports it at the pinned
# version. Prints the venv's python path on stdout.
#
#   tests/registry/confluent_venv.sh     # -> /path/to/repo/.devstack/cfvenv/bin/python
#
# Needs python3 with the venv module (Debian 12: package python3-venv).
set -euo pipefail

CONFLUENT_KAFKA_VERSION=2.16.1

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${TP_CFVENV:-$root/.devstack/cfvenv}"
py="$venv/bin/python"

log() { printf 'confluent_venv: %s\n' "$*" >&2; }

ready() {
	[[ -x "$py" ]] && "$py" - "$CONFLUENT_KAFKA_VERSION" <<'PY' 2>/dev/null
import sys
import confluent_kafka
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
sys.exit(0 if confluent_kafka.__version__ == sys.argv[1] else 1)
PY
}

# one installer at a time (ctest may start several tests at once)
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9

if ! ready; then
	if [[ ! -x "$py" ]]; then
		log "creating $venv"
		python3 -m venv "$venv" >&2 || {
			log "python3 -m venv failed: install python3-venv (scripts/install-deps)"
			exit 1
		}
	fi
	log "installing confluent-kafka[schemaregistry,protobuf]==$CONFLUENT_KAFKA_VERSION"
	"$py" -m pip install --quiet --disable-pip-version-check \
		"confluent-kafka[schemaregistry,protobuf]==$CONFLUENT_KAFKA_VERSION" >&2
	ready || { log "venv at $venv still lacks confluent-kafka $CONFLUENT_KAFKA_VERSION"; exit 1; }
fi
printf '%s\n' "$py"

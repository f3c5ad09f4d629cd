#!/usr/bin/env bash
#
# pyvenv.sh - make the Python venv with the independent Parquet readers the
# rollup tests use (pyarrow, duckdb from PyPI) under .devstack/pyvenv.
# Idempotent: does nothing when the venv already imports both at the pinned
# versions. Prints the venv's python path on stdout.
#
#   tests/rollup/pyvenv.sh            # -> /path/to/repo/.devstack/pyvenv/bin/python
#
# Needs python3 with the venv module (Debian 12: package python3-venv).
set -euo pipefail

PYARROW_VERSION=25.0.1
DUCKDB_VERSION=1.5.6

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${TP_PYVENV:-$root/.devstack/pyvenv}"
py="$venv/bin/python"

log() { printf 'pyvenv: %s\n' "$*" >&2; }

ready() {
	[[ -x "$py" ]] && "$py" - "$PYARROW_VERSION" "$DUCKDB_VERSION" <<'PY' 2>/dev/null
import sys
import pyarrow, duckdb
sys.exit(0 if (pyarrow.__version__, duckdb.__version__) == (sys.argv[1], sys.argv[2]) else 1)
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
	log "installing pyarrow==$PYARROW_VERSION duckdb==$DUCKDB_VERSION"
	"$py" -m pip install --quiet --disable-pip-version-check \
		"pyarrow==$PYARROW_VERSION" "duckdb==$DUCKDB_VERSION" >&2
	ready || { log "venv at $venv still lacks pyarrow/duckdb"; exit 1; }
fi
printf '%s\n' "$py"

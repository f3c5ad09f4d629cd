#!/usr/bin/env bash
#
# pyvenv.sh - make a Python venv under .devstack with pinned PyPI packages, for the
# tests that read their results with independent Python tools. Idempotent: does
# nothing when every package is installed at its pinned version (and each --import
# module imports). Prints the venv's python path on stdout. One installer at a time
# per venv (ctest may start several tests at once).
#
#   tests/support/pyvenv.sh NAME [--import MODULE]... 'package[extras]==version'...
#       -> /path/to/repo/.devstack/NAME/bin/python   (TP_VENV_DIR overrides the folder)
#
# Used by tests/rollup/pyvenv.sh (pyarrow, duckdb), tests/registry/confluent_venv.sh
# (confluent-kafka), tests/deploy/tools.sh (kubernetes-validate) and
# tests/clients/pyclient.sh (the Python client's tests).
# Needs python3 with the venv module (Debian 12: package python3-venv).
set -euo pipefail

name=${1:?usage: pyvenv.sh NAME [--import MODULE]... PACKAGE==VERSION...}
shift
imports=()
while [[ $# -gt 0 && "$1" == --import ]]; do
	imports+=("$2")
	shift 2
done
[[ $# -gt 0 ]] || { echo "pyvenv: no package for $name" >&2; exit 2; }
pkgs=("$@")

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${TP_VENV_DIR:-$root/.devstack/$name}"
py="$venv/bin/python"

log() { printf '%s: %s\n' "$name" "$*" >&2; }

ready() {
	[[ -x "$py" ]] && "$py" - "${#imports[@]}" "${imports[@]}" "${pkgs[@]}" <<'PY' 2>/dev/null
import importlib, importlib.metadata as md, re, sys
n = int(sys.argv[1])
for mod in sys.argv[2:2 + n]:
    importlib.import_module(mod)
for spec in sys.argv[2 + n:]:
    dist, version = spec.split("==")
    dist = re.sub(r"\[.*\]", "", dist)
    if md.version(dist) != version:
        sys.exit(1)
PY
}

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
	log "installing ${pkgs[*]}"
	"$py" -m pip install --quiet --disable-pip-version-check "${pkgs[@]}" >&2
	ready || { log "venv at $venv still lacks ${pkgs[*]}"; exit 1; }
fi
printf '%s\n' "$py"

#!/usr/bin/env bash
#
# pyclient.sh - the Python client's tests (clients/python) as ctest runs them.
#
#   tests/clients/pyclient.sh unit [BIN_DIR]         # mypy --strict, pytest -m "not integration"
#   tests/clients/pyclient.sh integration [BIN_DIR]  # pytest -m integration (dev stack)
#
# The venv is .devstack/pyclient (tests/support/pyvenv.sh: httpx, pandas,
# duckdb, pytest, wheel and mypy pinned here); the package is installed from a
# copy of clients/python into a temporary folder (pip, the venv's setuptools
# and wheel, no build isolation: nothing is downloaded to build it, nothing is
# written into the tree), and pytest runs the tests against that installed
# copy. BIN_DIR (ctest passes the build's bin/; else TP_BIN_DIR, else
# build/asan/bin) holds the services the integration tests start.
set -euo pipefail

HTTPX_VERSION=0.28.1
PANDAS_VERSION=2.3.3
PYTEST_VERSION=8.4.2
DUCKDB_VERSION=1.5.6 # tests/rollup/pyvenv.sh's
WHEEL_VERSION=0.45.1 # the venv's setuptools (65 in Python 3.11's venv) builds wheels with it
MYPY_VERSION=1.13.0

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mode=${1:?usage: pyclient.sh unit|integration [BIN_DIR]}
case "$mode" in
unit) marks="not integration" ;;
integration) marks="integration" ;;
*) echo "pyclient.sh: unknown mode \"$mode\"" >&2; exit 2 ;;
esac
export TP_BIN_DIR="${2:-${TP_BIN_DIR:-$root/build/asan/bin}}"

py=$(TP_VENV_DIR=${TP_PYCLIENT_VENV:-} bash "$root/tests/support/pyvenv.sh" pyclient \
	--import httpx --import pandas --import duckdb --import pytest \
	"httpx==$HTTPX_VERSION" "pandas==$PANDAS_VERSION" "duckdb==$DUCKDB_VERSION" \
	"pytest==$PYTEST_VERSION" "wheel==$WHEEL_VERSION" "mypy==$MYPY_VERSION")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$root/clients/python" "$tmp/src"
"$py" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
	--target "$tmp/site" "$tmp/src" >&2
[ -f "$tmp/site/twinpipe/py.typed" ] || { echo "pyclient.sh: the installed package lacks py.typed" >&2; exit 1; }

export PYTHONPATH="$tmp/site" PYTHONDONTWRITEBYTECODE=1
"$py" -c 'import sys, twinpipe; sys.exit(0 if twinpipe.__file__.startswith(sys.argv[1]) else 1)' "$tmp/site" ||
	{ echo "pyclient.sh: twinpipe not imported from the installed copy" >&2; exit 1; }
cd "$tmp"
if [ "$mode" = unit ]; then
	# the package is typed (py.typed): its sources and the example pass mypy --strict
	# (its cache of the stdlib and httpx kept in the build tree)
	"$py" -m mypy --strict --ignore-missing-imports --cache-dir "$TP_BIN_DIR/../pyclient-mypy-cache" \
		"$tmp/src/src/twinpipe" "$tmp/src/examples"
fi
exec "$py" -m pytest -p no:cacheprovider --strict-markers -q -m "$marks" "$root/clients/python/tests"

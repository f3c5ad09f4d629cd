#!/usr/bin/env bash
#
# pyvenv.sh - make the Python venv with the independent Parquet readers the
# rollup tests use (pyarrow, duckdb from PyPI) under .devstack/pyvenv.
# Idempotent: does nothing when the venv already imports both at the pinned
# versions. Prints the venv's python path on stdout (tests/support/pyvenv.sh).
#
#   tests/rollup/pyvenv.sh            # -> /path/to/repo/.devstack/pyvenv/bin/python
#
# Needs python3 with the venv module (Debian 12: package python3-venv).
set -euo pipefail

PYARROW_VERSION=25.0.1
DUCKDB_VERSION=1.5.6

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TP_VENV_DIR=${TP_PYVENV:-${TP_VENV_DIR:-}} exec bash "$here/../support/pyvenv.sh" pyvenv \
	--import pyarrow --import duckdb "pyarrow==$PYARROW_VERSION" "duckdb==$DUCKDB_VERSION"

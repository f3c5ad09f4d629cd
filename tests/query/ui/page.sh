#!/usr/bin/env bash
#
# page.sh - the fleet page (query/ui/) in a real browser, as ctest runs it
# (ctest query_ui, label integration): Debian's chromium, headless, driven by
# chromium-driver through Selenium (PyPI, pinned here) from pytest, against
# tp-ingest, tp-projector and tp-query started from BIN_DIR on the dev stack
# (test_page.py; the services are started as clients/python/tests/conftest.py
# does it). Screenshots go to BIN_DIR/../ui-screenshots.
#
#   tests/query/ui/page.sh [BIN_DIR [PYTEST_ARGS...]]   # BIN_DIR: else TP_BIN_DIR, else build/asan/bin
#   tests/query/ui/page.sh --venv     # only make sure of chromium and the venv; print its python
#                                     # (bench/page drives the page with the same pins)
#
# chromium and chromium-driver come from scripts/install-deps (run here as root when
# either is missing; it installs only what is missing). The venv is
# .devstack/page (tests/support/pyvenv.sh).
set -euo pipefail

SELENIUM_VERSION=4.27.1
HTTPX_VERSION=0.28.1 # clients/python's conftest (the services' start) needs it
PYTEST_VERSION=8.4.2

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
venv_only=0
if [[ ${1:-} == --venv ]]; then
	venv_only=1
	shift
fi
export TP_BIN_DIR="${1:-${TP_BIN_DIR:-$root/build/asan/bin}}"
shift || true

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
	if [[ $(id -u) -eq 0 ]]; then
		"$root/scripts/install-deps" >&2
	else
		echo "page.sh: chromium and chromium-driver are missing: run scripts/install-deps as root" >&2
		exit 1
	fi
fi

py=$(bash "$root/tests/support/pyvenv.sh" page --import selenium --import httpx --import pytest \
	"selenium==$SELENIUM_VERSION" "httpx==$HTTPX_VERSION" "pytest==$PYTEST_VERSION")
if [[ $venv_only == 1 ]]; then
	printf '%s\n' "$py"
	exit 0
fi
export TP_UI_SCREENSHOTS="${TP_UI_SCREENSHOTS:-$TP_BIN_DIR/../ui-screenshots}"
mkdir -p "$TP_UI_SCREENSHOTS"
export PYTHONDONTWRITEBYTECODE=1
cd "$root/tests/query/ui"
exec "$py" -m pytest -p no:cacheprovider -q -x "$root/tests/query/ui/test_page.py" "$@"

#!/usr/bin/env bash
#
# tools.sh - the tools the deploy checks need, installed on first use and cached;
# prints the path of the one asked for. Fails (exit 1, with the reason) when it cannot
# install it: a check that cannot run must not pass.
#
#   tests/deploy/tools.sh helm       helm HELM_VERSION built from the Go module proxy with
#                                    `go install` into .devstack/tools/helm-<version>/
#                                    (about 2-3 min the first time on 2 cores; then instant);
#                                    with no Go >= 1.21 on the machine (Debian 12's is 1.19),
#                                    the Go toolchain GO_VERSION from the same proxy first
#   tests/deploy/tools.sh promtool   promtool from Debian's package prometheus
#                                    (scripts/install-deps installs it; apt-get here if not)
#   tests/deploy/tools.sh kvalidate  the python of a venv with kubernetes-validate
#                                    (tests/support/pyvenv.sh: .devstack/k8svenv)
set -euo pipefail

HELM_VERSION=v3.21.4
KUBERNETES_VALIDATE_VERSION=1.37.0
# the toolchain fetched when the machine has no usable Go: the one this machine kind ships
GO_VERSION=1.26.8

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="$root/.devstack/tools"

log() { printf 'tools: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# go on PATH and at least 1.21 (helm's go.mod needs a recent one; 1.21 also knows GOTOOLCHAIN)
go_usable() {
	local v major minor
	v=$(go env GOVERSION 2>/dev/null) || return 1
	IFS=. read -r major minor _ <<<"${v#go}"
	minor=${minor%%[!0-9]*}
	[[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] || return 1
	((major > 1 || minor >= 21))
}

# The Go toolchain GO_VERSION as the go command itself would take it (GOTOOLCHAIN): the module
# golang.org/toolchain's zip from the Go module proxy, unpacked (modes kept) into .devstack/tools.
go_fetch() {
	local dir="$tools/go-$GO_VERSION" zip
	local top="golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-amd64"
	if [[ ! -x "$dir/$top/bin/go" ]]; then
		log "no Go >= 1.21 here: fetching the go$GO_VERSION toolchain from the Go module proxy"
		zip="$tools/go-$GO_VERSION.zip"
		curl -fsSL --retry 3 -o "$zip" \
			"https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$GO_VERSION.linux-amd64.zip" ||
			die "could not fetch the go$GO_VERSION toolchain from proxy.golang.org"
		rm -rf "$dir"
		python3 - "$zip" "$dir" <<'PY' || die "could not unpack the go$GO_VERSION toolchain"
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for i in z.infolist():
        path = z.extract(i, sys.argv[2])
        mode = (i.external_attr >> 16) & 0o777
        if mode:
            os.chmod(path, mode)
PY
		rm -f "$zip"
	fi
	PATH="$dir/$top/bin:$PATH"
	go_usable || die "the fetched go$GO_VERSION does not run"
}

helm_path() {
	local dir="$tools/helm-$HELM_VERSION" out
	local bin="$dir/helm"
	mkdir -p "$dir"
	exec 8>"$dir.lock"
	flock 8
	if [[ ! -x "$bin" ]]; then
		# the Debian go (1.19) is too old for helm 3.21; the machine's own is in /usr/local/go
		PATH="/usr/local/go/bin:$PATH"
		go_usable || go_fetch
		log "building helm $HELM_VERSION with go install (first use; cached in $dir)"
		local t0=$SECONDS
		if ! out=$(cd "$dir" && GOBIN="$dir" GOFLAGS=-mod=mod go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" 2>&1); then
			printf '%s\n' "$out" | tail -20 >&2
			die "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed"
		fi
		log "built helm $HELM_VERSION in $((SECONDS - t0)) s"
	fi
	"$bin" version --short >/dev/null 2>&1 || die "$bin does not run"
	printf '%s\n' "$bin"
}

promtool_path() {
	if ! command -v promtool >/dev/null; then
		[[ $(id -u) -eq 0 ]] || die "promtool not found and not root: apt-get install prometheus (scripts/install-deps)"
		log "installing Debian's prometheus for promtool"
		exec 8>"$tools.apt.lock"
		flock 8
		command -v promtool >/dev/null ||
			{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2 ||
				{ apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2; }; } ||
			die "could not install prometheus (promtool)"
	fi
	command -v promtool
}

mkdir -p "$tools"
case "${1:-}" in
helm) helm_path ;;
promtool) promtool_path ;;
kvalidate)
	exec bash "$root/tests/support/pyvenv.sh" k8svenv --import kubernetes_validate \
		"kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
	;;
*) die "usage: tools.sh helm|promtool|kvalidate" ;;
esac

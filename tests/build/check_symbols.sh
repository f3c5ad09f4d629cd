#!/usr/bin/env bash
# Every non-static symbol of the tree's static libraries is defined once: two
# libraries defining one name link or not depending on which objects a binary
# happens to pull in, so each module prefixes its names (query_, registry_, ...).
#
# usage: check_symbols.sh BUILD_DIR   (ctest's "symbols"; after a build)
set -euo pipefail
build=${1:?usage: check_symbols.sh BUILD_DIR}
mapfile -t libs < <(find "$build" -name 'libtp_*.a' | sort)
if [ "${#libs[@]}" -eq 0 ] || ! printf '%s\n' "${libs[@]}" | grep -q '/libtp_common\.a$'; then
    echo "check_symbols: no libtp_common.a under $build: build the tree first" >&2
    exit 1
fi
# "name library" for every global definition (weak ones may repeat by design)
dups=$(for lib in "${libs[@]}"; do
    nm -g --defined-only "$lib" | awk -v lib="${lib#"$build"/}" 'NF == 3 && $2 !~ /^[wWvVU]$/ {print $3, lib}'
done | sort | awk '
    $1 == prev { if (!shown) print prev ": " first; print prev ": " $2; shown = 1; next }
    { prev = $1; first = $2; shown = 0 }')
if [ -n "$dups" ]; then
    echo "check_symbols: symbols defined more than once across the libraries:" >&2
    echo "$dups" >&2
    exit 1
fi
echo "check_symbols: ${#libs[@]} libraries, no symbol defined twice"

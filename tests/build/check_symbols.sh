#!/usr/bin/env bash
# Every non-static symbol of the tree's static libraries is defined once: two
# libraries defining one name link or not depending on which objects a binary
# happens to pull in, so each module prefixes its names (query_, registry_, ...).
#
# usage: check_symbols.sh LIBRARY.a...   (ctest's "symbols" passes every static
# library target of the build, tests/CMakeLists.txt)
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: check_symbols.sh LIBRARY.a..." >&2; exit 2; }
for lib in "$@"; do
    [ -f "$lib" ] || { echo "check_symbols: $lib is not built: build the tree first" >&2; exit 1; }
done
# "name library" for every global definition (weak ones may repeat by design); a library
# is named by its folder and file
dups=$(for lib in "$@"; do
    name=$(basename "$(dirname "$lib")")/$(basename "$lib")
    nm -g --defined-only "$lib" | awk -v lib="$name" 'NF == 3 && $2 !~ /^[wWvVU]$/ {print $3, lib}'
done | sort | awk '
    $1 == prev { if (!shown) print prev ": " first; print prev ": " $2; shown = 1; next }
    { prev = $1; first = $2; shown = 0 }')
if [ -n "$dups" ]; then
    echo "check_symbols: symbols defined more than once across the libraries:" >&2
    echo "$dups" >&2
    exit 1
fi
echo "check_symbols: $# libraries, no symbol defined twice"

# bench/lib.sh - shared by the bench/ scripts (sourced).
#
# figure NAME VALUE UNIT LIMIT_NAME LIMIT_VALUE TARGET MET
#   records one figure for bench/run's summary table when TP_BENCH_FIGURES
#   names a file (tab-separated, one line per figure); a no-op otherwise.
#   LIMIT_VALUE may be empty (no limit measured); MET is met, missed or "".
figure() {
    [ -n "${TP_BENCH_FIGURES:-}" ] || return 0
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$TP_BENCH_FIGURES"
}

# met VALUE OP THRESHOLD -> "met" or "missed" (OP: ge or le)
met() {
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
        ok = (op == "ge") ? (v >= t) : (v <= t); print (ok ? "met" : "missed") }'
}

# ms VALUE_WITH_UNIT (wrk's "12.3ms", "1.2s", "850us") -> milliseconds
ms() {
    awk -v x="$1" 'BEGIN {
        if (x ~ /us$/) { sub(/us$/, "", x); print x / 1000 }
        else if (x ~ /ms$/) { sub(/ms$/, "", x); print x + 0 }
        else if (x ~ /s$/) { sub(/s$/, "", x); print x * 1000 }
        else print x + 0 }'
}

# need_wrk: installs wrk when it is missing (scripts/install-deps lists it too; a benchmark
# may also be run on its own)
need_wrk() {
    command -v wrk >/dev/null && return 0
    echo "bench: installing wrk" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
}

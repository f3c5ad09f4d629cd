#!/usr/bin/env bash
# limits.sh: Mosquitto's own figures on this machine, the limits beside issue 20's targets
# (docs/decisions/mqtt-edge.md). Its own broker on 127.0.0.1:$PORT (default 18885).
#   docs/decisions/mqtt-edge/limits.sh [PORT] [CONNECTIONS] [MESSAGES]
# L1: broker RSS per idle connection (conn_hold.py, CONNECTIONS, default 10000; every
#     process here may hold at most `ulimit -Hn` descriptors, 20000 on this machine).
# L2: QoS 1 throughput, 2 publishers x MESSAGES/2 (default 400000) into one subscriber
#     that does nothing, first with Mosquitto's default max_queued_messages (1000), then
#     with no queue limit (0).
set -u
PORT=${1:-18885}; CONNS=${2:-10000}; MSGS=${3:-400000}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/mqtt-limits.XXXXXX)
B=
cleanup() { [ -n "$B" ] && kill "$B" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
gcc -O2 -Wall -o "$W/flood" "$HERE/flood.c" -lmosquitto || exit 1
broker() { # $1: extra config line
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\nlog_dest none\nmax_connections -1\n%s\n' \
        "$PORT" "$1" > "$W/b.conf"
    /usr/sbin/mosquitto -c "$W/b.conf" 2>/dev/null & B=$!
    sleep 0.5
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

echo "== L1: $CONNS idle connections =="
broker ""
r0=$(rss_kb "$B")
python3 "$HERE/conn_hold.py" "$PORT" "$CONNS" > "$W/hold.out" 2>&1 & H=$!
for _ in $(seq 300); do grep -q 'held\|Error' "$W/hold.out" && break; sleep 1; done
cat "$W/hold.out"; sleep 2
r1=$(rss_kb "$B")
echo "broker RSS $r0 kB idle, $r1 kB with $CONNS: $(( (r1 - r0) * 1024 / CONNS )) bytes per connection (user space; kernel socket buffers are not in RSS)"
kill "$H"; wait "$H" 2>/dev/null; kill "$B"; wait "$B" 2>/dev/null; B=

for q in 1000 0; do
    echo "== L2: QoS 1 flood, max_queued_messages $q =="
    broker "max_queued_messages $q"
    "$W/flood" sub "$PORT" 'twinpipe/v1/+/telemetry' "$MSGS" > "$W/sub.out" & S=$!
    for _ in $(seq 50); do grep -q ready "$W/sub.out" && break; sleep 0.1; done
    t0=$(awk '{print $14+$15}' /proc/$B/stat)
    "$W/flood" pub "$PORT" twinpipe/v1/dev-1/telemetry $((MSGS / 2)) 100 & P1=$!
    "$W/flood" pub "$PORT" twinpipe/v1/dev-2/telemetry $((MSGS / 2)) 100 & P2=$!
    wait "$P1" "$P2"; wait "$S"
    t1=$(awk '{print $14+$15}' /proc/$B/stat)
    grep sub "$W/sub.out"
    echo "broker CPU: $(( (t1 - t0) * 10 )) ms for $MSGS messages; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    kill "$B"; wait "$B" 2>/dev/null; B=
done

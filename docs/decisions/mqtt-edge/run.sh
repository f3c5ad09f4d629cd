#!/usr/bin/env bash
# run.sh: the mqtt-edge experiments (docs/decisions/mqtt-edge.md). Needs Debian 12's
# mosquitto, mosquitto-clients, libmosquitto-dev, libpaho-mqtt-dev, strace and gcc.
# Starts its own broker on 127.0.0.1:$PORT (default 18883) in a temporary directory,
# never touches a system broker, and stops only the processes it started.
#   docs/decisions/mqtt-edge/run.sh [PORT] > results.txt
set -u
PORT=${1:-18883}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/mqtt-edge.XXXXXX)
TOPIC=twinpipe/v1/dev-1/telemetry
FILTER='twinpipe/v1/+/telemetry'
BROKER=
cleanup() { [ -n "$BROKER" ] && kill "$BROKER" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

for p in pub_timing mosq_slow_sub; do gcc -O1 -Wall -o "$W/$p" "$HERE/$p.c" -lmosquitto || exit 1; done
gcc -O1 -Wall -o "$W/paho_slow_sub" "$HERE/paho_slow_sub.c" -lpaho-mqtt3a || exit 1

cat > "$W/broker.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
user root
persistence true
persistence_location $W/
log_dest file $W/broker.log
log_type all
CONF
# Everything else is Mosquitto 2.0.11's default (src/conf.c, config__init_reload):
# max_inflight_messages 20, max_queued_messages 1000, autosave_interval 1800 s.

broker_start() {
    /usr/sbin/mosquitto -c "$W/broker.conf" 2>>"$W/broker.stderr" & BROKER=$!
    for _ in $(seq 50); do mosquitto_pub -p "$PORT" -t probe -n -q 0 2>/dev/null && return; sleep 0.1; done
    echo "broker did not start"; exit 1
}
broker_stop() { kill "-$1" "$BROKER"; wait "$BROKER" 2>/dev/null; BROKER=; }
lines() { wc -l < "$1" | tr -d ' '; }
# the bridge stand-in: QoS 1, persistent session (MQTT 3.1.1, clean session off)
sub_start() { mosquitto_sub -p "$PORT" -V mqttv311 -q 1 -c -i bridge -t "$FILTER" > "$1" & SUB=$!; sleep 0.5; }

echo "== E1: broker PUBACK while the only subscriber is stopped (SIGSTOP) =="
broker_start
sub_start "$W/e1.out"
kill -STOP "$SUB"
"$W/pub_timing" "$PORT" 20 "$TOPIC" 5 | tail -1
kill -CONT "$SUB"; sleep 1
echo "subscriber received after SIGCONT: $(lines "$W/e1.out")"

echo "== E2: 1,500 messages while the subscriber is stopped =="
: > "$W/e1.out"
kill -STOP "$SUB"
"$W/pub_timing" "$PORT" 1500 "$TOPIC" 5 | tail -1
kill -CONT "$SUB"; sleep 3
echo "subscriber received after SIGCONT: $(lines "$W/e1.out") of 1500"
grep -o 'Outgoing messages are being dropped for client bridge.' "$W/broker.log" | head -1
kill -TERM "$SUB"; wait "$SUB" 2>/dev/null

echo "== E3: subscriber offline (persistent session), 10 messages PUBACKed, then the broker dies =="
broker_stop TERM; broker_start     # the session is now in mosquitto.db
"$W/pub_timing" "$PORT" 10 "$TOPIC" 5 | tail -1
broker_stop KILL; broker_start
mosquitto_sub -p "$PORT" -V mqttv311 -q 1 -c -i bridge -t "$FILTER" -W 3 > "$W/e3.out" 2>/dev/null
echo "after kill -9 and restart, the subscriber's session delivered: $(lines "$W/e3.out") of 10"
"$W/pub_timing" "$PORT" 10 "$TOPIC" 5 | tail -1
broker_stop TERM; broker_start
mosquitto_sub -p "$PORT" -V mqttv311 -q 1 -c -i bridge -t "$FILTER" -W 3 > "$W/e3b.out" 2>/dev/null
echo "control, after SIGTERM (clean shutdown saves mosquitto.db) and restart: $(lines "$W/e3b.out") of 10"

hold_test() { # $1 label, $2.. the subscriber command
    local label=$1; shift
    strace -f -tt -xx -s 8 -e trace=sendto,write,writev,sendmsg -o "$W/$label.strace" "$@" > "$W/$label.out" &
    local pid=$!
    for _ in $(seq 50); do grep -q ready "$W/$label.out" 2>/dev/null && break; sleep 0.1; done
    "$W/pub_timing" "$PORT" 3 "$TOPIC" 5 | sed "s/^/  publisher: /"
    wait "$pid"
    grep -h 'callback' "$W/$label.out" | sed 's/^/  subscriber: /'
    # a PUBACK is 0x40, remaining length 2, then the packet id
    grep -h '"\\x40\\x02' "$W/$label.strace" | sed -E 's/^[0-9]+ +//; s/^/  strace: /'
}

echo "== E4: libmosquitto subscriber, callback holds 1,000 ms, mosquitto_loop_forever() =="
hold_test mosq_forever "$W/mosq_slow_sub" "$PORT" "$FILTER" 1000 forever 3
echo "== E5: libmosquitto subscriber, callback holds 1,000 ms, mosquitto_loop_start() =="
hold_test mosq_thread "$W/mosq_slow_sub" "$PORT" "$FILTER" 1000 thread 3
echo "== E6: Paho MQTTAsync subscriber, messageArrived holds 1,000 ms and returns 1 =="
hold_test paho_ret1 "$W/paho_slow_sub" "$PORT" "$FILTER" 1000 1 3
echo "== E7: Paho MQTTAsync subscriber, messageArrived holds 200 ms and returns 0 (not handled) =="
hold_test paho_ret0 "$W/paho_slow_sub" "$PORT" "$FILTER" 200 0 3
broker_stop TERM

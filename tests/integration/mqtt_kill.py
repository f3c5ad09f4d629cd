"""kill -9 of tp-ingest under MQTT QoS 1 load (Paho, PyPI paho-mqtt 2.2.0).

Run by tests/integration/test_mqtt.c:
    python mqtt_kill.py PORT DEVICE TOKEN INGEST_PID COUNT KILL_AFTER
Publishes readings 1..COUNT of DEVICE (one per PUBLISH, QoS 1, window 64) and sends SIGKILL to
tp-ingest once KILL_AFTER PUBACKs came (KILL_AFTER > COUNT: never; it ends when all are
PUBACKed; INGEST_PID is then unused, 0). Prints the sequences PUBACKed with reason 0, one line,
ascending, comma-separated; the test then finds each of them in the journal.
"""
import os
import signal
import sys
import threading
import time

import paho.mqtt.client as mqtt

port, device, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
pid, count, kill_after = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])


def varint(n):
    b = bytearray()
    while True:
        if n < 0x80:
            b.append(n)
            return bytes(b)
        b.append(0x80 | (n & 0x7F))
        n >>= 7


def batch(dev, seq):
    d = dev.encode()
    r = b"\x0a" + varint(len(d)) + d + b"\x10" + varint(seq) + b"\x18" + varint(int(time.time() * 1000))
    return b"\x0a" + varint(len(r)) + r


connected = threading.Event()
lock = threading.Lock()
acked = []
seq_of = {}
killed = threading.Event()


def on_publish(client, userdata, mid, reason_code, properties):
    with lock:
        if reason_code.value == 0 and mid in seq_of:
            acked.append(seq_of[mid])
        if len(acked) >= kill_after and not killed.is_set():
            os.kill(pid, signal.SIGKILL)
            killed.set()


c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="kill-" + device, protocol=mqtt.MQTTv5)
c.username_pw_set(device, token)
c.on_connect = lambda *a: connected.set()
c.on_publish = on_publish
c.max_inflight_messages_set(64)
c.max_queued_messages_set(0)
c.reconnect_delay_set(60, 60)  # no reconnect within the test: it ends at the kill
c.connect("127.0.0.1", port, keepalive=30)
c.loop_start()
if not connected.wait(20):
    sys.exit("no CONNACK")
for seq in range(1, count + 1):
    with lock:
        info = c.publish(f"twinpipe/v1/{device}/telemetry", batch(device, seq), qos=1)
        seq_of[info.mid] = seq
    if killed.is_set():
        break
deadline = time.time() + 60
while not killed.is_set() and time.time() < deadline:
    with lock:
        if len(acked) == count:
            break
    time.sleep(0.05)
time.sleep(0.5)
c.loop_stop()
with lock:
    print(",".join(str(s) for s in sorted(acked)))

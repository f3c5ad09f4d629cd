"""Kafka stopped under MQTT QoS 1 load, then started again (Paho, PyPI paho-mqtt 2.2.0).

Run by tests/integration/test_mqtt_outage.c:
    python mqtt_outage.py MQTT_PORT HTTP_PORT BROKER_PID RESTART_COMMAND DEVICE:VERSION:TOKEN...
VERSION is 5 or 311. Each device is a firmware stand-in in a thread of its own: it samples a
reading every 1/RATE s (sequence 1, 2, ...) into its outbox whether connected or not, and
publishes the outbox with QoS 1 over one connection (MQTT 3.1.1 or 5, clean session) to
tp-ingest's MQTT port. A reading leaves the outbox only with its PUBACK (reason 0). Whenever a
connection ends, it connects again with a new session and, after CONNACK (Session Present 0),
publishes everything still in the outbox again: the firmware contract of ingest/README.md.

The timeline (this script runs it; the C test asserts on what it prints):
  1. LOAD_S of load, until every device has LOAD_ACKS PUBACKs;
  2. SIGKILL of the broker (BROKER_PID, the test's private node), then DRAIN_S for what
     Kafka had acknowledged before it died;
  3. HOLD_S more with the broker down (longer than kafka.message.timeout.ms): PUBACKs are
     counted, tp-ingest's /healthz and /readyz asked;
  4. RESTART_COMMAND (a shell command: the same node, same data) starts it again; readings
     are still sampled for AFTER_S, then every device waits until its outbox is empty.
Prints one line per check, "name value"; then "device NAME N" for each device: readings 1..N
were sampled and every one was PUBACKed. The C test then finds them in the journal and in
the twin, each exactly once.
"""
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt

RATE = 40  # readings a second per device
WINDOW = 32  # QoS 1 PUBLISHes in flight per connection
LOAD_S, LOAD_ACKS = 3.0, 60  # before the stop
DRAIN_S = 2.0  # reports of what Kafka acknowledged before it died: PUBACKed within ms
HOLD_S = 8.0
AFTER_S = 2.0
CONNACK_WAIT_S = 15.0  # a CONNECT tp-ingest does not read while Kafka is down: it closes it (10 s)

mqtt_port, http_port, broker_pid, restart = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]


def varint(n):
    b = bytearray()
    while True:
        if n < 0x80:
            b.append(n)
            return bytes(b)
        b.append(0x80 | (n & 0x7F))
        n >>= 7


def batch(dev, seq):
    """A ReadingBatch of one Reading {device_id, sequence, timestamp_ms, speed_kmh = seq / 2}."""
    d = dev.encode()
    r = (b"\x0a" + varint(len(d)) + d + b"\x10" + varint(seq) + b"\x18" + varint(int(time.time() * 1000))
         + b"\x51" + struct.pack("<d", seq / 2))
    return b"\x0a" + varint(len(r)) + r


class Device(threading.Thread):
    def __init__(self, name, version, token):
        super().__init__(daemon=True)
        self.name, self.version, self.token = name, int(version), token
        self.lock = threading.Lock()  # what the main thread reads
        self.outbox = {}  # sequence -> payload, not PUBACKed yet, in sequence order
        self.sampled = 0
        self.sampling = True
        self.acks = []  # (monotonic time, sequence) of each first PUBACK with reason 0
        self.codes = set()  # reason codes of every PUBACK
        self.session_present = set()
        self.connacks = []  # monotonic times of successful CONNACKs
        self.server_reasons = set()  # MQTT 5: reason codes of DISCONNECTs the server sent
        self.ended = []  # monotonic times of connections that ended without our DISCONNECT
        self.resent = 0  # PUBLISHes of a reading already sent on an earlier connection
        self.finish = threading.Event()
        self.done = threading.Event()

    # paho's callbacks: run inside client.loop(), in this thread
    def on_connect(self, client, userdata, flags, reason_code, properties):
        userdata["connack"] = reason_code.value
        if reason_code.value == 0:
            with self.lock:
                self.session_present.add(int(flags.session_present))
                self.connacks.append(time.monotonic())

    def on_publish(self, client, userdata, mid, reason_code, properties):
        seq = userdata["mids"].pop(mid, None)
        with self.lock:
            self.codes.add(reason_code.value)
            if seq is not None and reason_code.value == 0 and seq in self.outbox:
                del self.outbox[seq]
                self.acks.append((time.monotonic(), seq))

    def on_disconnect(self, client, userdata, flags, reason_code, properties):
        userdata["gone"] = True
        if userdata.get("leaving"):
            return
        with self.lock:
            self.ended.append(time.monotonic())
            if self.version == 5 and flags.is_disconnect_packet_from_server:
                self.server_reasons.add(reason_code.value)

    def connect(self):
        proto = mqtt.MQTTv5 if self.version == 5 else mqtt.MQTTv311
        ud = {"mids": {}, "sent": set(), "connack": None, "gone": False, "t0": time.monotonic()}
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="outage-" + self.name, protocol=proto,
                        userdata=ud)
        c.username_pw_set(self.name, self.token)
        c.on_connect, c.on_publish, c.on_disconnect = self.on_connect, self.on_publish, self.on_disconnect
        c.max_inflight_messages_set(WINDOW)
        c.max_queued_messages_set(0)
        try:
            c.connect("127.0.0.1", mqtt_port, keepalive=60)
        except OSError:
            return None, ud
        return c, ud

    def run(self):
        client, ud, retry_at, next_sample = None, None, 0.0, time.monotonic()
        ever_sent = set()
        while True:
            now = time.monotonic()
            with self.lock:
                while self.sampling and next_sample <= now:
                    self.sampled += 1
                    self.outbox[self.sampled] = batch(self.name, self.sampled)
                    next_sample += 1.0 / RATE
                idle = not self.sampling and not self.outbox
            if idle and self.finish.is_set():
                break
            if client is None:
                if now >= retry_at:
                    client, ud = self.connect()
                    if client is None:
                        retry_at = now + 0.3
                if client is None:
                    time.sleep(0.01)
                    continue
            client.loop(timeout=0.005)
            if ud["connack"] == 0 and not ud["gone"]:
                with self.lock:
                    todo = [(s, p) for s, p in self.outbox.items() if s not in ud["sent"]]
                for seq, payload in todo:
                    info = client.publish(f"twinpipe/v1/{self.name}/telemetry", payload, qos=1)
                    if info.rc != mqtt.MQTT_ERR_SUCCESS:
                        break
                    ud["mids"][info.mid] = seq
                    ud["sent"].add(seq)
                    if seq in ever_sent:
                        self.resent += 1
                    ever_sent.add(seq)
            stuck = ud["connack"] is None and now - ud["t0"] > CONNACK_WAIT_S
            if ud["gone"] or (ud["connack"] not in (None, 0)) or stuck:
                if not ud["gone"]:
                    with self.lock:
                        self.ended.append(now)
                    sock = client.socket()
                    if sock is not None:
                        sock.close()
                client, ud, retry_at = None, None, now + 0.3
        if client is not None:
            ud["leaving"] = True
            client.disconnect()
            client.loop(timeout=0.1)
        self.done.set()

    def acks_between(self, t0, t1):
        with self.lock:
            return sum(1 for t, _ in self.acks if t0 <= t < t1)


def http_status(path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}{path}", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(line.startswith("State:\tZ") for line in f)
    except FileNotFoundError:
        return False


devices = []
for spec in sys.argv[5:]:
    name, version, token = spec.split(":", 2)
    devices.append(Device(name, version, token))
for d in devices:
    d.start()
out = []

# 1. load for LOAD_S, until every device has LOAD_ACKS PUBACKs
t_start = time.monotonic()
while time.monotonic() < t_start + LOAD_S or any(d.acks_between(0, float("inf")) < LOAD_ACKS for d in devices):
    if time.monotonic() > t_start + 30:
        sys.exit(f"fewer than {LOAD_ACKS} PUBACKs per device within 30 s of the start")
    time.sleep(0.05)

# 2. the broker dies
os.kill(broker_pid, signal.SIGKILL)
deadline = time.monotonic() + 10
while alive(broker_pid):
    if time.monotonic() > deadline:
        sys.exit(f"broker pid {broker_pid} still alive 10 s after SIGKILL")
    time.sleep(0.01)
t_dead = time.monotonic()
time.sleep(DRAIN_S)
t_quiet = time.monotonic()

# 3. held down: nothing is PUBACKed; tp-ingest lives and says it is not ready
ready_seen = None
while time.monotonic() < t_quiet + HOLD_S:
    s = http_status("/readyz")
    if s == 503 and ready_seen is None:
        ready_seen = s
    time.sleep(0.2)
out.append(f"readyz_while_down {ready_seen}")
out.append(f"healthz_while_down {http_status('/healthz')}")
t_restart = time.monotonic()
with_outbox = sum(1 for d in devices if d.outbox)
out.append(f"pubacks_while_down {sum(d.acks_between(t_quiet, t_restart) for d in devices)}")
out.append(f"devices_waiting_while_down {with_outbox}")
out.append(f"connections_ended_while_down {int(all(any(t_dead <= t < t_restart for t in d.ended) for d in devices))}")
v5_reasons = set()
for d in devices:
    if d.version == 5:
        v5_reasons |= d.server_reasons
out.append(f"v5_server_disconnects {sorted(v5_reasons)}")

# 4. the broker comes back: acceptance resumes by itself
r = subprocess.run(["bash", "-c", restart], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   universal_newlines=True)
if r.returncode != 0:
    sys.exit("restart failed: " + r.stderr[-2000:])
t_up = time.monotonic()
time.sleep(AFTER_S)
for d in devices:
    with d.lock:
        d.sampling = False
    d.finish.set()
deadline = time.monotonic() + 60
for d in devices:
    if not d.done.wait(max(0.0, deadline - time.monotonic())):
        sys.exit(f"{d.name}: {len(d.outbox)} readings still without PUBACK 60 s after the restart")
out.append(f"broker_pid_changed {int(int(r.stdout.split()[-1]) != broker_pid)}")
out.append(f"readyz_after_restart {http_status('/readyz')}")
out.append(f"pubacked_after_restart {int(all(d.acks_between(t_up, float('inf')) > 0 for d in devices))}")
out.append(f"puback_codes {sorted(set().union(*(d.codes for d in devices)))}")
out.append(f"session_present {sorted(set().union(*(d.session_present for d in devices)))}")
out.append(f"reconnected_and_resent {int(all(len(d.connacks) >= 2 and d.resent > 0 for d in devices))}")
for d in devices:
    acked = sorted(s for _, s in d.acks)
    if acked != list(range(1, d.sampled + 1)):
        sys.exit(f"{d.name}: PUBACKed {len(acked)} of {d.sampled} sampled readings")
    out.append(f"device {d.name} {d.sampled}")
print("\n".join(out))
sys.stdout.flush()
print(f"timeline: acked before the stop {sum(d.acks_between(0, t_dead) for d in devices)}, "
      f"in the drain {sum(d.acks_between(t_dead, t_quiet) for d in devices)}, "
      f"broker restart {t_up - t_restart:.1f} s, resent {sum(d.resent for d in devices)}, "
      f"connections {sum(len(d.connacks) for d in devices)}", file=sys.stderr)

"""The ack ring of tp-ingest's MQTT transport, with a raw MQTT client (standard library only).

Run by tests/integration/test_mqtt.c against a tp-ingest with mqtt.receive_maximum=8 and a
1 s linger:
    python3 mqtt_window.py MQTT_PORT HTTP_PORT GATEWAY_PREFIX GATEWAY_TOKEN
Prints one line per check; the C test compares the whole output exactly.
- MQTT 5: the CONNACK's Receive Maximum; one PUBLISH of each outcome in a row (undecodable,
  no valid reading, one of two readings invalid, a device outside the token, another topic):
  PUBACKs in the order sent with their reason codes, Reason Strings and User Properties as
  they are on the wire;
- no ack ring slot is held once every PUBACK went out and a tick passed
  (tp_ingest_mqtt_ack_ring_slots 0);
- MQTT 3.1.1 (no Receive Maximum: the server's window holds by not reading): 20 PUBLISHes
  of 8 devices (several partitions) sent at once; while Kafka lingers exactly 8 are in
  flight, the connection is paused and its ring holds 8 slots; never more than 8 in flight;
  the 20 PUBACKs come in the order sent; the ring is freed, grows again for 12 more, which
  are PUBACKed in order too, and is freed again.
"""
import socket
import struct
import sys
import threading
import time
import urllib.request

mqtt_port, http_port, prefix, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = []


def varint(v):
    b = bytearray()
    while True:
        b.append((v & 0x7F) | (0x80 if v > 0x7F else 0))
        v >>= 7
        if not v:
            return bytes(b)


def s16(b):
    return struct.pack("!H", len(b)) + b


def packet(h, body):
    return bytes([h]) + varint(len(body)) + body


def reading(dev, seq=None):
    d = dev.encode()
    r = b"\x0a" + varint(len(d)) + d
    if seq is not None:
        r += b"\x10" + varint(seq)
    r += b"\x18" + varint(int(time.time() * 1000))
    return b"\x0a" + varint(len(r)) + r


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            sys.exit("connection closed")
        b += chunk
    return b


def read_packet(s):
    h = recv_exact(s, 1)[0]
    v, shift = 0, 0
    while True:
        b = recv_exact(s, 1)[0]
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    return h, recv_exact(s, v)


def connect(version, client_id):
    s = socket.create_connection(("127.0.0.1", mqtt_port), timeout=30)
    props = b"\x00" if version == 5 else b""
    s.sendall(packet(0x10, s16(b"MQTT") + bytes([version, 0xC2]) + struct.pack("!H", 60) + props
                     + s16(client_id.encode()) + s16(b"gw-label") + s16(token.encode())))
    h, body = read_packet(s)
    if h != 0x20 or body[1] != 0:
        sys.exit(f"CONNACK {h:#x} {body.hex()}")
    return s, body


def publish(s, version, pid, topic, payload):
    props = b"\x00" if version == 5 else b""
    return packet(0x32, s16(topic.encode()) + struct.pack("!H", pid) + props + payload)


def props5(b):
    """MQTT 5 properties as text: rs=<Reason String>, up=<name>=<value>, rm=<Receive Maximum>."""
    n, i, shift = 0, 0, 0
    while True:
        n |= (b[i] & 0x7F) << shift
        shift += 7
        i += 1
        if b[i - 1] < 0x80:
            break
    p, end, items = i, i + n, []
    while p < end:
        pid = b[p]
        p += 1
        if pid == 0x1F:
            ln = struct.unpack("!H", b[p:p + 2])[0]
            items.append("rs=" + b[p + 2:p + 2 + ln].decode())
            p += 2 + ln
        elif pid == 0x26:
            ln = struct.unpack("!H", b[p:p + 2])[0]
            name = b[p + 2:p + 2 + ln].decode()
            p += 2 + ln
            lv = struct.unpack("!H", b[p:p + 2])[0]
            items.append(f"up={name}={b[p + 2:p + 2 + lv].decode()}")
            p += 2 + lv
        elif pid == 0x21:
            items.append(f"rm={struct.unpack('!H', b[p:p + 2])[0]}")
            p += 2
        elif pid in (0x24, 0x25, 0x28, 0x29, 0x2A):  # one byte
            p += 1
        elif pid == 0x13:  # two bytes
            p += 2
        elif pid == 0x27:  # four bytes
            p += 4
        else:
            sys.exit(f"unexpected property {pid:#x} in {b.hex()}")
    return items


def metrics():
    text = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10).read().decode()
    m = {}
    for line in text.splitlines():
        if line.startswith("tp_ingest_mqtt_") and " " in line:
            k, v = line.rsplit(" ", 1)
            m[k] = float(v)
    return m


def wait_slots_zero():
    deadline = time.monotonic() + 10
    while metrics()["tp_ingest_mqtt_ack_ring_slots"] != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    out.append(f"slots {int(metrics()['tp_ingest_mqtt_ack_ring_slots'])}")


# MQTT 5: every outcome in a row, answered in order (r_ok + r_bad: one batch of two readings)
s5, connack = connect(5, "win5")
out.append("connack5 " + " ".join(x for x in props5(connack[2:]) if x.startswith("rm=")))
dev = prefix + "0"
r_ok, r_bad = reading(dev, 2), reading(dev)
sent = [
    (f"twinpipe/v1/{dev}/telemetry", b"\xff\xff"),  # undecodable
    (f"twinpipe/v1/{dev}/telemetry", r_bad),  # no valid reading
    (f"twinpipe/v1/{dev}/telemetry", r_ok + r_bad),  # one of two invalid
    ("twinpipe/v1/outside-1/telemetry", reading("outside-1", 1)),  # not covered
    ("not/our/scheme", reading(dev, 3)),  # another topic
]
s5.sendall(b"".join(publish(s5, 5, i + 1, t, p) for i, (t, p) in enumerate(sent)))
for _ in sent:
    h, body = read_packet(s5)
    pid = struct.unpack("!H", body[:2])[0]
    code = body[2] if len(body) > 2 else 0
    props = props5(body[3:]) if len(body) > 3 else []
    out.append(f"puback5 {pid} {code:#04x} {' '.join(props)}".rstrip())
s5.close()
wait_slots_zero()

# MQTT 3.1.1: the window of 8, and the ring grown, freed and grown again
s4, _ = connect(4, "win4")
seen = {"max": 0}
stop = threading.Event()


def watch():
    while not stop.is_set():
        seen["max"] = max(seen["max"], metrics()["tp_ingest_mqtt_inflight_messages"])
        time.sleep(0.01)


def burst(first, n):
    seen["max"] = 0
    stop.clear()
    t = threading.Thread(target=watch)
    t.start()
    s4.sendall(b"".join(publish(s4, 4, pid, f"twinpipe/v1/{prefix}{pid % 8}/telemetry",
                                reading(f"{prefix}{pid % 8}", 100 + pid))
                        for pid in range(first, first + n)))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = metrics()
        if m["tp_ingest_mqtt_inflight_messages"] == 8 and m["tp_ingest_mqtt_paused_connections"] == 1:
            break
        time.sleep(0.005)
    out.append(f"inflight {int(m['tp_ingest_mqtt_inflight_messages'])} "
               f"paused {int(m['tp_ingest_mqtt_paused_connections'])} "
               f"slots {int(m['tp_ingest_mqtt_ack_ring_slots'])}")
    acks = []
    for _ in range(n):
        h, body = read_packet(s4)
        acks.append(f"{h:#x}:{struct.unpack('!H', body[:2])[0]}" if h != 0x40 or len(body) != 2
                    else str(struct.unpack("!H", body)[0]))
    stop.set()
    t.join()
    out.append("acks " + ",".join(acks))
    out.append(f"max_inflight {int(seen['max'])}")
    wait_slots_zero()


burst(1, 20)
burst(21, 12)
s4.close()
print("\n".join(out))

"""Paho MQTT (Python, PyPI paho-mqtt 2.2.0) against tp-ingest's MQTT transport.

Run by tests/integration/test_mqtt.c with the venv tests/support/pyvenv.sh makes:
    python mqtt_paho.py PORT DEVICE TOKEN PAYLOAD_FILE GATEWAY_PREFIX GATEWAY_TOKEN
Prints one line per check, "name value"; the C test compares the whole output exactly.
Then, as a gateway: 48 QoS 1 readings of 8 devices of its scope (journal partitions differ)
sent at once; the PUBACKs must come in the order sent, all 0.
"""
import time
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

port, device, token, payload_file = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
gw_prefix, gw_token = sys.argv[5], sys.argv[6]
payload = open(payload_file, "rb").read()

connected = threading.Event()
acks = {}
acked = threading.Condition()
out = []


def on_connect(client, userdata, flags, reason_code, properties):
    out.append(f"connack {reason_code.value} session_present={int(flags.session_present)}")
    p = properties
    out.append(f"receive_maximum {p.ReceiveMaximum}")
    out.append(f"maximum_qos {p.MaximumQoS}")
    out.append(f"retain_available {p.RetainAvailable}")
    out.append(f"server_keep_alive {getattr(p, 'ServerKeepAlive', None)}")
    connected.set()


def on_publish(client, userdata, mid, reason_code, properties):
    with acked:
        acks[mid] = reason_code.value
        acked.notify_all()


c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-" + device,
                protocol=mqtt.MQTTv5)
c.username_pw_set(device, token)
c.on_connect = on_connect
c.on_publish = on_publish
c.connect("127.0.0.1", port, keepalive=0)  # 0: the server's keep-alive maximum applies
c.loop_start()
if not connected.wait(20):
    sys.exit("no CONNACK")
mids = [
    c.publish(f"twinpipe/v1/{device}/telemetry", payload, qos=1).mid,
    c.publish("twinpipe/v1/someone-else/telemetry", payload, qos=1).mid,
    c.publish(f"twinpipe/v1/{device}/telemetry", b"\xff\xff", qos=1).mid,
    c.publish("not/our/scheme", payload, qos=1).mid,
]
with acked:
    acked.wait_for(lambda: len(acks) == len(mids), 20)
for name, mid in zip(["own", "other_device", "undecodable", "other_topic"], mids):
    out.append(f"puback_{name} {acks.get(mid)}")
c.disconnect()
c.loop_stop()


def varint(n):
    b = bytearray()
    while True:
        if n < 0x80:
            b.append(n)
            return bytes(b)
        b.append(0x80 | (n & 0x7F))
        n >>= 7


def batch(dev, seq):
    """A ReadingBatch of one Reading {device_id, sequence, timestamp_ms}, encoded by hand."""
    d = dev.encode()
    r = b"\x0a" + varint(len(d)) + d + b"\x10" + varint(seq) + b"\x18" + varint(int(time.time() * 1000))
    return b"\x0a" + varint(len(r)) + r


order = []
done = threading.Condition()


def on_publish_gw(client, userdata, mid, reason_code, properties):
    with done:
        order.append((mid, reason_code.value))
        done.notify_all()


connected.clear()
g = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-gateway", protocol=mqtt.MQTTv5)
g.username_pw_set("gateway-label", gw_token)
g.on_connect = lambda *a: connected.set()
g.on_publish = on_publish_gw
g.max_inflight_messages_set(64)
g.connect("127.0.0.1", port, keepalive=30)
g.loop_start()
if not connected.wait(20):
    sys.exit("no CONNACK for the gateway")
sent = []
for i in range(48):
    dev = f"{gw_prefix}{i % 8}"
    sent.append(g.publish(f"twinpipe/v1/{dev}/telemetry", batch(dev, i // 8 + 1), qos=1).mid)
with done:
    done.wait_for(lambda: len(order) == len(sent), 30)
g.disconnect()
g.loop_stop()
out.append(f"gateway_pubacks {len(order)}")
out.append(f"gateway_in_order {int([m for m, _ in order] == sent)}")
out.append(f"gateway_codes {sorted(set(c for _, c in order))}")
print("\n".join(out))

"""Paho MQTT (Python, PyPI paho-mqtt 2.2.0): a device's config topic follows the attributes
of its own readings (tp-ingest's MQTT transport with policy.topics).

Run by tests/integration/test_ingest_period.c with the venv tests/support/pyvenv.sh makes:
    python mqtt_period.py PORT DEVICE TOKEN PAYLOAD_FILE
One MQTT 5 connection subscribes (QoS 1) to twinpipe/v1/DEVICE/config: the retained period
comes first (no reading yet: no attributes to match). Then it publishes PAYLOAD_FILE (a
reading with its attributes) to its telemetry topic, and the period those attributes select
follows. Prints one line per message, "config retain=R qos=Q PAYLOAD", and the PUBACK's code;
the C test compares the whole output exactly.
"""
import sys
import threading

import paho.mqtt.client as mqtt

port, device, token, payload_file = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
payload = open(payload_file, "rb").read()

connected = threading.Event()
cond = threading.Condition()
messages = []
acks = []


def on_connect(client, userdata, flags, reason_code, properties):
    connected.set()


def on_message(client, userdata, m):
    with cond:
        messages.append(f"config retain={int(m.retain)} qos={m.qos} {m.payload.decode()}")
        cond.notify_all()


def on_publish(client, userdata, mid, reason_code, properties):
    with cond:
        acks.append(f"puback {reason_code.value}")
        cond.notify_all()


c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="period-" + device,
                protocol=mqtt.MQTTv5)
c.username_pw_set(device, token)
c.on_connect = on_connect
c.on_message = on_message
c.on_publish = on_publish
c.connect("127.0.0.1", port, keepalive=30)
c.loop_start()
if not connected.wait(20):
    sys.exit("no CONNACK")
c.subscribe(f"twinpipe/v1/{device}/config", qos=1)
with cond:
    if not cond.wait_for(lambda: len(messages) == 1, 20):
        sys.exit("no retained config message")
c.publish(f"twinpipe/v1/{device}/telemetry", payload, qos=1)
with cond:
    if not cond.wait_for(lambda: len(messages) == 2 and len(acks) == 1, 20):
        sys.exit(f"no second config message: {messages} {acks}")
c.disconnect()
c.loop_stop()
print("\n".join([messages[0], acks[0], messages[1]]))

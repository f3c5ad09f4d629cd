#!/usr/bin/env python3
"""Confluent's official Python client (confluent-kafka[schemaregistry,protobuf] from PyPI)
against twinpipe, with no twinpipe-specific setting: run by tests/registry/test_confluent_clients.c,
which starts tp-registry, tp-ingest, tp-projector and tp-query on the dev stack and passes:

  TP_REGISTRY_URL, TP_REGISTRY_AUTH (user:password, write role), TP_INGEST_URL,
  TP_QUERY_URL, TP_QUERY_KEY, TP_BOOTSTRAP, TP_TOPIC, TP_FDS (protoc's FileDescriptorSet of
  schemas/twinpipe/telemetry/v1/telemetry.proto).

Every check asserts an exact outcome; the first failure exits 1 with the reason.
"""
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

env = os.environ
TOPIC = env["TP_TOPIC"]
SUBJECT = TOPIC + "-value"
PKG = "twinpipe.telemetry.v1"


def check(cond, what):
    if not cond:
        print("FAILED: " + what, file=sys.stderr)
        sys.exit(1)
    print("ok: " + what)


def classes(fdp):
    """Reading and ReadingBatch classes from one FileDescriptorProto (a fresh pool each)."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    get = lambda n: message_factory.GetMessageClass(pool.FindMessageTypeByName(PKG + "." + n))
    return get("Reading"), get("ReadingBatch")


def reading_field(fdp, name):
    msg = next(m for m in fdp.message_type if m.name == "Reading")
    return next(f for f in msg.field if f.name == name)


def post(body):
    req = urllib.request.Request(env["TP_INGEST_URL"] + "/v1/telemetry", data=body, method="POST",
                                 headers={"Content-Type": "application/x-protobuf"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def twin(device):
    req = urllib.request.Request(env["TP_QUERY_URL"] + "/v1/devices/" + device,
                                 headers={"Authorization": "Bearer " + env["TP_QUERY_KEY"]})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError:
        return None


def batch_of(Reading, ReadingBatch, device, first_seq, n, now_ms, **extra):
    b = ReadingBatch()
    for i in range(n):
        r = b.readings.add()
        r.device_id = device
        r.sequence = first_seq + i
        r.timestamp_ms = now_ms + i
        r.speed_kmh = 40.25 + i
        r.fuel_level_pct = 61.5
        r.location.lat = 48.137
        r.location.lon = 11.575
        r.metrics["oil_pressure_kpa"] = 310.0 + i
        r.model = "cf-1"
        for k, v in extra.items():
            setattr(r, k, v)
    return b


def main():
    auth = {"basic.auth.user.info": env["TP_REGISTRY_AUTH"]}
    sr = SchemaRegistryClient({"url": env["TP_REGISTRY_URL"], **auth})
    # the serializers' client: SchemaRegistryClient caches the latest version per subject
    # whatever format was asked, so the checks below ask through their own client
    sr_ser = SchemaRegistryClient({"url": env["TP_REGISTRY_URL"], **auth})
    ctx = SerializationContext(TOPIC, MessageField.VALUE)
    fds = descriptor_pb2.FileDescriptorSet.FromString(open(env["TP_FDS"], "rb").read())
    fdp = next(f for f in fds.file if f.name.endswith("telemetry.proto"))
    Reading, ReadingBatch = classes(fdp)
    now_ms = int(time.time() * 1000)

    # the registry without credentials: 401 40101, as Confluent answers
    try:
        SchemaRegistryClient({"url": env["TP_REGISTRY_URL"]}).get_subjects()
        check(False, "an anonymous client is refused")
    except SchemaRegistryError as e:
        check(e.http_status_code == 401 and e.error_code == 40101,
              "an anonymous client gets 401 40101 (%s %s)" % (e.http_status_code, e.error_code))

    # tp-ingest registered the built-in schema as .proto text at start-up
    latest = sr.get_latest_version(SUBJECT)
    id_text = latest.schema_id
    check(latest.version == 1 and "message ReadingBatch" in latest.schema.schema_str,
          "the built-in schema is version 1 as text (id %d)" % id_text)
    check(sr.get_schema_types() == ["PROTOBUF"], "schema types")

    # 1. ProtobufSerializer, auto-register: the base64 descriptor of the same schema gets the
    #    same id as its text, and the version stays 1
    ser = ProtobufSerializer(ReadingBatch, sr, {"auto.register.schemas": True})
    b1 = batch_of(Reading, ReadingBatch, "cf-dev-1", 1, 3, now_ms)
    data = ser(b1, ctx)
    check(data[0] == 0 and int.from_bytes(data[1:5], "big") == id_text,
          "auto-register framed with the text's id %d (got %d)"
          % (id_text, int.from_bytes(data[1:5], "big")))
    check(data[5:7] == b"\x02\x02", "message index [1] for ReadingBatch")
    check(sr.get_versions(SUBJECT) == [1], "still one version")
    status, body = post(data)
    check(status == 202, "tp-ingest accepts the serializer's batch (%d %s)" % (status, body))

    # 2. format=serialized: the descriptor comes back and builds the same messages
    s = sr.get_schema(id_text, fmt="serialized")
    back = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(s.schema_str))
    check([m.name for m in back.message_type] == ["Reading", "ReadingBatch"]
          and back.package == PKG, "GET /schemas/ids/%d?format=serialized" % id_text)

    # 3. ProtobufSerializer, use.latest.version (reads versions/latest?format=serialized)
    ser_latest = ProtobufSerializer(ReadingBatch, sr_ser, {"auto.register.schemas": False,
                                                           "use.latest.version": True})
    b2 = batch_of(Reading, ReadingBatch, "cf-dev-1", 4, 2, now_ms + 10)
    data = ser_latest(b2, ctx)
    check(int.from_bytes(data[1:5], "big") == id_text, "use.latest.version frames id %d" % id_text)
    status, body = post(data)
    check(status == 202, "tp-ingest accepts the use.latest.version batch (%d %s)" % (status, body))

    # lookup without registering (auto.register.schemas=False): the descriptor finds the text
    ser_lookup = ProtobufSerializer(ReadingBatch, sr, {"auto.register.schemas": False})
    data = ser_lookup(batch_of(Reading, ReadingBatch, "cf-dev-1", 6, 1, now_ms + 20), ctx)
    check(int.from_bytes(data[1:5], "big") == id_text, "lookup of the descriptor finds id %d"
          % id_text)
    status, body = post(data)
    check(status == 202, "tp-ingest accepts the looked-up batch (%d %s)" % (status, body))
    sent = list(b1.readings) + list(b2.readings) + [batch_of(Reading, ReadingBatch, "cf-dev-1", 6,
                                                             1, now_ms + 20).readings[0]]

    # 4. the journal, read with Consumer + ProtobufDeserializer: every reading, every value
    de = ProtobufDeserializer(Reading, {}, sr)
    c = Consumer({"bootstrap.servers": env["TP_BOOTSTRAP"], "group.id": "cf-" + TOPIC,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([TOPIC])
    got = {}
    deadline = time.time() + 30
    while len(got) < len(sent) and time.time() < deadline:
        m = c.poll(1.0)
        if m is None or m.error():
            continue
        r = de(m.value(), SerializationContext(TOPIC, MessageField.VALUE))
        got[r.sequence] = r
    c.close()
    check(len(got) == len(sent), "%d readings in the journal (got %d)" % (len(sent), len(got)))
    for r in sent:
        check(got[r.sequence] == r, "journal reading %d equals the one sent" % r.sequence)

    # 5. v2 with an added field, registered by the client, reaches the twin
    fdp2 = descriptor_pb2.FileDescriptorProto()
    fdp2.CopyFrom(fdp)
    msg = next(m for m in fdp2.message_type if m.name == "Reading")
    f = msg.field.add(name="cabin_temp_c", number=50, json_name="cabinTempC",
                      type=descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    Reading2, ReadingBatch2 = classes(fdp2)
    ser2 = ProtobufSerializer(ReadingBatch2, sr, {"auto.register.schemas": True})
    data = ser2(batch_of(Reading2, ReadingBatch2, "cf-dev-2", 1, 1, now_ms + 30,
                         cabin_temp_c=21.5), ctx)
    id_v2 = int.from_bytes(data[1:5], "big")
    check(id_v2 != id_text and sr.get_versions(SUBJECT) == [1, 2],
          "v2 registered as version 2 with a new id %d" % id_v2)
    v2 = sr.get_version(SUBJECT, 2)
    check(v2.schema_id == id_v2 and v2.schema.schema_str == base64.b64encode(
        ReadingBatch2.DESCRIPTOR.file.serialized_pb).decode(),
          "v2 is kept as the descriptor the serializer sent")
    status, body = post(data)
    check(status == 202, "tp-ingest accepts v2 (%d %s)" % (status, body))
    value = None
    deadline = time.time() + 30
    while time.time() < deadline:
        t = twin("cf-dev-2")
        value = t and t.get("metrics", {}).get("cabin_temp_c", {}).get("value")
        if value is not None:
            break
        time.sleep(0.2)
    check(value == 21.5, "the twin of cf-dev-2 has cabin_temp_c 21.5 (got %r)" % value)

    # 6. a breaking change (speed_kmh double -> string): not compatible, and 409 on register
    fdp3 = descriptor_pb2.FileDescriptorProto()
    fdp3.CopyFrom(fdp2)
    reading_field(fdp3, "speed_kmh").type = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
    breaking = Schema(base64.b64encode(fdp3.SerializeToString()).decode(), "PROTOBUF")
    check(sr.test_compatibility(SUBJECT, breaking) is False, "test_compatibility says false")
    try:
        sr.register_schema(SUBJECT, breaking)
        check(False, "a breaking change is refused")
    except SchemaRegistryError as e:
        check(e.http_status_code == 409 and e.error_code == 409 and "speed_kmh" in e.error_message,
              "a breaking change gets 409 naming speed_kmh (%s %s %s)"
              % (e.http_status_code, e.error_code, e.error_message))
    check(sr.get_versions(SUBJECT) == [1, 2], "nothing registered by the refused change")

    # 7. a schema with an import: the serializer registers the dependency as a descriptor under
    #    the subject "fleet/units.proto" (a '/' in the subject), then the schema with a
    #    reference to it; the deserializer resolves the reference (format=serialized)
    F = descriptor_pb2.FieldDescriptorProto
    units = descriptor_pb2.FileDescriptorProto(name="fleet/units.proto", package="fleet.units",
                                               syntax="proto3")
    units.message_type.add(name="Celsius").field.add(name="value", number=1, type=F.TYPE_DOUBLE,
                                                     label=F.LABEL_OPTIONAL, json_name="value")
    cabin = descriptor_pb2.FileDescriptorProto(name="fleet/cabin.proto", package="fleet.cabin",
                                               syntax="proto3", dependency=["fleet/units.proto"])
    m = cabin.message_type.add(name="Cabin")
    m.field.add(name="temp", number=1, type=F.TYPE_MESSAGE, type_name=".fleet.units.Celsius",
                label=F.LABEL_OPTIONAL, json_name="temp")
    m.field.add(name="seat", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL,
                json_name="seat")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(units)
    pool.Add(cabin)
    Cabin = message_factory.GetMessageClass(pool.FindMessageTypeByName("fleet.cabin.Cabin"))
    cab_ctx = SerializationContext("cf-cabin", MessageField.VALUE)
    cab_ser = ProtobufSerializer(Cabin, sr_ser, {"auto.register.schemas": True})
    msg = Cabin(seat="2A")
    msg.temp.value = 21.25
    data = cab_ser(msg, cab_ctx)
    check("fleet/units.proto" in sr.get_subjects() and "cf-cabin-value" in sr.get_subjects(),
          "the dependency registered under the subject \"fleet/units.proto\"")
    reg = sr.get_version("cf-cabin-value", 1)
    check([(r.name, r.subject, r.version) for r in reg.schema.references]
          == [("fleet/units.proto", "fleet/units.proto", 1)], "the schema references it")
    check(int.from_bytes(data[1:5], "big") == reg.schema_id, "framed with the schema's id")
    back = ProtobufDeserializer(Cabin, {}, sr)(data, cab_ctx)
    check(back == msg, "deserialized through the reference, equal (%r)" % back)
    again = ProtobufSerializer(Cabin, SchemaRegistryClient({"url": env["TP_REGISTRY_URL"], **auth}),
                               {"auto.register.schemas": True})(msg, cab_ctx)
    check(again[1:5] == data[1:5] and sr.get_versions("cf-cabin-value") == [1],
          "registered again by a new client: the same id, one version")
    print("all checks passed")


if __name__ == "__main__":
    main()

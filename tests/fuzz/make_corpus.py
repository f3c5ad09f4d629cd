#!/usr/bin/env python3
"""tests/fuzz/make_corpus.py - writes the committed seed corpora (tests/fuzz/corpus/<harness>/).

Run from anywhere: python3 tests/fuzz/make_corpus.py. Needs protoc (protobuf-compiler).
Protobuf bytes come from `protoc --encode` of the repo's schemas and tests/fuzz/*.proto,
descriptor sets from `protoc --descriptor_set_out --include_imports`; the rest is written
here byte by byte. Deterministic: re-running gives the same files.
"""
import base64
import os
import re
import shutil
import subprocess
import struct
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "corpus")
TMP = tempfile.mkdtemp(prefix="tp-fuzz-corpus-")

TELEMETRY = "schemas/twinpipe/telemetry/v1/telemetry.proto"
FUZZ = "tests/fuzz/fuzz_telemetry.proto"


def protoc(args, stdin=None, include=None):
    inc = include or [os.path.join(ROOT, "schemas"), ROOT]
    cmd = ["protoc"] + ["-I" + i for i in inc] + args
    return subprocess.run(cmd, input=stdin, capture_output=True, check=True).stdout


def encode(proto, msg, text, include=None):
    path = os.path.join(ROOT, proto)
    rel = os.path.relpath(path, (include or [ROOT])[0]) if include else proto
    if proto == TELEMETRY:
        rel, include = "twinpipe/telemetry/v1/telemetry.proto", [os.path.join(ROOT, "schemas")]
    return protoc(["--encode=" + msg, rel], text.encode(), include or [ROOT])


def fds_of(text, name="s.proto"):
    d = tempfile.mkdtemp(dir=TMP)
    with open(os.path.join(d, name), "w") as f:
        f.write(text)
    out = os.path.join(d, "out.fds")
    protoc(["--descriptor_set_out=" + out, "--include_imports", name], include=[d])
    return open(out, "rb").read()


def fds_file(proto, include):
    out = os.path.join(TMP, "f.fds")
    protoc(["--descriptor_set_out=" + out, "--include_imports", proto], include=include)
    return open(out, "rb").read()


def frame(schema_id, path, payload):
    def zz(v):
        return (v << 1) ^ (v >> 31)

    def varint(v):
        b = bytearray()
        while True:
            c = v & 0x7F
            v >>= 7
            b.append(c | (0x80 if v else 0))
            if not v:
                return bytes(b)

    hdr = b"\x00" + struct.pack(">i", schema_id)
    if path == [0]:
        hdr += b"\x00"
    else:
        hdr += varint(zz(len(path))) + b"".join(varint(zz(p)) for p in path)
    return hdr + payload


def write(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def split2(a, b):
    return struct.pack(">H", len(a)) + a + b


R = "twinpipe.telemetry.v1.Reading"
B = "twinpipe.telemetry.v1.ReadingBatch"

reading_v1 = encode(TELEMETRY, R, """
device_id: "veh-1" sequence: 7 timestamp_ms: 1764670000000 speed_kmh: 88.5
metrics { key: "oil_c" value: 91 } metrics { key: "tire_wear_pct" value: 12.5 }
location { lat: 48.1 lon: 11.5 } model: "tp-truck" firmware: "1.2.3" region: "eu"
""")
batch_v1 = encode(TELEMETRY, B, """
readings { device_id: "veh-1" sequence: 1 timestamp_ms: 1 speed_kmh: 1 }
readings { device_id: "veh-2" sequence: 2 timestamp_ms: 2 metrics { key: "x" value: -0.0 } }
readings { }
""")
reading_fz = encode(FUZZ, R, """
device_id: "veh-9" sequence: 9 timestamp_ms: 1764670000123 tire_wear_pct: 3.5
location { lat: 1 velocity { x: 1 y: -2 z: 3 } }
mode: MODE_DRIVE mode_history: MODE_PARK mode_history: MODE_REVERSE mode_trail: [MODE_DRIVE, MODE_PARK]
diagnostics {
  faults { code: "P0420" severity: SEVERITY_WARN notes: "cat" notes: "é" snapshot: "\\001\\002" }
  by_code { key: "P0300" value { code: "P0300" severity: SEVERITY_FAULT } }
  counters_text { key: -5 value: "five" }
  levels { key: 18446744073709551615 value: SEVERITY_INFO }
  tag { key: "k" value: "v" raw: "\\000" weight: -3 levels: [SEVERITY_INFO, SEVERITY_WARN] }
}
labels { key: "fleet" value: "north" }
tags { key: "a" } tags { value: "b" levels: SEVERITY_FAULT }
accel { x: 0.5 }
f32: 1.5 i32: -1 u32: 4294967295 s64: -9223372036854775808 fx32: 1 fx64: 2 sfx32: -3 sfx64: -4
flag: false samples: [1, 2.5, -3] counts: [1, -1] motto: "naïve"
""")
batch_fz = encode(FUZZ, B, "readings { device_id: \"a\" sequence: 1 note: \"n\" } readings { device_id: \"b\" delta: -4 }")
# unknown fields (999 varint, 1000 bytes, 1001 fixed64, 1002 fixed32) on a v1 reading
unknown = reading_v1 + b"\xb8\x3e\x05" + b"\xc2\x3e\x03abc" + b"\xc9\x3e" + b"\x01" * 8 + b"\xd5\x3e\x00\x00\x80\x3f"
bad_utf8 = b"\x0a\x03\xff\xfe\x41\x10\x01"            # device_id = ff fe 41
embedded_nul = b"\x0a\x03a\x00b\x10\x01"
bad_enum = encode(FUZZ, R, "device_id: \"e\" sequence: 1") + b"\x90\x03\x63"  # mode = 99
bad_enum_packed = encode(FUZZ, R, "device_id: \"e\"") + b"\xa2\x03\x02\x01\x63"  # mode_trail [1, 99]
nested_bad = encode(FUZZ, R, "diagnostics { faults { code: \"ok\" } }") + b"\xe2\x03\x05\x0a\x03\x0a\x01\xff"

# ---- decode: request bodies ----
for name, data in [
    ("plain_batch", batch_v1),
    ("framed_reading_builtin", frame(1, [0], reading_v1)),
    ("framed_batch_builtin", frame(1, [1], batch_v1)),
    ("framed_reading_registered", frame(7, [0], reading_fz)),
    ("framed_batch_registered", frame(7, [1], batch_fz + encode(FUZZ, B, "readings { }"))),
    ("framed_unknown_id", frame(9, [0], reading_v1)),
    ("framed_unknown_fields", frame(7, [0], unknown)),
    ("plain_unknown_fields", encode(TELEMETRY, B, "") + b"\x0a" + bytes([len(unknown)]) + unknown),
    ("framed_bad_utf8", frame(7, [1], b"\x0a" + bytes([len(bad_utf8)]) + bad_utf8 + b"\x0a\x00")),
    ("framed_embedded_nul", frame(1, [0], embedded_nul)),
    ("framed_bad_enum", frame(7, [0], bad_enum)),
    ("framed_bad_enum_packed", frame(7, [0], bad_enum_packed)),
    ("framed_nested_bad", frame(7, [0], nested_bad)),
    ("framed_path_nested", frame(7, [0, 1], reading_fz)),
    ("framed_path_long", frame(7, [1, 0, 0], batch_fz)),
    ("framed_negative_id", b"\x00\xff\xff\xff\xf9\x00" + reading_v1),
    ("framed_truncated", frame(1, [1], batch_v1)[:-3]),
    ("empty_batch", frame(1, [1], b"")),
    ("short_frame", b"\x00\x00\x00"),
]:
    write("fuzz_decode", name, data)

# ---- strict: selector byte (0 Reading, 1 ReadingBatch, 2/3 their run-time forms, 4 Diagnostics,
# 5 Fault, 6 Tag, 7 Location) + message ----
for name, sel, data in [
    ("reading_v1", 0, reading_v1),
    ("batch_v1", 1, batch_v1),
    ("reading_fz", 2, reading_fz),
    ("batch_fz", 3, batch_fz),
    ("bad_utf8", 0, bad_utf8),
    ("embedded_nul", 2, embedded_nul),
    ("bad_enum", 2, bad_enum),
    ("bad_enum_packed", 2, bad_enum_packed),
    ("nested_bad", 2, nested_bad),
    ("batch_mixed", 3, b"\x0a" + bytes([len(bad_utf8)]) + bad_utf8 + b"\x0a" + bytes([len(embedded_nul)]) + embedded_nul + b"\x0a\x00"),
    ("diagnostics", 4, encode(FUZZ, R + ".Diagnostics", "faults { code: \"x\" } by_code { key: \"\\377\" }".replace("\\377", "k"))),
    ("fault", 5, encode(FUZZ, R + ".Diagnostics.Fault", "code: \"c\" severity: SEVERITY_FAULT notes: \"n\"")),
    ("tag", 6, encode(FUZZ, "twinpipe.fuzz.common.Tag", "key: \"k\" levels: [SEVERITY_WARN, SEVERITY_FAULT] weight: 1")),
    ("location", 7, encode(FUZZ, R + ".Location", "lat: 1 velocity { z: 2 }")),
    ("unknown_fields", 0, unknown),
]:
    write("fuzz_strict", name, bytes([sel]) + data)

# ---- journal: events ----
for name, data in [
    ("event_builtin", frame(1, [0], reading_v1)),
    ("event_registered", frame(7, [0], reading_fz)),
    ("event_unknown_id", frame(9, [0], unknown)),
    ("event_other_id", frame(123456, [0], reading_v1)),
    ("event_path_batch", frame(1, [1], batch_v1)),
    ("event_path_max", frame(7, list(range(16)), reading_v1)),
    ("event_path_too_long", frame(7, list(range(17)), b"")),
    ("event_bad_payload", frame(1, [0], b"\x0a\x05ab")),
    ("event_count_varint5", b"\x00\x00\x00\x00\x01\xff\xff\xff\xff\x0f"),
    ("event_bad_magic", b"\x01\x00\x00\x00\x01\x00" + reading_v1),
    ("event_short", b"\x00\x00\x00\x00\x01"),
]:
    write("fuzz_journal", name, data)

# ---- rtdesc and compat: descriptor sets ----
fds_telemetry = fds_file("twinpipe/telemetry/v1/telemetry.proto", [os.path.join(ROOT, "schemas")])
fds_fuzz = fds_file(FUZZ, [ROOT])
fds_evo = fds_file("tests/rollup/evolution_v2.proto", [ROOT])
variants = {
    "proto3": 'syntax = "proto3"; package p.v1; enum E { option allow_alias = true; A = 0; B = 1; C = 1; } '
              'message M { optional int32 a = 1; string s = 2; repeated E e = 3; map<string, M2> m = 4; '
              'oneof o { bytes b = 5; double d = 6; } } message M2 { repeated uint64 u = 1 [packed = false]; }',
    "proto2_defaults": 'syntax = "proto2"; package p.v1; enum E { Z = 3; Y = -1; } message M { required string r = 1 '
                       '[default = "a\\tb"]; optional bytes b = 2 [default = "\\x01\\377"]; optional E e = 3; '
                       'optional float f = 4 [default = inf]; optional double d = 5 [default = nan]; '
                       'optional int64 i = 6 [default = -9223372036854775808]; optional bool t = 7 [default = true]; '
                       'extensions 100 to 200; reserved 8, 9 to 11; reserved "old"; }',
    "proto2_removed": 'syntax = "proto2"; package p.v1; enum E { Z = 3; } message M { optional string r = 1; '
                      'optional int32 b = 2; repeated E e = 3; optional sint32 f = 4; }',
    "nested": 'syntax = "proto2"; package p.v1; message M { message N { message O { optional string s = 1; '
              'enum K { K0 = 0; } optional K k = 2; } optional O o = 1; repeated O os = 2; } optional N n = 1; '
              'map<int32, N> nm = 2; } message Other { optional M.N.O o = 1; }',
    "telemetry_v2": open(os.path.join(ROOT, "schemas", TELEMETRY.split("schemas/")[1])).read()
                    .replace("optional string region = 42;", "optional string region = 42;\n  optional double tire_wear_pct = 21;")
                    .replace("optional double outside_temp_c = 20;", "reserved 20;"),
    "telemetry_bad": open(os.path.join(ROOT, "schemas", TELEMETRY.split("schemas/")[1])).read()
                     .replace("optional uint64 sequence = 2;", "optional string sequence = 2;")
                     .replace("optional double speed_kmh = 10;", "repeated double speed_kmh = 10;")
                     .replace("package twinpipe.telemetry.v1;", "package twinpipe.telemetry.v1;"),
}
fds_var = {k: fds_of(v) for k, v in variants.items()}

for name, fds, msg in [
    ("telemetry", fds_telemetry, reading_v1),
    ("telemetry_batch", fds_telemetry, batch_v1),
    ("fuzz_schema", fds_fuzz, reading_fz),
    ("evolution", fds_evo, reading_v1),
    ("proto3", fds_var["proto3"], b"\x08\x01\x12\x01a\x1a\x02\x00\x01\x22\x05\x0a\x01k\x12\x00"),
    ("proto2_defaults", fds_var["proto2_defaults"], b"\x0a\x00"),
    ("nested", fds_var["nested"], b"\x0a\x04\x0a\x02\x0a\x00"),
    ("no_template", fds_telemetry, reading_v1),
]:
    data = split2(fds, msg)
    if name == "no_template":
        data = bytes([data[0] | 0x80]) + data[1:]
    write("fuzz_rtdesc", name, data)
write("fuzz_rtdesc", "not_a_set", split2(b"\x0a\x02\x08\x01", b""))
write("fuzz_rtdesc", "empty_set", split2(b"", b"\x08\x01"))

for name, old, new in [
    ("same", fds_telemetry, fds_telemetry),
    ("v1_to_fuzz", fds_telemetry, fds_fuzz),
    ("fuzz_to_v1", fds_fuzz, fds_telemetry),
    ("v1_to_v2_reserved", fds_telemetry, fds_var["telemetry_v2"]),
    ("v1_to_bad", fds_telemetry, fds_var["telemetry_bad"]),
    ("package_changed", fds_telemetry, fds_evo),
    ("defaults_to_removed", fds_var["proto2_defaults"], fds_var["proto2_removed"]),
    ("removed_to_defaults", fds_var["proto2_removed"], fds_var["proto2_defaults"]),
    ("proto3_to_nested", fds_var["proto3"], fds_var["nested"]),
    ("nested_same", fds_var["nested"], fds_var["nested"]),
    ("unreadable", b"\x0a\x01", fds_telemetry),
]:
    write("fuzz_compat", name, split2(old, new))

# ---- params: query strings (percent-decoded) ----
for i, q in enumerate([
    "",
    "model=tp-truck&region=eu&firmware=1.2.3&status=online&sort=-last_seen&limit=50",
    "last_seen_before=2026-11-23T10:24:46.706Z&last_seen_after=2026-11-23T10:24:46+01:00",
    "metric.speed_kmh.gt=80&metric.fuel_level_pct.le=10.5&metric.x.lt=-1e308&metric.y.ge=0",
    "sort=device_id&cursor=AQAAAAAAAAAAAAV2ZWgtMQAAAAAAAAAAAAAAAA&limit=1",
    "metric=speed_kmh&from=2026-11-23T00:00:00Z&to=2026-11-24T00:00:00Z&step=1h",
    "metric=speed_kmh&from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59.999999Z&step=1m",
    "group_by=region&metric=engine_temp_c",
    "group_by=model",
    "after=AAAA&limit=0&limit=1",
    "regoin=eu",
    "model=veh-1&sort=last_seen&status=offline&last_seen_after=2026-01-01T00:00:00 01:00" + "x" * 10,
    "metric.a.lt=1&metric.b.lt=1&metric.c.lt=1&metric.d.lt=1&metric.e.lt=1&metric.f.lt=1&metric.g.lt=1&metric.h.lt=1",
    "limit=1000&sort=-device_id&model=" + "a" * 128,
    "step=1d&metric=m&from=2026-02-29T00:00:00Z&to=2026-03-01T00:00:00.1234567Z",
    # GET /v1/fleet/aggregates
    "category=model=tp-truck,firmware=2.1.7&from=2026-12-03T10:00:00Z&until=2026-12-03T11:00:00Z",
    "category=model=tp-truck&region=region-a&region=region-b&from=2026-12-03T10:00:00Z"
    "&until=2026-12-03T10:00:00.000001Z",
    "category=a\\=b=c\\,d,e=&from=2026-11-02T10:00:00Z&until=2026-12-03T10:00:00Z",
    "category=model=x&from=2026-11-02T10:00:00Z&until=2026-12-03T10:00:00.000001Z",
    "category=model&from=2026-12-03T10:00:00Z&until=2026-12-03T11:00:00Z",
    "category==x&from=2026-12-03T11:00:00Z&until=2026-12-03T10:00:00Z&region=",
    "category=m=x&from=2026-12-03T10:00:00Z&until=2026-12-03T11:00:00Z&from=2026-12-03T10:00:00Z",
    "category=m=x&from=2026-12-03T10:00:00Z&until=2026-12-03T11:00:00Z&" +
    "&".join("region=r%d" % i for i in range(17)),
]):
    write("fuzz_params", "q%02d" % i, q.encode())

# ---- fleet: WindowAggregate records as mirrored (selector byte = the topic, fuzz_fleet.c) ----
def aggregate(text):
    return protoc(["--encode=twinpipe.aggregates.v1.WindowAggregate",
                   "twinpipe/aggregates/v1/aggregates.proto"], text.encode(),
                  [os.path.join(ROOT, "schemas")])


AGG = (' category: "tp-truck|2.1.7" attributes { name: "model" value: "tp-truck" }'
       ' attributes { name: "firmware" value: "2.1.7" } window_start_ms: 1796292000000'
       ' window_ms: 60000 journal_partition: 3 ')
AGG_METRICS = (' readings: 12 metrics { name: "fuel_level_pct" count: 12 min: 10.5 max: 80 sum: 500 }'
               ' metrics { name: "speed_kmh" count: 0 sum: 0 }')
for name, topic, text in [
    ("region_a", 0, 'region: "region-a"' + AGG + 'version: 1' + AGG_METRICS),
    ("second_hop", 1, 'region: "region-a"' + AGG + 'version: 7' + AGG_METRICS),
    ("no_dot_topic", 2, 'region: "region-b"' + AGG + 'version: 1'),
    ("region_from_topic", 1, AGG + 'version: 2' + AGG_METRICS),
    ("region_contradicts", 3, 'region: "region-a"' + AGG + 'version: 1'),
    ("no_region_no_prefix", 2, AGG + 'version: 1'),
    ("escaped_category", 0, 'region: "region-a" attributes { name: "a=b" value: "c,d\\\\" }'
     ' attributes { name: "e" value: "" } window_start_ms: -62135596800000 window_ms: 1'
     ' journal_partition: 0 version: 9223372036854775807 readings: 9223372036854775807'),
    ("version_zero", 0, 'region: "region-a"' + AGG + 'version: 0'),
    ("unsorted_metrics", 0, 'region: "region-a"' + AGG + 'version: 1 metrics { name: "b" }'
     ' metrics { name: "a" }'),
    ("min_above_max", 0, 'region: "region-a"' + AGG + 'version: 1 metrics { name: "a" count: 1'
     ' min: 2 max: 1 sum: 3 }'),
    ("no_attributes", 0, 'region: "region-a" window_start_ms: 0 window_ms: 60000'
     ' journal_partition: 0 version: 1'),
    ("year_10000", 0, 'region: "region-a"' + AGG.replace("1796292000000", "253402300800000") +
     'version: 1'),
]:
    write("fuzz_fleet", name, bytes([topic]) + frame(1, [0], aggregate(text)))
write("fuzz_fleet", "path_batch", b"\x00" + frame(1, [1], aggregate('region: "region-a"')))
write("fuzz_fleet", "truncated", b"\x00" + frame(1, [0], aggregate('region: "region-a"' + AGG))[:-2])
write("fuzz_fleet", "short_frame", b"\x00\x00\x00\x00")

# ---- http: raw requests ----
for name, req in [
    ("get_health", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("post_length", b"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 5\r\n\r\nhello"),
    ("post_chunked", b"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: t\r\n\r\n"),
    ("post_too_large", b"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\nabc"),
    ("post_chunked_too_large", b"POST /config/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n" + b"a" * 65 + b"\r\n0\r\n\r\n"),
    ("pipelined", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/devices/veh-1?limit=5&a&b=%41%zz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/wait HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("series", b"GET /v1/devices/veh-1/series?metric=a&from=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("subjects", b"GET /subjects/s/versions/latest HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("not_found", b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("method_not_allowed", b"DELETE /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nxx"),
    ("headers_too_large", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 3000 + b"\r\n\r\n"),
    ("http10", b"GET /healthz HTTP/1.0\r\n\r\n"),
    ("http09", b"GET /healthz\r\n\r\n"),
    ("ack", b"POST /v1/ack HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
    ("expect_continue", b"PUT /config/x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"),
    ("folded_header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"),
    ("bad_length", b"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nContent-Length: 2\r\n\r\nab"),
    ("lf_only", b"GET /v1/devices/%2F..%2F HTTP/1.1\nHost: x\n\n"),
]:
    write("fuzz_http", name, req)

# ---- parquet: programs (see fuzz_parquet.c) ----
def col(t, nullable, name):
    return bytes([t | (4 if nullable else 0), len(name)]) + name


S, I, T, D = 0, 1, 2, 3
prog = [
    ("strings_zstd", bytes([0 + (2 << 3), 0]) + col(S, False, b"device_id")
     + b"\x00\x05car-1\x07" + b"\x00\x02\xc3\xa9\x07" + b"\x00\xff\x10a\x07" + b"\x00\x02\xff\xfe\x07"),
    ("all_types_snappy", bytes([3 + (1 << 3), 0x02]) + col(S, True, b"s") + col(I, False, b"i")
     + col(T, True, b"t") + col(D, True, b"d")
     + b"\x00\x01x" + b"\x08" + b"\x00" * 8 + b"\x08\x01\x05" + b"\x08\x01\x06\x07"
     + b"\x03" + b"\x09\x07" + b"\x0b" + b"\x0b\x07"),
    ("doubles_specials", bytes([0, 0x19]) + col(D, True, b"v")
     + b"".join(b"\x01" + bytes([k]) + b"\x07" for k in range(8)) + b"\x03\x07"),
    ("tiny_groups", bytes([1 + (0 << 3), 0x01 | 0x20 | 0x04]) + col(S, False, b"a") + col(I, True, b"b")
     + b"".join(b"\x00\x03k" + bytes([48 + i, 48]) + b"\x08\x01" + bytes([i]) + b"\x07" for i in range(12))),
    ("dup_names", bytes([1, 0]) + col(S, False, b"a") + col(I, False, b"a") + b"\x07"),
    ("empty_name", bytes([0, 0]) + col(I, False, b"")),
    ("required_unset", bytes([1, 0]) + col(S, False, b"a") + col(I, False, b"b") + b"\x00\x01a\x07\x03\x07"),
    ("stats_limit", bytes([0, 0x08 | 0x40]) + col(S, True, b"s") + b"\x00\xff\x30z\x07\x00\x00\x07\x03\x07"),
    ("value_limit", bytes([0, 0x10]) + col(S, True, b"s") + b"\x00\xff\x01q\x07\x00\x03abc\x07"),
    ("dict_fallback", bytes([0, 0x04]) + col(S, False, b"s")
     + b"".join(b"\x00\x08" + bytes([65 + i]) * 8 + b"\x07" for i in range(20))),
    ("row_group_bytes", bytes([0xe0, 0]) + col(S, False, b"s") + b"".join(b"\x00\xff\x02" + bytes([97 + i]) + b"\x07" for i in range(4))),
]
for name, data in prog:
    write("fuzz_parquet", name, data)

# ---- serialized: schema texts as Confluent's serializers send them ----
# mode 0: the text as sent; mode 1: bytes the harness base64-encodes first
tele_set = fds_file("twinpipe/telemetry/v1/telemetry.proto", [os.path.join(ROOT, "schemas")])
tele_file = tele_set[2:] if tele_set[1] < 0x80 else tele_set[3:]  # the set's only file
for name, data in [
    ("text_proto", b"\x00" + b'syntax = "proto3";\npackage p;\nmessage M { int32 a = 1; }\n'),
    ("text_comment_only", b"\x00//ab"),
    ("base64_not_descriptor", b"\x00QUJD"),
    ("base64_bad_padding", b"\x00QU=I"),
    ("telemetry_descriptor", b"\x01" + tele_file),
    ("telemetry_descriptor_text", b"\x00" + base64.b64encode(tele_file)),
    ("nested_message", b"\x01" + b"\x22\x06\x0a\x01M\x1a\x01\x0a"),
]:
    write("fuzz_serialized", name, data)

# ---- migrate: folder listings ----
for i, names in enumerate([
    "0001_init.sql\n0002_history.sql\n0003_query_indexes.sql\n0005_registry.sql\n0006_history_brin.sql\n0007_open_minute.sql\nREADME.md\nCMakeLists.txt\nmain.c\nmigrate.c\nmigrate.h",
    "0002_b.sql\n0001_a.sql",
    "0001_a.sql\n0001_b.sql",
    "001_a.sql",
    "abcd_x.sql",
    "0001-a.sql",
    "0001_.sql\n9999_z.sql\n0000_zero.sql",
    ".sql\nx.sql\n0001_a.SQL\n0001_a.sql.bak",
    "0001_" + "n" * 300 + ".sql",
    "\n".join("%04d_m.sql" % v for v in range(0, 1001, 7)),
]):
    write("fuzz_migrate", "names%02d" % i, names.encode())

# ---- record: twin records (twin/README.md, version 1), encoded here from the README's layout,
# independently of twin/record.c ----
M64 = (1 << 64) - 1


def uv(v):
    v &= M64
    b = bytearray()
    while v >= 0x80:
        b.append((v & 0x7F) | 0x80)
        v >>= 7
    b.append(v)
    return bytes(b)


def zzv(v):
    v = ((v + (1 << 63)) & M64) - (1 << 63)  # differences wrap, as int64
    return uv((v << 1) ^ (v >> 63))


def bits(v):
    return struct.unpack("<q", struct.pack("<d", v))[0]


def near(v, s):
    """(m, ulps) with v ulps from m / 10^s, or None (README: a near sum)."""
    if s == 15:
        return None
    x = v * 10.0 ** s
    if not abs(x) < 2.0 ** 53:
        return None
    k = int(x - 0.5) if x < 0 else int(x + 0.5)
    back = k / 10.0 ** s
    if (struct.pack("<d", back)[7] >> 7) != (struct.pack("<d", v)[7] >> 7):
        return None
    d = bits(v) - bits(back)
    return (k, d) if -(1 << 20) < d < (1 << 20) else None


def scale(vals):
    for s in range(10):
        if all(near(v, s) is not None and near(v, s)[1] == 0 for v in vals):
            return s
    return 15


def dbl(v, s):
    return struct.pack("<d", v) if s == 15 else zzv(near(v, s)[0])


def nsum(v, s, base=0):
    k, d = near(v, s)
    return zzv(k - base) + zzv(d)


def record(t):
    strs = []
    def ref(x):
        if x not in strs:
            strs.append(x)
        return strs.index(x)
    attrs = [ref(t[a]) + 1 if t.get(a) is not None else 0 for a in ("model", "firmware", "region")]
    names = [ref(m["name"]) for m in t["metrics"]]
    ls, ev = t["last_seen"], t["events"]
    minute = t.get("minute")
    loc = t.get("loc", {})
    mask = sum(1 << i for i in loc)
    lb = mask | (0x80 if t.get("has_location") else 0) | (0x20 if minute is not None else 0)
    lts = t.get("location_ts", ls)
    if lts != ls:
        lb |= 0x40
    out = bytes([1]) + uv(len(strs)) + b"".join(uv(len(x)) + x for x in strs)
    out += zzv(ls) + zzv(t["first_seen"] - ls) + uv(ev) + zzv(t["last_sequence"] - ev)
    out += b"".join(uv(a) for a in attrs) + bytes([lb])
    if lb & 0x40:
        out += zzv(lts - ls)
    if minute is not None:
        out += zzv(minute // 60000 - ls // 60000)
    for i in sorted(loc):
        s = scale([loc[i]])
        out += bytes([s]) + dbl(loc[i], s)
    out += uv(len(t["metrics"]))
    for m, idx in zip(t["metrics"], names):
        count, ts = m.get("count", ev), m.get("ts", ls)
        mc = m.get("mcount", 0) if minute is not None else 0
        same = mc == 1 and m["mmin"] == m["mmax"] == m["msum"] == m["value"]
        vals = [m["value"]] + ([m["min"], m["max"]] if count else []) + \
            ([m["mmin"], m["mmax"]] if mc and not same else [])
        s = scale(vals)
        fl = s | (0x10 if ts != ls else 0) | (0x20 if count != ev else 0) | (0x80 if mc else 0)
        if count and (s == 15 or near(m["sum"], s) is None):
            fl |= 0x40
        out += uv(idx) + bytes([fl])
        if fl & 0x10:
            out += zzv(ts - ls)
        if fl & 0x20:
            out += zzv(count - ev)
        out += dbl(m["value"], s)
        if count:
            out += dbl(m["min"], s) + dbl(m["max"], s)
            out += struct.pack("<d", m["sum"]) if fl & 0x40 else nsum(m["sum"], s)
        if mc:
            if same:
                out += uv(mc << 2 | 1)
                continue
            raw = s == 15 or near(m["msum"], s) is None
            out += uv(mc << 2 | (2 if raw else 0))
            if s == 15:
                out += struct.pack("<dd", m["mmin"], m["mmax"])
            else:
                v0 = near(m["value"], s)[0]
                out += zzv(v0 - near(m["mmin"], s)[0]) + zzv(near(m["mmax"], s)[0] - v0)
            out += struct.pack("<d", m["msum"]) if raw else nsum(m["msum"], s, mc * near(m["value"], s)[0])
    seen = t.get("seen", (M64, M64))
    return out + uv(~seen[0]) + uv(~seen[1])


def metric(name, v, n=4, **kw):
    m = {"name": name, "value": v, "count": n, "min": v - 1, "max": v + 1, "sum": v * n + 0.1,
         "mcount": 1, "mmin": v, "mmax": v, "msum": v}
    m.update(kw)
    return m


LS = 1790000065000
bench = {"last_seen": LS, "first_seen": LS - 15000, "events": 4, "last_sequence": 4,
         "model": b"tp-van", "firmware": b"2.1.3", "region": b"eu-central", "has_location": True,
         "loc": {0: 48.137154, 1: 11.576124, 3: 271.0}, "minute": LS - LS % 60000,
         "metrics": [metric(n.encode(), v) for n, v in [
             ("speed_kmh", 88.5), ("fuel_level_pct", 61.2), ("battery_voltage_v", 14.1),
             ("engine_temp_c", 91.3), ("engine_rpm", 3012.0), ("odometer_km", 12345.6),
             ("outside_temp_c", 21.4), ("tire_pressure_fl_kpa", 239.9)]]}
odd = dict(bench, metrics=[
    metric(b"nan", float("nan"), 0, mcount=0),
    metric(b"inf", float("inf"), 2, min=-float("inf"), max=float("inf"), sum=float("nan"),
           mcount=2, mmin=-0.0, mmax=1e300, msum=0.1 + 0.2),
    metric(b"tenths", 0.3, 7, min=0.1, max=0.2, sum=0.1 + 0.2, mcount=3, mmin=0.1, mmax=0.2,
           msum=0.1 + 0.2 + 0.3, ts=LS - 123456789, count=3),
    metric(b"tp-van", -7.25, 9, ts=-62135596800000)], seen=(0x5555, 0),
    location_ts=LS - 5000, firmware=None, region=b"tp-van")
extremes = {"last_seen": 253402300799999, "first_seen": -62135596800000, "events": (1 << 63) - 1,
            "last_sequence": -(1 << 63), "model": b"\xc3\xa9" * 512, "has_location": False,
            "loc": {4: 1e-300}, "minute": -62135596800000, "seen": (0, 0),
            "metrics": [metric(("temp_\u00b0C_%d" % i).encode(), i * 0.5, i % 3, mcount=i % 2)
                        for i in range(200)]}
empty = {"last_seen": 0, "first_seen": 0, "events": 0, "last_sequence": 0, "metrics": []}
golden = bytes.fromhex(
    "01020376616e057370656564d0a78bc59868cff7070704010001e58f4e0001ca070f555555555555d53f02"
    "0181ea0d0204060208e80de50dcd1b02003fcff7070d00000000000000800200")
for name, data in [("bench", record(bench)), ("odd_values", record(odd)),
                   ("extremes", record(extremes)), ("empty", record(empty)),
                   ("golden_v1", golden), ("version2", b"\x02" + golden[1:]),
                   ("cut", golden[:40]), ("trailing", golden + b"\x00"),
                   ("long_varint", b"\x01\x00" + b"\x80" * 10 + b"\x00" + golden[-20:]),
                   ("index_past", b"\x01\x01\x01a\x00\x00\x01\x00\x00\x00\x00\x00\x01\x05\x00\x02\x02\x02\x02\x00\x00\x00")]:
    write("fuzz_record", name, data)

# fuzz_mqtt: byte 0 the decoder (bit 0 client side, bit 1 client version 5, bit 2 tight
# limits, bit 3 no limits), byte 1 the split seed, then a byte stream. The streams
# mosquitto_pub/sub 2.0.11 sent (tests/mqtt/golden.h, read from there) and hand-made packets.
def golden_streams():
    out = {}
    with open(os.path.join(HERE, "..", "mqtt", "golden.h")) as f:
        for line in f:
            m = re.match(r'#define GOLDEN_(\w+?)_(\w+) "([0-9a-f]+)"', line)
            if m:
                out.setdefault(m.group(1), b"")
                out[m.group(1)] += bytes.fromhex(m.group(3))
    return out


def mq(h):
    return bytes.fromhex(h.replace(" ", ""))


gold = golden_streams()
c4 = mq("102d00044d51545404c2003c000874702d6465762d3100056465762d3100107470312e746f6b656e2d736563726574")
c5 = gold["PUB5"][:51]
for name, mode, data in [
        ("golden_pub311", 0, gold["PUB311"]), ("golden_pub5", 0, gold["PUB5"]),
        ("golden_sub311", 0, gold["SUB311"]), ("golden_sub5", 0, gold["SUB5"]),
        ("golden_pub5_tight", 4, gold["PUB5"]), ("golden_sub5_open", 8, gold["SUB5"]),
        ("server_will5", 8, mq("10 1a 0004 4d515454 05 2e 003c 00 0002 6331 05 18 0000000a 0001 74 0000 c0 00")),
        ("server_auth5", 0, mq("10 16 0004 4d515454 05 02 003c 07 15 0004 4b455931 0002 6331")),
        ("server_props5", 4, c5 + mq("30 17 0000 13 23 0002 26 0001 61 0001 31 26 0001 61 0001 32 01 01 78"
                                    " 82 0b 0001 02 0b 07 0001 61 2d e0 07 00 05 11 0000003c")),
        ("server_refused_topic", 0, c4 + mq("32 08 0003 612f23 0005 78 c0 00 40 02 00 01")),
        ("server_large", 0, c4 + mq("30 ff ff ff 7f 00")),
        ("server_qos2", 8, c5 + mq("34 07 0001 74 0001 00 78 62 02 00 01")),
        ("client_acks5", 3, mq("20 25 00 00 22 11 00000e10 12 0005 6465762d31 13 04b0 21 0040 24 01 25 00"
                               " 27 00040000 28 00 29 00 2a 00 40 03 00 01 87 90 05 00 01 00 01 87"
                               " b0 04 00 02 00 00 d0 00 e0 06 8b 04 1c 0001 62")),
        ("client_acks4", 1, mq("20 02 00 00 40 02 00 01 90 04 00 01 01 80 b0 02 00 02 d0 00")),
        ("client_publish5", 3, mq("3a 23 0015 7477696e706970652f76312f64312f636f6e666967 0102"
                                  " 08 02 0000000a 0b c801 78 30 0c 0003 612f62 06 0b 01 0b 02 0b 03")),
        ("malformed_length", 0, c4 + mq("30 ff ff ff ff 01")),
        ("malformed_utf8", 0, c4 + mq("30 05 0003 edbfbf")),
]:
    write("fuzz_mqtt", name, bytes([mode, 0x5a]) + data)

# ---- policy: PUT bodies (mode byte 0) and policies-topic records (mode byte 1) ----
POLICY_SEL = '"selector":{"attributes":{"model":{"eq":"tp-truck"},"firmware":{"prefix":"2.1."}},' \
    '"device_ids":["veh-000017","veh-000042"],"sites":["region-a"]}'
policy_bodies = {
    "full": '{' + POLICY_SEL + ',"level":"raw","report_every_ms":1000,'
            '"from":"2026-12-03T10:00:00Z","until":"2026-12-03T11:00:00Z"}',
    "minimal": '{"selector":{"device_ids":["d"]},"until":"2026-12-04T10:00:00Z"}',
    "escapes": '{"selector":{"attributes":{"region":{"eq":"eu\\u00e9\\/\\ud83d\\ude9a"}}},'
               '"level":"aggregates","until":"2026-12-03T10:00:00.5+00:00"}',
    "duplicate": '{"selector":{"device_ids":["d"]},"selector":{},"until":"2026-12-04T10:00:00Z"}',
    "bad_types": '{"selector":{"device_ids":[1]},"level":null,"report_every_ms":1e3,"until":true}',
    "long_value": '{"selector":{"attributes":{"model":{"prefix":"' + "x" * 129 + '"}}},'
                  '"until":"2026-12-04T10:00:00Z"}',
    "many_ids": '{"selector":{"device_ids":[' + ",".join('"v%d"' % i for i in range(300)) +
                ']},"until":"2026-12-04T10:00:00Z"}',
}
for name, body in policy_bodies.items():
    write("fuzz_policy", "body_" + name, b"\x00" + body.encode())
policy_records = {
    "full": '{"v":1,"name":"p1","issued_at":1796291999993,"revision":3,' + POLICY_SEL +
            ',"level":"raw","report_every_ms":1000,"from":"2026-12-03T10:00:00.500Z",'
            '"until":"2026-12-03T11:00:00Z"}',
    "minimal": '{"v":1,"name":"p1","issued_at":0,"revision":0,"selector":{"device_ids":["d"]},'
               '"level":"aggregates","from":"2026-12-03T10:00:00Z","until":"2026-12-03T11:00:00Z"}',
    "version2": '{"v":2,"name":"p1","issued_at":0,"revision":0,"selector":{"device_ids":["d"]},'
                '"level":"aggregates","from":"2026-12-03T10:00:00Z","until":"2026-12-03T11:00:00Z"}',
    "other_key": '{"v":1,"name":"p2","issued_at":0,"revision":0,"selector":{"device_ids":["d"]},'
                 '"level":"aggregates","from":"2026-12-03T10:00:00Z","until":"2099-12-03T11:00:00Z"}',
}
for name, rec in policy_records.items():
    write("fuzz_policy", "record_" + name, b"\x01" + rec.encode())

# ---- loadgen: 202 bodies (mode byte 0) and MQTT config messages (mode byte 1) ----
period_inputs = {
    "body_one": (0, '{"accepted":1,"dead_lettered":0,"rejected":[],"token":"t1.0:41",'
                    '"report_every_ms":1000}'),
    "body_gateway": (0, '{"accepted":3,"dead_lettered":0,"rejected":[],"token":"t1.0:41",'
                        '"report_every_ms":3000,"report_every_ms_by_device":'
                        '{"veh-000003":1000,"veh-000007":500}}'),
    "body_bad_entry": (0, '{"report_every_ms":3000,"report_every_ms_by_device":{"veh-000003":"x"}}'),
    "body_bounds": (0, '{"report_every_ms":86400001,"report_every_ms_by_device":{"veh-000003":0}}'),
    "body_float": (0, '{"report_every_ms":1000.5}'),
    "body_not_object": (0, '[{"report_every_ms":1000}]'),
    "message": (1, '{"report_every_ms":2000}'),
    "message_duplicate": (1, '{"report_every_ms":1000,"report_every_ms":2000}'),
    "message_nul": (1, '{"report_every_ms":1\u0000}'),
    "message_long": (1, '{"report_every_ms":1000}' + " " * 240),
}
for name, (mode, text) in period_inputs.items():
    write("fuzz_loadgen_period", name, bytes([mode]) + text.encode())
write("fuzz_loadgen_period", "message_raw_nul", b"\x01" + b'{"report_every_ms":1\x00}')

shutil.rmtree(TMP)

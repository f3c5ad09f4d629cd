#!/usr/bin/env python3
"""regions_check.py - the checks of docs/decisions/regions.md, section 4 ("The checks,
in order"), over the topology scripts/sites runs (tests/regions/test_regions.sh starts
it, with tp-loadgen sending in both regions, and runs this).

The independent computation: both regions' journals are consumed from the beginning,
each event decoded with the `protobuf` package from telemetry.proto (Confluent framing,
message path [0]), repeated (device, sequence) of a region dropped; per category
(model, firmware), window of device time and metric: readings, count, min, max, sum.

1. aggregates: for every window closed for sure (its end + grace well past, every
   reading of it in the journals), GET /v1/fleet/aggregates at global, per category and
   per model (which also catches a category the regions never had), equals it: counts,
   readings, min and max exactly, sums within 1e-9 relative, regions as expected.
2. policy: PUT (tp-policy at global, operator key) model=tp-truck, raw, 1 s, sites
   [region-a], from = now + 6 s, until = now + 20 s. A truck's direct POST with its device
   token answers report_every_ms 1000 in region-a while it is active, 3000 in region-b,
   3000 for a van in region-a, 3000 again after until. region-a.detail on global holds
   exactly (device, sequence) of region-a's truck readings journaled in [from, until),
   each with its journal time; region-b.detail holds nothing; the global detail twins
   are those trucks, with that many events.
3. MirrorMaker SIGKILLed for 15 s (scripts/regions mm2 kill, then mm2 start) while
   loadgen runs and a second raw policy is active: afterwards the aggregates equal the
   independent computation again (windows of the outage included) and the detail
   readings at global are exactly the region's matching journal readings.

Prints what it checked; exit 0 only when every check holds.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

from confluent_kafka import Consumer, KafkaError, TopicPartition
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor

REGIONS = ("region-a", "region-b")
JOURNAL = "twinpipe.telemetry.v1"
T0 = time.monotonic()


def note(msg):
    print("regions_check: [%5.1f s] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


def fail(msg):
    print("regions_check: FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def rfc3339(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_rfc3339(s):
    return int(round(datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000))


def now_ms():
    return int(time.time() * 1000)


def repeated(f):
    # protobuf 7 dropped FieldDescriptor.label
    return f.is_repeated if hasattr(f, "is_repeated") else f.label == FieldDescriptor.LABEL_REPEATED


class Proto:
    """Reading and ReadingBatch from schemas/.../telemetry.proto, compiled by protoc."""

    def __init__(self, root):
        with tempfile.NamedTemporaryFile(suffix=".fds") as f:
            subprocess.run(["protoc", "-I", os.path.join(root, "schemas"), "--include_imports",
                            "-o", f.name, "twinpipe/telemetry/v1/telemetry.proto"], check=True)
            fds = descriptor_pb2.FileDescriptorSet.FromString(open(f.name, "rb").read())
        pool = descriptor_pool.DescriptorPool()
        for fd in fds.file:
            pool.Add(fd)
        self.Reading = message_factory.GetMessageClass(
            pool.FindMessageTypeByName("twinpipe.telemetry.v1.Reading"))
        self.Batch = message_factory.GetMessageClass(
            pool.FindMessageTypeByName("twinpipe.telemetry.v1.ReadingBatch"))
        # the metrics the fold aggregates: every optional double of the Reading, then the map
        self.doubles = [f.name for f in self.Reading.DESCRIPTOR.fields
                        if f.type == FieldDescriptor.TYPE_DOUBLE and not repeated(f)]

    def decode(self, value):
        if len(value) < 6 or value[0] != 0 or value[5] != 0:
            raise ValueError("not a Confluent-framed Reading (message path [0])")
        return self.Reading.FromString(value[6:])

    def metrics(self, r):
        out = []
        for name in self.doubles:
            if r.HasField(name):
                out.append((name, getattr(r, name)))
        for k, v in r.metrics.items():
            if k:
                out.append((k, v))
        return [(k, v) for k, v in out if math.isfinite(v)]


class TopicReader:
    """Every partition of a topic from the beginning, read on demand up to the high
    watermarks of the moment: records (key, value, timestamp, partition, offset)."""

    def __init__(self, bootstrap, topic):
        self.topic = topic
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "regions-check",
                           "enable.auto.commit": False, "enable.partition.eof": False})
        md = None
        for _ in range(60):
            md = self.c.list_topics(topic, timeout=10)
            t = md.topics.get(topic)
            if t is not None and t.error is None and t.partitions:
                break
            time.sleep(0.5)
        else:
            fail("topic %s not found at %s" % (topic, bootstrap))
        self.parts = sorted(md.topics[topic].partitions)
        self.next = {p: 0 for p in self.parts}
        self.c.assign([TopicPartition(topic, p, 0) for p in self.parts])

    def read(self):
        """Records since the last call, up to the high watermarks taken now."""
        hw = {p: self.c.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10, cached=False)[1]
              for p in self.parts}
        out = []
        deadline = time.monotonic() + 60
        while any(self.next[p] < hw[p] for p in self.parts):
            if time.monotonic() > deadline:
                fail("%s: could not read up to %s (at %s)" % (self.topic, hw, self.next))
            m = self.c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                fail("%s: %s" % (self.topic, m.error()))
            self.next[m.partition()] = m.offset() + 1
            out.append((m.key(), m.value(), m.timestamp()[1], m.partition(), m.offset()))
        return out

    def close(self):
        self.c.close()


class Journal:
    """One region's journal: readings by (device, sequence), the first of each kept."""

    def __init__(self, proto, region, bootstrap):
        self.proto, self.region = proto, region
        self.reader = TopicReader(bootstrap, JOURNAL)
        self.readings = {}  # (device, sequence) -> (journal time, Reading)
        self.repeated = 0

    def update(self):
        for _k, v, ts, _p, _o in self.reader.read():
            r = self.proto.decode(v)
            key = (r.device_id, r.sequence)
            if key in self.readings:
                self.repeated += 1
                continue
            self.readings[key] = (ts, r)


def expected_aggregates(proto, journals, window_ms):
    """(category, window_start) -> {"readings", "regions", "metrics": name -> [count, min, max, sum]}."""
    out = {}
    for j in journals:
        for _ts, r in j.readings.values():
            cat = "model=%s,firmware=%s" % (r.model, r.firmware)
            w = r.timestamp_ms // window_ms * window_ms
            e = out.setdefault((cat, w), {"readings": 0, "regions": set(), "metrics": {}})
            e["readings"] += 1
            e["regions"].add(j.region)
            for name, v in proto.metrics(r):
                m = e["metrics"].get(name)
                if m is None:
                    e["metrics"][name] = [1, v, v, v]
                else:
                    m[0] += 1
                    m[1] = min(m[1], v)
                    m[2] = max(m[2], v)
                    m[3] += v
    return out


def merge(entries):
    """Several expected entries (the firmwares of a model) into one."""
    e = {"readings": 0, "regions": set(), "metrics": {}}
    for x in entries:
        e["readings"] += x["readings"]
        e["regions"] |= x["regions"]
        for name, (c, lo, hi, s) in x["metrics"].items():
            m = e["metrics"].get(name)
            if m is None:
                e["metrics"][name] = [c, lo, hi, s]
            else:
                m[0] += c
                m[1] = min(m[1], lo)
                m[2] = max(m[2], hi)
                m[3] += s
    return e


class Http:
    def __init__(self, key):
        self.key = key

    def call(self, method, url, body=None, key=None, ctype="application/json", token=None):
        h = {"Authorization": "Bearer " + (token or key or self.key)}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h["Content-Type"] = ctype
        req = urllib.request.Request(url, data=data, headers=h, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw


def compare_window(what, exp, got):
    """Differences between an expected entry and an answer's window, as text."""
    errs = []
    if got["readings"] != exp["readings"]:
        errs.append("readings %s != %s" % (got["readings"], exp["readings"]))
    if sorted(got["regions"]) != sorted(exp["regions"]):
        errs.append("regions %s != %s" % (got["regions"], sorted(exp["regions"])))
    gm = got["metrics"]
    if sorted(gm) != sorted(exp["metrics"]):
        errs.append("metrics %s != %s" % (sorted(gm), sorted(exp["metrics"])))
    for name, (c, lo, hi, s) in exp["metrics"].items():
        g = gm.get(name)
        if g is None:
            continue
        if g["count"] != c or g["min"] != lo or g["max"] != hi:
            errs.append("%s count/min/max %s/%r/%r != %s/%r/%r" % (name, g["count"], g["min"], g["max"], c, lo, hi))
        if abs(g["sum"] - s) > 1e-9 * max(abs(s), 1e-300):
            errs.append("%s sum %r != %r" % (name, g["sum"], s))
    return ["%s: %s" % (what, e) for e in errs]


class Check:
    def __init__(self, args):
        self.a = args
        self.proto = Proto(args.root)
        self.http = Http(args.query_key)
        self.journals = [Journal(self.proto, "region-a", args.region_a), Journal(self.proto, "region-b", args.region_b)]
        self.window_ms = args.window_ms
        self.probe_seq = {}

    # ------------------------------------------------------------ 1. aggregates
    def fleet(self, category, frm, until):
        q = urllib.parse.urlencode({"category": category, "from": rfc3339(frm), "until": rfc3339(until)})
        st, body = self.http.call("GET", self.a.query + "/v1/fleet/aggregates?" + q)
        if st != 200:
            fail("GET /v1/fleet/aggregates %s: %s %s" % (q, st, body))
        if body["truncated"]:
            fail("GET /v1/fleet/aggregates %s: truncated" % q)
        return {parse_rfc3339(w["start"]): w for w in body["windows"]}

    def aggregates_once(self, first_ms):
        """One comparison: (windows compared, differences)."""
        t_read = now_ms()
        for j in self.journals:
            j.update()
        exp = expected_aggregates(self.proto, self.journals, self.window_ms)
        # closed for sure: the region published it (end + grace passed) and every reading
        # of it is in the journals read above (its end 5 s before that read)
        last = (min(t_read - 5000, t_read - self.a.grace_ms - 3000) // self.window_ms) * self.window_ms
        windows = sorted({w for (_c, w) in exp if first_ms <= w and w + self.window_ms <= last})
        if not windows:
            return [], ["no closed window yet"]
        frm, until = windows[0], windows[-1] + 1
        errs = []
        cats = sorted({c for (c, w) in exp if frm <= w < until})
        for cat in cats:
            got = self.fleet(cat, frm, until)
            for w in windows:
                e = exp.get((cat, w))
                g = got.get(w)
                if e is None and g is None:
                    continue
                if e is None or g is None:
                    errs.append("%s %s: expected %s, global %s" % (cat, rfc3339(w), e is not None, g is not None))
                    continue
                errs.extend(compare_window("%s %s" % (cat, rfc3339(w)), e, g))
        # per model (all its firmwares): a category global has and the regions never had shows here
        models = sorted({c.split(",")[0] for c in cats})
        total = {"readings": 0, "got": 0}
        for model in models:
            got = self.fleet(model, frm, until)
            for w in windows:
                e = merge([v for (c, ww), v in exp.items() if ww == w and c.startswith(model + ",")])
                g = got.get(w)
                total["readings"] += e["readings"]
                if g is None:
                    if e["readings"]:
                        errs.append("%s %s: missing at global" % (model, rfc3339(w)))
                    continue
                total["got"] += g["readings"]
                errs.extend(compare_window("%s %s" % (model, rfc3339(w)), e, g))
        if total["readings"] != total["got"]:
            errs.append("in total %d readings, global %d" % (total["readings"], total["got"]))
        self.compared = (len(windows), len(cats), total["readings"])
        return windows, errs

    def aggregates(self, phase, first_ms, min_windows, timeout_s):
        deadline = time.monotonic() + timeout_s
        while True:
            windows, errs = self.aggregates_once(first_ms)
            if len(windows) >= min_windows and not errs:
                w, c, n = self.compared
                note("%s: global aggregates equal both journals' over %d windows (%s .. %s), %d categories, "
                     "%d readings (repeated (device, sequence) dropped: %s)"
                     % (phase, w, rfc3339(windows[0]), rfc3339(windows[-1] + self.window_ms), c, n,
                        [j.repeated for j in self.journals]))
                return windows
            if time.monotonic() > deadline:
                fail("%s: after %d s, %d closed windows, %d differences:\n  %s"
                     % (phase, timeout_s, len(windows), len(errs), "\n  ".join(errs[:20])))
            time.sleep(2)

    # ------------------------------------------------------------ 2. policy, periods, detail
    def token(self, device):
        return subprocess.run([os.path.join(self.a.bin, "tp-ingest"), "token", "--auth.secret=" + self.a.auth_secret,
                               "--device=" + device, "--ttl_s=3600"], check=True, capture_output=True,
                              text=True, env={k: v for k, v in os.environ.items() if not k.startswith("TP_")}
                              ).stdout.strip()

    def probe(self, ingest, device, model):
        """A direct POST of one reading of `device` with its device token: the 202's period."""
        seq = self.probe_seq.get(device, 0) + 1
        self.probe_seq[device] = seq
        b = self.proto.Batch()
        r = b.readings.add()
        r.device_id, r.sequence, r.timestamp_ms = device, seq, now_ms()
        r.speed_kmh, r.model, r.firmware, r.region = 50.0 + seq, model, "2.0.0", "probe"
        if device not in self.tokens:
            self.tokens[device] = self.token(device)
        st, body = self.http.call("POST", ingest + "/v1/telemetry", b.SerializeToString(),
                                  ctype="application/x-protobuf", token=self.tokens[device])
        if st != 202 or body.get("accepted") != 1:
            fail("POST %s reading of %s: %s %s" % (ingest, device, st, body))
        return body.get("report_every_ms")

    def put_policy(self, name, frm, until):
        body = {"selector": {"attributes": {"model": {"eq": "tp-truck"}}, "sites": ["region-a"]},
                "level": "raw", "report_every_ms": 1000, "from": rfc3339(frm), "until": rfc3339(until)}
        st, got = self.http.call("PUT", self.a.policy + "/v1/policies/" + name, body, key=self.a.operator_key)
        if st != 201:
            fail("PUT /v1/policies/%s: %s %s" % (name, st, got))
        # an analyst key may not
        st2, _ = self.http.call("PUT", self.a.policy + "/v1/policies/" + name, body)
        if st2 != 403:
            fail("PUT /v1/policies with the analyst key: %s, not 403" % st2)
        note("PUT /v1/policies/%s: 201, raw for model=tp-truck in region-a, 1000 ms, [%s, %s)"
             % (name, rfc3339(frm), rfc3339(until)))

    def periods_while(self, frm, until):
        """The probes' periods from `from` on: region-a's truck 1000 (within 15 s), others 3000."""
        a_ingest, b_ingest = self.a.ingest_a, self.a.ingest_b
        while now_ms() < frm:
            time.sleep(0.2)
        deadline = time.monotonic() + 15
        t_put = now_ms()
        while True:
            p = self.probe(a_ingest, "probe-truck-a", "tp-truck")
            if p == 1000:
                break
            if p != 3000:
                fail("region-a truck answered report_every_ms %s" % p)
            if time.monotonic() > deadline:
                fail("region-a truck still answered 3000 15 s after the policy's from")
            time.sleep(0.2)
        reach = now_ms() - t_put
        if now_ms() >= until:
            fail("the policy reached region-a's ingest only after its until")
        got = {"region-b truck": self.probe(b_ingest, "probe-truck-b", "tp-truck"),
               "region-a van": self.probe(a_ingest, "probe-van-a", "tp-van")}
        if got != {"region-b truck": 3000, "region-a van": 3000}:
            fail("while active: %s (want 3000 each)" % got)
        note("periods while active: region-a truck 1000 (%d ms after from), %s" % (reach, got))

    def periods_after(self, until):
        while now_ms() < until + 200:
            time.sleep(0.2)
        p = self.probe(self.a.ingest_a, "probe-truck-a", "tp-truck")
        if p != 3000:
            fail("region-a truck after until: report_every_ms %s, not 3000" % p)
        note("after until: region-a truck answers 3000 again")

    def rates(self, phase, policy):
        """tp-loadgen's devices obey their period (it follows each 202's report_every_ms): inside
        the policy's window, from 3.5 s after `from` (a device learns the period at its next
        answer, at most one 3 s period later) to `until`, region-a's trucks journal readings at
        1 s and every other device at 3 s, so a truck journals about 3 times as many readings as
        a device of another model; in region-b, where the policy does not apply, about as many.
        The loadgen's gateway connections POST a batch once all of it is due (loadgen/README.md):
        beside devices at 3 s a truck's 1 s readings reach the journal up to three at a time, so
        at the window's edges a truck's count moves by up to 3 (measured: 10.00 and 12.00 in
        10.5 s), another device's by 1."""
        frm, until = policy[0] + 3500, policy[1]
        span = (until - frm) / 1000.0
        for j in self.journals:
            j.update()
        out = {}
        for j in self.journals:
            per = {}
            for (dev, _seq), (ts, r) in j.readings.items():
                if frm <= ts < until and dev.startswith("veh-"):
                    k = "truck" if r.model == "tp-truck" else "other"
                    per.setdefault(k, {}).setdefault(dev, 0)
                    per[k][dev] += 1
            if len(per.get("truck", {})) == 0 or len(per.get("other", {})) == 0:
                fail("%s: %s journaled no trucks or no other devices in [%s, %s)"
                     % (phase, j.region, rfc3339(frm), rfc3339(until)))
            out[j.region] = {k: sum(v.values()) / len(v) for k, v in per.items()}
        a, b = out[self.journals[0].region], out[self.journals[1].region]
        # per device in `span` seconds: a truck at 1 s sends span +- 3, another at 3 s span/3 +- 1
        if not (span - 3 <= a["truck"] <= span + 3 and span / 3 - 1 <= a["other"] <= span / 3 + 1):
            fail("%s: region-a per device in %.1f s: trucks %.2f (want %.1f +- 3), others %.2f "
                 "(want %.1f +- 1)" % (phase, span, a["truck"], span, a["other"], span / 3))
        for k in ("truck", "other"):
            if not span / 3 - 1 <= b[k] <= span / 3 + 1:
                fail("%s: region-b per device in %.1f s: %s %.2f (want %.1f +- 1: no policy there)"
                     % (phase, span, k, b[k], span / 3))
        note("%s: readings per device journaled in %.1f s of the window: region-a trucks %.2f, "
             "others %.2f; region-b trucks %.2f, others %.2f" % (phase, span, a["truck"], a["other"],
                                                                 b["truck"], b["other"]))

    def detail(self, phase, policies, settle_s):
        """region-a.detail at global == region-a's truck readings journaled inside the policies'
        windows, (device, sequence) exactly; region-b.detail empty; the global twins agree."""
        deadline = time.monotonic() + settle_s
        while True:
            for j in self.journals:
                j.update()
            want = {k for k, (ts, r) in self.journals[0].readings.items()
                    if r.model == "tp-truck" and any(f <= ts < u for f, u in policies)}
            for _k, v, ts, _p, _o in self.detail_a.read():
                r = self.proto.decode(v)
                if r.model != "tp-truck" or not any(f <= ts < u for f, u in policies):
                    fail("%s: region-a.detail holds %s/%d (model %s, journal time %s) outside the policies"
                         % (phase, r.device_id, r.sequence, r.model, rfc3339(ts)))
                key = (r.device_id, r.sequence)
                if key in self.detail_seen:
                    self.detail_dups += 1
                self.detail_seen[key] = ts
            b = self.detail_b.read()
            if b:
                fail("%s: region-b.detail holds %d records" % (phase, len(b)))
            got = set(self.detail_seen)
            if got == want:
                break
            if time.monotonic() > deadline:
                fail("%s: region-a.detail at global: %d of %d readings, %d missing (e.g. %s), %d extra (e.g. %s)"
                     % (phase, len(got & want), len(want), len(want - got), sorted(want - got)[:3],
                        len(got - want), sorted(got - want)[:3]))
            time.sleep(1)
        # ... and each journal reading's own journal time
        for k in want:
            if self.detail_seen[k] != self.journals[0].readings[k][0]:
                fail("%s: %s/%d at global with journal time %d, journaled at %d"
                     % (phase, k[0], k[1], self.detail_seen[k], self.journals[0].readings[k][0]))
        devices = {}
        for d, _s in want:
            devices[d] = devices.get(d, 0) + 1
        # the global detail twins: those trucks, each with that many events
        deadline = time.monotonic() + settle_s
        while True:
            st, body = self.http.call("GET", self.a.query + "/v1/devices?limit=1000")
            if st != 200:
                fail("GET /v1/devices: %s %s" % (st, body))
            ids = sorted(d["device_id"] for d in body["devices"])
            bad = []
            if ids != sorted(devices):
                bad.append("twins %d (%s..), want %d" % (len(ids), ids[:3], len(devices)))
            else:
                for d, n in sorted(devices.items()):
                    st, t = self.http.call("GET", self.a.query + "/v1/devices/" + urllib.parse.quote(d))
                    if st != 200 or t["events"] != n or t["attributes"].get("model") != "tp-truck":
                        bad.append("%s: %s events %s, want %d" % (d, st, t.get("events") if st == 200 else t, n))
                        break
            if not bad:
                break
            if time.monotonic() > deadline:
                fail("%s: global detail twins: %s" % (phase, bad))
            time.sleep(1)
        late = [k for k, ts in self.detail_seen.items() if not any(ts < u for _f, u in policies)]
        if late:
            fail("%s: detail records with a journal time after until: %s" % (phase, late[:3]))
        note("%s: region-a.detail at global = region-a's %d truck readings journaled in %s (%d trucks, "
             "%d repeated records), none after until; region-b.detail empty; %d global twins with those events"
             % (phase, len(want), [(rfc3339(f), rfc3339(u)) for f, u in policies], len(devices),
                self.detail_dups, len(devices)))

    # ------------------------------------------------------------ the run
    def run(self):
        a = self.a
        self.tokens = {}
        self.detail_seen, self.detail_dups = {}, 0
        first = (a.start_ms // self.window_ms) * self.window_ms
        # 1. three whole windows after the start, closed, at global
        want_last = first + 4 * self.window_ms
        note("1. waiting for 3 whole windows of %d ms after the start to close" % self.window_ms)
        while now_ms() < want_last + a.grace_ms:
            time.sleep(0.5)
        self.aggregates("1. aggregates", first, 4, 60)

        # 2. a raw policy for region-a's trucks
        self.detail_a = TopicReader(a.global_kafka, "region-a.detail")
        self.detail_b = TopicReader(a.global_kafka, "region-b.detail")
        t = now_ms()
        p1 = (t + 6000, t + 20000)
        self.put_policy("trucks-a", *p1)
        self.periods_while(*p1)
        self.periods_after(p1[1])
        self.rates("2. rates", p1)
        self.detail("2. detail", [p1], 30)

        # 3. MirrorMaker SIGKILLed for 15 s while a second raw policy is active
        t = now_ms()
        p2 = (t + 6000, t + 32000)
        self.put_policy("trucks-a-outage", *p2)
        self.periods_while(*p2)  # the policy reached region-a before MirrorMaker goes
        t_kill = time.monotonic()
        subprocess.run([a.regions, "mm2", "kill"], check=True, stdout=sys.stderr)
        note("3. MirrorMaker SIGKILLed; down for 15 s while loadgen runs")
        time.sleep(max(0.0, 15 - (time.monotonic() - t_kill)))
        subprocess.run([a.regions, "mm2", "start"], check=True, stdout=sys.stderr)
        note("3. MirrorMaker started again")
        self.periods_after(p2[1])
        # MirrorMaker's restart on two loaded cores: ~30 s to start, its group's rebalance, then
        # the outage's backlog (region-a's trucks at 1 s); the comparison stays exact
        self.detail("3. detail after the outage", [p1, p2], 120)
        outage_end = now_ms()
        # windows up to after the outage, closed and compared
        while now_ms() < (outage_end // self.window_ms + 1) * self.window_ms + a.grace_ms + 5000:
            time.sleep(0.5)
        self.aggregates("3. aggregates after the outage", first, 1, 60)
        for j in self.journals:
            j.reader.close()
        self.detail_a.close()
        self.detail_b.close()
        print(json.dumps({"windows": self.compared[0], "categories": self.compared[1],
                          "readings": self.compared[2], "detail_readings": len(self.detail_seen),
                          "detail_repeated": self.detail_dups,
                          "journal_repeated": [j.repeated for j in self.journals]}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--regions", required=True, help="scripts/regions (for mm2 kill/start)")
    ap.add_argument("--region-a", required=True)
    ap.add_argument("--region-b", required=True)
    ap.add_argument("--global-kafka", required=True)
    ap.add_argument("--ingest-a", required=True)
    ap.add_argument("--ingest-b", required=True)
    ap.add_argument("--query", required=True)
    ap.add_argument("--policy", required=True)
    ap.add_argument("--window-ms", type=int, required=True)
    ap.add_argument("--grace-ms", type=int, required=True)
    ap.add_argument("--start-ms", type=int, required=True, help="when loadgen started")
    a = ap.parse_args()
    a.query_key = os.environ["TP_SITES_QUERY_KEY"]
    a.operator_key = os.environ["TP_SITES_OPERATOR_KEY"]
    a.auth_secret = os.environ["TP_SITES_AUTH_SECRET"]
    Check(a).run()


if __name__ == "__main__":
    main()

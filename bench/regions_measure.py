#!/usr/bin/env python3
"""regions_measure.py - the measuring side of bench/regions (docs/decisions/regions.md,
section 5). Two commands, each printing one JSON object on stdout:

  bytes: over the windows [W0, W1) of journal time (whole aggregate windows):
    - each region's journal: records appended in [W0, W1) counted exactly from
      offsetsForTimes, their key + value bytes summed over every record (or over the first
      SAMPLE records of each partition's range, scaled, when --sample is given);
    - every topic MirrorMaker writes on the global broker (region-*.*, heartbeats,
      mm2-*): key + value bytes of what belongs to [W0, W1): aggregates by the decoded
      window_start_ms (every version of every partial of those windows), everything
      else by record timestamp;
    - per window: readings, partials (distinct (region, category, partition)), records;
    - freshness from the global database: fleet_aggregates.received_at - window end for
      the partials of those windows (first versions only: received_at is the last
      version's), and the fleet projector's histogram p99 from its /metrics.
    It waits (at most --wait-s) until no aggregate record of [W0, W1) arrived for 10 s.
  reach: N PUT/DELETE cycles at tp-policy (global): a raw policy for one model with a new
    period each; (a) the PUT's answer to the first 202 of region-a's ingest carrying the
    new period (a probe device of that model, a POST every --probe-ms); (b) the PUT's
    answer to the first record consumed from region-*.detail on the global broker with a
    journal time at or after the PUT was sent. Also: the policy record's arrival in
    region-a's global.policies (MirrorMaker's global -> region hop), and after DELETE the
    last detail record's arrival (the raw flow's stop).

Needs confluent-kafka and protobuf (tests/registry/confluent_venv.sh's venv) and psql.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

from confluent_kafka import OFFSET_END, Consumer, TopicPartition
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

JOURNAL = "twinpipe.telemetry.v1"
MODELS = ("tp-compact", "tp-sedan", "tp-van", "tp-truck")
T0 = time.monotonic()


def note(msg):
    print("regions_measure: [%6.1f s] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


def now_ms():
    return int(time.time() * 1000)


def rfc3339(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def quantile(xs, q):
    """The nearest-rank quantile (q in 0..1) of a list, None when empty."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 1)) - 1))
    return s[k]


def consumer(bootstrap):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "tp-bench-regions",
                     "enable.auto.commit": False, "enable.partition.eof": False,
                     "fetch.wait.max.ms": 50, "log_level": 3})


# ---------------------------------------------------------------- protobuf, by hand
def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if c < 0x80:
            return v, i
        shift += 7


def window_aggregate(value):
    """(region, category, window_start_ms, window_ms, partition, version) of a
    Confluent-framed WindowAggregate (message path [0])."""
    if len(value) < 6 or value[0] != 0 or value[5] != 0:
        raise ValueError("not a Confluent-framed WindowAggregate")
    b, i = value, 6
    f = {}
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
            f[num] = v
        elif wt == 2:
            n, i = varint(b, i)
            if num in (1, 2):
                f[num] = bytes(b[i:i + n]).decode()
            i += n
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        else:
            raise ValueError("wire type %d" % wt)
    ws = f.get(4, 0)
    if ws >= 1 << 63:
        ws -= 1 << 64
    return f.get(1, ""), f.get(2, ""), ws, f.get(5, 0), f.get(6, 0), f.get(7, 0)


# ---------------------------------------------------------------- bytes
def partitions(c, topic):
    md = c.list_topics(topic, timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return []
    return sorted(t.partitions)


def journal_range(bootstrap, w0, w1, sample):
    """Records of the journal appended in [w0, w1): count (exact), key + value bytes
    (exact, or scaled from the first `sample` records of each partition's range)."""
    c = consumer(bootstrap)
    out = {"records": 0, "bytes": 0, "read": 0, "read_bytes": 0, "partitions": 0}
    for p in partitions(c, JOURNAL):
        # one call per timestamp: librdkafka merges a partition named twice in one request
        lo = c.offsets_for_times([TopicPartition(JOURNAL, p, w0)], timeout=10)[0].offset
        hi = c.offsets_for_times([TopicPartition(JOURNAL, p, w1)], timeout=10)[0].offset
        high = c.get_watermark_offsets(TopicPartition(JOURNAL, p), timeout=10)[1]
        if lo < 0:
            continue
        if hi < 0:
            hi = high
        n = hi - lo
        if n <= 0:
            continue
        want = n if sample <= 0 else min(n, sample)
        c.assign([TopicPartition(JOURNAL, p, lo)])
        got = size = 0
        while got < want:
            for m in c.consume(num_messages=min(10000, want - got), timeout=5):
                if m.error():
                    continue
                got += 1
                size += len(m.key() or b"") + len(m.value() or b"")
                if got >= want:
                    break
        c.unassign()
        out["records"] += n
        out["read"] += got
        out["read_bytes"] += size
        out["bytes"] += size if got == n else round(size * n / got)
        out["partitions"] += 1
    c.close()
    out["bytes_per_record"] = out["read_bytes"] / out["read"] if out["read"] else None
    return out


def mm2_topics(c):
    md = c.list_topics(timeout=10)
    names = [t for t in md.topics if t.startswith("region-") or t == "heartbeats" or t.startswith("mm2-")]
    return sorted(names)


def global_range(bootstrap, w0, w1, wait_s, window_ms):
    """What MirrorMaker wrote on the global broker for [w0, w1), by topic."""
    c = consumer(bootstrap)
    topics = mm2_topics(c)
    by_topic = {t: {"records": 0, "bytes": 0} for t in topics}
    per_window = {}     # window_start -> {"records", "bytes", "partials": set}
    published = {}      # (region, category, partition, window_start) -> [window end, first ts, last ts]
    last_new = time.monotonic()
    assign = []
    for t in topics:
        for p in partitions(c, t):
            assign.append(TopicPartition(t, p, 0))
    c.assign(assign)
    deadline = time.monotonic() + wait_s
    while True:
        msgs = c.consume(num_messages=10000, timeout=1)
        for m in msgs:
            if m.error():
                continue
            t = m.topic()
            size = len(m.key() or b"") + len(m.value() or b"")
            if t.endswith(".aggregates"):
                region, cat, ws, wms, part, ver = window_aggregate(m.value())
                if not (w0 <= ws < w1):
                    continue
                w = per_window.setdefault(ws, {"records": 0, "bytes": 0, "partials": set()})
                w["records"] += 1
                w["bytes"] += size
                w["partials"].add((region, cat, part))
                ts = m.timestamp()[1]
                pub = published.setdefault((region, cat, part, ws), [ws + wms, ts, ts])
                pub[1], pub[2] = min(pub[1], ts), max(pub[2], ts)
                last_new = time.monotonic()
            else:
                ts = m.timestamp()[1]
                if not (w0 <= ts < w1):
                    continue
            by_topic[t]["records"] += 1
            by_topic[t]["bytes"] += size
        # heartbeats never stop: done when no aggregate of [w0, w1) came for 10 s
        if time.monotonic() - last_new > 10 and now_ms() > w1 + 5000:
            break
        if time.monotonic() > deadline:
            note("global: still receiving aggregates of the measured windows after %d s" % wait_s)
            break
    c.close()
    windows = []
    for ws in sorted(per_window):
        w = per_window[ws]
        by_region = {}
        for region, _, _ in w["partials"]:
            by_region[region] = by_region.get(region, 0) + 1
        windows.append({"window_start_ms": ws, "records": w["records"], "bytes": w["bytes"],
                        "partials": len(w["partials"]), "partials_by_region": by_region})
    # the partials' publish times in their region (the records' timestamps, kept by MirrorMaker)
    first = [(v[1] - v[0]) / 1000 for v in published.values()]
    last = [(v[2] - v[0]) / 1000 for v in published.values()]
    pub = {"partials": len(first), "first_p50_s": quantile(first, 0.5), "first_p99_s": quantile(first, 0.99),
           "first_max_s": max(first, default=None), "last_p50_s": quantile(last, 0.5),
           "last_p99_s": quantile(last, 0.99), "last_max_s": max(last, default=None)}
    return {"topics": {t: v for t, v in by_topic.items() if v["records"]}, "windows": windows, "published": pub}


def psql(dsn, sql):
    return subprocess.run(["psql", dsn, "-XtAq", "-F", "\t", "-c", sql], check=True, capture_output=True,
                          text=True).stdout


def freshness_db(dsn, w0, w1):
    """Seconds from each partial's window end to its commit at global (received_at is the
    stored version's: an amendment after the close moves it later)."""
    rows = psql(dsn, "select extract(epoch from received_at - window_start) * 1000 - window_ms"
                     " from fleet_aggregates where window_start >= to_timestamp(%d / 1000.0)"
                     " and window_start < to_timestamp(%d / 1000.0)" % (w0, w1))
    xs = [float(line) / 1000 for line in rows.splitlines() if line.strip()]
    return {"partials": len(xs), "p50_s": quantile(xs, 0.5), "p99_s": quantile(xs, 0.99),
            "max_s": max(xs) if xs else None}


def freshness_metrics(url):
    """p50 and p99 (bucket upper bounds) of tp_projector_fleet_freshness_seconds."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    buckets = []
    for line in text.splitlines():
        if line.startswith("tp_projector_fleet_freshness_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0

    def q(x):
        for le, n in buckets:
            if n >= x * total:
                return le
        return None
    return {"observations": total, "p50_le_s": q(0.5) if total else None, "p99_le_s": q(0.99) if total else None,
            "buckets": [[("+Inf" if le == float("inf") else le), n] for le, n in buckets],
            "last_finite_bound_s": max((le for le, _ in buckets if le != float("inf")), default=None)}


def cmd_bytes(a):
    out = {"w0_ms": a.w0, "w1_ms": a.w1, "window_ms": a.window_ms, "journal": {}}
    for site, bs in (("region-a", a.region_a), ("region-b", a.region_b)):
        out["journal"][site] = journal_range(bs, a.w0, a.w1, a.sample)
        note("%s journal: %d records in [W0, W1)" % (site, out["journal"][site]["records"]))
    out["global"] = global_range(a.global_kafka, a.w0, a.w1, a.wait_s, a.window_ms)
    out["freshness_db"] = freshness_db(a.global_dsn, a.w0, a.w1)
    out["freshness_metrics"] = freshness_metrics(a.fleet_url)
    json.dump(out, sys.stdout, indent=1)
    print()


# ---------------------------------------------------------------- reach
class Reading:
    def __init__(self, root):
        with tempfile.NamedTemporaryFile(suffix=".fds") as f:
            subprocess.run(["protoc", "-I", os.path.join(root, "schemas"), "--include_imports",
                            "-o", f.name, "twinpipe/telemetry/v1/telemetry.proto"], check=True)
            fds = descriptor_pb2.FileDescriptorSet.FromString(open(f.name, "rb").read())
        pool = descriptor_pool.DescriptorPool()
        for fd in fds.file:
            pool.Add(fd)
        self.Batch = message_factory.GetMessageClass(pool.FindMessageTypeByName("twinpipe.telemetry.v1.ReadingBatch"))
        self.seq = 0

    def body(self, device, model):
        self.seq += 1
        b = self.Batch()
        r = b.readings.add()
        r.device_id, r.sequence, r.timestamp_ms = device, self.seq, now_ms()
        r.speed_kmh, r.model, r.firmware, r.region = 50.0, model, "2.0.0", "probe"
        return b.SerializeToString()


def http(method, url, body=None, token=None, ctype="application/json"):
    h = {"Authorization": "Bearer " + token}
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h["Content-Type"] = ctype
    req = urllib.request.Request(url, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Follower(threading.Thread):
    """Consumes topics from their end; keeps (arrival ms, record timestamp ms, topic, key)."""

    def __init__(self, bootstrap, topics):
        super().__init__(daemon=True)
        self.c = consumer(bootstrap)
        tps = []
        for t in topics:
            ps = partitions(self.c, t)
            if not ps:
                raise SystemExit("regions_measure: no topic %s on %s" % (t, bootstrap))
            tps += [TopicPartition(t, p, OFFSET_END) for p in ps]
        self.c.assign(tps)
        self.seen = []
        self.lock = threading.Lock()
        self.stop = False

    def run(self):
        while not self.stop:
            for m in self.c.consume(num_messages=1000, timeout=0.2):
                if m.error():
                    continue
                at = now_ms()
                with self.lock:
                    self.seen.append((at, m.timestamp()[1], m.topic(), m.key()))

    def first(self, pred, since_index=0):
        with self.lock:
            for i in range(since_index, len(self.seen)):
                if pred(self.seen[i]):
                    return self.seen[i]
        return None

    def count(self):
        with self.lock:
            return len(self.seen)


def cmd_reach(a):
    reading = Reading(a.root)
    detail = Follower(a.global_kafka, ["region-a.detail", "region-b.detail"])
    mirrored = Follower(a.region_a, ["global.policies"])
    detail.start()
    mirrored.start()
    time.sleep(2)  # both assigned at their end before the first PUT
    cycles = []
    ingest = a.ingest_a + "/v1/telemetry"
    for i in range(a.cycles):
        model = MODELS[i % len(MODELS)]
        period = 1000 + 50 * (i + 1)
        name = "bench-reach-%02d" % i
        device = "veh-9%05d" % i
        body = {"selector": {"attributes": {"model": {"eq": model}}}, "level": "raw",
                "report_every_ms": period, "until": rfc3339(now_ms() + 300000)}
        d0 = detail.count()
        t_sent = now_ms()
        st, got = http("PUT", a.policy + "/v1/policies/" + name, body, token=a.operator_key)
        t_put = now_ms()
        if st not in (200, 201):
            raise SystemExit("regions_measure: PUT %s: %s %s" % (name, st, got))
        # (a): probe POSTs until the 202 carries the new period
        t_a = None
        posts = 0
        while now_ms() - t_put < a.timeout_s * 1000:
            st, got = http("POST", ingest, reading.body(device, model), token=a.token,
                           ctype="application/x-protobuf")
            posts += 1
            if st == 202 and isinstance(got, dict) and got.get("report_every_ms") == period:
                t_a = now_ms()
                break
            time.sleep(a.probe_ms / 1000)
        # (b): the first detail record at global journaled at or after the PUT
        t_b = None
        while now_ms() - t_put < a.timeout_s * 1000:
            hit = detail.first(lambda s: s[1] >= t_sent, d0)
            if hit:
                t_b = hit[0]
                break
            time.sleep(0.02)
        st, _ = http("DELETE", a.policy + "/v1/policies/" + name, token=a.operator_key)
        t_del = now_ms()
        if st not in (200, 204):
            raise SystemExit("regions_measure: DELETE %s: %s" % (name, st))
        # quiet: no detail record for quiet_ms (every device of the model reports within a period)
        while True:
            time.sleep(0.25)
            with detail.lock:
                last = detail.seen[-1][0] if len(detail.seen) > d0 else t_del
            if now_ms() - max(last, t_del) >= a.quiet_ms:
                break
            if now_ms() - t_del > a.timeout_s * 1000:
                note("cycle %d: detail still flowing %d s after DELETE" % (i, a.timeout_s))
                break
        pol = mirrored.first(lambda s: s[3] == name.encode() and s[0] >= t_sent)
        with detail.lock:
            forwarded = len(detail.seen) - d0
            last = detail.seen[-1][0] if forwarded else None
        c = {"cycle": i, "model": model, "period_ms": period, "put_ms": t_put - t_sent,
             "a_ms": None if t_a is None else t_a - t_put, "probe_posts": posts,
             "b_ms": None if t_b is None else t_b - t_put,
             "policy_in_region_ms": None if pol is None else pol[0] - t_put,
             "stop_ms": None if last is None else last - t_del, "detail_records": forwarded}
        note("cycle %d %s %d ms: a %s ms, b %s ms, policy in region-a %s ms, %d detail records, last %s ms after DELETE"
             % (i, model, period, c["a_ms"], c["b_ms"], c["policy_in_region_ms"], forwarded, c["stop_ms"]))
        cycles.append(c)
    detail.stop = mirrored.stop = True
    out = {"cycles": cycles}
    for k in ("a_ms", "b_ms", "policy_in_region_ms", "stop_ms", "put_ms"):
        xs = [c[k] for c in cycles if c[k] is not None]
        out[k] = {"n": len(xs), "missing": len(cycles) - len(xs), "p50": quantile(xs, 0.5),
                  "p99": quantile(xs, 0.99), "max": max(xs) if xs else None}
    json.dump(out, sys.stdout, indent=1)
    print()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bytes")
    b.add_argument("--region-a", required=True)
    b.add_argument("--region-b", required=True)
    b.add_argument("--global-kafka", required=True)
    b.add_argument("--global-dsn", required=True)
    b.add_argument("--fleet-url", required=True)
    b.add_argument("--w0", type=int, required=True)
    b.add_argument("--w1", type=int, required=True)
    b.add_argument("--window-ms", type=int, required=True)
    b.add_argument("--sample", type=int, default=0)
    b.add_argument("--wait-s", type=int, default=300)
    r = sub.add_parser("reach")
    r.add_argument("--root", required=True)
    r.add_argument("--region-a", required=True)
    r.add_argument("--global-kafka", required=True)
    r.add_argument("--ingest-a", required=True)
    r.add_argument("--policy", required=True)
    r.add_argument("--operator-key", required=True)
    r.add_argument("--token", required=True)
    r.add_argument("--cycles", type=int, default=20)
    r.add_argument("--probe-ms", type=int, default=50)
    r.add_argument("--quiet-ms", type=int, default=3500)
    r.add_argument("--timeout-s", type=int, default=60)
    a = ap.parse_args()
    if a.cmd == "bytes":
        cmd_bytes(a)
    else:
        cmd_reach(a)


if __name__ == "__main__":
    main()

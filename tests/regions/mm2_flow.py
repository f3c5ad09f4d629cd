#!/usr/bin/env python3
"""mm2_flow.py - MirrorMaker 2 between scripts/regions' brokers, exactly
(tests/regions/test_mm2.sh runs it with the brokers and MirrorMaker up).

Phase 1: N records with known keys to each region's `aggregates` and N/4 to
its `detail`; the global broker's `region-a.aggregates`, `region-b.aggregates`,
`region-a.detail` and `region-b.detail` must hold every one, with its key,
value and partition, exactly once.

Phase 2: the same again, produced at a steady rate while MirrorMaker is
SIGKILLed mid-flow (`scripts/regions mm2 kill`) and started again
(`scripts/regions mm2 start`). Nothing may be lost. Duplicates are allowed
only as docs/decisions/regions.md says: records mirrored before the kill and
sent again after the restart (the offsets since the last flush); each
duplicate must be a record produced before the kill, and they are counted.

Then a policy produced to global's `policies` must reach both regions as
`global.policies`, compacted like its source.

Prints one JSON line of figures; exit 0 only when every check holds.
"""
import argparse
import json
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

REGIONS = ("region-a", "region-b")
TOPICS = ("aggregates", "detail")


def fail(msg):
    print("mm2_flow: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def note(msg):
    print("mm2_flow: " + msg, file=sys.stderr, flush=True)


class Expected:
    """Every record produced: key -> (source topic, partition, value, produce time)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = {}

    def add(self, key, region, topic, partition, value, t):
        with self.lock:
            self.records[key] = (region + "." + topic, partition, value, t)


def produce(args, expected, phase, count, rate, region, stop_at=None):
    """count records to region's aggregates (and every 4th also to detail)."""
    p = Producer({"bootstrap.servers": args.bootstrap[region], "acks": "all",
                  "enable.idempotence": True, "linger.ms": 5})
    errors = []

    def report(err, msg, t):
        if err is not None:
            errors.append(str(err))
            return
        expected.add(msg.key().decode(), region, msg.topic(), msg.partition(),
                     msg.value().decode(), t)

    t0 = time.monotonic()
    for i in range(count):
        if rate:
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        for topic in TOPICS:
            if topic == "detail" and i % 4:
                continue
            key = "%s-%s-%s-%d-%06d" % (args.run_id, region, topic, phase, i)
            value = "%s|%s|%s|phase %d|%d|%s" % (args.run_id, region, topic, phase, i, "v" * (i % 50))
            t = time.time()
            p.produce(topic, key=key, value=value,
                      on_delivery=lambda err, msg, t=t: report(err, msg, t))
        p.poll(0)
    if p.flush(120) != 0:
        errors.append("%s: records still unacknowledged after 120 s" % region)
    if errors:
        fail("produce to %s: %s" % (region, errors[:3]))


class GlobalReader:
    """Reads the four mirrored topics on global from the beginning."""

    def __init__(self, args):
        self.args = args
        self.seen = {}  # key -> count
        self.bad = []
        self.dup_times = []
        topics = ["%s.%s" % (r, t) for r in REGIONS for t in TOPICS]
        admin = AdminClient({"bootstrap.servers": args.bootstrap["global"]})
        deadline = time.monotonic() + args.timeout
        while True:
            md = admin.list_topics(timeout=10)
            if all(t in md.topics and md.topics[t].partitions for t in topics):
                break
            if time.monotonic() > deadline:
                fail("mirrored topics %s not on global within %d s (has %s)"
                     % (topics, args.timeout, sorted(md.topics)))
            time.sleep(0.5)
        self.c = Consumer({"bootstrap.servers": args.bootstrap["global"],
                           "group.id": "mm2-flow-" + args.run_id, "enable.auto.commit": False,
                           "isolation.level": "read_committed"})
        self.c.assign([TopicPartition(t, p, -2) for t in topics for p in md.topics[t].partitions])

    def poll(self, expected, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            m = self.c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                fail("consume on global: %s" % m.error())
            key = m.key().decode() if m.key() is not None else None
            with expected.lock:
                want = expected.records.get(key)
            if want is None:
                # produced but its delivery report not handled yet: look again later
                time.sleep(0.05)
                with expected.lock:
                    want = expected.records.get(key)
            if want is None:
                self.bad.append("unexpected record %r on %s" % (key, m.topic()))
                continue
            topic, partition, value, t = want
            got = m.value().decode() if m.value() is not None else None
            if m.topic() != topic or m.partition() != partition or got != value:
                self.bad.append("%s: %s[%d] %r, expected %s[%d] %r"
                                % (key, m.topic(), m.partition(), got, topic, partition, value))
            n = self.seen.get(key, 0) + 1
            self.seen[key] = n
            if n > 1:
                self.dup_times.append(t)

    def wait_all(self, expected, keys, what):
        deadline = time.monotonic() + self.args.timeout
        while True:
            missing = [k for k in keys if k not in self.seen]
            if not missing:
                return
            if time.monotonic() > deadline:
                fail("%s: %d of %d records not mirrored within %d s, e.g. %s"
                     % (what, len(missing), len(keys), self.args.timeout, missing[:3]))
            self.poll(expected, 1)


def regions(args, *cmd):
    t0 = time.monotonic()
    r = subprocess.run([args.regions] + list(cmd), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    note("scripts/regions %s: %s" % (" ".join(cmd), r.stdout.strip()))
    if r.returncode != 0:
        fail("scripts/regions %s exited %d" % (" ".join(cmd), r.returncode))
    return time.monotonic() - t0


def check_policies(args):
    """global's policies -> global.policies in each region, compacted."""
    key = args.run_id + "-policy"
    value = '{"name":"%s","level":"raw"}' % key
    p = Producer({"bootstrap.servers": args.bootstrap["global"], "acks": "all"})
    p.produce("policies", key=key, value=value)
    if p.flush(60) != 0:
        fail("policy record not acknowledged by global")
    for region in REGIONS:
        admin = AdminClient({"bootstrap.servers": args.bootstrap[region]})
        deadline = time.monotonic() + args.timeout
        while "global.policies" not in admin.list_topics(timeout=10).topics:
            if time.monotonic() > deadline:
                fail("global.policies not in %s within %d s" % (region, args.timeout))
            time.sleep(0.5)
        res = ConfigResource(ConfigResource.Type.TOPIC, "global.policies")
        cfg = admin.describe_configs([res])[res].result(timeout=30)
        if cfg["cleanup.policy"].value != "compact":
            fail("%s: global.policies cleanup.policy=%s, not compact"
                 % (region, cfg["cleanup.policy"].value))
        c = Consumer({"bootstrap.servers": args.bootstrap[region], "group.id": "mm2-flow-p-" + args.run_id,
                      "enable.auto.commit": False})
        c.assign([TopicPartition("global.policies", 0, -2)])
        found = None
        while found is None:
            if time.monotonic() > deadline:
                fail("policy %s not mirrored to %s within %d s" % (key, region, args.timeout))
            m = c.poll(0.5)
            if m is not None and not m.error() and m.key() and m.key().decode() == key:
                found = m.value().decode()
        c.close()
        if found != value:
            fail("%s: global.policies has %r, expected %r" % (region, found, value))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--regions", required=True, help="path of scripts/regions")
    ap.add_argument("--region-a", required=True)
    ap.add_argument("--region-b", required=True)
    ap.add_argument("--global", dest="glob", required=True)
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--n", type=int, default=1000, help="aggregates per region and phase")
    ap.add_argument("--rate", type=int, default=150, help="phase 2 records/s per region")
    ap.add_argument("--down-s", type=float, default=5, help="MirrorMaker stays down this long")
    ap.add_argument("--timeout", type=int, default=180)
    args = ap.parse_args()
    args.bootstrap = {"region-a": args.region_a, "region-b": args.region_b, "global": args.glob}
    expected = Expected()
    figures = {"n_per_region_and_phase": args.n}

    # phase 1: steady
    t0 = time.monotonic()
    for region in REGIONS:
        produce(args, expected, 1, args.n, 0, region)
    phase1 = sorted(expected.records)
    reader = GlobalReader(args)
    reader.wait_all(expected, phase1, "phase 1")
    reader.poll(expected, 1)  # late duplicates, if any
    figures["phase1_records"] = len(phase1)
    figures["phase1_duplicates"] = sum(n - 1 for n in reader.seen.values())
    figures["phase1_s"] = round(time.monotonic() - t0, 1)
    if reader.bad:
        fail("phase 1: %d wrong records, e.g. %s" % (len(reader.bad), reader.bad[:3]))
    if figures["phase1_duplicates"]:
        fail("phase 1 (no failure): %d duplicates" % figures["phase1_duplicates"])

    # phase 2: producers run while MirrorMaker is killed and restarted
    t0 = time.monotonic()
    threads = [threading.Thread(target=produce, args=(args, expected, 2, args.n, args.rate, r))
               for r in REGIONS]
    for t in threads:
        t.start()
    # mid-flow: once global has some of phase 2
    deadline = time.monotonic() + args.timeout
    while sum(1 for k in reader.seen if "-2-" in k[len(args.run_id):]) < args.n // 5:
        if time.monotonic() > deadline:
            fail("phase 2 records did not start arriving at global within %d s" % args.timeout)
        reader.poll(expected, 0.2)
    figures["phase2_seen_at_kill"] = sum(1 for k in reader.seen if "-2-" in k[len(args.run_id):])
    regions(args, "mm2", "kill")
    kill_time = time.time()
    figures["killed_at_s"] = round(time.monotonic() - t0, 1)
    down_end = time.monotonic() + args.down_s
    while time.monotonic() < down_end:
        reader.poll(expected, 0.2)  # what was in flight before the kill
    figures["restart_s"] = round(regions(args, "mm2", "start"), 1)
    restarted = time.monotonic()
    for t in threads:
        t.join()
    phase2 = sorted(set(expected.records) - set(phase1))
    if len(phase2) != 2 * (args.n + (args.n + 3) // 4):
        fail("phase 2: %d records acknowledged, expected %d" % (len(phase2), 2 * (args.n + (args.n + 3) // 4)))
    reader.wait_all(expected, phase2, "phase 2 (after the MirrorMaker kill)")
    figures["restart_to_complete_s"] = round(time.monotonic() - restarted, 1)
    reader.poll(expected, 3)  # duplicates arriving after the last new record
    figures["phase2_records"] = len(phase2)
    figures["phase2_lost"] = 0
    figures["phase2_duplicates"] = sum(n - 1 for k, n in reader.seen.items() if k not in set(phase1))
    figures["phase1_duplicates_after_kill"] = sum(n - 1 for k, n in reader.seen.items() if k in set(phase1))
    figures["phase2_s"] = round(time.monotonic() - t0, 1)
    if reader.bad:
        fail("phase 2: %d wrong records, e.g. %s" % (len(reader.bad), reader.bad[:3]))
    late = [t for t in reader.dup_times if t > kill_time]
    if late:
        fail("%d duplicates of records produced after the kill (only records mirrored "
             "before it may come twice)" % len(late))

    t0 = time.monotonic()
    check_policies(args)
    figures["policies_s"] = round(time.monotonic() - t0, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

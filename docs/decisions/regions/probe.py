#!/usr/bin/env python3
"""probe.py - measure MirrorMaker 2 in the mm2-lab topology.

Produces numbered records to region-a and region-b (topic "aggregates" by default,
idempotent producers, acks=all) at a fixed rate, and consumes the mirrored topics
on the global cluster (region-a.aggregates, region-b.aggregates; read_committed)
at the same time. Each record's value is "<run> <region> <seq> <send time in ms>"; records of other runs
(earlier probes on the same topics) are ignored.
At the end it waits until every sent record arrived (or --drain-s passed) and prints
one JSON line: sent, received, missing, duplicates (same region+seq twice), the
replication latency (receive time - send time) p50/p99/max in ms, and the arrival
timeline in seconds since the probe started (first and last arrival, the longest
gap between two arrivals and when it ended: an outage and its recovery).

  probe.py --rate 100 --seconds 60        (per region: records/s, duration)
Needs confluent_kafka (the dev stack's cfvenv has it).
"""
import argparse
import json
import threading
import time

from confluent_kafka import Consumer, Producer

ap = argparse.ArgumentParser()
ap.add_argument("--base-port", type=int, default=39100)
ap.add_argument("--topic", default="aggregates")
ap.add_argument("--rate", type=float, default=100.0)
ap.add_argument("--seconds", type=float, default=60.0)
ap.add_argument("--drain-s", type=float, default=120.0)
ap.add_argument("--size", type=int, default=0, help="pad values to this many bytes")
args = ap.parse_args()

regions = {"region-a": args.base_port + 92, "region-b": args.base_port + 192}
glob = f"127.0.0.1:{args.base_port + 292}"
now_ms = lambda: time.time() * 1000.0
run = str(int(time.time() * 1000))

sent = {r: 0 for r in regions}
seen = {}
lat = []
arrivals = []  # receive times (s since start) of first copies
dups = 0
T0 = time.time()
stop = threading.Event()
lock = threading.Lock()


def produce(region, port):
    p = Producer({"bootstrap.servers": f"127.0.0.1:{port}", "enable.idempotence": True,
                  "linger.ms": 5, "acks": "all"})
    n = int(args.rate * args.seconds)
    t0 = time.time()
    for i in range(n):
        due = t0 + i / args.rate
        d = due - time.time()
        if d > 0:
            time.sleep(d)
        v = f"{run} {region} {i} {now_ms():.1f}"
        if args.size > len(v):
            v += " " + "x" * (args.size - len(v) - 1)
        p.produce(args.topic, key=f"cat-{i % 16}", value=v)
        p.poll(0)
    p.flush(30)
    with lock:
        sent[region] = n


def consume():
    global dups
    c = Consumer({"bootstrap.servers": glob, "group.id": f"probe-{time.time()}",
                  "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                  "enable.auto.commit": False, "topic.metadata.refresh.interval.ms": 1000})
    c.subscribe([f"^region-[ab]\\.{args.topic}$"])
    while not stop.is_set():
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        t = now_ms()
        f = m.value().decode().split(" ")
        if len(f) < 4 or f[0] != run:
            continue
        region, seq, ts = f[1:4]
        k = (region, int(seq))
        with lock:
            if k in seen:
                dups += 1
            else:
                seen[k] = True
                lat.append(t - float(ts))
                arrivals.append(t / 1000.0 - T0)
    c.close()


ct = threading.Thread(target=consume)
ct.start()
pts = [threading.Thread(target=produce, args=(r, p)) for r, p in regions.items()]
for t in pts:
    t.start()
for t in pts:
    t.join()
total = sum(sent.values())
deadline = time.time() + args.drain_s
while time.time() < deadline:
    with lock:
        if len(seen) >= total:
            break
    time.sleep(0.2)
time.sleep(2)  # late duplicates
stop.set()
ct.join()
lat.sort()
q = lambda f: round(lat[min(len(lat) - 1, int(f * len(lat)))], 1) if lat else None
missing = sum(1 for r, n in sent.items() for i in range(n) if (r, i) not in seen)
arrivals.sort()
gap, gap_end = 0.0, None
for a, b in zip(arrivals, arrivals[1:]):
    if b - a > gap:
        gap, gap_end = b - a, b
print(json.dumps({"start_epoch_ms": int(T0 * 1000), "sent": total, "received": len(seen), "missing": missing, "duplicates": dups,
                  "latency_ms": {"p50": q(0.5), "p99": q(0.99), "max": round(lat[-1], 1) if lat else None},
                  "first_arrival_s": round(arrivals[0], 2) if arrivals else None,
                  "last_arrival_s": round(arrivals[-1], 2) if arrivals else None,
                  "longest_gap_s": round(gap, 2), "gap_end_s": round(gap_end, 2) if gap_end else None}))

#!/usr/bin/env python3
"""bench/e2e_report.py - the figures of one paced fleet run of bench/e2e.

Reads (standard library only):
  SAMPLES   what bench/e2e's sampler scraped about once a second: a line
            "@ <unix seconds>" and then the lines of that sample:
            tp_ingest_readings_accepted_total (tp-ingest /metrics),
            committed (sum of projector_offsets.next_offset),
            tp_projector_lag_events{partition=..} (unconsumed journal),
            tp_projector_freshness_seconds_bucket{le=..} (cumulative histogram),
            tp_projector_flushes_total, tp_projector_twins_flushed_total,
            tp_projector_flush_duration_seconds_sum and _count (flush transaction
            time); seconds are read as milliseconds, the unit of the report,
            cpu_ingest, cpu_projector, cpu_loadgen (utime + stime from /proc/PID/stat, in
            clock ticks: CLK_TCK in the environment, default 100), cpu_pg (the
            same summed over this run's PostgreSQL backends, then their pids),
            cpu_machine (busy ticks of all cores, /proc/stat);
  SUMMARY   tp-loadgen's JSON summary (t0_unix_ms: the time axis' zero);
  TIMELINE  tp-loadgen's CSV timeline (POST p99 per second and per window).

Writes CSV (one row per sample, on loadgen's time axis): accepted/s and
committed/s (journal events: readings tp-ingest accepted, and events whose
offsets the projector committed with their twins), lag (accepted - committed:
readings accepted but not yet in PostgreSQL), the consumer's lag (journal not
yet consumed), freshness p50/p99 of the readings committed since the previous
sample, POST p99 of that second. Prints a markdown table per WINDOW seconds
and a verdict; writes KEY=VALUE lines to KV for the shell.

Quantiles from histogram differences are interpolated linearly inside their
bucket, as Prometheus' histogram_quantile does.

Lag bounded (the rule): the largest lag over the last window of the load is at
most the largest over the first window plus one period's readings (the fleet
size; at least one second's readings, for periods shorter than the flush
cycle). A projector that falls behind by more than that over the run fails
it; the flush cycle's saw-tooth does not.
The rule's windows are WINDOW seconds, or a third of a shorter run.
Sustained: tp-ingest accepted at least 95% of the offered readings/s, the
projector committed at least 90% of the accepted readings/s over the load,
and the lag stayed bounded.

usage: e2e_report.py SAMPLES SUMMARY TIMELINE DEVICES PERIOD_MS DURATION_S CSV KV [WINDOW]
"""
import csv
import json
import math
import os
import sys

CLK_TCK = float(os.environ.get("CLK_TCK", "100"))


def parse_samples(path):
    samples = []
    cur = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("@ "):
                cur = {"t": float(line[2:]), "lag": 0.0, "buckets": {}}
                samples.append(cur)
                continue
            if cur is None:
                continue
            if line.startswith("cpu_pg "):  # ticks, then the backends' pids (a+b+c)
                parts = line.split()
                if len(parts) >= 3 and parts[1].isdigit():
                    cur["cpu_pg"] = float(parts[1]) / CLK_TCK
                    cur["pg_set"] = parts[2]
                continue
            name, _, value = line.rpartition(" ")
            try:
                v = float(value)
            except ValueError:
                continue
            if name.startswith("tp_projector_lag_events"):
                cur["lag"] += v
            elif name.startswith("tp_projector_freshness_seconds_bucket"):
                le = name.split('le="', 1)[1].split('"', 1)[0]
                cur["buckets"][math.inf if le == "+Inf" else round(float(le) * 1000, 6)] = v
            elif name == "tp_ingest_readings_accepted_total":
                cur["accepted"] = v
            elif name == "committed":
                cur["committed"] = v
            elif name == "tp_projector_flushes_total":
                cur["flushes"] = v
            elif name == "tp_projector_twins_flushed_total":
                cur["twins_flushed"] = v
            elif name == "tp_projector_flush_duration_seconds_sum":
                cur["flush_ms_sum"] = v * 1000
            elif name == "tp_projector_flush_duration_seconds_count":
                cur["flush_ms_count"] = v
            elif name in ("cpu_ingest", "cpu_projector", "cpu_loadgen", "cpu_machine"):
                cur[name] = v / CLK_TCK
    # a sample a service did not answer is left out
    return [s for s in samples if "accepted" in s and "committed" in s and s["buckets"]]


def quantile(before, after, q):
    """(value or None, count); value math.inf when it falls in the +Inf bucket."""
    les = sorted(after)
    cnt = [after[le] - before.get(le, 0.0) for le in les]
    total = cnt[-1] if cnt else 0
    if total <= 0:
        return None, 0
    want = q * total
    lo, below = 0.0, 0.0
    for le, c in zip(les, cnt):
        if c >= want:
            if le == math.inf:
                return math.inf, total
            inb = c - below
            return lo + (le - lo) * ((want - below) / inb if inb > 0 else 1.0), total
        lo, below = le, c
    return math.inf, total


def fmt_ms(v):
    if v is None:
        return ""
    if v == math.inf:
        return ">30000"
    return "%.0f" % v


def main():
    a = sys.argv[1:]
    if len(a) < 8:
        sys.exit(__doc__)
    samples = parse_samples(a[0])
    summary = json.load(open(a[1]))
    devices, period_ms, duration_s = int(a[3]), int(a[4]), float(a[5])
    out_csv, out_kv = a[6], a[7]
    window = float(a[8]) if len(a) > 8 else 10.0
    t0 = summary["t0_unix_ms"] / 1000.0
    load_s = summary["seconds"]
    offered = devices * 1000.0 / period_ms
    if len(samples) < 2:
        sys.exit("e2e_report: fewer than two samples")
    for s in samples:
        s["t"] -= t0
        # committed is read first; a reading the projector committed before tp-ingest saw
        # kafka's ack is not behind
        s["lagc"] = max(0.0, s["accepted"] - s["committed"])

    post = {}  # loadgen second -> (requests, POST p99 ms)
    post_win = []  # (end of window, p99 ms)
    with open(a[2]) as f:
        for row in csv.DictReader(f):
            t = float(row["t_s"])
            k, nreq = math.ceil(t - 1e-9), int(row["requests"])
            # the run's last, partial second may share its second with the one before
            if nreq > 0 and nreq > post.get(k, (0, 0))[0]:
                post[k] = (nreq, float(row["p99_ms"]))
            if row.get("win_p99_ms"):
                post_win.append((t, float(row["win_p99_ms"])))

    # per sample
    with open(out_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "accepted_per_s", "committed_per_s", "lag", "consumer_lag",
                    "fresh_p50_ms", "fresh_p99_ms", "fresh_n", "post_p99_ms"])
        for p, s in zip(samples, samples[1:]):
            dt = s["t"] - p["t"]
            if dt <= 0:
                continue
            f50, n = quantile(p["buckets"], s["buckets"], 0.5)
            f99, _ = quantile(p["buckets"], s["buckets"], 0.99)
            pp = post.get(math.ceil(s["t"] - 1e-9), (0, None))[1] if 0 < s["t"] <= load_s + 1 else None
            w.writerow(["%.2f" % s["t"], "%.0f" % ((s["accepted"] - p["accepted"]) / dt),
                        "%.0f" % ((s["committed"] - p["committed"]) / dt), "%.0f" % s["lagc"],
                        "%.0f" % s["lag"], fmt_ms(f50).replace(">30000", "30000"),
                        fmt_ms(f99).replace(">30000", "30000"), n,
                        "" if pp is None else "%.1f" % pp])

    def at(t):  # the last sample at or before t (the first one if none)
        best = samples[0]
        for s in samples:
            if s["t"] <= t + 1e-9:
                best = s
        return best

    def delta_mean(a_, b_, k):
        n = b_.get(k + "_count", 0) - a_.get(k + "_count", 0)
        return (b_.get(k + "_sum", 0) - a_.get(k + "_sum", 0)) / n if n > 0 else None

    def cores(a_, b_, k):
        dt = b_["t"] - a_["t"]
        if k == "cpu_pg" and a_.get("pg_set") != b_.get("pg_set"):
            return None  # a backend came or went: its ticks would count wrong
        return (b_[k] - a_[k]) / dt if dt > 0 and k in a_ and k in b_ else None

    def window_row(lo, hi):
        a_, b_ = at(lo), at(hi)
        dt = b_["t"] - a_["t"]
        inside = [s for s in samples if lo - 1e-9 <= s["t"] <= hi + 1e-9] or [b_]
        f50, n = quantile(a_["buckets"], b_["buckets"], 0.5)
        f99, _ = quantile(a_["buckets"], b_["buckets"], 0.99)
        pw = [p for t, p in post_win if lo + 0.5 < t <= hi + 0.5]
        return {
            "lo": lo, "hi": hi,
            "acc": (b_["accepted"] - a_["accepted"]) / dt if dt > 0 else 0.0,
            "com": (b_["committed"] - a_["committed"]) / dt if dt > 0 else 0.0,
            "lag_max": max(s["lagc"] for s in inside), "lag_end": b_["lagc"],
            "clag_max": max(s["lag"] for s in inside),
            "f50": f50, "f99": f99, "n": n,
            "flushes": b_.get("flushes", 0) - a_.get("flushes", 0),
            "twins": b_.get("twins_flushed", 0) - a_.get("twins_flushed", 0),
            "flush_ms": delta_mean(a_, b_, "flush_ms"),
            "post": pw[0] if pw else None,
            "cpu_i": cores(a_, b_, "cpu_ingest"), "cpu_p": cores(a_, b_, "cpu_projector"),
            "cpu_l": cores(a_, b_, "cpu_loadgen"), "cpu_pg": cores(a_, b_, "cpu_pg"),
            "cpu_m": cores(a_, b_, "cpu_machine"),
        }

    rows = []
    lo = 0.0
    while lo < load_s - 0.5:
        hi = min(lo + window, load_s)
        rows.append(window_row(lo, hi))
        lo = hi
    last = samples[-1]
    drain = window_row(load_s, last["t"]) if last["t"] > load_s else None
    drained_at = next((s["t"] for s in samples if s["t"] >= load_s and s["lagc"] <= 0), None)

    print("| seconds | accepted/s | committed/s | lag max / at end (readings) | consumer lag max "
          "| freshness p50 / p99 ms (readings) | POST p99 ms | flushes (twin rows, mean ms) "
          "| cores: tp-loadgen / tp-ingest / tp-projector / its PostgreSQL backends | cores busy, "
          "all processes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows + ([drain] if drain else []):
        label = "%.0f-%.0f" % (r["lo"], r["hi"])
        if r is drain:
            label = "after the load, %.0f-%.0f" % (r["lo"], r["hi"])
        print("| %s | %.0f | %.0f | %.0f / %.0f | %.0f | %s / %s (%d) | %s | %d (%d, %s) | %s / %s / %s / %s | %s |" % (
            label, r["acc"], r["com"], r["lag_max"], r["lag_end"], r["clag_max"],
            fmt_ms(r["f50"]) or "-", fmt_ms(r["f99"]) or "-", r["n"],
            "-" if r["post"] is None else "%.1f" % r["post"], r["flushes"], r["twins"],
            "-" if r["flush_ms"] is None else "%.0f" % r["flush_ms"],
            "-" if r["cpu_l"] is None else "%.2f" % r["cpu_l"],
            "-" if r["cpu_i"] is None else "%.2f" % r["cpu_i"],
            "-" if r["cpu_p"] is None else "%.2f" % r["cpu_p"],
            "-" if r["cpu_pg"] is None else "%.2f" % r["cpu_pg"],
            "-" if r["cpu_m"] is None else "%.2f" % r["cpu_m"]))

    # the rule's windows: WINDOW seconds, or a third of a shorter run
    rw = min(window, load_s / 3.0)
    first = window_row(0.0, rw)
    lastw = window_row(load_s - rw, load_s)
    slack = offered * max(period_ms / 1000.0, 1.0)
    bounded = lastw["lag_max"] <= first["lag_max"] + slack
    s0, s1 = at(0.0), at(load_s)
    acc_rate = summary["accepted"] / load_s if load_s > 0 else 0.0
    com_rate = (s1["committed"] - s0["committed"]) / (s1["t"] - s0["t"]) if s1["t"] > s0["t"] else 0.0
    sustained = acc_rate >= 0.95 * offered and com_rate >= 0.9 * acc_rate and bounded
    f50, nall = quantile(samples[0]["buckets"], last["buckets"], 0.5)
    f99, _ = quantile(samples[0]["buckets"], last["buckets"], 0.99)
    worst = max((r for r in rows if r["f99"] is not None), key=lambda r: r["f99"], default=None)
    post99 = summary["latency_ms"]["p99"]
    print()
    print("verdict: %s devices every %g s (%.0f readings/s offered) for %.0f s: accepted %.0f/s, "
          "committed %.0f/s; lag %s (rule: the largest lag over the last %.0f s, %.0f, is at most "
          "the largest over the first %.0f s, %.0f, plus one period's readings, at least one "
          "second's, %.0f); "
          "freshness p50 %s ms, p99 %s ms over all %d readings (worst %g s window p99 %s ms); "
          "POST p99 %.1f ms; %s; sustained: %s" % (
              devices, period_ms / 1000.0, offered, load_s, acc_rate, com_rate,
              "bounded" if bounded else "NOT bounded", rw, lastw["lag_max"], rw,
              first["lag_max"], slack, fmt_ms(f50), fmt_ms(f99), nall, window,
              fmt_ms(worst["f99"]) if worst else "n/a", post99,
              "drained %.1f s after the load" % (drained_at - load_s) if drained_at is not None
              else "still %.0f behind %.0f s after the load" % (last["lagc"], last["t"] - load_s),
              "yes" if sustained else "no"))
    with open(out_kv, "w") as f:
        kv = {
            "offered": "%.0f" % offered, "accepted_rate": "%.0f" % acc_rate,
            "committed_rate": "%.0f" % com_rate, "bounded": "yes" if bounded else "no",
            "sustained": "yes" if sustained else "no",
            "lag_first": "%.0f" % first["lag_max"], "lag_last": "%.0f" % lastw["lag_max"],
            "f50": fmt_ms(f50) or "n/a", "f99": fmt_ms(f99) or "n/a",
            "f99_worst": fmt_ms(worst["f99"]) if worst else "n/a", "post99": "%.1f" % post99,
            "drain_s": "%.1f" % (drained_at - load_s) if drained_at is not None else "n/a",
            "load_s": "%.1f" % load_s,
        }
        for k, v in kv.items():
            f.write("%s=%s\n" % (k, v))


if __name__ == "__main__":
    main()

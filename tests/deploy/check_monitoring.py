"""check_monitoring.py - the Grafana dashboard and the alert rules against what the
services export today, and the compose "monitoring" profile against the chart.

  python check_monitoring.py SOURCE_DIR OUT_DIR
    writes OUT_DIR/dashboard-exprs.yml: every dashboard query as a recording rule, so
    that `promtool check rules` parses each one (tests/deploy/check_monitoring.sh)

  1. every tp_* metric a dashboard query or a rule uses is exported by a service: a
     name written in a string of a component's sources (every top-level folder but tests/,
     bench/, deploy/, docs/, scripts/), or <prefix>_http_<name> of common/http.c's
     per-server families
     (histograms: with _bucket, _sum or _count);
  2. the dashboard: valid JSON, a uid, every panel and query on the ${datasource}
     variable, the six areas of issue 15 present (ingest rate and 503s, journal lag
     per partition, freshness p99 and flush time, query latency, registry errors,
     rollup file age) and the regions' services of issue 14 (tp-policy's writes and
     readiness, tp-forward's rates, lag and latency);
  3. the rules: the alerts of issue 15 and of the regions' services (forward lag and
     failures, policy feed not ready); TwinpipeTargetDown watches exactly the jobs of
     every Deployment the chart can run (job = its component, as the ServiceMonitor
     relabels it);
  4. compose's Prometheus scrapes exactly the services of compose's default profile
     (job = service), and compose mounts the chart's own rule and dashboard files.
"""
import glob
import json
import os
import re
import sys

import yaml

src, out = sys.argv[1:3]
chart = os.path.join(src, "deploy/helm/twinpipe")
problems = []
# compose's services (its default profile) and the chart's Deployments (the regions' too)
JOBS = {"ingest", "projector", "query", "registry", "rollup"}
CHART_JOBS = JOBS | {"policy", "forward", "fleet-projector"}


def problem(msg):
    problems.append(msg)
    print("check_monitoring: " + msg, file=sys.stderr)


def exported():
    names, prefixes, suffixes = set(), set(), set()
    for d in sorted(os.listdir(src)):  # every component folder: services and libraries
        if d in ("tests", "bench", "build", "deploy", "docs", "scripts") or d.startswith("."):
            continue
        for f in glob.glob(os.path.join(src, d, "*.[ch]")):
            text = open(f).read()
            for lit in re.findall(r'"((?:[^"\\\n]|\\.)*)"', text):  # every string literal
                names |= set(re.findall(r"\b(tp_[a-z0-9_]+)", lit))
            prefixes |= set(re.findall(r'http_server_metrics\([^;]*?"(tp_[a-z]+)"', text))
    http = open(os.path.join(src, "common/http.c")).read()
    suffixes |= set(re.findall(r'"%s(_http_[a-z0-9_]+)"', http))
    names |= {p + s for p in prefixes for s in suffixes}
    return names, prefixes, suffixes


names, prefixes, suffixes = exported()
if not prefixes or not suffixes:
    problem("found no per-server HTTP families in common/http.c (http_server_metrics)")


def metrics_of(expr):
    used = set(re.findall(r"\b(tp_[a-z0-9_]+)", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", m) if re.sub(r"_(bucket|sum|count)$", "", m) in names else m
            for m in used}


def check_names(expr, where):
    for m in sorted(metrics_of(expr)):
        if m not in names:
            problem("%s uses %s, which no service exports" % (where, m))


# ---------------------------------------------------------------- rules
rules_file = os.path.join(chart, "files/prometheus/twinpipe-rules.yml")
rules = yaml.safe_load(open(rules_file))
alerts = {}
for g in rules["groups"]:
    for r in g["rules"]:
        alerts[r.get("alert") or r.get("record")] = r["expr"]
        check_names(r["expr"], "rule " + (r.get("alert") or r.get("record")))
for a in ("TwinpipeProjectorLag", "TwinpipeFreshnessP99", "TwinpipeIngest503Rate", "TwinpipeRollupStale",
          "TwinpipeDeadLetters"):
    if a not in alerts:
        problem("the rules lack %s (issue 15)" % a)
for a, needle in (("TwinpipeForwardLag", "tp_forward_lag_events"), ("TwinpipeForwardFailing", "tp_forward_failed_total"),
                  ("TwinpipePolicyFeedNotReady", "tp_policy_ready")):
    if needle not in alerts.get(a, ""):
        problem("the rules lack %s on %s (issue 14)" % (a, needle))
m = re.search(r'job=~"([^"]+)"', alerts.get("TwinpipeTargetDown", ""))
if not m or set(m.group(1).split("|")) != CHART_JOBS:
    problem("TwinpipeTargetDown does not watch exactly the jobs %s" % sorted(CHART_JOBS))
# the chart's components are the jobs: every Deployment template's component is one
comps = set()
for t in glob.glob(os.path.join(chart, "templates/*.yaml")):
    text = open(t).read()
    if "twinpipe.deployment" in text:
        comps |= set(re.findall(r'"component" "([a-z-]+)"', text))
if comps != CHART_JOBS:
    problem("the chart's Deployments are %s, the jobs the rules watch %s" % (sorted(comps), sorted(CHART_JOBS)))

# ---------------------------------------------------------------- dashboard
dash_file = os.path.join(chart, "files/grafana/twinpipe.json")
try:
    dash = json.load(open(dash_file))
except ValueError as e:
    problem("%s is not JSON: %s" % (dash_file, e))
    dash = {"panels": []}
if not dash.get("uid") or not dash.get("title"):
    problem("the dashboard has no uid or title")
if not any(v.get("name") == "datasource" and v.get("type") == "datasource"
           for v in dash.get("templating", {}).get("list", [])):
    problem("the dashboard has no datasource variable")
exprs, titles = [], []
for p in dash["panels"]:
    if p["type"] == "row":
        continue
    titles.append(p["title"])
    if p.get("datasource", {}).get("uid") != "${datasource}":
        problem("panel %r is not on ${datasource}" % p["title"])
    for t in p.get("targets", []):
        if t.get("datasource", {}).get("uid") != "${datasource}":
            problem("panel %r, query %s is not on ${datasource}" % (p["title"], t.get("refId")))
        exprs.append((p["title"], t["expr"]))
        check_names(t["expr"], "panel %r" % p["title"])
ids = [p["id"] for p in dash["panels"]]
if len(ids) != len(set(ids)):
    problem("panel ids repeat")
areas = {
    "ingest rate": "tp_ingest_readings_accepted_total",
    "ingest 503s": 'tp_ingest_http_responses_total{status="503"}',
    "journal lag per partition": "max by (partition) (tp_projector_lag_events)",
    "projector freshness p99": "histogram_quantile(0.99, sum by (le) (rate(tp_projector_freshness_seconds_bucket",
    "projector flush time": "tp_projector_flush_duration_seconds_bucket",
    "query latency": "tp_query_http_request_duration_seconds_bucket",
    "registry errors": "tp_registry_http_responses_total{status=~",
    "rollup file age": "time() - max by (instance) (max_over_time((timestamp(changes(tp_rollup_files_total",
    "policy writes": "tp_policy_writes_total",
    "policy feed readiness": "tp_policy_ready|tp_ingest_policies_ready",
    "forward rates": "tp_forward_forwarded_total",
    "forward lag per partition": "max by (partition) (tp_forward_lag_events)",
    "forward latency": "tp_forward_latency_seconds_bucket",
}
for area, needle in areas.items():
    if not any(needle in e for _, e in exprs):
        problem("the dashboard has no %s panel (%s)" % (area, needle))
with open(os.path.join(out, "dashboard-exprs.yml"), "w") as f:
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": "dashboard:panel_%d_%d" % (i, j), "expr": e.replace("$__rate_interval", "5m")}
        for i, (j, (_, e)) in enumerate(enumerate(exprs))]}]}, f)

# ---------------------------------------------------------------- compose profile
prom = yaml.safe_load(open(os.path.join(src, "deploy/compose/prometheus.yml")))
jobs = {s["job_name"] for s in prom["scrape_configs"]}
if jobs != JOBS:
    problem("compose's Prometheus scrapes %s, expected %s" % (sorted(jobs), sorted(JOBS)))
compose = yaml.safe_load(open(os.path.join(src, "docker-compose.yml")))
svc = compose.get("services", {})
for name, mounts in (("prometheus", ["./deploy/compose/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
                                     "./deploy/helm/twinpipe/files/prometheus:/etc/prometheus/rules:ro"]),
                     ("grafana", ["./deploy/helm/twinpipe/files/grafana:/var/lib/grafana/dashboards/twinpipe:ro"])):
    s = svc.get(name)
    if s is None:
        problem("docker-compose.yml has no %s service" % name)
        continue
    if s.get("profiles") != ["monitoring"]:
        problem("compose service %s is not in the monitoring profile only" % name)
    for m in mounts:
        if m not in s.get("volumes", []):
            problem("compose service %s does not mount %s" % (name, m))
for s in prom["scrape_configs"]:
    target = s["static_configs"][0]["targets"][0]
    host, _, port = target.partition(":")
    listen = svc.get(host, {}).get("environment", {}).get("TP_HTTP_LISTEN", "")
    if listen.rpartition(":")[2] != port:
        problem("compose scrapes %s but %s listens on %r" % (target, host, listen))

if problems:
    print("check_monitoring: %d problem(s)" % len(problems), file=sys.stderr)
    sys.exit(1)
print("check_monitoring: ok (%d alerts, %d dashboard queries, %d metric families known)" %
      (len(alerts), len(exprs), len(names)))

"""check_objects.py - every object `helm template` rendered, checked offline.

Run by tests/deploy/check_chart.sh with the python of the kubernetes-validate venv:

  python check_objects.py MODE RENDERED.yaml CHART_DIR OUT_DIR
    MODE = default | all | mqtt   (which values rendered it: what must be present differs;
                                   mqtt = the defaults with ingest.mqtt.enabled=true)

  1. every built-in object against the Kubernetes API schemas of the chart's lowest
     supported version and of the newest kubernetes-validate ships, strict (unknown
     fields are errors); the validator itself must refuse a known-bad object first;
  2. the Prometheus Operator objects (no schema ships for CRDs): the PrometheusRule's
     spec is the rule file's content exactly (written to OUT_DIR/prometheusrule.yml for
     `promtool check rules`), the ServiceMonitor selects the chart's metrics Services on
     their "metrics" port, the dashboard ConfigMap holds the dashboard file byte for byte;
  3. the chart's promises: non-root, read-only root filesystem, /tmp an emptyDir, probes
     on /healthz and /readyz (tp-rollup serves no /readyz: /healthz), a PDB and (ingest,
     query, registry) an HPA per Deployment, the projector at most journal.partitions
     replicas, tp-migrate a pre-install/pre-upgrade hook, tp-replay only when enabled;
  4. MQTT only when enabled: default values render no MQTT port, TP_MQTT_LISTEN or MQTT
     Service anywhere; mqtt values put the port "mqtt" on the ingest container
     (TP_MQTT_LISTEN on it) and on the ingest Service; all values on a Service of its own
     (type LoadBalancer, source-address affinity, the client's address kept, no metrics);
  5. the regions' parts (issue 14) only when enabled (all values; none with default or mqtt):
     tp-policy (operator keys and analysts' keys from the Secret), tp-forward, the fleet
     fold (tp-projector with projector.fold=fleet, its own group and topics), the
     aggregator's keys on tp-projector, policy.topics on tp-ingest, site.region on ingest,
     projector and forward; none of their TP_* keys anywhere otherwise.
Exit 0 when all hold; 1 with one line per problem.
"""
import copy
import os
import re
import sys

import kubernetes_validate as kv
import yaml

MIN_VERSION = "1.30.0"  # Chart.yaml kubeVersion (preStop sleep)
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
CORE = {"ingest", "projector", "query", "registry", "rollup"}
# the regions' Deployments (issue 14): off by default, on with all values
REGIONS = {"policy", "forward", "fleet-projector"}
HPA = {"ingest", "query", "registry"}
# where the MQTT port goes: nowhere, one more port of the ingest Service, a Service of its own
MQTT = {"default": None, "mqtt": "shared", "all": "separate"}

mode, rendered, chart, out = sys.argv[1:5]
mqtt = MQTT[mode]
regions = mode == "all"
HTTP = CORE | (REGIONS if regions else set())
problems = []


def problem(msg):
    problems.append(msg)
    print("check_objects(%s): %s" % (mode, msg), file=sys.stderr)


docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)


def component(d):
    return d["metadata"]["labels"].get("app.kubernetes.io/component")


# ---------------------------------------------------------------- 1. API schemas
versions = sorted({MIN_VERSION, kv.latest_version()})
bad = copy.deepcopy(by_kind["Deployment"][0])
bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/x"
try:
    kv.validate(bad, MIN_VERSION, strict=True)
    problem("kubernetes-validate accepted an unknown field: the schema check would be vacuous")
except kv.ValidationError:
    pass
validated = 0
for d in docs:
    if d["kind"] in CRD_KINDS:
        continue
    for v in versions:
        try:
            kv.validate(d, v, strict=True)
        except (kv.ValidationError, kv.SchemaNotFoundError, kv.InvalidSchemaError) as e:
            problem("%s %s against Kubernetes %s: %s" % (d["kind"], d["metadata"]["name"], v,
                                                          str(e).splitlines()[0]))
    validated += 1

# ---------------------------------------------------------------- 2. Prometheus Operator objects
want_crds = CRD_KINDS if mode == "all" else set()
for k in CRD_KINDS:
    if (k in by_kind) != (k in want_crds):
        problem("%s %s with %s values" % (k, "rendered" if k in by_kind else "missing", mode))
rules_file = os.path.join(chart, "files/prometheus/twinpipe-rules.yml")
for pr in by_kind.get("PrometheusRule", []):
    if pr.get("apiVersion") != "monitoring.coreos.com/v1":
        problem("PrometheusRule apiVersion %r" % pr.get("apiVersion"))
    if pr["spec"] != yaml.safe_load(open(rules_file)):
        problem("the PrometheusRule's spec differs from %s" % rules_file)
    with open(os.path.join(out, "prometheusrule.yml"), "w") as f:
        yaml.safe_dump(pr["spec"], f)
metrics_services = [s for s in by_kind.get("Service", [])
                    if s["metadata"]["labels"].get("twinpipe.io/metrics") == "true"]
for sm in by_kind.get("ServiceMonitor", []):
    sel = sm["spec"]["selector"]["matchLabels"]
    hit = {component(s) for s in metrics_services
           if all(s["metadata"]["labels"].get(k) == v for k, v in sel.items())
           and any(p["name"] == "metrics" for p in s["spec"]["ports"])}
    if hit != HTTP:
        problem("the ServiceMonitor selects the metrics Services of %s, not %s" % (sorted(hit), sorted(HTTP)))
    eps = sm["spec"]["endpoints"]
    if [e.get("port") for e in eps] != ["metrics"] or eps[0].get("path") != "/metrics":
        problem("the ServiceMonitor's endpoints are %r" % eps)
    rl = eps[0].get("relabelings", [])
    if not any(r.get("targetLabel") == "job" and
               r.get("sourceLabels") == ["__meta_kubernetes_service_label_app_kubernetes_io_component"] for r in rl):
        problem("the ServiceMonitor does not name the job after the component (the rules' job labels)")
for cm in by_kind.get("ConfigMap", []):
    if cm["metadata"]["name"].endswith("-dashboard"):
        want = open(os.path.join(chart, "files/grafana/twinpipe.json")).read()
        if cm["data"].get("twinpipe.json", "") != want.rstrip("\n"):
            problem("the dashboard ConfigMap is not files/grafana/twinpipe.json")
        if cm["metadata"]["labels"].get("grafana_dashboard") != "1":
            problem("the dashboard ConfigMap lacks the grafana_dashboard label of Grafana's sidecar")
if (mode == "all") != any(c["metadata"]["name"].endswith("-dashboard") for c in by_kind.get("ConfigMap", [])):
    problem("the dashboard ConfigMap is %s with %s values" % ("missing" if mode == "all" else "rendered", mode))

# ---------------------------------------------------------------- 3. the chart's promises
def pod_of(d):
    return d["spec"]["template"]["spec"]


workloads = by_kind.get("Deployment", []) + by_kind.get("Job", [])
deployments = {component(d): d for d in by_kind.get("Deployment", [])}
if set(deployments) != HTTP:
    problem("Deployments for %s, expected %s" % (sorted(deployments), sorted(HTTP)))
for d in workloads:
    name, pod = d["metadata"]["name"], pod_of(d)
    psc = pod.get("securityContext", {})
    if not psc.get("runAsNonRoot") or not psc.get("runAsUser"):
        problem("%s: pod not runAsNonRoot with a runAsUser" % name)
    tmp = [v for v in pod.get("volumes", []) if v["name"] == "tmp"]
    if not tmp or "emptyDir" not in tmp[0]:
        problem("%s: no emptyDir volume tmp" % name)
    for c in pod["containers"]:
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True or sc.get("allowPrivilegeEscalation") is not False \
                or sc.get("capabilities", {}).get("drop") != ["ALL"]:
            problem("%s/%s: securityContext %r" % (name, c["name"], sc))
        if {"name": "tmp", "mountPath": "/tmp"} not in c.get("volumeMounts", []):
            problem("%s/%s: /tmp not mounted" % (name, c["name"]))
        if not c.get("resources", {}).get("requests") or not c["resources"].get("limits", {}).get("memory"):
            problem("%s/%s: no resource requests and memory limit" % (name, c["name"]))

for comp, d in deployments.items():
    pod = pod_of(d)
    c = pod["containers"][0]
    ready = "/healthz" if comp == "rollup" else "/readyz"
    got = (c.get("livenessProbe", {}).get("httpGet", {}).get("path"),
           c.get("readinessProbe", {}).get("httpGet", {}).get("path"),
           c.get("startupProbe", {}).get("httpGet", {}).get("path"))
    if got != ("/healthz", ready, "/healthz"):
        problem("%s: liveness/readiness/startup probes on %r, expected /healthz, %s, /healthz" % (comp, got, ready))
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    want_ports = {"http", "metrics"} | ({"mqtt"} if comp == "ingest" and mqtt else set())
    if set(ports) != want_ports:
        problem("%s: container ports %r, expected %s" % (comp, ports, sorted(want_ports)))
    pdbs = [p for p in by_kind.get("PodDisruptionBudget", [])
            if p["spec"]["selector"]["matchLabels"] == d["spec"]["selector"]["matchLabels"]]
    if len(pdbs) != 1:
        problem("%s: %d PodDisruptionBudgets select it" % (comp, len(pdbs)))
    if d["spec"]["selector"]["matchLabels"].items() - d["spec"]["template"]["metadata"]["labels"].items():
        problem("%s: the selector does not match the pod's labels" % comp)
    svc = [s for s in by_kind.get("Service", []) if s["spec"]["selector"] == d["spec"]["selector"]["matchLabels"]]
    main = [s for s in svc if "http" in {p["targetPort"] for p in s["spec"]["ports"]}]
    want_targets = {"http", "metrics"} | ({"mqtt"} if comp == "ingest" and mqtt == "shared" else set())
    if len(main) != 1 or {p["targetPort"] for p in main[0]["spec"]["ports"]} != want_targets:
        problem("%s: not exactly one Service on its ports %s" % (comp, sorted(want_targets)))
    others = [s for s in svc if s not in main]
    if comp == "ingest" and mqtt == "separate":
        if len(others) != 1:
            problem("ingest: %d MQTT Services, expected 1" % len(others))
        else:
            m = others[0]
            sp = m["spec"]
            if [(p["name"], p["targetPort"], p["port"]) for p in sp["ports"]] != [("mqtt", "mqtt", 1883)]:
                problem("ingest: the MQTT Service's ports are %r" % sp["ports"])
            if (sp.get("type"), sp.get("externalTrafficPolicy"), sp.get("sessionAffinity")) != \
                    ("LoadBalancer", "Local", "ClientIP"):
                problem("ingest: the MQTT Service is %r, expected a LoadBalancer with externalTrafficPolicy "
                        "Local and sessionAffinity ClientIP" % ((sp.get("type"), sp.get("externalTrafficPolicy"),
                                                                  sp.get("sessionAffinity")),))
            if m["metadata"]["labels"].get("twinpipe.io/metrics"):
                problem("ingest: the MQTT Service has no metrics port but the ServiceMonitor's label")
    elif others:
        problem("%s: Services %s besides its own" % (comp, [s["metadata"]["name"] for s in others]))
    listen = {e["name"]: e.get("value") for e in c.get("env", [])}.get("TP_MQTT_LISTEN")
    want_listen = "0.0.0.0:%s" % ports.get("mqtt") if comp == "ingest" and mqtt else None
    if listen != want_listen:
        problem("%s: TP_MQTT_LISTEN=%r, expected %r" % (comp, listen, want_listen))

hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in by_kind.get("HorizontalPodAutoscaler", [])}
want_hpa = HPA if mode != "all" else HPA - {"query"}  # all-values turns query's off
for comp in sorted(HPA):
    d = deployments.get(comp)
    if d is None:
        continue
    name = d["metadata"]["name"]
    if (name in hpas) != (comp in want_hpa):
        problem("%s: HPA %s" % (comp, "present" if name in hpas else "missing"))
    if name in hpas and "replicas" in d["spec"]:
        problem("%s: both an HPA and spec.replicas (each upgrade would reset the scale)" % comp)
    if name in hpas:
        kinds = [("Resource", m["resource"]["name"]) if m["type"] == "Resource" else
                 (m["type"], m.get("pods", {}).get("metric", {}).get("name"))
                 for m in hpas[name]["spec"]["metrics"]]
        want = [("Resource", "cpu")]
        if comp == "ingest" and mode == "all":
            want.append(("Pods", "tp_ingest_producer_queue_depth"))
        if kinds != want:
            problem("%s: HPA metrics %r, expected %r" % (comp, kinds, want))
for h in hpas:
    if h not in {d["metadata"]["name"] for d in deployments.values()}:
        problem("HPA %s scales no Deployment of the chart" % h)


def env_of(d):
    return {e["name"]: e.get("value") for e in pod_of(d)["containers"][0].get("env", [])}


pj = deployments.get("projector")
if pj:
    parts = int(env_of(pj)["TP_JOURNAL_PARTITIONS"])
    if pj["spec"]["replicas"] > parts:
        problem("projector: %d replicas for %d partitions" % (pj["spec"]["replicas"], parts))
    st = pj["spec"].get("strategy", {})
    if st.get("rollingUpdate", {}).get("maxSurge") != 0:
        problem("projector: rolling update may surge (%r): the old pod's final flush comes first" % st)

jobs = {component(j): j for j in by_kind.get("Job", [])}
mig = jobs.get("migrate")
if mig is None:
    problem("no tp-migrate Job")
else:
    ann = mig["metadata"].get("annotations", {})
    if ann.get("helm.sh/hook") != "pre-install,pre-upgrade":
        problem("tp-migrate Job is not a pre-install,pre-upgrade hook: %r" % ann)
    if pod_of(mig)["containers"][0]["command"] != ["tp-migrate"]:
        problem("the migrate Job does not run tp-migrate")
if ("replay" in jobs) != (mode == "all"):
    problem("tp-replay Job %s with %s values (replay.enabled)" % ("rendered" if "replay" in jobs else "missing", mode))
for comp, d in list(deployments.items()) + list(jobs.items()):
    cmd = pod_of(d)["containers"][0]["command"]
    want = {"migrate": "tp-migrate", "fleet-projector": "tp-projector"}.get(comp, "tp-" + comp)
    if cmd != [want]:
        problem("%s runs %r, expected [%r]" % (comp, cmd, want))

# ---------------------------------------------------------------- 5. regions (issue 14)
def secret_ref(d, name):
    for e in pod_of(d)["containers"][0].get("env", []):
        if e["name"] == name:
            return e.get("valueFrom", {}).get("secretKeyRef", {}).get("key")
    return None


REGION_KEYS = {  # the env a component gets only with the regions' values on
    "ingest": {"TP_POLICY_TOPICS": "global.policies,policies", "TP_SITE_REGION": "region-a"},
    "projector": {"TP_SITE_REGION": "region-a", "TP_AGGREGATE_ENABLED": "true",
                  "TP_AGGREGATE_CATEGORY": "model,firmware,region", "TP_AGGREGATE_WINDOW_MS": "30000",
                  "TP_AGGREGATE_GRACE_MS": "5000", "TP_AGGREGATE_TOPIC": "aggregates"},
    "forward": {"TP_SITE_REGION": "region-a", "TP_POLICY_TOPICS": "global.policies,policies",
                "TP_FORWARD_GROUP": "tp-forward", "TP_FORWARD_TOPIC": "detail"},
    "fleet-projector": {"TP_PROJECTOR_FOLD": "fleet", "TP_PROJECTOR_TOPICS": r"^region-.*\.aggregates$",
                        "TP_PROJECTOR_GROUP": "tp-projector-fleet"},
    "policy": {"TP_POLICY_TOPIC": "policies", "TP_POLICY_REPLICATION": "3"},
}
for comp, keys in REGION_KEYS.items():
    d = deployments.get(comp)
    if d is None:
        continue
    env = env_of(d)
    for k, want in keys.items():
        got = env.get(k)
        if regions and got != want:
            problem("%s: %s=%r, expected %r" % (comp, k, got, want))
        if not regions and k in env:
            problem("%s: %s=%r with %s values (the regions' parts are off)" % (comp, k, got, mode))
for comp in sorted(set(deployments) - set(REGION_KEYS)):
    for k in ("TP_SITE_REGION", "TP_POLICY_TOPICS", "TP_POLICY_TOPIC") + tuple(
            e for e in env_of(deployments[comp]) if e.startswith("TP_AGGREGATE_")):
        if k in env_of(deployments[comp]):
            problem("%s: %s set (only ingest, projector, forward and policy take it)" % (comp, k))
pol = deployments.get("policy")
if pol:
    want = {"TP_POLICY_OPERATOR_KEYS": "policy-operator-keys", "TP_POLICY_ANALYST_KEYS": "query-api-keys"}
    for k, key in want.items():
        if secret_ref(pol, k) != key:
            problem("policy: %s from the Secret's %r, expected %r" % (k, secret_ref(pol, k), key))
    if "TP_POLICY_OPERATOR_KEYS" in {k for k, v in env_of(pol).items() if v is not None}:
        problem("policy: operator keys as a literal")
fp, pj = deployments.get("fleet-projector"), deployments.get("projector")
if fp:
    fe = env_of(fp)
    if pj and fe.get("TP_PROJECTOR_GROUP") == env_of(pj).get("TP_PROJECTOR_GROUP"):
        problem("fleet-projector: the twin projector's consumer group")
    for k in ("TP_JOURNAL_TOPIC", "TP_REGISTRY_URL", "TP_AGGREGATE_ENABLED"):
        if k in fe:
            problem("fleet-projector: %s set (the fleet fold does not use it)" % k)
    if fp["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxSurge") != 0:
        problem("fleet-projector: rolling update may surge: the old pod's final flush comes first")
fw = deployments.get("forward")
if fw and fw["spec"]["replicas"] > int(env_of(fw)["TP_JOURNAL_PARTITIONS"]):
    problem("forward: more replicas than journal partitions")
secrets = [s for s in by_kind.get("Secret", [])]
for sec in secrets:
    if ("policy-operator-keys" in sec.get("stringData", {})) != regions:
        problem("the Secret %s policy-operator-keys with %s values" %
                ("holds" if not regions else "lacks", mode))

text = open(rendered).read()
if not mqtt and re.search(r"mqtt|1883", text, re.I):
    problem("MQTT rendered with MQTT off: %s" % sorted(set(re.findall(r".*(?:mqtt|1883).*", text, re.I)))[:5])
if problems:
    print("check_objects(%s): %d problem(s)" % (mode, len(problems)), file=sys.stderr)
    sys.exit(1)
print("check_objects(%s): ok: %d objects, %d validated against Kubernetes %s (strict)" %
      (mode, len(docs), validated, " and ".join(versions)))

"""check_chart_config.py - the chart's configuration against the services' own config
tables (tests/deploy/config_tables.py), as tests/compose/check_compose.sh does for
docker-compose.yml, but per program:

  python check_chart_config.py BIN_DIR SOURCE_DIR DEFAULT.yaml ALL.yaml

For every container the chart renders (default values and ci/all-values.yaml):
  1. every TP_* variable is a row of that program's table (or TP_KAFKA_* when the
     program passes kafka.* to librdkafka); the only other variable is libpq's PGPASSWORD;
  2. every literal value fits the row: ints, sizes and durations are plain numbers in the
     range, enums one of their names, bools are true/false, strings non-empty unless the
     default is;
  3. with the default values, every literal equals the table's default, except the
     deployment-specific rows of DEPLOYMENT below (each with its reason);
  4. what must agree across services agrees: the journal topic (and tp-query's
     query.topic), its partitions, the projector group (query.projector_group,
     replay.group; the fleet fold has a group of its own), the site's region;
     listen ports are the container's ports;
  5. credentials come only from Secrets (secretKeyRef), never as literals;
  6. terminationGracePeriodSeconds is longer than preStop + the service's drain
     (DRAIN below; read from the sources and tables where they define it).
Exit 0 when all hold; 1 with one line per problem.
"""
import glob
import re
import sys

import yaml

from config_tables import config_table

bin_dir, source_dir, default_file, all_file = sys.argv[1:5]

# rows whose chart value differs from the service's default on purpose
DEPLOYMENT = {
    "TP_HTTP_LISTEN": "the services listen on 127.0.0.1 by default; a pod listens on 0.0.0.0",
    "TP_HTTP_METRICS_LISTEN": "/metrics on its own port, off the public one",
    "TP_KAFKA_BOOTSTRAP_SERVERS": "the cluster's Kafka (values kafka.bootstrapServers)",
    "TP_PG_DSN": "the cluster's PostgreSQL (values postgresql.*)",
    "TP_REGISTRY_URL": "the release's tp-registry (unset = no registry by default)",
    "TP_ROLLUP_DIR": "the lake volume's mount",
    "TP_MIGRATIONS_DIR": "the image's folder (the default is the build's source tree)",
    "TP_JOURNAL_REPLICATION": "a production Kafka keeps 3 copies of every event",
    "TP_MQTT_LISTEN": "MQTT is off by default (ingest.mqtt.enabled); on, a pod listens on 0.0.0.0",
}
# rows that hold credentials: only from Secrets
SECRET_ROWS = {"TP_AUTH_SECRET", "TP_QUERY_API_KEYS", "TP_QUERY_CURSOR_SECRET", "TP_REGISTRY_CREDENTIALS",
               "TP_REGISTRY_USER", "TP_REGISTRY_PASSWORD", "TP_POLICY_OPERATOR_KEYS", "TP_POLICY_ANALYST_KEYS"}
REQUIRED_SECRETS = {
    "tp-ingest": {"TP_AUTH_SECRET", "TP_REGISTRY_USER", "TP_REGISTRY_PASSWORD"},
    "tp-projector": {"TP_REGISTRY_USER", "TP_REGISTRY_PASSWORD"},
    "tp-rollup": {"TP_REGISTRY_USER", "TP_REGISTRY_PASSWORD"},
    "tp-replay": {"TP_REGISTRY_USER", "TP_REGISTRY_PASSWORD"},
    "tp-query": {"TP_QUERY_API_KEYS", "TP_QUERY_CURSOR_SECRET"},
    "tp-registry": {"TP_REGISTRY_CREDENTIALS"},
    "tp-policy": {"TP_POLICY_OPERATOR_KEYS"},
}
BOOL = {"true", "false", "1", "0", "yes", "no", "on", "off"}

problems = []


def problem(msg):
    problems.append(msg)
    print("check_chart_config: " + msg, file=sys.stderr)


tables = {}


def table(program):
    if program not in tables:
        tables[program] = config_table(bin_dir, program)
    return tables[program]


def ms_default(program, env):
    return int(table(program)[0][env].default) / 1000.0


def ingest_drain_s():
    """tp-ingest's SIGTERM drain: a config row when there is one, else the literal ms
    its main passes to ingest_drain() (ingest/README.md "Shutdown": 30 s)."""
    for env, row in table("tp-ingest")[0].items():
        if "DRAIN" in env:
            return int(row.default) / (1000.0 if env.endswith("_MS") else 1.0)
    for f in glob.glob(source_dir + "/ingest/*.c"):
        m = re.search(r"ingest_drain\([^,()]+,\s*(\d+)\s*\)", open(f).read())
        if m:
            return int(m.group(1)) / 1000.0
    raise RuntimeError("cannot find tp-ingest's drain time (a drain row or ingest_drain(ing, <ms>))")


def producer_timeout_s():
    """The journal producer's message.timeout.ms when kafka.message.timeout.ms is not set: the
    literal journal/producer.c sets (a delivery report comes back within it)."""
    m = re.search(r'"message\.timeout\.ms",\s*"(\d+)"', open(source_dir + "/journal/producer.c").read())
    if not m:
        raise RuntimeError("cannot find the producer's message.timeout.ms in journal/producer.c")
    return int(m.group(1)) / 1000.0


# seconds a service may take between SIGTERM and its exit
DRAIN = {
    "tp-ingest": ingest_drain_s,
    # waiting read-your-writes requests are answered at once; statements run to their timeout
    "tp-query": lambda: ms_default("tp-query", "TP_PG_STATEMENT_TIMEOUT_MS"),
    # a schema compilation runs to its timeout
    "tp-registry": lambda: max(ms_default("tp-registry", "TP_REGISTRY_COMPILE_TIMEOUT_MS"),
                               ms_default("tp-registry", "TP_PG_STATEMENT_TIMEOUT_MS")),
    # the final flush of the twins in memory (no key bounds it): at least a minute
    "tp-projector": lambda: 60.0,
    # open Parquet files are closed, fsynced, renamed and committed (no key bounds it)
    "tp-rollup": lambda: 60.0,
    # the write in progress: Kafka's acknowledgement, then its read-back
    "tp-policy": lambda: ms_default("tp-policy", "TP_POLICY_PRODUCE_TIMEOUT_MS") +
    ms_default("tp-policy", "TP_POLICY_READ_YOUR_WRITES_MS"),
    # every outstanding delivery report, then the commit and leaving the group
    "tp-forward": lambda: producer_timeout_s() + 5.0,
}


def containers(path):
    for d in yaml.safe_load_all(open(path)):
        if not d or d["kind"] not in ("Deployment", "Job"):
            continue
        pod = d["spec"]["template"]["spec"]
        for c in pod["containers"]:
            yield d, pod, c


def check(path, mode):
    shared = {}
    for d, pod, c in containers(path):
        prog = c["command"][0]
        where = "%s (%s, %s values)" % (d["metadata"]["name"], prog, mode)
        try:
            rows, passthrough = table(prog)
        except RuntimeError as e:
            problem("%s: %s" % (where, e))
            continue
        env = {}
        for e in c.get("env", []):
            name = e["name"]
            if name in env:
                problem("%s: %s set twice" % (where, name))
            env[name] = e
            if name == "PGPASSWORD":
                continue
            row = rows.get(name)
            if row is None and not (passthrough and name.startswith("TP_KAFKA_")):
                problem("%s: %s is not in %s's config table" % (where, name, prog))
                continue
            if "value" not in e:
                if "secretKeyRef" not in e.get("valueFrom", {}):
                    problem("%s: %s neither a value nor from a Secret" % (where, name))
                continue
            v = e["value"]
            if name in SECRET_ROWS:
                problem("%s: %s is a literal: credentials come from Secrets" % (where, name))
            if row is None:
                continue
            if row.type in ("int", "size", "duration"):
                # sizes and durations also take units (4MiB, 30s): the chart writes plain numbers
                if not re.fullmatch(r"-?\d+", v):
                    problem("%s: %s=%r is not a plain %s" % (where, name, v, row.type))
                elif not row.min <= int(v) <= row.max:
                    problem("%s: %s=%s outside %d..%d" % (where, name, v, row.min, row.max))
            elif row.type == "number":
                if not re.fullmatch(r"-?\d+(\.\d+)?", v):
                    problem("%s: %s=%r is not a number" % (where, name, v))
                elif not row.min <= float(v) <= row.max:
                    problem("%s: %s=%s outside %d..%d" % (where, name, v, row.min, row.max))
            elif row.type == "enum" and v.lower() not in row.values:
                problem("%s: %s=%r is not one of %s" % (where, name, v, ", ".join(row.values)))
            elif row.type == "bool" and v.lower() not in BOOL:
                problem("%s: %s=%r is not a bool" % (where, name, v))
            elif row.type == "string" and v == "" and row.default != "":
                problem("%s: %s is empty" % (where, name))
            if mode == "default" and name not in DEPLOYMENT and v != row.default:
                problem("%s: %s=%r but %s's default is %r (make it the default, or say in "
                        "DEPLOYMENT why the chart differs)" % (where, name, v, prog, row.default))
        required = REQUIRED_SECRETS.get(prog, set())
        if env.get("TP_PROJECTOR_FOLD", {}).get("value") == "fleet":
            required = set()  # the fleet fold decodes with the built-in descriptor: no registry
        for name in sorted(required - set(env)):
            problem("%s: %s missing" % (where, name))
        for name in required & set(env):
            if "secretKeyRef" not in env[name].get("valueFrom", {}):
                problem("%s: %s not from a Secret" % (where, name))
        if "TP_PG_DSN" in rows and "TP_PG_DSN" not in env:
            problem("%s: no TP_PG_DSN" % where)
        if "TP_PG_DSN" in env and "value" in env["TP_PG_DSN"] and "PGPASSWORD" not in env:
            problem("%s: TP_PG_DSN without PGPASSWORD from a Secret" % where)
        if "value" in env.get("TP_PG_DSN", {}) and "password" in env["TP_PG_DSN"]["value"]:
            problem("%s: a password in TP_PG_DSN" % where)

        val = {k: e.get("value") for k, e in env.items()}
        fleet = val.get("TP_PROJECTOR_FOLD") == "fleet"
        for k, sk in (("TP_JOURNAL_TOPIC", "topic"), ("TP_QUERY_TOPIC", "topic"),
                      ("TP_JOURNAL_PARTITIONS", "partitions"), ("TP_PROJECTOR_GROUP", "group"),
                      ("TP_QUERY_PROJECTOR_GROUP", "group"), ("TP_REPLAY_GROUP", "group"),
                      ("TP_KAFKA_BOOTSTRAP_SERVERS", "bootstrap"), ("TP_SITE_REGION", "region")):
            if k in val and not (fleet and sk == "group"):
                shared.setdefault(sk, {})[where + " " + k] = val[k]
        # the fleet fold and tp-forward are consumer groups of their own
        for k in ("TP_FORWARD_GROUP",) + (("TP_PROJECTOR_GROUP",) if fleet else ()):
            if k in val:
                shared.setdefault("own groups", {})[where + " " + k] = val[k]

        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        for k, port in (("TP_HTTP_LISTEN", "http"), ("TP_HTTP_METRICS_LISTEN", "metrics"),
                        ("TP_MQTT_LISTEN", "mqtt")):
            if port in ports or k in val:
                got = (val.get(k) or "").rpartition(":")[2]
                if got != str(ports.get(port)):
                    problem("%s: %s=%r but the container's %s port is %s" % (where, k, val.get(k), port, ports.get(port)))

        if d["kind"] == "Deployment":
            grace = pod.get("terminationGracePeriodSeconds", 30)
            stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
            try:
                drain = DRAIN[prog]()
            except (KeyError, RuntimeError) as e:
                problem("%s: no drain time known: %s" % (where, e))
                continue
            if not grace > stop + drain:
                problem("%s: terminationGracePeriodSeconds %s is not longer than preStop %s s + drain %g s"
                        % (where, grace, stop, drain))
    own = shared.pop("own groups", {})
    for where_k, g in own.items():
        if g in shared.get("group", {}).values() or list(own.values()).count(g) > 1:
            problem("%s=%r is another consumer group's (%s)" % (where_k, g, mode))
    for what, seen in shared.items():
        if len(set(seen.values())) != 1:
            problem("%s values disagree (%s): %s" % (what, mode, seen))
    return shared


for f, mode in ((default_file, "default"), (all_file, "all")):
    check(f, mode)
if problems:
    print("check_chart_config: %d problem(s)" % len(problems), file=sys.stderr)
    sys.exit(1)
print("check_chart_config: ok (%s against their config tables)" % ", ".join(sorted(tables)))

"""config_tables.py - the services' config tables, the source of truth the deploy checks
compare the chart with (tests/deploy/check_chart_config.py).

One function, config_table(), reads a table from the built program itself:
`tp-<service> --config-json` prints every row of the table (common/config.c: key, type,
environment variable, default, range or allowed names, unit).
"""
import json
import subprocess


class Row:
    def __init__(self, key, type_, env, default, lo=None, hi=None, values=None, unit=None):
        self.key, self.type, self.env, self.default, self.min, self.max = key, type_, env, default, lo, hi
        self.values, self.unit = values, unit

    def __repr__(self):
        return "Row(%s %s %r)" % (self.env, self.type, self.default)


def config_table(bin_dir, program):
    """{env name: Row} of a program's config table, and whether it passes kafka.* through.

    Raises RuntimeError when the program is missing or its table cannot be read: a
    check that cannot read its source of truth must fail, not pass."""
    try:
        out = subprocess.run(["%s/%s" % (bin_dir, program), "--config-json"], capture_output=True,
                             text=True, timeout=30).stdout
    except OSError as e:
        raise RuntimeError("cannot run %s/%s --config-json: %s" % (bin_dir, program, e))
    try:
        t = json.loads(out)
    except ValueError as e:
        raise RuntimeError("%s --config-json printed no readable config table: %s" % (program, e))
    rows = {}
    for k in t.get("keys", []):
        rows[k["env"]] = Row(k["key"], k["type"], k["env"],
                             "" if k.get("default") is None else k["default"], k.get("min"),
                             k.get("max"), k.get("values"), k.get("unit"))
    if not rows:
        raise RuntimeError("%s --config-json printed no rows" % program)
    return rows, t.get("passthrough") == "kafka."

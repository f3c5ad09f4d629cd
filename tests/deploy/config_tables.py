"""config_tables.py - the services' config tables, the source of truth the deploy checks
compare the chart with (tests/deploy/check_chart_config.py).

One function, config_table(), reads a table from the built program itself: today by
parsing `tp-<service> --help`, which prints every row of the table (common/config.c:
key, type, environment variable, default, range). When the services print their table
in a machine-readable form, only this function changes.
"""
import re
import subprocess


class Row:
    def __init__(self, key, type_, env, default, lo=None, hi=None):
        self.key, self.type, self.env, self.default, self.min, self.max = key, type_, env, default, lo, hi

    def __repr__(self):
        return "Row(%s %s %r)" % (self.env, self.type, self.default)


def config_table(bin_dir, program):
    """{env name: Row} of a program's config table, and whether it passes kafka.* through.

    Raises RuntimeError when the program is missing or its table cannot be read: a
    check that cannot read its source of truth must fail, not pass."""
    try:
        out = subprocess.run(["%s/%s" % (bin_dir, program), "--help"], capture_output=True,
                             text=True, timeout=30).stdout
    except OSError as e:
        raise RuntimeError("cannot run %s/%s --help: %s" % (bin_dir, program, e))
    rows, cur, passthrough = {}, None, False
    for line in out.splitlines():
        m = re.match(r"^  --([a-z0-9_.]+) \((string|int|bool), (TP_[A-Z0-9_]+)\)$", line)
        if m:
            cur = Row(m.group(1), m.group(2), m.group(3), None)
            rows[cur.env] = cur
            continue
        if re.match(r"^  --kafka\.<property>=value", line):
            passthrough = True
            cur = None
            continue
        m = re.match(r"^      default: (.*)$", line)
        if m and cur is not None:
            d = m.group(1)
            r = re.match(r"^(.*), range (-?\d+)\.\.(-?\d+)$", d)
            if r:
                d, cur.min, cur.max = r.group(1), int(r.group(2)), int(r.group(3))
            cur.default = "" if d == "(unset)" else d
            cur = None
    if not rows or any(r.default is None for r in rows.values()):
        raise RuntimeError("%s --help printed no readable config table" % program)
    return rows, passthrough

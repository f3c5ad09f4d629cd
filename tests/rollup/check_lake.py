"""Independent check of a tp-rollup output tree with DuckDB and pyarrow.

usage: check_lake.py LAKE_DIR EXPECTED_JSON

EXPECTED_JSON is a JSON array of rows as the test journaled them (column
name -> value, absent = null). Checks, exactly:
  - DuckDB reads the whole Hive-partitioned tree (hive_partitioning=true):
    row count, and every value of every row, by (journal_partition,
    journal_offset); column types and nullability;
  - no (device_id, sequence) appears twice; no temporary files are left;
  - each file's name is <topic>+<partition>+<first offset>.parquet with the
    smallest journal_offset in it, and all its rows fall in the date/hour of
    its folder;
  - footer statistics (min, max, null count) of every column chunk equal the
    real per-row-group values computed by pyarrow.
Prints one line per problem and exits 1, or prints "ok ..." and exits 0.
"""
import json
import math
import os
import re
import sys

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq

lake, expected_path = sys.argv[1], sys.argv[2]
expected = json.load(open(expected_path))
problems = []

EXPECTED_TYPES = {
    "device_id": "VARCHAR", "sequence": "BIGINT", "device_time": "TIMESTAMP WITH TIME ZONE",
    "ingest_time": "TIMESTAMP WITH TIME ZONE", "journal_partition": "BIGINT",
    "journal_offset": "BIGINT", "speed_kmh": "DOUBLE", "location_lat": "DOUBLE",
    "model": "VARCHAR", "extra_metrics": "VARCHAR", "date": "DATE",
}
# hour=HH is zero-padded (Hive/Kafka Connect convention): DuckDB types it BIGINT for
# 10..23 and VARCHAR for 00..09, so its value is checked per file instead of its type.
REQUIRED = {"device_id", "sequence", "device_time", "ingest_time", "journal_partition",
            "journal_offset"}

con = duckdb.connect()
glob = os.path.join(lake, "**", "*.parquet")
rel = con.sql(f"SELECT * FROM read_parquet('{glob}', hive_partitioning=true)")
types = dict(zip(rel.columns, [str(t) for t in rel.types]))
for col, t in EXPECTED_TYPES.items():
    if types.get(col) != t:
        problems.append(f"column {col}: type {types.get(col)}, expected {t}")

cols = [c for c in rel.columns if c not in ("date", "hour", "device_time", "ingest_time")]
sql = (f"SELECT {', '.join(cols)}, epoch_ms(device_time) AS device_time_ms "
       f"FROM read_parquet('{glob}', hive_partitioning=true) "
       "ORDER BY journal_partition, journal_offset")
got = [dict(zip(cols + ["device_time"], row)) for row in con.sql(sql).fetchall()]
want = sorted(expected, key=lambda r: (r["journal_partition"], r["journal_offset"]))
if len(got) != len(want):
    problems.append(f"{len(got)} rows in the lake, {len(want)} journaled")


def same(a, b):
    if isinstance(a, float) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


for g, w in zip(got, want):
    for col in set(g) | set(w):
        if col not in g:
            problems.append(f"offset {w['journal_offset']}: column {col} missing from the lake")
            continue
        if not same(g[col], w.get(col)):
            problems.append(f"partition {w['journal_partition']} offset {w['journal_offset']}: "
                            f"{col} = {g[col]!r}, journaled {w.get(col)!r}")

dups = con.sql(f"SELECT device_id, sequence, count(*) FROM read_parquet('{glob}') "
               "GROUP BY ALL HAVING count(*) > 1").fetchall()
if dups:
    problems.append(f"duplicate (device_id, sequence): {dups[:5]}")

files = 0
for dirpath, _, names in os.walk(lake):
    for name in names:
        path = os.path.join(dirpath, name)
        if name.endswith(".tmp"):
            problems.append(f"temporary file left: {path}")
            continue
        m = re.fullmatch(r"(.+)\+(\d+)\+(\d{20})\.parquet", name)
        if not m:
            problems.append(f"unexpected file name {path}")
            continue
        files += 1
        t = pq.read_table(path)
        if t.num_rows == 0:
            problems.append(f"{path}: empty file")
            continue
        if int(m.group(3)) != pc.min(t["journal_offset"]).as_py():
            problems.append(f"{path}: name says first offset {m.group(3)}, "
                            f"rows start at {pc.min(t['journal_offset']).as_py()}")
        if set(t["journal_partition"].to_pylist()) != {int(m.group(2))}:
            problems.append(f"{path}: rows of other partitions")
        hm = re.search(r"date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})", dirpath)
        hours = con.sql(f"SELECT DISTINCT strftime(device_time AT TIME ZONE 'UTC', '%Y-%m-%d %H') "
                        f"FROM read_parquet('{path}')").fetchall()
        if not hm or hours != [(f"{hm.group(1)} {hm.group(2)}",)]:
            problems.append(f"{path}: rows of hours {hours} in folder {dirpath}")
        schema = pq.read_schema(path)
        for col in REQUIRED:
            if schema.field(col).nullable:
                problems.append(f"{path}: {col} is nullable")
        meta = pq.ParquetFile(path).metadata
        for rg in range(meta.num_row_groups):
            table = pq.ParquetFile(path).read_row_group(rg)
            for ci in range(meta.num_columns):
                cm = meta.row_group(rg).column(ci)
                name_ = cm.path_in_schema
                col = table.column(name_)
                st = cm.statistics
                nulls = col.null_count
                if st is None or not st.has_null_count or st.null_count != nulls:
                    problems.append(f"{path} rg {rg} {name_}: null_count "
                                    f"{st.null_count if st else None}, real {nulls}")
                if nulls == len(col):
                    continue
                vals = [v for v in col.to_pylist() if v is not None and
                        not (isinstance(v, float) and math.isnan(v))]
                if not vals:
                    continue
                if isinstance(vals[0], str):
                    lo = min(vals, key=lambda s: s.encode())
                    hi = max(vals, key=lambda s: s.encode())
                else:
                    lo, hi = min(vals), max(vals)
                if st is None or not st.has_min_max:
                    problems.append(f"{path} rg {rg} {name_}: no min/max statistics")
                elif not (st.min == lo and st.max == hi):
                    problems.append(f"{path} rg {rg} {name_}: stats {st.min!r}..{st.max!r}, "
                                    f"real {lo!r}..{hi!r}")

for p in problems[:50]:
    print(p)
if problems:
    sys.exit(1)
print(f"ok {len(got)} rows in {files} files")

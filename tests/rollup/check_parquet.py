#!/usr/bin/env python3
"""check_parquet.py - verify a Parquet file written by rollup/parquet.c with
independent readers (pyarrow and DuckDB), against the expected-rows file the C
test wrote alongside it (format: see tests/rollup/test_parquet.c).

Checks: row count and row-group sizes; schema (physical, logical and converted
types, nullability) as both readers see it; every value through both readers
(strings as bytes, doubles bit for bit, NaN as NaN); codec, created_by and
dictionary use per column chunk; footer statistics (min/max, null_count, and
the exactness flags) against the real per-row-group values computed by a
DuckDB query; nan_count and column_orders from a small footer decoder of our
own (neither reader exposes them).

Prints "ok rows=N row_groups=G values=V stats=S" and exits 0, or raises.

    check_parquet.py FILE.parquet FILE.expected
"""
import math
import struct
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

ARROW_TYPES = {
    "string": pa.string(),
    "int64": pa.int64(),
    "timestamp_ms": pa.timestamp("ms", tz="UTC"),
    "double": pa.float64(),
}
DUCK_TYPES = {
    "string": "VARCHAR",
    "int64": "BIGINT",
    "timestamp_ms": "TIMESTAMP WITH TIME ZONE",
    "double": "DOUBLE",
}
PHYSICAL = {"string": "BYTE_ARRAY", "int64": "INT64", "timestamp_ms": "INT64", "double": "DOUBLE"}


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def parse_expected(path):
    exp = {"cols": [], "rgs": [], "rows": [], "dict": {}}
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.rstrip("\n")
            kind, _, rest = line.partition(" ") if not line.startswith("r\t") else ("r", "", line[2:])
            if kind == "codec":
                exp["codec"] = rest
            elif kind == "statsmax":
                exp["statsmax"] = int(rest)
            elif kind == "col":
                name, typ, nullable = rest.split(" ")
                exp["cols"].append((name, typ, nullable == "1"))
            elif kind == "rg":
                exp["rgs"].append(int(rest))
            elif kind == "dict":
                name, rg, flag = rest.split(" ")
                exp["dict"][(name, int(rg))] = flag == "1"
            elif kind == "r":
                exp["rows"].append([decode_cell(c) for c in rest.split("\t")])
            else:
                raise Fail(f"bad expected line {line!r}")
    return exp


def decode_cell(c):
    if c == "N":
        return None
    tag, val = c[0], c[2:]
    if tag == "s":
        return bytes.fromhex(val)
    if tag == "i":
        return int(val)
    if tag == "d":
        return struct.unpack("<d", bytes.fromhex(val)[::-1])[0]
    raise Fail(f"bad cell {c!r}")


def dbits(d):
    return struct.unpack("<Q", struct.pack("<d", d))[0]


def same_value(typ, got, want):
    """Exact equality; strings compared as UTF-8 bytes, doubles bit for bit (NaN: any NaN)."""
    if want is None or got is None:
        return got is None and want is None
    if typ == "string":
        return got.encode("utf-8") == want
    if typ == "double":
        if math.isnan(want):
            return math.isnan(got)
        return dbits(got) == dbits(want)
    return got == want


# ---- a small Thrift compact decoder, for what no reader exposes ----


class Compact:
    def __init__(self, data):
        self.d, self.p = data, 0

    def byte(self):
        b = self.d[self.p]
        self.p += 1
        return b

    def uvarint(self):
        shift = v = 0
        while True:
            b = self.byte()
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    def zigzag(self):
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def value(self, t):
        if t in (1, 2):
            return t == 1
        if t == 3:
            return self.byte()
        if t in (4, 5, 6):
            return self.zigzag()
        if t == 7:
            self.p += 8
            return None
        if t == 8:
            n = self.uvarint()
            self.p += n
            return self.d[self.p - n : self.p]
        if t in (9, 10):
            h = self.byte()
            n, et = h >> 4, h & 0x0F
            if n == 15:
                n = self.uvarint()
            if et in (1, 2):  # bools in lists are one byte each
                return [self.byte() == 1 for _ in range(n)]
            return [self.value(et) for _ in range(n)]
        if t == 12:
            return self.struct()
        raise Fail(f"thrift type {t} unsupported")

    def struct(self):
        fields, last = {}, 0
        while True:
            h = self.byte()
            if h == 0:
                return fields
            t = h & 0x0F
            fid = last + (h >> 4) if h >> 4 else self.zigzag()
            fields[fid] = self.value(t)
            last = fid


def read_footer(path):
    with open(path, "rb") as f:
        data = f.read()
    check(data[:4] == b"PAR1" and data[-4:] == b"PAR1", "missing PAR1 magic")
    n = struct.unpack("<I", data[-8:-4])[0]
    c = Compact(data[-8 - n : -8])
    meta = c.struct()
    check(c.p == n, f"footer length {n} but FileMetaData ends at {c.p}")
    return meta


# ---- the checks ----


def main(path, exp_path):
    exp = parse_expected(exp_path)
    cols, rows = exp["cols"], exp["rows"]
    n_rows = len(rows)
    check(sum(exp["rgs"]) == n_rows, f"row groups {exp['rgs']} do not add up to {n_rows} rows")
    stats_checked = values_checked = 0

    # pyarrow: metadata, schema, values
    pf = pq.ParquetFile(path)
    md = pf.metadata
    check(md.num_rows == n_rows, f"pyarrow num_rows {md.num_rows} != {n_rows}")
    check(md.num_columns == len(cols), "column count")
    check(md.created_by.startswith("twinpipe parquet writer version "), f"created_by {md.created_by!r}")
    check(md.num_row_groups == len(exp["rgs"]), f"pyarrow row groups {md.num_row_groups} != {len(exp['rgs'])}")
    for g, want in enumerate(exp["rgs"]):
        check(md.row_group(g).num_rows == want, f"row group {g}: {md.row_group(g).num_rows} rows, want {want}")
    arrow_schema = pf.schema_arrow
    for i, (name, typ, nullable) in enumerate(cols):
        f = arrow_schema.field(i)
        check(f.name == name and f.type == ARROW_TYPES[typ] and f.nullable == nullable,
              f"pyarrow field {f} != {name} {typ} nullable={nullable}")
        pc = pf.schema.column(i)
        check(pc.physical_type == PHYSICAL[typ], f"{name}: physical {pc.physical_type}")
        check(pc.max_definition_level == (1 if nullable else 0), f"{name}: definition level")
        lt = pc.logical_type
        if typ == "string":
            check(str(lt) == "String" and pc.converted_type == "UTF8", f"{name}: {lt} {pc.converted_type}")
        elif typ == "timestamp_ms":
            check(lt.type == "TIMESTAMP" and '"isAdjustedToUTC": true' in lt.to_json()
                  and '"timeUnit": "milliseconds"' in lt.to_json()
                  and pc.converted_type == "TIMESTAMP_MILLIS", f"{name}: {lt.to_json()} {pc.converted_type}")
        else:
            check(lt.type == "NONE" and pc.converted_type == "NONE", f"{name}: {lt} {pc.converted_type}")

    table = pf.read()
    check(table.num_rows == n_rows, "pyarrow table rows")
    for i, (name, typ, _) in enumerate(cols):
        col = table.column(i)
        if typ == "timestamp_ms":
            col = col.cast(pa.int64())
        got = col.to_pylist()
        for r in range(n_rows):
            check(same_value(typ, got[r], rows[r][i]), f"pyarrow {name} row {r}: {got[r]!r} != {rows[r][i]!r}")
            values_checked += 1

    # DuckDB: types and values
    con = duckdb.connect()
    desc = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
    check([(d[0], d[1]) for d in desc] == [(n, DUCK_TYPES[t]) for n, t, _ in cols], f"duckdb types {desc}")
    sel = ", ".join(f'epoch_ms("{n}")' if t == "timestamp_ms" else f'"{n}"' for n, t, _ in cols)
    got_rows = con.execute(
        f"SELECT file_row_number, {sel} FROM read_parquet(?, file_row_number=true) ORDER BY 1", [path]
    ).fetchall()
    check(len(got_rows) == n_rows, f"duckdb rows {len(got_rows)} != {n_rows}")
    for r, row in enumerate(got_rows):
        check(row[0] == r, "duckdb file_row_number")
        for i, (name, typ, _) in enumerate(cols):
            check(same_value(typ, row[i + 1], rows[r][i]), f"duckdb {name} row {r}: {row[i + 1]!r} != {rows[r][i]!r}")
            values_checked += 1

    # footer statistics vs the real per-row-group values from a DuckDB query
    con.execute("CREATE TEMP TABLE rgs (rg INTEGER, lo BIGINT, hi BIGINT)")
    lo = 0
    for g, n in enumerate(exp["rgs"]):
        con.execute("INSERT INTO rgs VALUES (?, ?, ?)", [g, lo, lo + n])
        lo += n
    aggs = []
    for name, typ, _ in cols:
        q = f'"{name}"'
        if typ == "timestamp_ms":
            q = f"epoch_ms({q})"
        flt = f" FILTER (WHERE NOT isnan({q}))" if typ == "double" else ""
        aggs += [f"min({q}){flt}", f"max({q}){flt}", f"count(*) - count({q})",
                 f"count({q}) FILTER (WHERE isnan({q}))" if typ == "double" else "NULL"]
    real = con.execute(
        f"SELECT rg, {', '.join(aggs)} FROM read_parquet(?, file_row_number=true) "
        "JOIN rgs ON file_row_number >= lo AND file_row_number < hi GROUP BY rg ORDER BY rg", [path]
    ).fetchall()
    check(len(real) == len(exp["rgs"]), "duckdb row groups in stats query")
    duck_meta = {
        (m[0], m[1]): m[2:]
        for m in con.execute(
            "SELECT row_group_id, path_in_schema, stats_min_value, stats_max_value, stats_null_count, "
            "min_is_exact, max_is_exact, compression, encodings, dictionary_page_offset "
            "FROM parquet_metadata(?)", [path]
        ).fetchall()
    }
    footer = read_footer(path)
    check(footer[1] == 1, "FileMetaData.version")
    check(footer[7] == [{1: {}}] * len(cols), f"column_orders {footer[7]}")

    for g in range(len(exp["rgs"])):
        rg = md.row_group(g)
        rg_rows = rows[sum(exp["rgs"][:g]) : sum(exp["rgs"][: g + 1])]
        for i, (name, typ, _) in enumerate(cols):
            cc = rg.column(i)
            check(cc.compression == exp["codec"], f"rg {g} {name}: codec {cc.compression}")
            check(cc.num_values == exp["rgs"][g], f"rg {g} {name}: num_values {cc.num_values}")
            want_dict = exp["dict"].get((name, g))
            is_dict = "RLE_DICTIONARY" in cc.encodings
            check(is_dict == cc.has_dictionary_page, f"rg {g} {name}: encodings {cc.encodings}")
            if want_dict is not None:
                check(is_dict == want_dict, f"rg {g} {name}: dictionary {is_dict}, want {want_dict}")
            mn, mx, nulls, nans = real[g][1 + 4 * i : 5 + 4 * i]
            vals = [row[i] for row in rg_rows]
            # DuckDB's aggregates against the expected rows (so both are right)
            check(nulls == sum(v is None for v in vals), f"rg {g} {name}: null count")
            st = cc.statistics
            check(cc.is_stats_set and st.has_null_count and st.null_count == nulls,
                  f"rg {g} {name}: footer null_count {st.null_count} != {nulls}")
            dm = duck_meta[(g, name)]
            check(dm[2] == nulls, f"rg {g} {name}: duckdb stats_null_count {dm[2]}")
            check(dm[5] == exp["codec"], f"rg {g} {name}: duckdb compression {dm[5]}")
            rawcc = footer[4][g][1][i][3]
            rawst = rawcc[12]
            if typ == "double":
                check(rawst.get(9) == nans, f"rg {g} {name}: nan_count {rawst.get(9)} != {nans}")
            else:
                check(9 not in rawst, f"rg {g} {name}: nan_count on a non-double")
            want_minmax = mn is not None and (typ != "string" or maxlen_of(mn, mx) <= exp["statsmax"])
            check(st.has_min_max == want_minmax, f"rg {g} {name}: has_min_max {st.has_min_max}, want {want_minmax}")
            check((5 in rawst) == want_minmax and (6 in rawst) == want_minmax, f"rg {g} {name}: min_value/max_value")
            check((1 in rawst) == (want_minmax and typ != "string"), f"rg {g} {name}: deprecated min/max")
            if not want_minmax:
                check(dm[0] is None and dm[1] is None, f"rg {g} {name}: duckdb sees stats {dm[:2]}")
                stats_checked += 1
                continue
            if typ == "string":
                check(st.min == mn and st.max == mx, f"rg {g} {name}: footer {st.min!r}..{st.max!r} != {mn!r}..{mx!r}")
                check(dm[0] == mn and dm[1] == mx, f"rg {g} {name}: duckdb stats {dm[:2]}")
                check(dm[3] is True and dm[4] is True, f"rg {g} {name}: exactness {dm[3:5]}")
            elif typ in ("int64", "timestamp_ms"):
                check(st.min_raw == mn and st.max_raw == mx, f"rg {g} {name}: footer {st.min_raw}..{st.max_raw} != {mn}..{mx}")
                check(rawst[2] == rawst[6] and rawst[1] == rawst[5], f"rg {g} {name}: min != min_value")
                check(dm[3] is True and dm[4] is True, f"rg {g} {name}: exactness {dm[3:5]}")
            else:
                check(st.min == mn and st.max == mx, f"rg {g} {name}: footer {st.min!r}..{st.max!r} != {mn!r}..{mx!r}")
                check(not math.isnan(st.min) and not math.isnan(st.max), f"rg {g} {name}: NaN in stats")
                # TYPE_ORDER zero rules: a zero min is written -0.0, a zero max +0.0
                if mn == 0:
                    check(math.copysign(1, st.min) < 0, f"rg {g} {name}: zero min not -0.0")
                    has_neg_zero = any(v is not None and v == 0 and math.copysign(1, v) < 0 for v in vals)
                    check(dm[3] is has_neg_zero, f"rg {g} {name}: min exactness {dm[3]}")
                else:
                    check(dm[3] is True, f"rg {g} {name}: min exactness")
                if mx == 0:
                    check(math.copysign(1, st.max) > 0, f"rg {g} {name}: zero max not +0.0")
                    has_pos_zero = any(v is not None and v == 0 and math.copysign(1, v) > 0 for v in vals)
                    check(dm[4] is has_pos_zero, f"rg {g} {name}: max exactness {dm[4]}")
                else:
                    check(dm[4] is True, f"rg {g} {name}: max exactness")
                # DuckDB's parquet_metadata shows an infinite bound as NULL (also for pyarrow's files)
                for shown, real_v in ((dm[0], mn), (dm[1], mx)):
                    ok = shown is None if math.isinf(real_v) else shown is not None and float(shown) == real_v
                    check(ok, f"rg {g} {name}: duckdb stats {dm[:2]} vs {mn}..{mx}")
                check(rawst[2] == rawst[6] and rawst[1] == rawst[5], f"rg {g} {name}: min != min_value")
            stats_checked += 1

    print(f"ok rows={n_rows} row_groups={len(exp['rgs'])} values={values_checked} stats={stats_checked}")


def maxlen_of(mn, mx):
    return max(len(mn.encode("utf-8")), len(mx.encode("utf-8")))


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2])
    except Fail as e:
        print(f"FAIL {sys.argv[1]}: {e}")
        sys.exit(1)

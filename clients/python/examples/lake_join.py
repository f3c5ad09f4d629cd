#!/usr/bin/env python3
"""Join live twins (tp-query, through the twinpipe client) with the Parquet
lake (tp-rollup's hourly files) in DuckDB.

For every twin matching the filters: its region and model, how many
readings it has applied (``events``) against how many rows the lake holds,
its last sequence against the lake's, the metric's latest value (live)
beside its min/max/avg over the lake's rows. A twin ahead of the lake has
readings tp-rollup has not written yet (or the lake lacks its partition).

    pip install 'twinpipe[lake]'          # the client with pandas and duckdb
    TP_QUERY_KEY=... python lake_join.py --url http://127.0.0.1:18081 \\
        --lake var/lake --metric speed_kmh --region eu-north

Output: a tab-separated table sorted by device_id ("-" = no value; floats
with 3 decimals), then one summary line starting with "#".
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any, Dict, List, Optional, Tuple

import duckdb

from twinpipe import Client

COLUMNS = [
    "device_id",
    "region",
    "model",
    "twin_events",
    "lake_rows",
    "twin_last_sequence",
    "lake_last_sequence",
    "latest",
    "lake_min",
    "lake_max",
    "lake_avg",
]


def fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def join(
    client: Client, lake: str, metric: str, filters: Dict[str, Any], after: Optional[str]
) -> List[Tuple[Any, ...]]:
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", metric):
        raise SystemExit(f"lake_join: not a metric name: {metric!r}")
    twins = client.list_devices(after=after, page_size=1000, **filters).to_pandas()
    for col in ("region", "model", metric):  # columns a fleet without them lacks
        if col not in twins.columns:
            twins[col] = None
    con = duckdb.connect()
    con.register("twins", twins)
    q = f"""
        WITH lake AS (
            SELECT device_id, count(*) AS rows, max(sequence) AS last_sequence,
                   min("{metric}") AS mn, max("{metric}") AS mx, avg("{metric}") AS av
            FROM read_parquet(?, hive_partitioning = true, union_by_name = true)
            GROUP BY device_id)
        SELECT t.device_id, t.region, t.model, t.events::BIGINT, coalesce(l.rows, 0)::BIGINT,
               t.last_sequence::BIGINT, l.last_sequence::BIGINT, t."{metric}"::DOUBLE,
               l.mn::DOUBLE, l.mx::DOUBLE, l.av::DOUBLE
        FROM twins t LEFT JOIN lake l USING (device_id)
        ORDER BY t.device_id"""
    return con.execute(q, [os.path.join(lake, "**", "*.parquet")]).fetchall()


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("TP_QUERY_URL", "http://127.0.0.1:18081"))
    ap.add_argument("--api-key", default=os.environ.get("TP_QUERY_KEY"), help="default: $TP_QUERY_KEY")
    ap.add_argument("--lake", required=True, help="tp-rollup's rollup.dir")
    ap.add_argument("--metric", default="speed_kmh")
    ap.add_argument("--region")
    ap.add_argument("--model")
    ap.add_argument("--after", help="an ingest consistency token: twins include those readings")
    a = ap.parse_args(argv)
    filters = {k: v for k, v in (("region", a.region), ("model", a.model)) if v is not None}
    with Client(a.url, api_key=a.api_key) as client:
        rows = join(client, a.lake, a.metric, filters, a.after)
    print("\t".join(COLUMNS))
    for r in rows:
        print("\t".join(fmt(v) for v in r))
    ahead = sum(1 for r in rows if r[4] < r[3])
    print(f"# twins {len(rows)}, lake rows {sum(r[4] for r in rows)}, twins ahead of the lake {ahead}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

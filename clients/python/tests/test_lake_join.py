"""examples/lake_join.py on a small lake this test makes: a fleet posted
through tp-ingest, tp-rollup --rollup.once writes it as Parquet, then more
readings (two twins move ahead of the lake, one device exists only live);
the script's whole output is compared with what was posted. Its own
database and topic (the fleet of test_integration.py stays untouched)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from typing import Iterator

import pytest

from conftest import DEVICES, QUERY_KEY, Fleet, Services, batch_text, model, region, running_services

pytestmark = pytest.mark.integration

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "lake_join.py"


@pytest.fixture(scope="module")
def lake_services() -> Iterator[Services]:
    with running_services("pylake") as svc:
        yield svc


def test_lake_join(lake_services: Services) -> None:
    svc = lake_services
    fleet = Fleet(svc)
    lake = svc.stack.dir / "lake"
    rc = svc.stack.run(
        "tp-rollup",
        {
            "TP_ROLLUP_ONCE": "true",
            "TP_ROLLUP_DIR": str(lake),
            "TP_ROLLUP_GROUP": svc.stack.topic + "-rollup",
            "TP_KAFKA_SESSION_TIMEOUT_MS": "6000",
        },
    )
    assert rc == 0, "tp-rollup --rollup.once failed (see its log)"
    assert len(list(lake.rglob("*.parquet"))) >= 1

    # after the rollup: pyc-00 and pyc-01 get a 4th reading, pyc-99 its first
    later = [
        {"device_id": d, "sequence": seq, "ts": fleet.base_ms + 100_000, "speed_kmh": 50.5,
         "region": r, "model": m}
        for d, seq, r, m in (("pyc-00", 4, "eu", "tp-van"), ("pyc-01", 4, "us", "tp-truck"), ("pyc-99", 1, "eu", "tp-bike"))
    ]
    token = svc.post(batch_text(later))["token"]

    out = subprocess.run(
        [sys.executable, str(EXAMPLE), "--url", svc.query, "--lake", str(lake), "--metric", "speed_kmh", "--after", token],
        env=dict(os.environ, TP_QUERY_KEY=QUERY_KEY),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr

    lines = ["device_id\tregion\tmodel\ttwin_events\tlake_rows\ttwin_last_sequence\tlake_last_sequence\tlatest\tlake_min\tlake_max\tlake_avg"]
    for i, d in enumerate(DEVICES):
        ahead = i < 2
        latest = 50.5 if ahead else i + 1.125
        lines.append(
            f"{d}\t{region(i)}\t{model(i)}\t{4 if ahead else 3}\t3\t{4 if ahead else 3}\t3\t{latest:.3f}\t"
            f"{i + 0.5:.3f}\t{i + 2.25:.3f}\t{(3 * i + 3.875) / 3:.3f}"
        )
    lines.append("pyc-99\teu\ttp-bike\t1\t0\t1\t-\t50.500\t-\t-\t-")
    lines.append("# twins 26, lake rows 75, twins ahead of the lake 3")
    assert out.stdout == "\n".join(lines) + "\n"

    # a filter goes through to the list: only eu twins, the lake joined to them
    eu = subprocess.run(
        [sys.executable, str(EXAMPLE), "--url", svc.query, "--lake", str(lake), "--region", "eu", "--model", "tp-van"],
        env=dict(os.environ, TP_QUERY_KEY=QUERY_KEY),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert eu.returncode == 0, eu.stderr
    assert [ln.split("\t")[0] for ln in eu.stdout.splitlines()] == [
        "device_id", "pyc-00", "pyc-06", "pyc-12", "pyc-18", "pyc-24", "# twins 5, lake rows 15, twins ahead of the lake 1"
    ]

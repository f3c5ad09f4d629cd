"""Fixtures of the integration tests: the dev stack (PostgreSQL + Kafka from
`scripts/devstack env`) and twinpipe's services as real processes, started
the way tests/support/stack.c starts them: a database and topic of the
test's own (tp-migrate run on it), each service from TP_BIN_DIR with
TP_PG_DSN, TP_KAFKA_BOOTSTRAP_SERVERS, TP_JOURNAL_TOPIC, TP_HTTP_LISTEN on a
free 127.0.0.1 port, its log under the build's Testing/ folder (or
TP_TEST_LOG_DIR), healthy within 30 s; SIGTERM at the end (exit 0 required),
database dropped. Without the stack the tests FAIL with how to start it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import time
from typing import Dict, Iterator, List, Optional

import httpx
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
QUERY_KEY = "pyclient-analyst-key"
CURSOR_SECRET = "tp-integration-cursor-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    def __init__(self, name: str) -> None:
        dsn = os.environ.get("TP_PG_DSN")
        bootstrap = os.environ.get("TP_KAFKA_BOOTSTRAP_SERVERS")
        if not dsn or not bootstrap:
            pytest.fail(
                'integration tests need the dev stack: run `make test` (or `eval "$(scripts/devstack env)"` '
                "after `scripts/devstack up`)",
                pytrace=False,
            )
        self.bin = pathlib.Path(os.environ.get("TP_BIN_DIR", ROOT / "build" / "asan" / "bin"))
        self.logs = pathlib.Path(os.environ.get("TP_TEST_LOG_DIR", self.bin.parent / "Testing"))
        self.logs.mkdir(parents=True, exist_ok=True)
        u = f"{os.getpid()}_{int(time.time() * 1000)}"
        self.admin_dsn = dsn
        self.db = f"tp_it_{name}_{u}"
        self.topic = f"tp-it-{name}-{u.replace('_', '-')}"
        self.dsn = f"{dsn} dbname={self.db}"
        self.bootstrap = bootstrap
        self.procs: List[tuple] = []
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="tp-pyclient-"))

    def psql(self, sql: str) -> None:
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.admin_dsn, "-c", sql], check=True)

    def env(self, port: int, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        e = dict(os.environ)
        e.update(
            TP_PG_DSN=self.dsn,
            TP_KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            TP_JOURNAL_TOPIC=self.topic,
            TP_PROJECTOR_GROUP=self.topic,
            TP_HTTP_LISTEN=f"127.0.0.1:{port}",
            TP_MIGRATIONS_DIR=str(ROOT / "migrations"),
            TP_QUERY_CURSOR_SECRET=CURSOR_SECRET,
        )
        e.update(extra or {})
        return e

    def _log(self, program: str):  # type: ignore[no-untyped-def]
        return open(self.logs / f"{self.db}-{program}.log", "ab")

    def run(self, program: str, extra: Optional[Dict[str, str]] = None, timeout: float = 300) -> int:
        """Runs bin/<program> with the stack env to completion; its exit code."""
        with self._log(program) as log:
            return subprocess.run(
                [str(self.bin / program)], env=self.env(0, extra), stdout=log, stderr=log, timeout=timeout
            ).returncode

    def create_db(self) -> None:
        self.psql(f"CREATE DATABASE {self.db}")
        assert self.run("tp-migrate") == 0, "tp-migrate failed (see its log)"

    def start(self, program: str, extra: Optional[Dict[str, str]] = None) -> str:
        """Starts bin/<program>, waits for /healthz; its base URL."""
        port = free_port()
        with self._log(program) as log:
            p = subprocess.Popen(
                [str(self.bin / program)], env=self.env(port, extra), stdout=log, stderr=log
            )
        self.procs.append((program, p))
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            if p.poll() is not None:
                pytest.fail(f"{program} exited during start-up (see {self.logs}/{self.db}-{program}.log)")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        p.kill()
        pytest.fail(f"{program} did not become healthy within 30 s")

    def stop_all(self) -> Dict[str, Optional[int]]:
        codes: Dict[str, Optional[int]] = {}
        for program, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    codes[program] = None
                    continue
                codes[program] = p.returncode
            else:
                codes[program] = 1000 + p.returncode  # had exited before: never a clean stop
        self.procs = []
        return codes

    def release(self) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        subprocess.run(["rm", "-rf", str(self.dir)], check=True)


class Services:
    """tp-ingest (auth off), tp-projector and tp-query (QUERY_KEY) on one Stack."""

    def __init__(self, stack: Stack, query_env: Optional[Dict[str, str]] = None) -> None:
        self.stack = stack
        self.ingest = stack.start("tp-ingest", {"TP_AUTH_MODE": "off"})
        self.projector = stack.start(
            "tp-projector", {"TP_PROJECTOR_FLUSH_INTERVAL_MS": "50", "TP_KAFKA_SESSION_TIMEOUT_MS": "6000"}
        )
        digest = hashlib.sha256(QUERY_KEY.encode()).hexdigest()
        self.query = stack.start(
            "tp-query",
            {
                "TP_QUERY_API_KEYS": digest,
                "TP_QUERY_SEARCH_REFRESH_MS": "100",
                # read-your-writes: the offsets of this projector on this topic
                "TP_QUERY_PROJECTOR_GROUP": stack.topic,
                "TP_QUERY_TOPIC": stack.topic,
                **(query_env or {}),
            },
        )

    def post(self, readings_text: str) -> dict:
        """Encodes a ReadingBatch from protobuf text format (protoc --encode) and
        POSTs it to tp-ingest; the 202 answer."""
        enc = subprocess.run(
            [
                "protoc",
                f"-I{ROOT / 'schemas'}",
                "--encode=twinpipe.telemetry.v1.ReadingBatch",
                str(ROOT / "schemas/twinpipe/telemetry/v1/telemetry.proto"),
            ],
            input=readings_text.encode(),
            capture_output=True,
            check=True,
        ).stdout
        r = httpx.post(
            self.ingest + "/v1/telemetry",
            content=enc,
            headers={"Content-Type": "application/x-protobuf"},
            timeout=30,
        )
        assert r.status_code == 202, r.text
        return r.json()


@contextlib.contextmanager
def running_services(name: str, query_env: Optional[Dict[str, str]] = None) -> Iterator[Services]:
    """A database and topic of their own with the three services; every
    service must stop cleanly (exit 0) on SIGTERM at the end."""
    stack = Stack(name)
    stack.create_db()
    try:
        svc = Services(stack, query_env)
        yield svc
        codes = stack.stop_all()
        assert codes == {"tp-query": 0, "tp-projector": 0, "tp-ingest": 0}, codes
    finally:
        stack.stop_all()
        stack.release()


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    with running_services("pyclient") as svc:
        yield svc


# --- the test fleet: 25 devices, 3 readings each over two minutes, 20 minutes ago

DEVICES = [f"pyc-{i:02d}" for i in range(25)]


def region(i: int) -> str:
    return "eu" if i % 2 == 0 else "us"


def model(i: int) -> str:
    return "tp-van" if i % 3 == 0 else "tp-truck"


class Fleet:
    """What was posted: ``readings`` as dicts (values multiples of 1/8, so
    every sum is exact), ``base_ms`` the first minute (5-minute aligned),
    ``token`` ingest's consistency token for all of it."""

    def __init__(self, services: Services) -> None:
        now_s = int(time.time())
        self.base_ms = (now_s // 300 * 300 - 20 * 60) * 1000
        self.readings: List[dict] = []
        for i, dev in enumerate(DEVICES):
            for seq, (dt_s, speed) in enumerate(((10, i + 0.5), (40, i + 2.25), (70, i + 1.125)), start=1):
                r = {"device_id": dev, "sequence": seq, "ts": self.base_ms + dt_s * 1000, "speed_kmh": speed,
                     "region": region(i), "model": model(i)}
                if seq == 3:
                    r.update(lat=50 + i / 8, lon=10 + i / 4, co2_ppm=400 + i)
                self.readings.append(r)
        self.token = services.post(batch_text(self.readings))["token"]


def batch_text(readings: List[dict]) -> str:
    out = []
    for r in readings:
        t = (f'readings {{ device_id: "{r["device_id"]}" sequence: {r["sequence"]} timestamp_ms: {r["ts"]} '
             f'speed_kmh: {r["speed_kmh"]!r} model: "{r["model"]}" firmware: "1.0.0" region: "{r["region"]}"')
        if "lat" in r:
            t += f' location {{ lat: {r["lat"]!r} lon: {r["lon"]!r} heading_deg: 90 }}'
            t += f' metrics {{ key: "co2_ppm" value: {r["co2_ppm"]} }}'
        out.append(t + " }")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="session")
def fleet(services: Services) -> Fleet:
    """The fleet, posted once; test_integration.py only reads it."""
    return Fleet(services)

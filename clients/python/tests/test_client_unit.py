"""Unit tests without a server: paging, error mapping, parameters, tokens,
models and DataFrames, against httpx.MockTransport."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Dict, List

import httpx
import pytest

import twinpipe
from twinpipe import (
    ApiError,
    AuthenticationError,
    Client,
    ConsistencyTimeoutError,
    DeviceNotFoundError,
    InvalidRequestError,
    NotFoundError,
    TransportError,
    TwinpipeError,
    UnavailableError,
    error_from_response,
    merge_tokens,
    parse_token,
)

KEY = "unit-test-key"


def twin_doc(device_id: str, **over: Any) -> Dict[str, Any]:
    d: Dict[str, Any] = {
        "device_id": device_id,
        "first_seen": "2026-11-23T10:24:46.706Z",
        "last_seen": "2026-11-23T10:26:21.706Z",
        "last_sequence": 20,
        "events": 20,
        "metrics": {
            "speed_kmh": {"value": 100, "ts": 1795429581706, "min": 0, "max": 120.5, "sum": 1000.25, "count": 20},
            "idle": {"value": 1.5, "ts": 1795429581706, "min": None, "max": None, "sum": None, "count": 0},
        },
        "location": {"lat": 52.078479, "lon": 14.427588, "heading_deg": 215, "ts": 1795429581706},
        "attributes": {"model": "tp-truck", "firmware": "2.1.1", "region": "eu-north"},
        "updated_at": "2026-11-23T10:26:28.255Z",
    }
    d.update(over)
    return d


class Pager:
    """A fake GET /v1/devices over ids, `limit` per page, cursors "c<n>"."""

    def __init__(self, ids: List[str]) -> None:
        self.ids = ids
        self.requests: List[httpx.Request] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.requests.append(req)
        assert req.url.path == "/v1/devices"
        q = req.url.params
        limit = int(q["limit"])
        start = int(q["cursor"][1:]) if "cursor" in q else 0
        chunk = self.ids[start : start + limit]
        nxt = f"c{start + limit}" if start + limit < len(self.ids) else None
        return httpx.Response(200, json={"devices": [twin_doc(i) for i in chunk], "next_cursor": nxt})


def client_with(handler: Any, **kw: Any) -> Client:
    return Client("http://tp.test", api_key=KEY, transport=httpx.MockTransport(handler), **kw)


def test_paging_iterates_every_page_once_with_the_same_filters() -> None:
    ids = [f"dev-{i:03d}" for i in range(23)]
    pager = Pager(ids)
    with client_with(pager) as tp:
        got = [t.device_id for t in tp.list_devices(region="eu", metrics={"speed_kmh": {"gt": 50, "<=": 120.5}}, page_size=5)]
    assert got == ids
    assert len(pager.requests) == 5
    expect_filters = [("region", "eu"), ("metric.speed_kmh.gt", "50"), ("metric.speed_kmh.le", "120.5")]
    cursors = []
    for r in pager.requests:
        items = list(r.url.params.multi_items())
        assert items[:3] == expect_filters
        assert r.url.params["limit"] == "5"
        assert r.headers["Authorization"] == "Bearer " + KEY
        cursors.append(r.url.params.get("cursor"))
    assert cursors == [None, "c5", "c10", "c15", "c20"]


def test_paging_exact_multiple_and_empty() -> None:
    pager = Pager([f"d{i}" for i in range(10)])
    with client_with(pager) as tp:
        pages = list(tp.list_devices(page_size=5).pages())
    assert [len(p.devices) for p in pages] == [5, 5]
    assert pages[-1].next_cursor is None
    empty = Pager([])
    with client_with(empty) as tp:
        assert tp.list_devices().all() == []
    assert len(empty.requests) == 1 and empty.requests[0].url.params["limit"] == "100"


def test_paging_iterates_again_from_the_start() -> None:
    pager = Pager(["a", "b", "c"])
    with client_with(pager) as tp:
        lst = tp.list_devices(page_size=2)
        assert [t.device_id for t in lst] == ["a", "b", "c"]
        assert [t.device_id for t in lst] == ["a", "b", "c"]
    assert len(pager.requests) == 4


def test_paging_refuses_a_cursor_that_does_not_advance() -> None:
    def stuck(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"devices": [twin_doc("a")], "next_cursor": "same"})

    with client_with(stuck) as tp:
        with pytest.raises(TwinpipeError, match="same cursor"):
            list(tp.list_devices())


def test_error_on_a_later_page_is_raised() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if "cursor" in req.url.params:
            return httpx.Response(400, json={"error": {"code": "invalid_cursor", "message": "the cursor belongs to another query"}})
        return httpx.Response(200, json={"devices": [twin_doc("a")], "next_cursor": "x"})

    with client_with(handler) as tp:
        it = iter(tp.list_devices())
        assert next(it).device_id == "a"
        with pytest.raises(InvalidRequestError) as e:
            next(it)
    assert (e.value.status, e.value.code, e.value.message) == (400, "invalid_cursor", "the cursor belongs to another query")


def test_list_parameters() -> None:
    seen: List[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"devices": [], "next_cursor": None})

    with client_with(handler) as tp:
        tp.list_devices(
            model="tp-truck",
            firmware="2.1.1",
            last_seen_after=datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc),
            last_seen_before="2026-11-23T12:00:00Z",
            status="online",
            sort="-last_seen",
            page_size=1000,
        ).all()
        with pytest.raises(ValueError):
            tp.list_devices(metrics={"speed_kmh": {"gte": 1}})
        with pytest.raises(ValueError):
            tp.list_devices(sort="speed")
        with pytest.raises(ValueError):
            tp.list_devices(last_seen_after=datetime(2026, 1, 1))
        with pytest.raises(ValueError):
            tp.list_devices(metrics={"x": {"lt": float("nan")}})
        with pytest.raises(ValueError):
            tp.list_devices(page_size=1001)
    assert list(seen[0].url.params.multi_items()) == [
        ("model", "tp-truck"),
        ("firmware", "2.1.1"),
        ("last_seen_after", "2026-11-23T10:00:00.000Z"),
        ("last_seen_before", "2026-11-23T12:00:00Z"),
        ("status", "online"),
        ("sort", "-last_seen"),
        ("limit", "1000"),
    ]


CODES = [
    (400, "invalid_device_id", InvalidRequestError),
    (400, "invalid_parameter", InvalidRequestError),
    (400, "invalid_cursor", InvalidRequestError),
    (400, "too_many_buckets", InvalidRequestError),
    (400, "invalid_consistency_token", InvalidRequestError),
    (401, "unauthorized", AuthenticationError),
    (404, "device_not_found", DeviceNotFoundError),
    (404, "not_found", NotFoundError),
    (405, "method_not_allowed", ApiError),
    (413, "payload_too_large", ApiError),
    (503, "database_unavailable", UnavailableError),
    (503, "not_ready", UnavailableError),
    (503, "overloaded", UnavailableError),
    (503, "shutting_down", UnavailableError),
    (504, "consistency_timeout", ConsistencyTimeoutError),
]


@pytest.mark.parametrize("status,code,cls", CODES)
def test_error_mapping(status: int, code: str, cls: type) -> None:
    body = json.dumps({"error": {"code": code, "message": f"message of {code}"}}).encode()
    e = error_from_response(status, body, "1")
    assert type(e) is cls
    assert (e.status, e.code, e.message, e.retry_after) == (status, code, f"message of {code}", 1.0)
    assert str(e) == f"{status} {code}: message of {code}"
    assert e.retriable == (status in (503, 504))


def test_every_documented_code_is_mapped() -> None:
    """query/openapi.json's error codes are exactly the ones tested above."""
    import pathlib

    doc = json.loads((pathlib.Path(__file__).parents[3] / "query" / "openapi.json").read_text())
    documented = set(doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"])
    assert documented == {c for _, c, _ in CODES}


def test_error_mapping_without_json() -> None:
    e = error_from_response(502, b"<html>bad gateway</html>")
    assert type(e) is ApiError and (e.status, e.code, e.message, e.retry_after) == (502, None, "<html>bad gateway</html>", None)
    e = error_from_response(503, b"")
    assert type(e) is UnavailableError and (e.code, e.message) == (None, "HTTP 503")
    e = error_from_response(404, b'{"error":"nope"}')
    assert type(e) is NotFoundError and e.code is None
    e = error_from_response(418, b"x" * 10000)
    assert len(e.message) == 512


def test_get_twin_fields_version_and_errors() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/v1/devices/veh-7":
            if req.headers.get("If-None-Match") == '"v20"':
                return httpx.Response(304, headers={"ETag": '"v20"'})
            return httpx.Response(200, json=twin_doc("veh-7"), headers={"ETag": '"v20"'})
        if req.url.path == "/v1/devices/a:b":
            return httpx.Response(200, json=twin_doc("a:b", location=None, metrics={}))
        return httpx.Response(404, json={"error": {"code": "device_not_found", "message": "no twin for this device"}})

    with client_with(handler) as tp:
        t = tp.get_twin("veh-7")
        assert t.version == 20 and t.device_id == "veh-7" and t.events == 20 and t.last_sequence == 20
        assert t.first_seen == datetime(2026, 11, 23, 10, 24, 46, 706000, tzinfo=timezone.utc)
        assert t.updated_at == datetime(2026, 11, 23, 10, 26, 28, 255000, tzinfo=timezone.utc)
        assert t.metrics["speed_kmh"] == twinpipe.Metric(100.0, 1795429581706, 0.0, 120.5, 1000.25, 20)
        assert t.metrics["idle"] == twinpipe.Metric(1.5, 1795429581706, None, None, None, 0)
        assert t.location == twinpipe.Location(52.078479, 14.427588, None, 215.0, None, 1795429581706)
        assert t.attributes == {"model": "tp-truck", "firmware": "2.1.1", "region": "eu-north"}
        assert t.value("speed_kmh") == 100.0 and t.value("nope") is None
        assert tp.get_twin_if_changed("veh-7", 20) is None
        assert tp.get_twin_if_changed("veh-7", 19) == t
        c = tp.get_twin("a:b")
        assert c.location is None and c.metrics == {} and c.version is None
        with pytest.raises(DeviceNotFoundError) as e:
            tp.get_twin("nope")
    assert (e.value.status, e.value.code) == (404, "device_not_found")


def test_transport_error() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with client_with(handler) as tp:
        with pytest.raises(TransportError, match="connection refused"):
            tp.fleet_summary()


def test_consistency_token_passing() -> None:
    seen: List[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"group_by": None, "metric": None, "online_window_s": 300, "groups": [], "truncated": False})

    with client_with(handler) as tp:
        tp.fleet_summary()
        tp.observe("t1.0:5,2:7")
        tp.observe("t1.0:3,1:9")
        tp.fleet_summary()
        tp.fleet_summary(after="t1.3:1")
    assert "X-Consistency-Token" not in seen[0].headers
    assert seen[1].headers["X-Consistency-Token"] == "t1.0:5,1:9,2:7"
    assert seen[2].headers["X-Consistency-Token"] == "t1.3:1"


def test_tokens() -> None:
    assert parse_token("t1.0:12,3:99") == {0: 12, 3: 99}
    assert merge_tokens(None, "t1.3:1,0:4", "t1.0:10", None) == "t1.0:10,3:1"
    assert merge_tokens(None) is None
    for bad in ("", "t2.0:1", "t1.", "t1.0:1,", "t1.a:1", "t1.0:-1"):
        with pytest.raises(ValueError):
            parse_token(bad)


def test_series_and_summary_models_and_frames() -> None:
    series = {
        "device_id": "dev-a",
        "metric": "speed_kmh",
        "step": "5m",
        "from": "2026-03-01T10:00:00.000Z",
        "to": "2026-03-01T11:00:00.000Z",
        "buckets": [
            {"start": "2026-03-01T10:00:00.000Z", "min": 0, "max": 9, "avg": 3, "count": 5},
            {"start": "2026-03-01T10:10:00.000Z", "min": 1.5, "max": 2.5, "avg": 2, "count": 2},
        ],
    }
    summary = {
        "group_by": "region",
        "metric": "speed_kmh",
        "online_window_s": 300,
        "groups": [
            {"key": "eu", "devices": 2, "online": 1, "metric": {"devices": 2, "min": 10.5, "max": 99, "avg": 54.75}},
            {"key": None, "devices": 1, "online": 0, "metric": {"devices": 0, "min": None, "max": None, "avg": None}},
        ],
        "truncated": False,
    }
    seen: List[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json=series if req.url.path.endswith("/series") else summary)

    with client_with(handler) as tp:
        s = tp.series("dev-a", "speed_kmh", datetime(2026, 3, 1, 10, tzinfo=timezone.utc), "2026-03-01T11:00:00Z", "5m")
        sm = tp.fleet_summary("region", "speed_kmh")
    assert list(seen[0].url.params.multi_items()) == [
        ("metric", "speed_kmh"),
        ("from", "2026-03-01T10:00:00.000Z"),
        ("to", "2026-03-01T11:00:00Z"),
        ("step", "5m"),
    ]
    assert seen[0].url.path == "/v1/devices/dev-a/series"
    assert list(seen[1].url.params.multi_items()) == [("group_by", "region"), ("metric", "speed_kmh")]
    assert s.buckets[1] == twinpipe.Bucket(datetime(2026, 3, 1, 10, 10, tzinfo=timezone.utc), 1.5, 2.5, 2.0, 2)
    assert sm.devices == 3 and sm.groups[1] == twinpipe.SummaryGroup(None, 1, 0, twinpipe.MetricAggregate(0, None, None, None))
    df = s.to_pandas()
    assert list(df.columns) == ["start", "min", "max", "avg", "count"]
    assert df["count"].tolist() == [5, 2] and df["min"].tolist() == [0.0, 1.5]
    assert str(df["start"].dtype).startswith("datetime64") and str(df["start"].dt.tz) == "UTC"
    sdf = sm.to_pandas()
    assert sdf.to_dict("records")[0] == {
        "key": "eu", "devices": 2, "online": 1, "metric_devices": 2, "metric_min": 10.5, "metric_max": 99.0, "metric_avg": 54.75
    }


def test_twins_frame_columns() -> None:
    docs = [
        twin_doc("a"),
        twin_doc("b", location=None, attributes={"model": "m2", "version": "x"}, metrics={"rpm": {"value": 900, "ts": 1, "min": 1, "max": 2, "sum": 3, "count": 1}}),
    ]

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"devices": docs, "next_cursor": None})

    with client_with(handler) as tp:
        df = tp.list_devices().to_pandas()
    assert list(df.columns) == [
        "device_id", "first_seen", "last_seen", "updated_at", "events", "last_sequence", "version",
        "lat", "lon", "altitude_m", "heading_deg", "accuracy_m",
        "model", "firmware", "region", "attribute.version", "speed_kmh", "idle", "rpm",
    ]
    assert df["device_id"].tolist() == ["a", "b"]
    assert df.loc[0, "speed_kmh"] == 100.0 and df.loc[1, "rpm"] == 900.0
    assert df.loc[0, "lat"] == 52.078479
    assert df["lat"].isna().tolist() == [False, True]
    assert df["model"].tolist() == ["tp-truck", "m2"]
    assert str(df["last_seen"].dt.tz) == "UTC"


def test_answers_are_bounded() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"devices": [twin_doc(f"d{i}") for i in range(10)], "next_cursor": None})

    with client_with(handler, max_response_bytes=1000) as tp:
        with pytest.raises(TransportError, match="answer over 1000 bytes"):
            tp.list_devices().all()
    with client_with(handler) as tp:
        assert len(tp.list_devices().all()) == 10

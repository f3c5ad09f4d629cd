"""The client against a real stack: readings posted through tp-ingest,
projected by tp-projector, read back through tp-query with the client,
every value exact (fixtures in conftest.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from conftest import DEVICES, QUERY_KEY, Fleet, Services, model, region
from twinpipe import (
    AuthenticationError,
    Bucket,
    Client,
    DeviceNotFoundError,
    InvalidRequestError,
    Location,
    Metric,
    MetricAggregate,
    SummaryGroup,
)

pytestmark = pytest.mark.integration


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


@pytest.fixture
def tp(services: Services, fleet: Fleet):  # type: ignore[no-untyped-def]
    # read-your-writes: every call waits until the projector applied the fleet's readings
    with Client(services.query, api_key=QUERY_KEY, consistency_token=fleet.token) as c:
        yield c


def test_twin_fields(tp: Client, fleet: Fleet) -> None:
    start = datetime.now(timezone.utc)
    t = tp.get_twin("pyc-07")
    b = fleet.base_ms
    assert (t.device_id, t.events, t.last_sequence, t.version) == ("pyc-07", 3, 3, 3)
    assert t.first_seen == at(b + 10_000) and t.last_seen == at(b + 70_000)
    assert t.metrics == {
        "speed_kmh": Metric(8.125, b + 70_000, 7.5, 9.25, 24.875, 3),
        "co2_ppm": Metric(407.0, b + 70_000, 407.0, 407.0, 407.0, 1),
    }
    assert t.location == Location(50.875, 11.75, None, 90.0, None, b + 70_000)
    assert t.attributes == {"model": "tp-truck", "firmware": "1.0.0", "region": "us"}
    # written by the projector after the readings were posted, before this read
    assert start - timedelta(minutes=5) < t.updated_at <= datetime.now(timezone.utc)
    assert tp.get_twin_if_changed("pyc-07", 3) is None
    assert tp.get_twin_if_changed("pyc-07", 2) == t


def test_list_pages_cover_the_fleet(tp: Client) -> None:
    lst = tp.list_devices(page_size=7)
    pages = list(lst.pages())
    assert [len(p.devices) for p in pages] == [7, 7, 7, 4]
    assert [p.next_cursor is None for p in pages] == [False, False, False, True]
    ids = [t.device_id for t in lst]
    assert ids == DEVICES  # sorted by device_id, each exactly once
    assert [t.device_id for t in tp.list_devices(sort="-device_id", page_size=10)] == DEVICES[::-1]
    assert {t.device_id: t.events for t in lst} == {d: 3 for d in DEVICES}


def test_list_filters(tp: Client, fleet: Fleet) -> None:
    def ids(**kw):  # type: ignore[no-untyped-def]
        return [t.device_id for t in tp.list_devices(page_size=4, **kw)]

    assert ids(region="eu") == [d for i, d in enumerate(DEVICES) if region(i) == "eu"]
    assert ids(model="tp-van", region="us") == ["pyc-03", "pyc-09", "pyc-15", "pyc-21"]
    # latest speed is i + 1.125
    assert ids(metrics={"speed_kmh": {"ge": 20}}) == DEVICES[19:]
    assert ids(region="us", metrics={"speed_kmh": {"<": 5}}) == ["pyc-01", "pyc-03"]
    assert ids(metrics={"speed_kmh": {"gt": 3.125, "le": 6.125}}) == ["pyc-03", "pyc-04", "pyc-05"]
    assert ids(metrics={"co2_ppm": {"lt": 402}}) == ["pyc-00", "pyc-01"]
    last = at(fleet.base_ms + 70_000)
    assert ids(last_seen_after=last) == DEVICES
    assert ids(last_seen_before=last) == []
    assert ids(status="offline") == DEVICES  # 20 minutes old: past the 300 s window
    assert ids(status="online") == []


def test_list_to_pandas(tp: Client) -> None:
    df = tp.list_devices(region="us").to_pandas()
    assert df.shape == (12, 17)
    assert list(df.columns[12:]) == ["model", "firmware", "region", "speed_kmh", "co2_ppm"]
    row = df.set_index("device_id").loc["pyc-07"]
    assert (row["speed_kmh"], row["co2_ppm"], row["lat"], row["model"], row["events"]) == (8.125, 407.0, 50.875, "tp-truck", 3)


def test_fleet_summary(tp: Client) -> None:
    s = tp.fleet_summary("region", "speed_kmh")
    assert (s.group_by, s.metric, s.online_window_s, s.truncated, s.devices) == ("region", "speed_kmh", 300, False, 25)
    # latest values i + 1.125: eu i = 0, 2, .., 24; us i = 1, 3, .., 23
    assert s.groups == [
        SummaryGroup("eu", 13, 0, MetricAggregate(13, 1.125, 25.125, 13.125)),
        SummaryGroup("us", 12, 0, MetricAggregate(12, 2.125, 24.125, 13.125)),
    ]
    m = tp.fleet_summary("model")
    assert [(g.key, g.devices, g.metric) for g in m.groups] == [("tp-truck", 16, None), ("tp-van", 9, None)]
    whole = tp.fleet_summary(metric="co2_ppm")
    assert whole.groups == [SummaryGroup(None, 25, 0, MetricAggregate(25, 400.0, 424.0, 412.0))]
    assert list(whole.to_pandas().iloc[0]) == [None, 25, 0, 25, 400.0, 424.0, 412.0]


def test_series_buckets(tp: Client, fleet: Fleet) -> None:
    b = fleet.base_ms
    one = tp.series("pyc-07", "speed_kmh", at(b), at(b + 300_000), "1m")
    assert (one.device_id, one.metric, one.step, one.start, one.end) == ("pyc-07", "speed_kmh", "1m", at(b), at(b + 300_000))
    # minute 0 (closed, in metric_minutes): 7.5 and 9.25; minute 1 (the twin's open minute): 8.125
    assert one.buckets == [Bucket(at(b), 7.5, 9.25, 8.375, 2), Bucket(at(b + 60_000), 8.125, 8.125, 8.125, 1)]
    five = tp.series("pyc-07", "speed_kmh", at(b - 600_000), at(b + 600_000), "5m")
    assert five.buckets == [Bucket(at(b), 7.5, 9.25, 24.875 / 3, 3)]
    assert tp.series("pyc-07", "co2_ppm", at(b), at(b + 60_000)).buckets == []
    df = one.to_pandas()
    assert df["count"].tolist() == [2, 1] and df["avg"].tolist() == [8.375, 8.125]


def test_errors(services: Services, tp: Client, fleet: Fleet) -> None:
    with pytest.raises(DeviceNotFoundError) as nf:
        tp.get_twin("pyc-nope")
    assert (nf.value.status, nf.value.code, nf.value.message) == (404, "device_not_found", 'no twin for device "pyc-nope"')
    with pytest.raises(DeviceNotFoundError):
        tp.series("pyc-nope", "speed_kmh", at(fleet.base_ms), at(fleet.base_ms + 60_000))
    with pytest.raises(InvalidRequestError) as tb:
        tp.series("pyc-07", "speed_kmh", at(fleet.base_ms), at(fleet.base_ms + 8 * 86_400_000), "1m")
    assert (tb.value.status, tb.value.code) == (400, "too_many_buckets")
    with pytest.raises(InvalidRequestError) as tok:
        tp.get_twin("pyc-07", after="t1.x")
    assert (tok.value.status, tok.value.code) == (400, "invalid_consistency_token")
    for key in ("wrong-key", None):
        with Client(services.query, api_key=key) as bad:
            with pytest.raises(AuthenticationError) as ua:
                bad.get_twin("pyc-07")
            assert (ua.value.status, ua.value.code) == (401, "unauthorized")
            with pytest.raises(AuthenticationError):
                bad.list_devices().all()
            with pytest.raises(AuthenticationError):
                bad.fleet_summary()

"""Typed views of tp-query's documents (query/openapi.json's schemas).

Every object is a frozen dataclass built by ``from_json`` from the decoded
JSON; times become timezone-aware ``datetime`` (UTC), device times (``ts``)
stay integers in ms since the epoch as the API sends them. ``raw`` keeps the
document as received, so fields a later tp-query adds are not lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional


def parse_time(value: str) -> datetime:
    """RFC 3339 as tp-query writes it ("2026-11-23T10:24:46.706Z") -> aware datetime."""
    if value.endswith("Z") or value.endswith("z"):
        value = value[:-1] + "+00:00"
    return datetime.fromisoformat(value).astimezone(timezone.utc)


def format_time(value: "datetime | str") -> str:
    """A datetime (must be timezone-aware) or an RFC 3339 string -> the parameter text."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("naive datetime: give a timezone (e.g. tzinfo=timezone.utc)")
    ms = value.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return ms.replace("+00:00", "Z")


def _opt_float(v: Any) -> Optional[float]:
    return None if v is None else float(v)


@dataclass(frozen=True)
class Metric:
    """A metric of a twin: latest value and device time, running statistics
    since first seen (min/max/sum None while count is 0)."""

    value: Optional[float]
    ts: Optional[int]
    min: Optional[float]
    max: Optional[float]
    sum: Optional[float]
    count: int

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Metric":
        return cls(
            value=_opt_float(d.get("value")),
            ts=d.get("ts"),
            min=_opt_float(d.get("min")),
            max=_opt_float(d.get("max")),
            sum=_opt_float(d.get("sum")),
            count=int(d.get("count", 0)),
        )


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    altitude_m: Optional[float]
    heading_deg: Optional[float]
    accuracy_m: Optional[float]
    ts: Optional[int]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Location":
        return cls(
            lat=float(d["lat"]),
            lon=float(d["lon"]),
            altitude_m=_opt_float(d.get("altitude_m")),
            heading_deg=_opt_float(d.get("heading_deg")),
            accuracy_m=_opt_float(d.get("accuracy_m")),
            ts=d.get("ts"),
        )


@dataclass(frozen=True)
class Twin:
    """A device's twin. ``version`` is the twin's version from the ETag
    (``"v<version>"``; :meth:`Client.get_twin` only: list pages carry no ETag)."""

    device_id: str
    first_seen: datetime
    last_seen: datetime
    last_sequence: int
    events: int
    metrics: Dict[str, Metric]
    location: Optional[Location]
    attributes: Dict[str, str]
    updated_at: datetime
    version: Optional[int] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any], version: Optional[int] = None) -> "Twin":
        loc = d.get("location")
        return cls(
            device_id=d["device_id"],
            first_seen=parse_time(d["first_seen"]),
            last_seen=parse_time(d["last_seen"]),
            last_sequence=int(d["last_sequence"]),
            events=int(d["events"]),
            metrics={k: Metric.from_json(v) for k, v in (d.get("metrics") or {}).items()},
            location=Location.from_json(loc) if loc else None,
            attributes=dict(d.get("attributes") or {}),
            updated_at=parse_time(d["updated_at"]),
            version=version,
            raw=dict(d),
        )

    def value(self, metric: str) -> Optional[float]:
        """The metric's latest value, None if the twin never reported it."""
        m = self.metrics.get(metric)
        return m.value if m else None


@dataclass(frozen=True)
class Page:
    """One page of ``GET /v1/devices``; ``next_cursor`` is None on the last."""

    devices: List[Twin]
    next_cursor: Optional[str]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Page":
        return cls(
            devices=[Twin.from_json(t) for t in d["devices"]],
            next_cursor=d.get("next_cursor"),
        )


@dataclass(frozen=True)
class Bucket:
    start: datetime
    min: Optional[float]
    max: Optional[float]
    avg: Optional[float]
    count: int

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Bucket":
        return cls(
            start=parse_time(d["start"]),
            min=_opt_float(d.get("min")),
            max=_opt_float(d.get("max")),
            avg=_opt_float(d.get("avg")),
            count=int(d["count"]),
        )


@dataclass(frozen=True)
class Series:
    """``GET /v1/devices/{id}/series``: buckets without data are left out."""

    device_id: str
    metric: str
    step: str
    start: datetime  # the request's from (inclusive)
    end: datetime  # the request's to (exclusive)
    buckets: List[Bucket]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Series":
        return cls(
            device_id=d["device_id"],
            metric=d["metric"],
            step=d["step"],
            start=parse_time(d["from"]),
            end=parse_time(d["to"]),
            buckets=[Bucket.from_json(b) for b in d["buckets"]],
        )

    def to_pandas(self) -> Any:
        """A DataFrame: start, min, max, avg, count (needs the ``pandas`` extra)."""
        from ._frames import series_frame

        return series_frame(self)


@dataclass(frozen=True)
class MetricAggregate:
    """A metric's latest finite values over a group's devices that have one."""

    devices: int
    min: Optional[float]
    max: Optional[float]
    avg: Optional[float]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "MetricAggregate":
        return cls(
            devices=int(d["devices"]),
            min=_opt_float(d.get("min")),
            max=_opt_float(d.get("max")),
            avg=_opt_float(d.get("avg")),
        )


@dataclass(frozen=True)
class SummaryGroup:
    key: Optional[str]  # the attribute's value; None: devices without it
    devices: int
    online: int
    metric: Optional[MetricAggregate]  # with metric= only

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "SummaryGroup":
        m = d.get("metric")
        return cls(
            key=d.get("key"),
            devices=int(d["devices"]),
            online=int(d["online"]),
            metric=MetricAggregate.from_json(m) if m is not None else None,
        )


@dataclass(frozen=True)
class Summary:
    """``GET /v1/fleet/summary``: groups sorted by key, null last, at most 1,000."""

    group_by: Optional[str]
    metric: Optional[str]
    online_window_s: int
    groups: List[SummaryGroup]
    truncated: bool

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Summary":
        return cls(
            group_by=d.get("group_by"),
            metric=d.get("metric"),
            online_window_s=int(d["online_window_s"]),
            groups=[SummaryGroup.from_json(g) for g in d["groups"]],
            truncated=bool(d["truncated"]),
        )

    @property
    def devices(self) -> int:
        """Devices over all groups."""
        return sum(g.devices for g in self.groups)

    def to_pandas(self) -> Any:
        """A DataFrame: key, devices, online, metric_devices, metric_min,
        metric_max, metric_avg (needs the ``pandas`` extra)."""
        from ._frames import summary_frame

        return summary_frame(self)

"""pandas DataFrames of the client's objects (the ``pandas`` extra).

Twins become one row each, wide: ``device_id, first_seen, last_seen,
updated_at, events, last_sequence, version, lat, lon, altitude_m,
heading_deg, accuracy_m``, then one column per attribute (its name, e.g.
``model``; ``attribute.<name>`` if a fixed column has that name) and one
per metric with its latest value (its name, e.g. ``speed_kmh``;
``metric.<name>`` if an attribute or a fixed column already has that name). Columns appear in first-seen order; a twin without the
attribute or metric has a missing value there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterable, List

if TYPE_CHECKING:
    from .models import Series, Summary, Twin

_BASE = [
    "device_id",
    "first_seen",
    "last_seen",
    "updated_at",
    "events",
    "last_sequence",
    "version",
    "lat",
    "lon",
    "altitude_m",
    "heading_deg",
    "accuracy_m",
]


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("to_pandas() needs pandas: pip install 'twinpipe[pandas]'") from e
    return pandas


def twins_frame(twins: Iterable["Twin"]) -> Any:
    pd = _pandas()
    rows: List[Dict[str, Any]] = []
    attrs: Dict[str, None] = {}
    metrics: Dict[str, None] = {}
    for t in twins:
        loc = t.location
        row: Dict[str, Any] = {
            "device_id": t.device_id,
            "first_seen": t.first_seen,
            "last_seen": t.last_seen,
            "updated_at": t.updated_at,
            "events": t.events,
            "last_sequence": t.last_sequence,
            "version": t.version,
            "lat": loc.lat if loc else None,
            "lon": loc.lon if loc else None,
            "altitude_m": loc.altitude_m if loc else None,
            "heading_deg": loc.heading_deg if loc else None,
            "accuracy_m": loc.accuracy_m if loc else None,
        }
        for k, v in t.attributes.items():
            attrs.setdefault(k)
            row[("attr", k)] = v  # type: ignore[index]
        for k, m in t.metrics.items():
            metrics.setdefault(k)
            row[("metric", k)] = m.value  # type: ignore[index]
        rows.append(row)
    names: Dict[Any, str] = {}
    taken = set(_BASE)
    for k in attrs:
        names[("attr", k)] = k if k not in taken else f"attribute.{k}"
        taken.add(names[("attr", k)])
    for k in metrics:
        names[("metric", k)] = k if k not in taken else f"metric.{k}"
        taken.add(names[("metric", k)])
    columns = _BASE + [names[("attr", k)] for k in attrs] + [names[("metric", k)] for k in metrics]
    data = [{names.get(k, k): v for k, v in r.items()} for r in rows]
    df = pd.DataFrame(data, columns=columns)
    for c in ("first_seen", "last_seen", "updated_at"):
        df[c] = pd.to_datetime(df[c], utc=True)
    return df


def series_frame(series: "Series") -> Any:
    pd = _pandas()
    df = pd.DataFrame(
        [(b.start, b.min, b.max, b.avg, b.count) for b in series.buckets],
        columns=["start", "min", "max", "avg", "count"],
    )
    df["start"] = pd.to_datetime(df["start"], utc=True)
    return df


def summary_frame(summary: "Summary") -> Any:
    pd = _pandas()
    rows = []
    for g in summary.groups:
        m = g.metric
        rows.append(
            (
                g.key,
                g.devices,
                g.online,
                m.devices if m else None,
                m.min if m else None,
                m.max if m else None,
                m.avg if m else None,
            )
        )
    return pd.DataFrame(
        rows,
        columns=["key", "devices", "online", "metric_devices", "metric_min", "metric_max", "metric_avg"],
    )

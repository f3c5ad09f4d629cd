"""The client of tp-query's read API (query/README.md, query/openapi.json).

One :class:`Client` holds a pooled HTTP connection (httpx) and the API key
(``Authorization: Bearer <key>``; tp-query keeps only its SHA-256). Calls
return the typed objects of :mod:`twinpipe.models` and raise the
exceptions of :mod:`twinpipe.errors`. A :class:`DeviceList` or
:class:`~twinpipe.stream.Stream` belongs to the thread iterating it.

    with Client("http://127.0.0.1:18081", api_key=key) as tp:
        twin = tp.get_twin("veh-000007")
        for t in tp.list_devices(region="eu-north", metrics={"speed_kmh": {"gt": 80}}):
            ...
        df = tp.list_devices(model="tp-truck").to_pandas()
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, cast
from urllib.parse import quote

import httpx

from .errors import TransportError, TwinpipeError, error_from_response
from .models import Page, Series, Summary, Twin, format_time
from .stream import Stream
from .tokens import merge_tokens

__version__ = "0.1.0"

DEFAULT_URL = "http://127.0.0.1:18081"
TimeArg = Union[datetime, str]
Number = Union[int, float]
# {"speed_kmh": {"gt": 50, "le": 120}}; ops lt, le, gt, ge (or <, <=, >, >=)
MetricFilters = Mapping[str, Mapping[str, Number]]
Params = List[Tuple[str, str]]

_OPS = {"lt": "lt", "le": "le", "gt": "gt", "ge": "ge", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_SORTS = ("device_id", "-device_id", "last_seen", "-last_seen")


def _number(v: Number) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"a metric bound must be a number, not {v!r}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"a metric bound must be finite, not {v!r}")
    return str(v) if isinstance(v, int) else repr(v)


def filter_params(
    *,
    model: Optional[str] = None,
    region: Optional[str] = None,
    firmware: Optional[str] = None,
    metrics: Optional[MetricFilters] = None,
    last_seen_after: Optional[TimeArg] = None,
    last_seen_before: Optional[TimeArg] = None,
    status: Optional[str] = None,
) -> Params:
    """The list's filters as query parameters, in a fixed order (pure)."""
    p: Params = []
    for name, value in (("model", model), ("region", region), ("firmware", firmware)):
        if value is not None:
            p.append((name, value))
    for metric, bounds in (metrics or {}).items():
        for op, bound in bounds.items():
            if op not in _OPS:
                raise ValueError(f"metric filter {metric!r}: unknown operator {op!r} (lt, le, gt, ge)")
            p.append((f"metric.{metric}.{_OPS[op]}", _number(bound)))
    if last_seen_after is not None:
        p.append(("last_seen_after", format_time(last_seen_after)))
    if last_seen_before is not None:
        p.append(("last_seen_before", format_time(last_seen_before)))
    if status is not None:
        if status not in ("online", "offline"):
            raise ValueError(f"status must be 'online' or 'offline', not {status!r}")
        p.append(("status", status))
    return p


class DeviceList:
    """All twins matching a list query, fetched page by page as iterated
    (keyset paging: each page's ``next_cursor`` asks for the next, until it
    is null). Iterating again starts again from the first page.

    Sorted by ``device_id`` (the default) every device that matches
    throughout is listed exactly once even while twins change; sorted by
    ``last_seen`` a device whose last_seen moves may appear twice or not at
    all (query/README.md)."""

    def __init__(self, client: "Client", params: Params, page_size: int, after: Optional[str]) -> None:
        self._client = client
        self._params = params
        self._page_size = page_size
        self._after = after

    def pages(self) -> Iterator[Page]:
        """The pages, one request each."""
        cursor: Optional[str] = None
        while True:
            page = self._client.list_page(self._params, limit=self._page_size, cursor=cursor, after=self._after)
            yield page
            if page.next_cursor is None:
                return
            if page.next_cursor == cursor:
                raise TwinpipeError("list paging: the server sent the same cursor again")
            cursor = page.next_cursor

    def __iter__(self) -> Iterator[Twin]:
        for page in self.pages():
            yield from page.devices

    def all(self) -> List[Twin]:
        """Every twin, as a list."""
        return list(self)

    def to_pandas(self) -> Any:
        """Every twin as a DataFrame, one row each (see :mod:`twinpipe._frames`)."""
        from ._frames import twins_frame

        return twins_frame(self)


class Client:
    """tp-query's read API.

    ``api_key``: sent as ``Authorization: Bearer``; None sends none (a
    tp-query with ``query.auth=off``). ``consistency_token``: read-your-writes
    for every call (see :meth:`observe`); a call's own ``after=`` wins.
    ``transport``/``http``: an httpx transport or a whole httpx.Client to use
    (tests, proxies, TLS settings). ``max_response_bytes``: a larger answer
    is not read on (TransportError): a page of 1,000 twins is far below it."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: Optional[str] = None,
        *,
        timeout: float = 30.0,
        consistency_token: Optional[str] = None,
        transport: Optional[httpx.BaseTransport] = None,
        http: Optional[httpx.Client] = None,
        max_response_bytes: int = 64 << 20,
    ) -> None:
        headers = {"User-Agent": f"twinpipe-python/{__version__}", "Accept": "application/json"}
        self._auth: Dict[str, str] = {}
        if api_key is not None:
            self._auth["Authorization"] = f"Bearer {api_key}"
        self._own_http = http is None
        self._http = http or httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self.consistency_token = consistency_token
        self._max_response = max_response_bytes

    # -- lifecycle
    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- read-your-writes
    def observe(self, token: str) -> None:
        """Remember an ingest consistency token: every later call (without its
        own ``after=``) waits for those events, merged with earlier ones."""
        self.consistency_token = merge_tokens(self.consistency_token, token)

    # -- plumbing
    def _headers(self, after: Optional[str]) -> Dict[str, str]:
        h = dict(self._auth)
        token = after if after is not None else self.consistency_token
        if token is not None:
            h["X-Consistency-Token"] = token
        return h

    def _get(
        self,
        path: str,
        params: Optional[Params] = None,
        after: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> "_Answer":
        h = self._headers(after)
        if headers:
            h.update(headers)
        body = bytearray()
        try:
            with self._http.stream("GET", path, params=cast(Any, params), headers=h) as resp:
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > self._max_response:
                        raise TransportError(f"GET {path}: answer over {self._max_response} bytes")
        except httpx.HTTPError as e:
            raise TransportError(f"GET {path}: {e}") from e
        if resp.status_code >= 400:
            raise error_from_response(resp.status_code, bytes(body), resp.headers.get("Retry-After"))
        return _Answer(resp.status_code, resp.headers, bytes(body))

    # -- endpoints
    def get_twin(self, device_id: str, *, after: Optional[str] = None) -> Twin:
        """``GET /v1/devices/{id}``: the twin, with ``version`` from its ETag.
        DeviceNotFoundError when there is none."""
        resp = self._get(_device_path(device_id), after=after)
        return Twin.from_json(resp.json(), _etag_version(resp.headers.get("ETag")))

    def get_twin_if_changed(self, device_id: str, version: int, *, after: Optional[str] = None) -> Optional[Twin]:
        """The twin if its version is no longer ``version``, else None (a 304:
        ``If-None-Match: "v<version>"``, no body sent)."""
        resp = self._get(_device_path(device_id), after=after, headers={"If-None-Match": f'"v{version}"'})
        if resp.status_code == 304:
            return None
        return Twin.from_json(resp.json(), _etag_version(resp.headers.get("ETag")))

    def list_page(
        self,
        params: Params,
        *,
        limit: int = 100,
        cursor: Optional[str] = None,
        sort: Optional[str] = None,
        after: Optional[str] = None,
    ) -> Page:
        """One page of ``GET /v1/devices`` with ready-made filter parameters
        (:func:`filter_params` plus ``sort``); most callers want :meth:`list_devices`."""
        p = list(params)
        if sort is not None:
            p.append(("sort", sort))
        p.append(("limit", str(limit)))
        if cursor is not None:
            p.append(("cursor", cursor))
        return Page.from_json(self._get("/v1/devices", p, after).json())

    def list_devices(
        self,
        *,
        model: Optional[str] = None,
        region: Optional[str] = None,
        firmware: Optional[str] = None,
        metrics: Optional[MetricFilters] = None,
        last_seen_after: Optional[TimeArg] = None,
        last_seen_before: Optional[TimeArg] = None,
        status: Optional[str] = None,
        sort: Optional[str] = None,
        page_size: int = 100,
        after: Optional[str] = None,
    ) -> DeviceList:
        """Every twin matching the filters, all pages (lazily, as iterated).

        ``metrics={"speed_kmh": {"gt": 50, "le": 120}}`` bounds latest values
        (at most 8 bounds); ``last_seen_after <= last_seen < last_seen_before``
        (aware datetimes or RFC 3339); ``status`` ``online``/``offline``;
        ``sort`` one of device_id (default), -device_id, last_seen, -last_seen;
        ``page_size`` 1..1000 twins per request."""
        if sort is not None and sort not in _SORTS:
            raise ValueError(f"sort must be one of {', '.join(_SORTS)}, not {sort!r}")
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be 1..1000")
        p = filter_params(
            model=model,
            region=region,
            firmware=firmware,
            metrics=metrics,
            last_seen_after=last_seen_after,
            last_seen_before=last_seen_before,
            status=status,
        )
        if sort is not None:
            p.append(("sort", sort))
        return DeviceList(self, p, page_size, after)

    def series(
        self,
        device_id: str,
        metric: str,
        start: TimeArg,
        end: TimeArg,
        step: str = "1m",
        *,
        after: Optional[str] = None,
    ) -> Series:
        """``GET /v1/devices/{id}/series``: the minutes starting in
        ``[start, end)`` in ``step`` buckets (1m, 5m, 1h, 1d; aligned in UTC)."""
        p: Params = [("metric", metric), ("from", format_time(start)), ("to", format_time(end)), ("step", step)]
        return Series.from_json(self._get(_device_path(device_id) + "/series", p, after).json())

    def fleet_summary(
        self, group_by: Optional[str] = None, metric: Optional[str] = None, *, after: Optional[str] = None
    ) -> Summary:
        """``GET /v1/fleet/summary``: devices, online devices and (with
        ``metric``) the latest values' min/max/avg per value of ``group_by``."""
        p: Params = []
        if group_by is not None:
            p.append(("group_by", group_by))
        if metric is not None:
            p.append(("metric", metric))
        return Summary.from_json(self._get("/v1/fleet/summary", p, after).json())

    def stream(
        self,
        *,
        model: Optional[str] = None,
        region: Optional[str] = None,
        firmware: Optional[str] = None,
        metrics: Optional[MetricFilters] = None,
        device_ids: Optional[Sequence[str]] = None,
        last_event_id: Optional[str] = None,
        heartbeats: bool = False,
        idle_timeout: float = 45.0,
        max_retries: Optional[int] = None,
    ) -> "Stream":
        """``GET /v1/stream``: twin changes as they happen (Server-Sent Events),
        with the list's filters and ``device_ids`` (sent comma-separated as
        ``device_ids=``). Iterate the returned :class:`~twinpipe.stream.Stream`;
        it reconnects with ``Last-Event-ID`` by itself (``max_retries`` failed
        attempts in a row, None: forever) and yields ``reset`` when the server
        cannot resume. ``last_event_id`` resumes a stream of an earlier run.
        Nothing is sent until the first ``next()``."""
        p = filter_params(model=model, region=region, firmware=firmware, metrics=metrics)
        if device_ids:
            p.append(("device_ids", ",".join(device_ids)))
        return Stream(
            self._http,
            "/v1/stream",
            p,
            self._auth,
            last_event_id=last_event_id,
            heartbeats=heartbeats,
            idle_timeout=idle_timeout,
            max_retries=max_retries,
        )


class _Answer:
    """A successful answer, its body read whole (bounded by max_response_bytes)."""

    def __init__(self, status_code: int, headers: httpx.Headers, content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)


def _device_path(device_id: str) -> str:
    return "/v1/devices/" + quote(device_id, safe=":")


def _etag_version(etag: Optional[str]) -> Optional[int]:
    """``"v20"`` -> 20 (None when absent or another shape)."""
    if not etag:
        return None
    tag = etag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    if tag.startswith("v") and tag[1:].isdigit():
        return int(tag[1:])
    return None

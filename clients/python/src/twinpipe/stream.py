"""The change stream: Server-Sent Events from ``GET /v1/stream``.

Two parts:

* :class:`SSEParser` - the event-stream format of the WHATWG HTML standard
  (section 9.2.6), incremental and pure: bytes in (any chunking: a CRLF or
  a UTF-8 sequence may be split between chunks), events and comments out.
  Lines end in CRLF, LF or CR; ``data:`` lines join with LF; ``id:`` sets
  the last event id at dispatch (also from a block without data); ``retry:``
  sets the reconnection delay; a block cut by the end of the stream is
  dropped. Lines and an event's data are bounded (:class:`StreamProtocolError`
  past the bound), so a broken server cannot grow the client's memory.

* :class:`Stream` - iterates the events of one logical stream over as many
  HTTP connections as it takes: when a connection ends (the server closed
  it, e.g. after cutting a slow client with a final event; the network
  broke; nothing arrived within ``idle_timeout`` - heartbeats keep a quiet
  stream alive) it reconnects after the server's ``retry`` delay (doubled
  per failed attempt up to ``max_backoff``) and sends ``Last-Event-ID`` so
  the server resumes after the last event handed to the caller. A server
  that cannot resume sends ``event: reset``: it is yielded like any event
  and the caller reloads its state (e.g. with :meth:`Client.list_devices`).
  Error answers are mapped like every other call; 503/504 and connection
  failures are retried, others (401, 404, 400) raised at once.

The event format of tp-query (query/README.md)::

    retry: 1000
    id: <process>-<sequence>

    id: <process>-<sequence>
    event: change
    data: {"device_id":"veh-000007","version":21,"changed":{...}}

    : heartbeat
    id: <process>-<sequence>

    event: reset
    data: {"reason":"unknown_position"}

    event: overflow
    data: {"reason":"client_buffer_full","buffer_bytes":1048576}

Id-only blocks (the first one, heartbeats) move the resume position.
Heartbeats are comment lines or ``event: heartbeat``; they are not
yielded unless ``heartbeats=True`` (as :class:`StreamEvent` with event
``"heartbeat"``). ``overflow`` is yielded like any event; the connection
then ends and the stream reconnects from the last id.
"""

from __future__ import annotations

import codecs
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Generator, Iterator, List, Optional, Union

import httpx

from .errors import StreamProtocolError, TransportError, error_from_response

DEFAULT_MAX_LINE = 1 << 20  # characters in one line
DEFAULT_MAX_EVENT = 4 << 20  # characters of data in one event
DEFAULT_RETRY_MS = 1000
_EOL = re.compile("\r\n|\r|\n")


@dataclass(frozen=True)
class StreamEvent:
    """One dispatched event: ``event`` is its type ("message" when the server
    gave none), ``id`` the last event id at its dispatch ("" if never set),
    ``data`` its data lines joined with LF."""

    event: str
    data: str
    id: str

    def json(self) -> Any:
        """The data decoded as JSON."""
        return json.loads(self.data)

    def change(self) -> "TwinChange":
        """The data of a ``change`` event as a :class:`TwinChange`."""
        return TwinChange.from_json(self.json(), self.id)


@dataclass(frozen=True)
class TwinChange:
    """A twin's change: its new version and the changed fields."""

    device_id: str
    version: int
    changed: Dict[str, Any]
    event_id: str

    @classmethod
    def from_json(cls, d: Any, event_id: str = "") -> "TwinChange":
        return cls(
            device_id=d["device_id"],
            version=int(d["version"]),
            changed=dict(d.get("changed") or {}),
            event_id=event_id,
        )


@dataclass(frozen=True)
class Comment:
    """A comment line (``: text``): servers send them as heartbeats."""

    text: str


class SSEParser:
    """Incremental event-stream parser. ``feed()`` returns what the bytes
    completed, in order; ``last_event_id`` is the id at the last dispatch
    (the value for a reconnect's ``Last-Event-ID``); ``retry_ms`` the last
    valid ``retry:`` field (None if none)."""

    def __init__(
        self,
        last_event_id: str = "",
        max_line: int = DEFAULT_MAX_LINE,
        max_event: int = DEFAULT_MAX_EVENT,
    ) -> None:
        self.last_event_id = last_event_id
        self.retry_ms: Optional[int] = None
        self._id_buffer = last_event_id
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_line = max_line
        self._max_event = max_event
        self._pending = ""  # text not yet ended by a line break
        self._after_cr = False  # the last text ended in CR: a leading LF belongs to it
        self._first = True  # a BOM is stripped once, at the very start
        self._data: List[str] = []
        self._data_len = 0
        self._event = ""

    def feed(self, chunk: bytes) -> List[Union[StreamEvent, Comment]]:
        text = self._decoder.decode(chunk)
        if self._first and text:
            self._first = False
            if text.startswith("\ufeff"):
                text = text[1:]
        out: List[Union[StreamEvent, Comment]] = []
        if self._after_cr and text.startswith("\n"):
            text = text[1:]
        self._after_cr = False
        start = 0
        for m in _EOL.finditer(text):
            line = self._pending + text[start : m.start()]
            self._pending = ""
            self._line(line, out)
            start = m.end()
        if start == len(text) and text.endswith("\r"):
            self._after_cr = True  # a CRLF may be split between chunks
        rest = text[start:]
        if len(self._pending) + len(rest) > self._max_line:
            raise StreamProtocolError(f"event-stream line over {self._max_line} characters")
        self._pending += rest
        return out

    def _line(self, line: str, out: List[Union[StreamEvent, Comment]]) -> None:
        if len(line) > self._max_line:
            raise StreamProtocolError(f"event-stream line over {self._max_line} characters")
        if line == "":
            self._dispatch(out)
            return
        if line.startswith(":"):
            out.append(Comment(line[1:].lstrip(" ")))
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data_len += len(value) + (1 if self._data else 0)  # joined with LF
            if self._data_len > self._max_event:
                raise StreamProtocolError(f"event-stream event over {self._max_event} characters")
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif name == "retry":
            if value.isdigit() and value.isascii():
                self.retry_ms = int(value)
        # any other field is ignored, as the standard says

    def _dispatch(self, out: List[Union[StreamEvent, Comment]]) -> None:
        self.last_event_id = self._id_buffer
        if self._data:
            out.append(StreamEvent(self._event or "message", "\n".join(self._data), self.last_event_id))
        self._data = []
        self._data_len = 0
        self._event = ""


class Stream:
    """Iterator over the change stream's events across reconnects (see the
    module's comment). Close it (or use ``with``) to end the connection.

    ``last_event_id`` is the resume position: the id of the last event
    handed out (start a later Stream with it to resume after a restart);
    ``reconnects`` counts the connections after the first; ``last_heartbeat``
    is the ``time.monotonic()`` of the last heartbeat (None before one).
    """

    def __init__(
        self,
        http: httpx.Client,
        path: str,
        params: List[Any],
        headers: Dict[str, str],
        *,
        last_event_id: Optional[str] = None,
        heartbeats: bool = False,
        idle_timeout: float = 45.0,
        max_retries: Optional[int] = None,
        max_backoff: float = 30.0,
        max_line: int = DEFAULT_MAX_LINE,
        max_event: int = DEFAULT_MAX_EVENT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.last_event_id = last_event_id or ""
        self.reconnects = 0
        self.last_heartbeat: Optional[float] = None
        self.retry_ms = DEFAULT_RETRY_MS
        self._http = http
        self._path = path
        self._params = params
        self._headers = headers
        self._heartbeats = heartbeats
        self._timeout = httpx.Timeout(10.0, read=idle_timeout)
        self._max_retries = max_retries
        self._max_backoff = max_backoff
        self._max_line = max_line
        self._max_event = max_event
        self._sleep = sleep
        self._gen: Optional[Generator[StreamEvent, None, None]] = None
        self._closed = False

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> StreamEvent:
        if self._closed:
            raise StopIteration
        if self._gen is None:
            self._gen = self._run()
        return next(self._gen)

    def close(self) -> None:
        self._closed = True
        if self._gen is not None:
            self._gen.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> Generator[StreamEvent, None, None]:
        failures = 0  # consecutive attempts that delivered nothing
        first = True
        while True:
            if not first:
                if self._max_retries is not None and failures > self._max_retries:
                    raise TransportError(f"change stream: gave up after {failures} failed attempts")
                delay = self.retry_ms / 1000.0 * (2 ** max(failures - 1, 0))
                self._sleep(min(delay, self._max_backoff))
                self.reconnects += 1
            first = False
            headers = dict(self._headers)
            headers["Accept"] = "text/event-stream"
            headers["Cache-Control"] = "no-cache"
            if self.last_event_id:
                headers["Last-Event-ID"] = self.last_event_id
            delivered = False
            try:
                with self._http.stream(
                    "GET", self._path, params=self._params, headers=headers, timeout=self._timeout
                ) as resp:
                    if resp.status_code != 200:
                        err = error_from_response(
                            resp.status_code, _read_capped(resp), resp.headers.get("Retry-After")
                        )
                        if not err.retriable:
                            raise err
                        if err.retry_after is not None:
                            self.retry_ms = int(err.retry_after * 1000)
                        failures += 1
                        continue
                    ctype = resp.headers.get("Content-Type", "")
                    if not ctype.split(";")[0].strip().lower() == "text/event-stream":
                        raise StreamProtocolError(f"change stream: Content-Type {ctype!r}, not text/event-stream")
                    parser = SSEParser(self.last_event_id, self._max_line, self._max_event)
                    for chunk in resp.iter_bytes():
                        items = parser.feed(chunk)
                        if parser.retry_ms is not None:
                            self.retry_ms = parser.retry_ms
                        for item in items:
                            delivered = True
                            if isinstance(item, Comment):
                                item = StreamEvent("heartbeat", item.text, self.last_event_id)
                            self.last_event_id = item.id
                            if item.event == "heartbeat":
                                self.last_heartbeat = time.monotonic()
                                if not self._heartbeats:
                                    continue
                            yield item
                        # id-only blocks dispatched in this chunk move the position too
                        self.last_event_id = parser.last_event_id
            except (httpx.TimeoutException, httpx.TransportError):
                pass  # reconnect below
            failures = 0 if delivered else failures + 1


def _read_capped(resp: httpx.Response, cap: int = 64 << 10) -> bytes:
    """An error answer's body, at most cap bytes (an error body is small; a
    broken proxy's need not be)."""
    out = bytearray()
    for chunk in resp.iter_bytes():
        out += chunk
        if len(out) >= cap:
            break
    return bytes(out[:cap])

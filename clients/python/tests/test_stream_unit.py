"""The change stream's client: the event-stream parser (pure), and Stream
against a tiny SSE server in this process (http.server on 127.0.0.1):
Last-Event-ID resume across connections, heartbeats, reset, idle timeout,
retry of 503, no retry of 401, limits."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from twinpipe import (
    AuthenticationError,
    Client,
    Comment,
    NotFoundError,
    SSEParser,
    StreamEvent,
    StreamProtocolError,
    TransportError,
    TwinChange,
)

KEY = "stream-test-key"


def parse_all(chunks: List[bytes], **kw: Any) -> List[Any]:
    p = SSEParser(**kw)
    out: List[Any] = []
    for c in chunks:
        out += p.feed(c)
    return out


def test_standard_examples() -> None:
    # the examples of the WHATWG HTML standard, 9.2.6
    assert parse_all([b"data: YHOO\ndata: +2\ndata: 10\n\n"]) == [StreamEvent("message", "YHOO\n+2\n10", "")]
    assert parse_all([b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"]) == [
        Comment("test stream"),
        StreamEvent("message", "first event", "1"),
        StreamEvent("message", "second event", ""),
        StreamEvent("message", " third event", ""),
    ]
    assert parse_all([b"data\n\ndata\ndata\n\ndata:"]) == [StreamEvent("message", "", ""), StreamEvent("message", "\n", "")]
    assert parse_all([b"data:test\n\ndata: test\n\n"]) == [StreamEvent("message", "test", "")] * 2


STREAM = (
    "\ufeff: hello\r\n"
    "retry: 2500\r"
    "id: 7\n"
    "event: change\r\n"
    'data: {"device_id":"veh-\u00e9","version":21,"changed":{"speed_kmh":88.5}}\r\n'
    "\r\n"
    "id: 8\rdata: line one\rdata: line two\r\r"
    "id: 9\n\n"  # an id-only block: no event, but the position moves
    "event: reset\ndata: {\"reason\":\"gap\"}\nunknown: field\n\n"
    "retry: 2s\nid: bad\0id\ndata: x\n\n"
    "data: cut by the end of the stream"
).encode("utf-8")


def test_every_chunking_gives_the_same_events() -> None:
    whole = SSEParser()
    expect = whole.feed(STREAM)
    assert expect == [
        Comment("hello"),
        StreamEvent("change", '{"device_id":"veh-\u00e9","version":21,"changed":{"speed_kmh":88.5}}', "7"),
        StreamEvent("message", "line one\nline two", "8"),
        StreamEvent("reset", '{"reason":"gap"}', "9"),
        StreamEvent("message", "x", "9"),
    ]
    assert whole.retry_ms == 2500 and whole.last_event_id == "9"
    assert expect[1].change() == TwinChange("veh-\u00e9", 21, {"speed_kmh": 88.5}, "7")
    # byte by byte (splits CRLF pairs and the two-byte UTF-8 sequence), and in 3-byte chunks
    for size in (1, 2, 3, 7):
        p = SSEParser()
        got: List[Any] = []
        for i in range(0, len(STREAM), size):
            got += p.feed(STREAM[i : i + size])
        assert got == expect, size
        assert (p.retry_ms, p.last_event_id) == (2500, "9")


def test_cr_at_a_chunk_end_is_one_line_break() -> None:
    assert parse_all([b"data: a\r", b"\ndata: b\n\n"]) == [StreamEvent("message", "a\nb", "")]
    assert parse_all([b"data: a\r", b"\r"]) == [StreamEvent("message", "a", "")]
    assert parse_all([b"data: a\rdata: b\r", b"\n", b"\n"]) == [StreamEvent("message", "a\nb", "")]


def test_limits() -> None:
    with pytest.raises(StreamProtocolError, match="line over 16"):
        parse_all([b"data: " + b"x" * 20], max_line=16)
    with pytest.raises(StreamProtocolError, match="line over 16"):
        parse_all([b"data: " + b"x" * 5, b"x" * 6, b"x" * 6], max_line=16)
    with pytest.raises(StreamProtocolError, match="event over 20"):
        parse_all([b"data: 0123456789\ndata: 0123456789\n"], max_event=20)
    assert parse_all([b"data: 0123456789\ndata: 012345678\n\n"], max_event=20)[0].data == "0123456789\n012345678"


# --- Stream against a local SSE server


class Server:
    """Answers each GET with the next script (a function of the handler); records requests."""

    def __init__(self, scripts: List[Callable[[BaseHTTPRequestHandler], None]]) -> None:
        self.scripts = list(scripts)
        self.requests: List[Dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests.append({"path": self.path, "headers": dict(self.headers)})
                script = server.scripts.pop(0) if server.scripts else status(500)
                try:
                    script(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *a: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def sse(*parts: str, stall: float = 0.0, ctype: str = "text/event-stream; charset=utf-8") -> Callable[[BaseHTTPRequestHandler], None]:
    def script(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Cache-Control", "no-cache")
        h.end_headers()
        for part in parts:
            h.wfile.write(part.encode())
            h.wfile.flush()
            time.sleep(0.01)
        time.sleep(stall)

    return script


def status(code: int, body: str = "", headers: Optional[Dict[str, str]] = None) -> Callable[[BaseHTTPRequestHandler], None]:
    def script(h: BaseHTTPRequestHandler) -> None:
        data = body.encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    return script


@pytest.fixture
def server() -> Iterator[Callable[..., Server]]:
    made: List[Server] = []

    def make(*scripts: Callable[[BaseHTTPRequestHandler], None]) -> Server:
        s = Server(list(scripts))
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def change(i: int, dev: str = "veh-1") -> str:
    return f'id: {i}\nevent: change\ndata: {{"device_id":"{dev}","version":{i},"changed":{{"speed_kmh":{i}.5}}}}\n\n'


def test_resume_with_last_event_id_heartbeats_and_reset(server: Callable[..., Server]) -> None:
    srv = server(
        # a cut client's final event, then the server closes the connection
        sse("retry: 10\n\n", change(1), ": heartbeat\n\n", change(2), "event: cut\ndata: {\"reason\":\"slow\"}\n\n"),
        sse(change(3), "event: heartbeat\ndata: {}\n\n", "id: 4\n\n"),
        sse("id: r1\nevent: reset\ndata: {\"reason\":\"gap\"}\n\n", change(10)),
    )
    with Client(srv.url, api_key=KEY) as tp:
        s = tp.stream(region="eu", metrics={"speed_kmh": {">": 50}}, device_ids=["veh-1", "veh-2"])
        got = []
        for ev in s:
            got.append((ev.event, ev.id, ev.change().version if ev.event == "change" else ev.json()))
            if len(got) == 6:
                break
        s.close()
    assert got == [
        ("change", "1", 1),
        ("change", "2", 2),
        ("cut", "2", {"reason": "slow"}),
        ("change", "3", 3),
        ("reset", "r1", {"reason": "gap"}),
        ("change", "10", 10),
    ]
    assert s.last_event_id == "10" and s.reconnects == 2 and s.retry_ms == 10
    assert s.last_heartbeat is not None
    assert [r["headers"].get("Last-Event-ID") for r in srv.requests] == [None, "2", "4"]
    for r in srv.requests:
        assert r["path"] == "/v1/stream?region=eu&metric.speed_kmh.gt=50&device_ids=veh-1%2Cveh-2"
        assert r["headers"]["Authorization"] == "Bearer " + KEY
        assert r["headers"]["Accept"] == "text/event-stream"


def test_heartbeats_yielded_on_request_and_resume_from_a_given_id(server: Callable[..., Server]) -> None:
    srv = server(sse(": ping\n\n", change(6), "event: heartbeat\ndata: {\"ts\":1}\n\n"))
    with Client(srv.url, api_key=KEY) as tp:
        with tp.stream(last_event_id="5", heartbeats=True) as s:
            got = [(e.event, e.id, e.data) for _, e in zip(range(3), s)]
    assert got == [("heartbeat", "5", "ping"), ("change", "6", change(6).split("data: ")[1].strip()), ("heartbeat", "6", '{"ts":1}')]
    assert srv.requests[0]["headers"]["Last-Event-ID"] == "5"
    assert srv.requests[0]["path"] == "/v1/stream"


def test_idle_connection_is_dropped_and_resumed(server: Callable[..., Server]) -> None:
    srv = server(sse("retry: 10\n\n", change(1), stall=3.0), sse(change(2)))
    with Client(srv.url, api_key=KEY) as tp:
        s = tp.stream(idle_timeout=0.3)
        t0 = time.monotonic()
        got = [e.id for _, e in zip(range(2), s)]
        took = time.monotonic() - t0
        s.close()
    assert got == ["1", "2"] and s.reconnects == 1
    assert took < 2.5  # the stalled connection was left after the idle timeout, not its 3 s
    assert [r["headers"].get("Last-Event-ID") for r in srv.requests] == [None, "1"]


def test_unavailable_is_retried(server: Callable[..., Server]) -> None:
    body = '{"error":{"code":"overloaded","message":"too many waiting"}}'
    srv = server(status(503, body, {"Retry-After": "0"}), sse(change(1)))
    with Client(srv.url, api_key=KEY) as tp:
        s = tp.stream()
        assert next(s).id == "1"
        s.close()
    assert len(srv.requests) == 2 and s.reconnects == 1


def test_gives_up_after_max_retries(server: Callable[..., Server]) -> None:
    body = '{"error":{"code":"shutting_down","message":"stopping"}}'
    srv = server(*[status(503, body, {"Retry-After": "0"})] * 3)
    with Client(srv.url, api_key=KEY) as tp:
        with pytest.raises(TransportError, match="gave up after 3 failed attempts"):
            next(tp.stream(max_retries=2))
    assert len(srv.requests) == 3


def test_client_errors_are_raised_at_once(server: Callable[..., Server]) -> None:
    srv = server(
        status(401, '{"error":{"code":"unauthorized","message":"a valid API key is required"}}'),
        status(404, '{"error":{"code":"not_found","message":"no such endpoint"}}'),
        sse(change(1), ctype="text/plain"),
    )
    with Client(srv.url, api_key="wrong") as tp:
        with pytest.raises(AuthenticationError) as e:
            next(tp.stream())
        assert (e.value.status, e.value.code, e.value.message) == (401, "unauthorized", "a valid API key is required")
        with pytest.raises(NotFoundError) as n:
            next(tp.stream())
        assert (n.value.status, n.value.code) == (404, "not_found")
        with pytest.raises(StreamProtocolError, match="text/plain"):
            next(tp.stream())
    assert len(srv.requests) == 3


def test_oversized_event_ends_the_stream(server: Callable[..., Server]) -> None:
    srv = server(sse("data: " + "x" * 5000 + "\n\n"))
    with Client(srv.url, api_key=KEY) as tp:
        s = tp.stream()
        s._max_line = 1024  # the default is 1 MiB
        with pytest.raises(StreamProtocolError, match="line over 1024"):
            next(s)
    assert len(srv.requests) == 1


def test_connection_refused_is_retried_then_given_up() -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with Client(f"http://127.0.0.1:{port}", api_key=KEY) as tp:
        s = tp.stream(max_retries=1)
        s.retry_ms = 1
        with pytest.raises(TransportError, match="gave up after 2 failed attempts"):
            next(s)
    assert s.reconnects == 1

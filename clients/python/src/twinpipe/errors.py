"""Exceptions, mapped from tp-query's JSON error body.

tp-query answers every error as ``{"error": {"code": ..., "message": ...}}``
with a stable ``code`` from one table (query/errors.h, listed in
query/openapi.json). :func:`error_from_response` turns such an answer into
the exception class of its code (or, for a code this client does not know,
of its status), carrying ``status``, ``code``, ``message`` and
``retry_after``.

    TwinpipeError
    ├── TransportError            the server could not be reached / the connection broke
    ├── StreamProtocolError       the change stream sent something unreadable or too large
    └── ApiError                  tp-query answered with an error status
        ├── InvalidRequestError   400: invalid_parameter, invalid_cursor, ...
        ├── AuthenticationError   401: unauthorized
        ├── NotFoundError         404: not_found (no such endpoint)
        │   └── DeviceNotFoundError  404: device_not_found
        ├── UnavailableError      503: database_unavailable, not_ready, overloaded,
        │                         shutting_down (retriable, Retry-After)
        └── ConsistencyTimeoutError  504: consistency_timeout (retriable)
"""

from __future__ import annotations

import json
from typing import Dict, Optional, Type


class TwinpipeError(Exception):
    """Base of every error this client raises."""


class TransportError(TwinpipeError):
    """No HTTP answer: connection refused, reset, timed out."""


class StreamProtocolError(TwinpipeError):
    """The change stream broke its format: not text/event-stream, or a line or
    event over the client's limit."""


class ApiError(TwinpipeError):
    """tp-query answered with an error status.

    ``code`` is tp-query's stable error code (``None`` when the body was not
    tp-query's JSON error, e.g. from a proxy); ``retry_after`` the
    ``Retry-After`` header in seconds, if any.
    """

    retriable = False

    def __init__(
        self,
        status: int,
        code: Optional[str],
        message: str,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(f"{status} {code or 'error'}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class InvalidRequestError(ApiError):
    """400: a parameter, cursor, device id or consistency token was refused."""


class AuthenticationError(ApiError):
    """401: no, a malformed or an unknown API key."""


class NotFoundError(ApiError):
    """404: no such endpoint (``not_found``)."""


class DeviceNotFoundError(NotFoundError):
    """404 ``device_not_found``: no twin for this device."""


class UnavailableError(ApiError):
    """503: the twin store is unreachable, the replica is not ready, overloaded
    or stopping. Retry after ``retry_after`` seconds."""

    retriable = True


class ConsistencyTimeoutError(ApiError):
    """504 ``consistency_timeout``: the projector had not applied the
    consistency token's events within tp-query's wait. Retriable."""

    retriable = True


# tp-query's codes (query/errors.h); a code not listed falls back to its status.
_BY_CODE: Dict[str, Type[ApiError]] = {
    "invalid_device_id": InvalidRequestError,
    "invalid_parameter": InvalidRequestError,
    "invalid_cursor": InvalidRequestError,
    "too_many_buckets": InvalidRequestError,
    "invalid_consistency_token": InvalidRequestError,
    "unauthorized": AuthenticationError,
    "device_not_found": DeviceNotFoundError,
    "not_found": NotFoundError,
    "database_unavailable": UnavailableError,
    "not_ready": UnavailableError,
    "overloaded": UnavailableError,
    "shutting_down": UnavailableError,
    "consistency_timeout": ConsistencyTimeoutError,
}

_BY_STATUS: Dict[int, Type[ApiError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    503: UnavailableError,
    504: ConsistencyTimeoutError,
}

# an error body longer than this is not tp-query's; only its start goes into the message
_MAX_MESSAGE = 512


def _retry_after(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP date: not sent by tp-query


def error_from_response(status: int, body: bytes, retry_after: Optional[str] = None) -> ApiError:
    """The exception for an error answer: by tp-query's ``code`` if the body is
    its JSON error, else by status (``code`` None, the body's start as message)."""
    code: Optional[str] = None
    message = ""
    try:
        doc = json.loads(body)
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict) and isinstance(err.get("code"), str):
            code = err["code"]
            message = str(err.get("message", ""))
    except ValueError:
        pass
    if code is None:
        message = body[:_MAX_MESSAGE].decode("utf-8", "replace").strip() or f"HTTP {status}"
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(status, ApiError)
    return cls(status, code, message, _retry_after(retry_after))

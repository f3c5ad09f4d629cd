"""twinpipe: a typed client for tp-query, twinpipe's read API.

    from twinpipe import Client
    with Client("http://127.0.0.1:18081", api_key="...") as tp:
        print(tp.get_twin("veh-000007").value("speed_kmh"))
"""

from .client import DEFAULT_URL, Client, DeviceList, __version__, filter_params
from .errors import (
    ApiError,
    AuthenticationError,
    ConsistencyTimeoutError,
    DeviceNotFoundError,
    InvalidRequestError,
    NotFoundError,
    StreamProtocolError,
    TransportError,
    TwinpipeError,
    UnavailableError,
    error_from_response,
)
from .models import Bucket, Location, Metric, MetricAggregate, Page, Series, Summary, SummaryGroup, Twin
from .stream import Comment, SSEParser, Stream, StreamEvent, TwinChange
from .tokens import merge_tokens, parse_token

__all__ = [
    "DEFAULT_URL",
    "ApiError",
    "AuthenticationError",
    "Bucket",
    "Client",
    "Comment",
    "ConsistencyTimeoutError",
    "DeviceList",
    "DeviceNotFoundError",
    "InvalidRequestError",
    "Location",
    "Metric",
    "MetricAggregate",
    "NotFoundError",
    "Page",
    "SSEParser",
    "Series",
    "Stream",
    "StreamEvent",
    "StreamProtocolError",
    "Summary",
    "SummaryGroup",
    "TransportError",
    "Twin",
    "TwinChange",
    "TwinpipeError",
    "UnavailableError",
    "__version__",
    "error_from_response",
    "filter_params",
    "merge_tokens",
    "parse_token",
]

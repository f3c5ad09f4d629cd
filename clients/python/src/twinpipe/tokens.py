"""Consistency tokens for read-your-writes.

tp-ingest answers every POST with a token, ``t1.<partition>:<offset>,...``
(the highest offset it wrote per partition). Passed to tp-query (this
client sends it as ``X-Consistency-Token``), the answer includes those
events: tp-query waits until the projector applied them (up to its
``query.consistency_wait_ms``, then 504 ``consistency_timeout``).

A writer that posted several times passes :func:`merge_tokens` of all its
tokens: per partition the highest offset, which covers every one of them.
"""

from __future__ import annotations

import re
from typing import Dict, Optional

_TOKEN = re.compile(r"^t1\.[0-9]+:[0-9]+(,[0-9]+:[0-9]+)*$")


def parse_token(token: str) -> Dict[int, int]:
    """``"t1.0:12,3:99"`` -> ``{0: 12, 3: 99}``; ValueError if malformed."""
    if not _TOKEN.match(token):
        raise ValueError(f"not a consistency token: {token!r}")
    out: Dict[int, int] = {}
    for part in token[3:].split(","):
        p, o = part.split(":")
        out[int(p)] = max(out.get(int(p), -1), int(o))
    return out


def merge_tokens(*tokens: Optional[str]) -> Optional[str]:
    """One token covering every given one (None entries are skipped; None if
    none is left)."""
    merged: Dict[int, int] = {}
    for t in tokens:
        if t is None:
            continue
        for p, o in parse_token(t).items():
            merged[p] = max(merged.get(p, -1), o)
    if not merged:
        return None
    return "t1." + ",".join(f"{p}:{merged[p]}" for p in sorted(merged))

"""The backend reads the gate needs, straight from the API (docs/api.md), not via the proxies."""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlencode

from chaos.verdict import StoredDetection
from loadtests._http import HttpError, request_json
from loadtests._options import RunOptions
from loadtests._tls import ssl_context
from simulator.protocol import (
    DETECTIONS_PATH,
    HEALTH_PATH,
    parse_stored_page,
    stored_content_hash,
    stored_page_params,
)

__all__ = ["stored_detections", "stream_head"]

log = logging.getLogger("loadtests.backend")

MAX_PAGES_PER_NODE = 100_000  # a bound on the cursor walk, far beyond any run's rows


def stream_head(opts: RunOptions) -> int | None:
    """The backend's current stream head (``GET /health``), or None when it cannot be read."""
    try:
        answer = request_json("GET", f"{opts.api_url}{HEALTH_PATH}", timeout=5,
                              context=ssl_context(opts.tls))
        return int(answer["stream_head"])
    except (HttpError, KeyError, TypeError, ValueError) as exc:
        log.warning("cannot read the stream head from %s%s: %s (set --api-url / "
                    "SENTINEL_API_URL); dashboards start live", opts.api_url, HEALTH_PATH, exc)
        return None


def _epoch(value: object) -> float | None:
    return datetime.fromisoformat(value).timestamp() if isinstance(value, str) else None


def stored_detections(opts: RunOptions, node_ids: list[str]) -> list[StoredDetection]:
    """One entry per stored row of these nodes (two rows of one identity = stored twice),
    with its stream seq, ``committed_at`` and the content hash of the row as stored."""
    stored: list[StoredDetection] = []
    context = ssl_context(opts.tls)
    for node_id in node_ids:
        cursor: str | None = None
        for _page in range(MAX_PAGES_PER_NODE):
            query = urlencode(stored_page_params(node_id, cursor))
            body = request_json("GET", f"{opts.api_url}{DETECTIONS_PATH}?{query}",
                                token=opts.read_token, timeout=15, context=context)
            items, cursor = parse_stored_page(body)
            for item in items:
                stream_seq = item.get("stream_seq")
                stored.append(StoredDetection(
                    node_id=str(item["node_id"]), seq=int(item["seq"]),
                    content_hash=stored_content_hash(item),
                    committed_at=_epoch(item.get("committed_at")),
                    stream_seq=None if stream_seq is None else int(stream_seq)))
            if cursor is None:
                break
    return stored

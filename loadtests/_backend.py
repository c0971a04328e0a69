"""The backend reads the gate needs, straight from the API (docs/api.md), not via the proxies."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from loadtests._http import HttpError, request_json
from loadtests._options import RunOptions
from simulator.payloads import content_hash

__all__ = ["stored_detections", "stream_head"]

log = logging.getLogger("loadtests.backend")


def stream_head(opts: RunOptions) -> int | None:
    """The backend's current stream head (``GET /health``), or None when it cannot be read."""
    try:
        answer = request_json("GET", f"{opts.api_url}/health", timeout=5)
        return int(answer["stream_head"])
    except (HttpError, KeyError, TypeError, ValueError) as exc:
        log.warning("cannot read the stream head from %s/health: %s (set --api-url / "
                    "SENTINEL_API_URL); dashboards start live", opts.api_url, exc)
        return None


def stored_detections(opts: RunOptions,
                      node_ids: list[str]) -> dict[tuple[str, int], tuple[int | None, int]]:
    """``(node_id, seq) -> (stream_seq, content hash)`` of every stored detection of these
    nodes; the hash is ``simulator.payloads.content_hash`` of the row as stored."""
    stored: dict[tuple[str, int], tuple[int | None, int]] = {}
    for node_id in node_ids:
        cursor: str | None = None
        while True:
            query = {"node_id": node_id, "limit": 1000}
            if cursor:
                query["cursor"] = cursor
            page = request_json("GET", f"{opts.api_url}/api/detections?{urlencode(query)}",
                                token=opts.read_token, timeout=15)
            for item in page["items"]:
                seq = item.get("stream_seq")
                key = (str(item["node_id"]), int(item["seq"]))
                stored[key] = (None if seq is None else int(seq), content_hash(item))
            cursor = page.get("next_cursor")
            if not cursor:
                break
    return stored

"""The backend reads the gate needs, never via the fault proxies: from the database when
the gate has ``--database-url`` (``_database``: the real commit times, the stream of the
run's window, the audit rows), else from the API (docs/api.md), which tells neither the
commit time of a row's transaction nor the stream's other event types nor the audit log,
so those SLOs are then judged "not measurable" with the reason."""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlencode

import asyncpg

from chaos.verdict import AuditRow, StoredDetection, StreamEvent
from loadtests._database import read_audit_rows, read_stored, read_stream_window
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

__all__ = ["FROM_API", "read_run_rows", "read_stored_rows", "stored_detections",
           "stream_head"]

#: ``commit_times`` of a run judged from the API (the verdict prefixes "not measurable").
FROM_API = "judged from the API (the gate has no --database-url)"

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


def read_stored_rows(opts: RunOptions, node_ids: list[str]
                     ) -> tuple[list[StoredDetection], str]:
    """The stored rows of these nodes and ``commit_times`` (``"measured"`` or why not)."""
    if opts.database_url:
        return read_stored(opts.database_url, node_ids)
    return stored_detections(opts, node_ids), FROM_API


def read_run_rows(opts: RunOptions, node_ids: list[str], since: int | None, upto: int
                  ) -> tuple[list[StreamEvent] | None, list[AuditRow] | None, list[str]]:
    """The stream events after ``since`` (the head at the start) up to ``upto`` and the
    audit rows of these nodes (``None``, ``None`` from the API), and what could not be
    read (a harness error: the database was asked for and did not answer)."""
    if not opts.database_url:
        return None, None, []
    errors: list[str] = []
    stream: list[StreamEvent] | None = None
    audit: list[AuditRow] | None = None
    try:
        if since is not None:
            stream = read_stream_window(opts.database_url, since, upto)
        audit = read_audit_rows(opts.database_url, node_ids)
    except (OSError, asyncpg.PostgresError) as exc:  # TimeoutError is an OSError
        errors.append(f"cannot read the run's stream and audit rows from --database-url: "
                      f"{exc}")
    return stream, audit, errors

"""Structured JSON logs; every line logged while serving a request carries its request id.

No secret reaches a log line: dashboards authenticate with ``?token=`` (docs/api.md, "The
stream"), and uvicorn writes every WebSocket request line with its query string, so every
record is passed through :func:`redact` (``token=***``, ``Bearer ***``) before it is
formatted. The backend has its own redaction (it imports none of the harness packages); the
harness's twin is ``chaos._secrets``.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
from typing import Any

import orjson

__all__ = [
    "JsonFormatter",
    "RedactingFilter",
    "configure",
    "install_redaction",
    "redact",
    "request_id",
]

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# ``token=<value>`` in a query string (also URL-encoded: ``token%3D``), and the value of an
# Authorization header or a bearer credential however it was printed.
_QUERY_TOKEN = re.compile(r"(?i)(token(?:=|%3D))[^&\s\"'<>#\\]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"'<>,;\\]+")
_AUTH_HEADER = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?!bearer\s)[^\s\"'<>,;\\]+")
_ANY = re.compile(r"(?i)token|bearer|authorization")
# Uvicorn's loggers: their records are rewritten where they are made, so that a handler
# someone else attaches to them (not ours) cannot print a token either.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def redact(text: str) -> str:
    """`text` with every token value replaced by ``***`` (query strings, bearer values)."""
    if _ANY.search(text) is None:
        return text  # the common case (and the hot one): one scan, no rewriting
    text = _QUERY_TOKEN.sub(r"\1***", text)
    text = _BEARER.sub(r"\1***", text)
    return _AUTH_HEADER.sub(r"\1***", text)


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"))
    if isinstance(value, tuple | list):
        return type(value)(_redacted(v) for v in value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


def _redacted_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: _redacted(value) for key, value in fields.items()}


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and arguments so that no token value is printed.

    Uvicorn logs ``'%s - "WebSocket %s" [accepted]'`` with the path and query string as an
    argument, so the arguments are rewritten, not only the format string. Never drops a
    record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = _redacted(record.args)  # type: ignore[assignment]
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = _redacted_fields(fields)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        rid = request_id.get()
        if rid is not None:
            entry["request_id"] = rid
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(_redacted_fields(extra))
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def install_redaction(names: tuple[str, ...] = UVICORN_LOGGERS) -> None:
    """Put a :class:`RedactingFilter` on each of the loggers `names` (once each)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


def configure(level: str = "INFO") -> None:
    """JSON lines on stderr for our loggers and uvicorn's, every one of them redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())  # records of every logger, propagated or not
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    install_redaction()
    logging.getLogger("uvicorn.access").disabled = True

"""Secrets stay out of what the harness writes: its logs, the live view and the reports.

One redaction for the harness packages (``chaos``, ``loadtests``; the backend has its own,
since it imports none of them). It replaces with ``***``: a ``token=`` value in a query
string (dashboards authenticate with ``?token=``, docs/api.md "The stream"), the value after
``Bearer`` or ``Authorization:``, any token of the shape the backend issues (``enr_``,
``op_``, ``view_``, ``node_`` and 43 URL-safe characters), and the literal `secrets` a caller
knows of (a ``--target`` backend's tokens need not have that shape).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["MASK", "install_log_redaction", "redact", "redact_value"]

MASK = "***"

_QUERY_TOKEN = re.compile(r"(?i)(token(?:=|%3D))[^&\s\"'<>#\\]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"'<>,;\\]+")
_AUTH_HEADER = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?!bearer\s)[^\s\"'<>,;\\]+")
_ISSUED = re.compile(r"(?<![A-Za-z0-9_-])(?:enr|op|view|node)_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
_ANY = re.compile(r"(?i)token|bearer|authorization|enr_|op_|view_|node_")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without a token value in it (see the module's docstring for what is masked)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    if _ANY.search(text) is None:
        return text
    text = _QUERY_TOKEN.sub(r"\1" + MASK, text)
    text = _BEARER.sub(r"\1" + MASK, text)
    text = _AUTH_HEADER.sub(r"\1" + MASK, text)
    return _ISSUED.sub(MASK, text)


def redact_value(value: Any, secrets: Iterable[str] = ()) -> Any:
    """:func:`redact` through strings, lists, tuples and dict values (keys are ours)."""
    known = tuple(secrets)
    if isinstance(value, str):
        return redact(value, known)
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v, known) for v in value)
    if isinstance(value, dict):
        return {k: redact_value(v, known) for k, v in value.items()}
    return value


_INSTALLED = "_sentinel_chaos_redacting"


def install_log_redaction() -> None:
    """Redact every log record of this process where it is made, whatever handler (ours,
    Locust's, ``logging.lastResort``) prints it later. Idempotent; call it from a command's
    entry point, never at import."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, _INSTALLED, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = redact_value(record.args)
        return record

    setattr(factory, _INSTALLED, True)
    logging.setLogRecordFactory(factory)

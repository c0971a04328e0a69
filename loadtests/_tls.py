"""TLS for the load test: one verified client context per process, and the preflight.

Locust's ``FastHttpUser`` does not verify certificates by default, and websocket-client
and urllib each have their own idea of trust; a load test against a TLS deployment must
check the server like the fleet does, so every client here (the edge users' HTTP, the
dashboards' WebSocket, the gate's reads) takes its context from
``simulator.tls.client_context`` with the run's ``--ca-file``/``--client-cert``/
``--client-key``/``--insecure``. A certificate that does not verify stops the run at the
start with one line (:func:`preflight_or_exit`), not a failure per request.

The context must be gevent's (Locust monkey-patches ``ssl`` at import, and
``simulator.tls`` is imported after that), or a TLS read would block every greenlet.
"""

from __future__ import annotations

import functools
import ssl
import sys
from collections.abc import Callable, Iterable
from typing import Any

import gevent.ssl

from simulator.tls import (
    INSECURE_WARNING,
    TlsOptions,
    TlsPreflightError,
    client_context,
    is_tls_url,
    preflight,
)

__all__ = ["PREFLIGHT_EXIT_CODE", "http_context_factory", "preflight_or_exit", "ssl_context"]

PREFLIGHT_EXIT_CODE = 2
"""Locust's exit status when a TLS target cannot be used as configured."""

PREFLIGHT_TIMEOUT_S = 5.0


@functools.lru_cache(maxsize=8)
def ssl_context(tls: TlsOptions) -> ssl.SSLContext:
    """The process's shared client context for ``tls`` (raises ``TlsConfigError``)."""
    ctx = client_context(tls, quiet=True)
    assert ctx is not None  # no URL given: always a context
    cooperative = isinstance(ctx, gevent.ssl.SSLContext)
    if not cooperative:
        raise RuntimeError("simulator.tls was imported before Locust's gevent monkey-patching: "
                           "import locust first (loadtests/locustfile.py does)")
    return ctx


def http_context_factory(tls: TlsOptions) -> Callable[..., ssl.SSLContext]:
    """``FastHttpUser.ssl_context_factory``: geventhttpclient calls it with ``cafile=``
    (its own CA bundle), which is ignored: the run's options decide whom to trust."""

    def factory(*_: Any, **__: Any) -> ssl.SSLContext:
        return ssl_context(tls)

    return factory


def _is_tls(url: str) -> bool:
    try:
        return bool(url) and is_tls_url(url)
    except ValueError:  # not a URL Locust could use either: its own error says so
        return False


def preflight_or_exit(urls: Iterable[str], tls: TlsOptions) -> None:
    """One TLS connection to each ``https://``/``wss://`` target; on a failure print one
    line and exit with :data:`PREFLIGHT_EXIT_CODE`. Plain targets are skipped."""
    targets = list(dict.fromkeys(u for u in urls if _is_tls(u)))
    if not targets:
        return
    if tls.insecure:
        print(INSECURE_WARNING, file=sys.stderr, flush=True)
    for url in targets:
        try:
            preflight(url, tls, PREFLIGHT_TIMEOUT_S)
        except TlsPreflightError as exc:
            print(f"sentinel: TLS preflight failed for {url}: {exc}", file=sys.stderr,
                  flush=True)
            raise SystemExit(PREFLIGHT_EXIT_CODE) from exc

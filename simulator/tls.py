"""TLS for the fleet's clients: one set of options, one client context, one preflight.

Field rehearsals aim the fleet at a real backend over HTTPS, often one with a private
CA, sometimes one that wants a client certificate. Every client of the simulator (the
fleet's HTTP pool, dashboards over ``wss://``, httpx evidence clients) should verify the
same way, so they all take their ``ssl.SSLContext`` from :func:`client_context`:

* the system trust store, or ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set (the standard
  ``ssl.create_default_context()`` recipe), or only ``ca_file`` when given;
* an optional client certificate for mutual TLS;
* ``insecure``: no verification at all. It is logged as a warning here; callers must also
  say so loudly (print :data:`INSECURE_WARNING`), because a rehearsal that does not check
  who it talks to proves nothing about the deployment.

:func:`preflight` connects once before a run and turns a TLS failure into one line that
names the problem ("certificate has expired", "unknown CA ...") instead of a stack trace
from the thousandth node. ``HttpPool`` (``simulator._http``) takes the context as
``ssl_context=``; :func:`websockets_ssl_kwargs` and :func:`httpx_verify` adapt it for
``websockets.connect`` and ``httpx``.
"""

from __future__ import annotations

import ssl
from typing import Any

from simulator._tls_context import (
    INSECURE_WARNING,
    TlsOptions,
    add_tls_arguments,
    client_context,
    is_tls_url,
)
from simulator._tls_errors import TlsConfigError, TlsPreflightError
from simulator._tls_preflight import preflight
from simulator._tls_session import SessionResumingContext

__all__ = [
    "INSECURE_WARNING",
    "SessionResumingContext",
    "TlsConfigError",
    "TlsOptions",
    "TlsPreflightError",
    "add_tls_arguments",
    "client_context",
    "httpx_verify",
    "is_tls_url",
    "preflight",
    "websockets_ssl_kwargs",
]


def websockets_ssl_kwargs(url: str, ctx: ssl.SSLContext | None) -> dict[str, Any]:
    """Keyword arguments for ``websockets.connect(url, **kw)``: ``{"ssl": ctx}`` for
    ``wss://``, nothing for ``ws://`` (websockets refuses ``ssl=`` there)."""
    if ctx is None or not is_tls_url(url):
        return {}
    return {"ssl": ctx}


def httpx_verify(ctx: ssl.SSLContext | None) -> ssl.SSLContext | bool:
    """The ``verify=`` argument of ``httpx.Client``/``AsyncClient``: the shared context,
    or httpx's own default verification when there is none (plain http needs none)."""
    return ctx if ctx is not None else True

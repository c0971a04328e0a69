"""The fleet's TLS client options and the one client context built from them.

Public through ``simulator.tls`` (see its docstring for why every client shares this).
"""

from __future__ import annotations

import argparse
import logging
import os
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from simulator._tls_errors import TlsConfigError
from simulator._tls_session import SessionResumingContext

__all__ = ["INSECURE_WARNING", "TlsOptions", "add_tls_arguments", "client_context", "is_tls_url"]

log = logging.getLogger("simulator.tls")

INSECURE_WARNING = (
    "WARNING: TLS certificate verification is OFF (--insecure): the server's identity is "
    "not checked, so this run proves nothing about the deployment's TLS"
)

_TLS_SCHEMES = frozenset({"https", "wss"})
_PLAIN_SCHEMES = frozenset({"http", "ws"})


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """How a client verifies the server and identifies itself (all optional)."""

    ca_file: Path | None = None
    """PEM bundle of the CA(s) to trust instead of the system store (a private CA)."""
    client_cert: Path | None = None
    """PEM client certificate for mutual TLS (may also hold the key)."""
    client_key: Path | None = None
    """PEM key of ``client_cert`` when it is in a file of its own."""
    insecure: bool = False
    """No verification of the server at all (loud; for rehearsals only)."""

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> TlsOptions:
        """From the options :func:`add_tls_arguments` added."""
        return cls(
            ca_file=ns.ca_file, client_cert=ns.client_cert, client_key=ns.client_key,
            insecure=bool(ns.insecure),
        )


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    """``--ca-file``, ``--client-cert``, ``--client-key``, ``--insecure`` on a CLI parser."""
    g = parser.add_argument_group("TLS (https:// and wss:// targets)")
    g.add_argument("--ca-file", type=Path, default=None,
                   help="PEM CA bundle to trust instead of the system store (private CA)")
    g.add_argument("--client-cert", type=Path, default=None,
                   help="PEM client certificate for mutual TLS")
    g.add_argument("--client-key", type=Path, default=None,
                   help="PEM key of --client-cert, if not in the same file")
    g.add_argument("--insecure", action="store_true",
                   help="do NOT verify the server's certificate (rehearsals only)")


def is_tls_url(url: str) -> bool:
    """``https://`` or ``wss://``; raises ``ValueError`` for a scheme that is neither TLS
    nor plain HTTP/WebSocket."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in _TLS_SCHEMES:
        return True
    if scheme in _PLAIN_SCHEMES:
        return False
    raise ValueError(f"not an http(s):// or ws(s):// URL: {url!r}")


def client_context(
    opts: TlsOptions, url: str | None = None, *, quiet: bool = False
) -> ssl.SSLContext | None:
    """The client context for ``opts``; ``None`` when ``url`` is given and is plain
    ``http://``/``ws://`` (nothing to encrypt).

    The context is a :class:`SessionResumingContext` (an ``ssl.SSLContext``), built with
    ``ssl.create_default_context()``'s client recipe: TLS client protocol, hostname check
    and ``CERT_REQUIRED``, the default verify paths (which honour ``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR``) unless ``ca_file`` is given, and ``SSLKEYLOGFILE``. It is built
    here rather than by that function because only a subclass can offer TLS sessions to
    connections the event loop makes. ``quiet`` leaves out the ``insecure`` warning
    (for a deliberate unverified look, e.g. the preflight's). Raises
    :class:`TlsConfigError` (one line) for an unreadable CA file or client certificate/key.
    """
    if url is not None and not is_tls_url(url):
        return None
    if opts.client_key is not None and opts.client_cert is None:
        raise TlsConfigError("--client-key given without --client-cert")
    ctx = SessionResumingContext(ssl.PROTOCOL_TLS_CLIENT)
    if opts.ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=str(opts.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigError(f"CA file {opts.ca_file}: {_reason(exc)}") from exc
    else:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:
        ctx.keylog_filename = keylog
    if opts.client_cert is not None:
        try:
            ctx.load_cert_chain(str(opts.client_cert),
                                str(opts.client_key) if opts.client_key else None)
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigError(
                f"client certificate {opts.client_cert}: {_reason(exc)}"
            ) from exc
    if opts.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if not quiet:
            log.warning("%s", INSECURE_WARNING)
    return ctx


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)

"""Connect once to a TLS target before a run and name what is wrong, in one line.

A fleet of thousands of nodes failing the same handshake fills a log with identical
stack traces; one connection first, with the options the run will use, says instead
"certificate has expired (valid until ...)" or "client certificate required". In TLS
1.3 the server checks the client certificate after the client considers the handshake
done, so the preflight also sends a ``HEAD /`` and reads: that is where "certificate
required" arrives. When our check of the server's certificate fails, a second,
unverified connection fetches that certificate so the line can say what it is for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import ssl
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from simulator._tls_context import TlsOptions, client_context
from simulator._tls_errors import (
    UNKNOWN_CA,
    TlsPreflightError,
    describe_ssl_error,
    describe_verify_error,
)

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["preflight"]

_EXPIRED, _NOT_YET_VALID = 10, 9
_NAME_MISMATCH_CODES = frozenset({62, 63, 64})
_UNKNOWN_CA_CODES = frozenset({2, 18, 19, 20, 21})


def preflight(url: str, opts: TlsOptions, timeout: float = 5.0) -> None:
    """One TLS connection to ``url`` (``https://`` or ``wss://``) with ``opts``.

    Returns when the handshake (and the server's verdict on our client certificate)
    passed; raises :class:`TlsPreflightError` naming the problem otherwise. A plain
    ``http://``/``ws://`` URL has no TLS to check and returns at once.
    """
    u = urlsplit(url)
    scheme = u.scheme.lower()
    if scheme in ("http", "ws"):
        return
    if scheme not in ("https", "wss"):
        raise TlsPreflightError(f"not an https:// or wss:// URL: {url!r}")
    host = u.hostname or ""
    port = u.port or 443
    where = f"{host}:{port}"
    ctx = client_context(opts, quiet=True)  # callers print the insecure warning
    assert ctx is not None  # no URL given: always a context
    try:
        answered = _handshake_and_read(ctx, host, port, timeout)
    except ssl.SSLCertVerificationError as exc:
        detail = _server_cert_detail(exc, opts, host, port, timeout)
        raise TlsPreflightError(f"{where}: {detail}") from exc
    except ssl.SSLError as exc:
        problem = describe_ssl_error(exc, host, opts.client_cert is not None)
        raise TlsPreflightError(f"{where}: {problem}") from exc
    except ConnectionRefusedError as exc:
        raise TlsPreflightError(f"{where}: connection refused (nothing listening?)") from exc
    except socket.gaierror as exc:
        raise TlsPreflightError(f"{where}: cannot resolve {host}: {exc.strerror}") from exc
    except TimeoutError as exc:
        raise TlsPreflightError(f"{where}: no TLS handshake within {timeout} s") from exc
    except OSError as exc:
        raise TlsPreflightError(f"{where}: cannot connect: {exc.strerror or exc}") from exc
    if not answered:
        raise TlsPreflightError(f"{where}: {_hung_up(opts.client_cert is not None)}")


def _hung_up(client_cert_given: bool) -> str:
    """The server closed right after the handshake without a byte of answer. Python's
    asyncio servers (uvicorn's too) do that, instead of sending TLS 1.3's
    certificate_required alert, when they refuse the client's certificate."""
    if client_cert_given:
        return ("client certificate not accepted, most likely: the server closed the "
                "connection after the TLS handshake without answering")
    return ("client certificate required, most likely: the server closed the connection "
            "after the TLS handshake without answering (pass --client-cert)")


def _handshake_and_read(ctx: ssl.SSLContext, host: str, port: int, timeout: float) -> bool:
    """Handshake, send ``HEAD /``; False when the server hung up without answering."""
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall(
            f"HEAD / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        try:
            return bool(tls.recv(1))  # an answer, a hang-up, or the server's alert
        except TimeoutError:
            return True  # handshake accepted; a slow HTTP answer is not a TLS problem
        except ssl.SSLEOFError:
            return False


def _server_cert_detail(
    exc: ssl.SSLCertVerificationError, opts: TlsOptions, host: str, port: int, timeout: float,
) -> str:
    """The verify failure, with what the certificate says when it can be fetched."""
    base = describe_verify_error(exc, host)
    code = exc.verify_code
    try:
        cert = _fetch_unverified(opts, host, port, timeout)
    except (OSError, ValueError):
        return base
    if cert is None:
        return base
    from cryptography import x509  # only on this error path: keep imports of tls cheap

    if code in _NAME_MISMATCH_CODES:
        names = _names(cert)
        return (f"hostname mismatch: certificate is for {', '.join(names) or '(no names)'}, "
                f"not {host}")
    if code == _EXPIRED:
        return f"certificate has expired (valid until {_when(cert.not_valid_after_utc)})"
    if code == _NOT_YET_VALID:
        return (f"certificate is not yet valid (valid from {_when(cert.not_valid_before_utc)};"
                " check the clocks)")
    if code in _UNKNOWN_CA_CODES:
        issuer = cert.issuer.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
        by = f"; issued by {issuer[0].value!s}" if issuer else ""
        return f"{UNKNOWN_CA}{by}"
    return base


def _fetch_unverified(
    opts: TlsOptions, host: str, port: int, timeout: float
) -> x509.Certificate | None:
    from cryptography import x509

    ctx = client_context(dataclasses.replace(opts, insecure=True), None, quiet=True)
    assert ctx is not None
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der) if der else None


def _names(cert: x509.Certificate) -> list[str]:
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        cns = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
        return [str(a.value) for a in cns]
    return [str(n) for n in san.get_values_for_type(x509.DNSName)] + [
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    ]


def _when(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")

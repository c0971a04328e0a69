"""One-line names for TLS failures, shared by the preflight and the HTTP pool.

OpenSSL reports a refused certificate as a numeric verify code and a refused handshake
as an alert reason such as ``TLSV13_ALERT_CERTIFICATE_REQUIRED``; an operator starting a
rehearsal needs the fix instead ("unknown CA ...: pass --ca-file"). These functions
only read the exception: details that need another look at the server (the names on
its certificate, its expiry date) are added by the preflight.
"""

from __future__ import annotations

import ssl

__all__ = [
    "UNKNOWN_CA",
    "TlsConfigError",
    "TlsPreflightError",
    "describe_ssl_error",
    "describe_verify_error",
]

UNKNOWN_CA = "unknown CA (self-signed or private CA: pass --ca-file)"

# OpenSSL X509_V_ERR_* codes (x509_vfy.h); stable across OpenSSL 1.1 and 3.
_UNKNOWN_CA_CODES = frozenset({2, 18, 19, 20, 21})
_NOT_YET_VALID = 9
_EXPIRED = 10
_REVOKED = 23
_INVALID_CA = 24
_INVALID_PURPOSE = 26
_NAME_MISMATCH_CODES = frozenset({62, 63, 64})

# Alert/reason names from the server or the record layer -> what they mean for us.
_CLIENT_CERT_REQUIRED = frozenset({"TLSV13_ALERT_CERTIFICATE_REQUIRED"})
_CLIENT_CERT_REJECTED = {
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust the client certificate's CA",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server rejected the client certificate",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the server says the client certificate has expired",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the server rejected the client certificate",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "the server rejected the client certificate",
    "TLSV1_ALERT_ACCESS_DENIED": "the server denied access to the client certificate",
}
_NOT_TLS = frozenset({
    "WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST", "RECORD_LAYER_FAILURE",
})
_NO_COMMON_VERSION = frozenset({
    "TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE",
})


class TlsPreflightError(Exception):
    """A TLS target cannot be used as configured; ``str()`` is one line naming why."""


class TlsConfigError(TlsPreflightError, ValueError):
    """The client's own TLS options are unusable (missing CA file, bad client key, ...)."""


def describe_verify_error(exc: ssl.SSLCertVerificationError, host: str) -> str:
    """The server's certificate was refused by us."""
    code = exc.verify_code
    if code in _UNKNOWN_CA_CODES:
        return UNKNOWN_CA
    if code == _EXPIRED:
        return "certificate has expired"
    if code == _NOT_YET_VALID:
        return "certificate is not yet valid (check the clocks)"
    if code in _NAME_MISMATCH_CODES:
        return f"hostname mismatch: certificate is not for {host}"
    if code == _REVOKED:
        return "certificate has been revoked"
    if code == _INVALID_CA:
        return "an issuer in the chain is not a CA certificate"
    if code == _INVALID_PURPOSE:
        return "certificate is not meant for TLS servers (extended key usage)"
    return f"certificate refused: {exc.verify_message} (OpenSSL verify code {code})"


def describe_ssl_error(exc: ssl.SSLError, host: str, client_cert_given: bool) -> str:
    """Any TLS failure, in one line."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return describe_verify_error(exc, host)
    reason = str(exc.reason or "")
    if reason in _CLIENT_CERT_REQUIRED:
        if client_cert_given:
            return "client certificate required (the one given was not sent or not accepted)"
        return "client certificate required (pass --client-cert)"
    if reason in _CLIENT_CERT_REJECTED:
        return _CLIENT_CERT_REJECTED[reason]
    if reason == "SSLV3_ALERT_HANDSHAKE_FAILURE":
        hint = "" if client_cert_given else ", or the server requires a client certificate"
        return f"TLS handshake failure (no protocol/cipher in common{hint})"
    if reason in _NOT_TLS:
        return "the server does not speak TLS on this port (a plain http:// server?)"
    if reason in _NO_COMMON_VERSION:
        return "no TLS version in common with the server"
    if isinstance(exc, ssl.SSLEOFError) or reason == "UNEXPECTED_EOF_WHILE_READING":
        return "the server closed the connection during the TLS handshake"
    text = reason.lower().replace("_", " ") if reason else str(exc)
    return f"TLS error: {text}"

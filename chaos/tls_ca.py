"""A throwaway certificate authority for TLS rehearsals and tests.

Field rehearsals aim the fleet at a backend over HTTPS; to test that path on loopback we
need certificates nobody has to install: a private CA made on the spot, a server
certificate for ``127.0.0.1``/``localhost`` signed by it, a client certificate for
mutual TLS, and the broken variants a real deployment ends up with (expired, issued for
another host). Everything is written to one directory (private keys mode 0600) that the
caller owns; :func:`throwaway_pki` makes and removes a temporary one.

Keys are ECDSA P-256: generated in milliseconds, so each test can have a fresh CA.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["LOOPBACK_NAMES", "CertFiles", "Pki", "ThrowawayCa", "throwaway_pki", "write_pki"]

LOOPBACK_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
"""Subject alternative names of the default server certificate."""

_KEY_MODE = 0o600


@dataclass(frozen=True, slots=True)
class CertFiles:
    """A PEM certificate and its PEM private key (unencrypted, mode 0600)."""

    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class Pki:
    """The standard set :func:`write_pki` writes."""

    directory: Path
    ca_cert: Path
    """The private CA's certificate: what a client passes as ``--ca-file``."""
    server: CertFiles
    """Valid for :data:`LOOPBACK_NAMES`, signed by the CA."""
    client: CertFiles
    """A client certificate (extended key usage clientAuth) signed by the CA."""
    expired_server: CertFiles
    """Right names, right CA, but its validity ended yesterday."""
    wrong_host_server: CertFiles
    """Right CA, valid, but issued for ``wrong.invalid`` only."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _san(names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Create the key file 0600 from the start (no window in which it is world-readable)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _KEY_MODE)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(path, _KEY_MODE)  # O_CREAT's mode does not apply to an existing file


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class ThrowawayCa:
    """A self-signed root that issues leaf certificates, all in memory until written."""

    def __init__(self, common_name: str = "sentinel-chaos throwaway CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )

    def write_ca_cert(self, path: Path) -> Path:
        _write_cert(path, self.cert)
        return path

    def issue(
        self, directory: Path, stem: str, common_name: str, names: Sequence[str] = (),
        *, client: bool = False, not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> CertFiles:
        """A leaf certificate ``<stem>.crt`` + key ``<stem>.key`` in ``directory``.

        ``names`` become subject alternative names (IP addresses or DNS names; what
        hostname verification checks). ``client`` issues for clientAuth instead of
        serverAuth. The validity window defaults to one hour ago .. seven days on.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(hours=1))
            .not_valid_after(not_after or now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if names:
            builder = builder.add_extension(_san(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        files = CertFiles(directory / f"{stem}.crt", directory / f"{stem}.key")
        _write_key(files.key, key)
        _write_cert(files.cert, cert)
        return files


def write_pki(directory: Path) -> Pki:
    """A fresh CA and the standard certificates (see :class:`Pki`) written to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = ThrowawayCa()
    now = _now()
    return Pki(
        directory=directory,
        ca_cert=ca.write_ca_cert(directory / "ca.crt"),
        server=ca.issue(directory, "server", "localhost", LOOPBACK_NAMES),
        client=ca.issue(directory, "client", "sentinel-sim client", client=True),
        expired_server=ca.issue(
            directory, "expired-server", "localhost", LOOPBACK_NAMES,
            not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1),
        ),
        wrong_host_server=ca.issue(
            directory, "wrong-host-server", "wrong.invalid", ("wrong.invalid",)
        ),
    )


@contextlib.contextmanager
def throwaway_pki() -> Iterator[Pki]:
    """:func:`write_pki` into a private temporary directory, removed on exit."""
    directory = Path(tempfile.mkdtemp(prefix="sentinel-tls-"))  # mode 0700
    try:
        yield write_pki(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

"""What TLS costs the fleet's HTTP pool: ``python -m simulator.bench_tls``.

Prints, side by side for plain HTTP and HTTPS, the pool's requests per second and its
CPU seconds per 1,000 requests (this process only, from getrusage) over keep-alive
connections, then the CPU of opening a new TLS connection with a full handshake and
with a resumed session. The server is ``simulator._loopback_server`` in a subprocess, so
its CPU is not counted and it costs next to nothing per request; the certificate is a
self-signed one made for the run. Every run is bounded by ``--requests``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from simulator._http import HttpPool
from simulator.tls import SessionResumingContext, TlsOptions, client_context

__all__ = ["main", "self_signed_certificate"]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (it is its own CA); (cert, key)
    files in ``directory``. Also the HTTPS backend of ``simulator.bench --tls``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench_tls")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "bench.crt", directory / "bench.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


@contextlib.contextmanager
def _server(cert: Path | None, key: Path | None) -> Iterator[int]:
    """The loopback echo server as a child process; yields its port; stops it by PID."""
    args = [sys.executable, "-m", "simulator._loopback_server", "--max-seconds", "900"]
    if cert is not None and key is not None:
        args += ["--cert", str(cert), "--key", str(key)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            raise RuntimeError(f"loopback server did not start: {line!r}")
        yield int(line[1])
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # the server's signal to stop
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class _Figures:
    label: str
    requests: int
    seconds: float
    cpu_s: float
    connections: int
    resumed: int

    def line(self) -> str:
        return (f"{self.label:<6} {self.requests / self.seconds:>9.0f} req/s   "
                f"{1000 * self.cpu_s / self.requests:>6.3f} CPU s per 1,000 requests   "
                f"connections={self.connections} resumed={self.resumed}")


async def _keep_alive_run(
    label: str, url: str, ctx: ssl.SSLContext | None, requests: int, workers: int, body: bytes,
) -> _Figures:
    pool = HttpPool(url, size=workers, ssl_context=ctx)
    per_worker = max(1, requests // workers)

    async def worker() -> None:
        for _ in range(per_worker):
            r = await pool.request("POST", "/api/detections", body=body)
            if r.status != 200:
                raise RuntimeError(f"status {r.status}")

    try:
        await asyncio.gather(*(pool.request("GET", "/warm") for _ in range(workers)))
        cpu0, t0 = _cpu(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        cpu1, t1 = _cpu(), time.perf_counter()
    finally:
        await pool.aclose()
    return _Figures(label, per_worker * workers, t1 - t0, cpu1 - cpu0,
                    pool.connections_opened, pool.tls_resumed)


async def _connect_cost(url: str, ca: Path, connections: int, resume: bool) -> tuple[float, int]:
    """CPU ms per new TLS connection (one request each); and how many were resumed."""
    ctx = client_context(TlsOptions(ca_file=ca))
    assert isinstance(ctx, SessionResumingContext)
    resumed = 0
    cpu0 = _cpu()
    for _ in range(connections):
        if not resume:
            ctx.forget_sessions()  # same context, nothing to offer: a full handshake
        pool = HttpPool(url, size=1, ssl_context=ctx)
        try:
            await pool.request("GET", "/")
        finally:
            await pool.aclose()
        resumed += pool.tls_resumed
    return 1000 * (_cpu() - cpu0) / connections, resumed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator.bench_tls", description=__doc__)
    p.add_argument("--requests", type=int, default=20_000, help="per scheme (bounded run)")
    p.add_argument("--workers", type=int, default=64, help="concurrent requests (= connections)")
    p.add_argument("--body-bytes", type=int, default=400)
    p.add_argument("--connections", type=int, default=200,
                   help="new TLS connections for the handshake-cost figure")
    a = p.parse_args(argv)
    body = b"x" * a.body_bytes
    tmp = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    try:
        import uvloop
        run = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run  # type: ignore[assignment]
    try:
        cert, key = self_signed_certificate(tmp)
        with _server(None, None) as plain_port, _server(cert, key) as tls_port:
            ctx = client_context(TlsOptions(ca_file=cert))

            async def go() -> None:
                print(f"{a.requests} requests, {a.workers} keep-alive connections, "
                      f"{a.body_bytes}-byte POST bodies, loop {type(asyncio.get_running_loop())}")
                for label, url, c in (("http", f"http://127.0.0.1:{plain_port}", None),
                                      ("https", f"https://127.0.0.1:{tls_port}", ctx)):
                    fig = await _keep_alive_run(label, url, c, a.requests, a.workers, body)
                    print(fig.line(), flush=True)
                tls_url = f"https://127.0.0.1:{tls_port}"
                full, _ = await _connect_cost(tls_url, cert, a.connections, resume=False)
                res, n = await _connect_cost(tls_url, cert, a.connections, resume=True)
                print(f"new TLS connection: full handshake {full:.2f} CPU ms, "
                      f"resumed session {res:.2f} CPU ms ({n}/{a.connections} resumed)")

            run(go())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

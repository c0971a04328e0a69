"""Run ``sentinel-backend serve`` as a subprocess owned by PID (tests, chaos harness).

The backend is killed and restarted on its own (kill -9 is a fault step), so it must be a
separate process from the harness and from the database.
"""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .auth import new_token
from .pg import free_port

__all__ = ["BackendProcess", "BackendStartError"]


class BackendStartError(RuntimeError):
    """The backend did not become ready; the message holds the tail of its log."""


class BackendProcess:
    """One backend process against `database_url` on a loopback port.

    Tokens are generated unless given; ``env`` adds settings (e.g.
    ``SENTINEL_COMMAND_ACK_TIMEOUT_S``). Restarts keep the port and the tokens.
    ``ssl_certfile``/``ssl_keyfile`` serve HTTPS/WSS instead (``url`` and ``ws_url`` say
    so); the readiness probe then verifies the certificate against ``ca_file`` (the
    private CA that issued it; the system store when None).
    """

    def __init__(self, database_url: str, *, host: str = "127.0.0.1", port: int = 0,
                 workers: int = 1, env: dict[str, str] | None = None,
                 enrollment_key: str | None = None, operator_token: str | None = None,
                 viewer_token: str | None = None, log_path: str | os.PathLike[str] | None = None,
                 access_log: bool = False, ssl_certfile: str | os.PathLike[str] | None = None,
                 ssl_keyfile: str | os.PathLike[str] | None = None,
                 ca_file: str | os.PathLike[str] | None = None) -> None:
        self.database_url = database_url
        self.host = host
        self.port = port or free_port(host)
        self.workers = workers
        self.enrollment_key = enrollment_key or new_token("enr_")
        self.operator_token = operator_token or new_token("op_")
        self.viewer_token = viewer_token or new_token("view_")
        self.extra_env = dict(env or {})
        self.access_log = access_log
        self.ssl_certfile = Path(ssl_certfile) if ssl_certfile else None
        self.ssl_keyfile = Path(ssl_keyfile) if ssl_keyfile else None
        self.ca_file = Path(ca_file) if ca_file else None
        self._own_log = log_path is None
        self.log_path = Path(log_path) if log_path else Path(
            tempfile.mkstemp(prefix="sentinel-backend-", suffix=".log")[1])
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def tls(self) -> bool:
        return self.ssl_certfile is not None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}/ws"

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", "sentinel_backend", "serve", "--host", self.host,
               "--port", str(self.port), "--workers", str(self.workers)]
        if self.ssl_certfile is not None:
            cmd += ["--ssl-certfile", str(self.ssl_certfile)]
        if self.ssl_keyfile is not None:
            cmd += ["--ssl-keyfile", str(self.ssl_keyfile)]
        return cmd

    def _probe_context(self) -> ssl.SSLContext | None:
        """The readiness probe's TLS context: it checks the certificate like a client."""
        if not self.tls:
            return None
        return ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file is not None else None)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": self.database_url,
            "SENTINEL_ENROLLMENT_KEY": self.enrollment_key,
            "SENTINEL_OPERATOR_TOKEN": self.operator_token,
            "SENTINEL_VIEWER_TOKEN": self.viewer_token,
            "SENTINEL_ACCESS_LOG": "1" if self.access_log else "0",
        })
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> BackendProcess:
        """Start and wait until ``/health/ready`` answers 200."""
        if self.pid is not None:
            return self
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(
                self._command(), env=self.env(), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        probe_ctx = self._probe_context()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/health/ready", timeout=1,
                                            context=probe_ctx) as resp:
                    if resp.status == 200:
                        return self
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, ssl.SSLCertVerificationError):
                    self.kill()  # waiting cannot fix the certificate
                    raise BackendStartError(
                        f"backend on {self.url}: its certificate does not verify: "
                        f"{exc.reason.verify_message}") from exc
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise BackendStartError(f"backend did not become ready on {self.url}:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (graceful), then SIGKILL after `timeout`."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the backend and its workers (a crash)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        self._proc = None

    def restart(self, kill: bool = False, timeout: float = 30.0) -> None:
        self.kill() if kill else self.stop()
        self.start(timeout)

    def close(self) -> None:
        """Stop and remove the log file if we created it."""
        self.stop()
        if self._own_log:
            with contextlib.suppress(OSError):
                self.log_path.unlink()

    def __enter__(self) -> BackendProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Find or start a Toxiproxy for a run: ``TOXIPROXY_URL``, else ``toxiproxy-server`` on PATH,
else the embedded server. The same control code then drives whichever was found.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from types import TracebackType
from typing import Literal

import httpx

from chaos.toxiproxy.control import AsyncToxiproxyControl, ToxiproxyControl
from chaos.toxiproxy.server import EmbeddedToxiproxy
from simulator.ports import free_port

log = logging.getLogger(__name__)

Kind = Literal["url", "binary", "embedded", "embedded-subprocess"]
ENV_URL = "TOXIPROXY_URL"
BINARY = "toxiproxy-server"


#: ``chaos.toxiproxy.bench`` still imports the port helper from here; it is simulator's.
_free_port = free_port


def _wait_ready(url: str, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"toxiproxy at {url} exited with {proc.returncode} at startup")
        try:
            if httpx.get(f"{url}/version", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"toxiproxy at {url} did not answer /version within {timeout:.0f}s")


class ToxiproxyHandle:
    """A Toxiproxy for the duration of a run; stops what it started (by PID) on close."""

    def __init__(
        self,
        url: str,
        kind: Kind,
        process: subprocess.Popen[bytes] | None = None,
        embedded: EmbeddedToxiproxy | None = None,
    ) -> None:
        self.url = url
        self.kind = kind
        self._process = process
        self._embedded = embedded

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def control(self) -> ToxiproxyControl:
        return ToxiproxyControl(self.url)

    def async_control(self) -> AsyncToxiproxyControl:
        return AsyncToxiproxyControl(self.url)

    def close(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None
        proc = self._process
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._process = None

    def __enter__(self) -> ToxiproxyHandle:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def start_embedded(subprocess_mode: bool = False, host: str = "127.0.0.1") -> ToxiproxyHandle:
    """The embedded server, on a thread of this process or as ``python -m chaos.toxiproxy``."""
    if not subprocess_mode:
        embedded = EmbeddedToxiproxy(host, 0).start()
        log.info("toxiproxy: embedded server in-process at %s", embedded.url)
        return ToxiproxyHandle(embedded.url, "embedded", embedded=embedded)
    port = free_port(host)
    cmd = [sys.executable, "-m", "chaos.toxiproxy", "--host", host, "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    url = f"http://{host}:{port}"
    try:
        _wait_ready(url, proc, 15)
    except BaseException:
        ToxiproxyHandle(url, "embedded-subprocess", proc).close()
        raise
    log.info("toxiproxy: embedded server subprocess pid %d at %s", proc.pid, url)
    return ToxiproxyHandle(url, "embedded-subprocess", proc)


def acquire_toxiproxy(prefer_subprocess: bool = False, host: str = "127.0.0.1") -> ToxiproxyHandle:
    """The Toxiproxy to use: ``$TOXIPROXY_URL``, else ``toxiproxy-server`` on PATH (started
    now, stopped on close), else the embedded server (in-process, or a subprocess)."""
    url = os.environ.get(ENV_URL, "").strip()
    if url:
        url = url if "://" in url else f"http://{url}"
        _wait_ready(url.rstrip("/"), None, 10)
        log.info("toxiproxy: using %s from %s", url, ENV_URL)
        return ToxiproxyHandle(url.rstrip("/"), "url")
    binary = shutil.which(BINARY)
    if binary:
        port = free_port(host)
        proc = subprocess.Popen(
            [binary, "-host", host, "-port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://{host}:{port}"
        try:
            _wait_ready(url, proc, 15)
        except BaseException:
            ToxiproxyHandle(url, "binary", proc).close()
            raise
        log.info("toxiproxy: started %s (pid %d) at %s", binary, proc.pid, url)
        return ToxiproxyHandle(url, "binary", proc)
    return start_embedded(prefer_subprocess, host)

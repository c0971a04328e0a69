"""One shaper process and its NFQUEUE rule, for one direction of one link (the parent side).

The process starts first and binds a queue; only then is the rule added, so no
packet ever waits for a shaper that is not there. Stopping goes the other way:
rule out (packets flow unshaped again), then SIGTERM (the shaper releases what it
holds and exits), SIGKILL if it does not. Reconfiguring is one JSON line on the
shaper's stdin: no restart, no lost packets.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from typing import IO

from chaos.l3 import _iptables
from chaos.l3._cmd import in_netns
from chaos.l3._errors import L3Error
from chaos.l3._impairments import Impairments

READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
QUEUE_BASE = 1024
QUEUE_SPAN = 64_000


def first_queue(link_id: str) -> int:
    """Where a link's shaper starts looking for a free queue number (spread by link id)."""
    return QUEUE_BASE + int(link_id, 16) % QUEUE_SPAN


def shaper_argv(device: str, queue: int, *, probe: bool = False) -> list[str]:
    argv = [sys.executable, "-m", "chaos.l3._shaper", "--device", device,
            "--queue", str(queue), "--mark", hex(_iptables.SHAPER_MARK)]
    return argv + (["--probe"] if probe else [])


def read_ready(proc: subprocess.Popen[bytes], timeout: float = READY_TIMEOUT_S,
               errors: IO[bytes] | None = None) -> int:
    """Wait (bounded) for the shaper's ``ready <queue>`` line; its queue number."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            raise L3Error(f"shaper pid {proc.pid} not ready after {timeout:g}s")
        chunk = os.read(proc.stdout.fileno(), 1)
        if not chunk:
            proc.wait(timeout)
            said = _tail(errors) or "no output"
            raise L3Error(f"shaper exited before binding its queue: {said}")
        line += chunk
    word, _, number = line.decode().strip().partition(" ")
    if word != "ready":
        raise L3Error(f"shaper said {line!r}, expected 'ready <queue>'")
    return int(number)


def _tail(errors: IO[bytes] | None) -> str:
    """The end of what the shaper wrote to its stderr file, for an error message."""
    if errors is None:
        return ""
    errors.seek(0)
    return errors.read()[-2000:].decode(errors="replace").strip()


class ShaperProcess:
    """The shaper of the egress of `device` (in `namespace`, None = root namespace)."""

    def __init__(self, link_id: str, chain: str, device: str, namespace: str | None) -> None:
        self.link_id = link_id
        self.chain = chain
        self.device = device
        self.namespace = namespace
        self.proc: subprocess.Popen[bytes] | None = None
        self.queue: int | None = None
        self._errors: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, impairments: Impairments) -> None:
        argv = in_netns(self.namespace, shaper_argv(self.device, first_queue(self.link_id)))
        # stderr goes to an unlinked temp file, never a pipe: a pipe nobody reads while the
        # shaper runs could fill up and stall the shaper, and with it the link.
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._errors, start_new_session=True)
        try:
            self.queue = read_ready(self.proc, errors=self._errors)
            self.configure(impairments)
            _iptables.add_queue_chain(self.namespace, self.chain, self.device, self.queue)
        except BaseException:
            self.stop()
            raise

    def configure(self, impairments: Impairments) -> None:
        proc = self.proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            raise L3Error(f"shaper for {self.device} is not running")
        try:
            proc.stdin.write(impairments.to_json().encode() + b"\n")
            proc.stdin.flush()
        except OSError as exc:
            raise L3Error(f"shaper for {self.device}: cannot reconfigure: {exc}") from exc

    def stop(self) -> None:
        """Rule out, then the process (SIGTERM, SIGKILL after a timeout). Idempotent."""
        _iptables.remove_chain(self.namespace, self.chain, self.device)
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(STOP_TIMEOUT_S)
        errors, self._errors = self._errors, None
        for stream in (proc.stdin, proc.stdout, errors):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

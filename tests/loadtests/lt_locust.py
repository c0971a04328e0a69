"""Run Locust as a subprocess (never imported here: it monkey-patches with gevent)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadtests" / "locustfile.py"
LOCUST = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]


@dataclass
class Finished:
    returncode: int
    output: str


class LocustProcess:
    """One Locust process, its output in a file, stopped by its own process group id."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._file = open(log, "wb")  # noqa: SIM115 - handed to the child, closed in wait()
        self.proc = subprocess.Popen(
            [*LOCUST, *args], env=env, stdout=self._file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, cwd=ROOT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float) -> Finished:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = -9
        finally:
            self._file.close()
        return Finished(code, self.output())

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group this process leads, nothing else
            self.proc.wait(timeout=10)


def run_locust(args: list[str], env: dict[str, str], log: Path, timeout: float) -> Finished:
    proc = LocustProcess(args, env, log)
    try:
        return proc.wait(timeout)
    finally:
        proc.kill()


def wait_for_text(proc: LocustProcess, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in proc.output():
            return True
        if proc.proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False

"""``LazyMount``: mount a lazy filesystem over a backing directory, drop its unsynced
writes on demand (a power cut), unmount it: by our mount point and our PID only."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from chaos.lazyfs._fuse import fuse_unavailable, unmount


class LazyFsError(RuntimeError):
    """The lazy filesystem could not be mounted, controlled or unmounted."""


class LazyMount:
    """A mount point whose writes reach ``backing`` only when fsynced.

    ``backing`` None: a throwaway directory, removed on :meth:`close`. The mount point and
    the control socket live in a private temp directory, removed on :meth:`close` too.
    ``path`` is where to read and write. Use as a context manager, or ``mount()``/``close()``.
    """

    def __init__(self, backing: str | os.PathLike[str] | None = None, *,
                 timeout: float = 20.0) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="sentinel-lazyfs-"))
        self._own_backing = backing is None
        self.backing = (self._root / "backing" if backing is None
                        else Path(backing).expanduser().resolve())
        # Same filesystem as the backing dir: what an undoable unlink moves there comes back.
        self.trash = self.backing.parent / f".{self.backing.name}.lazyfs-trash"
        self.path = self._root / "mnt"
        self._control = str(self._root / "control.sock")
        self._timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = self._root / "lazyfs.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def mounted(self) -> bool:
        return self.pid is not None and os.path.ismount(self.path)

    def mount(self) -> LazyMount:
        why = fuse_unavailable()
        if why is not None:
            self.close()
            raise LazyFsError(why)
        for directory in (self.backing, self.trash, self.path):
            directory.mkdir(parents=True, exist_ok=True)
        self._root.chmod(0o711)  # the database's own user must reach the mount point
        try:
            with open(self._log, "ab") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "chaos.lazyfs", "--backing", str(self.backing),
                     "--trash", str(self.trash), "--mount", str(self.path),
                     "--control", self._control, "--parent", str(os.getpid())],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
            self._wait_mounted()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_mounted(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise LazyFsError(f"the lazy filesystem exited with {self._proc.returncode}: "
                                  f"{self._log_tail()}")
            if os.path.ismount(self.path) and os.path.exists(self._control):
                return
            time.sleep(0.05)
        raise LazyFsError(f"the lazy filesystem did not mount within {self._timeout:.0f}s: "
                          f"{self._log_tail()}")

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self._log.read_text(errors="replace")[-1500:]
        return ""

    def _ask(self, command: str) -> dict[str, int]:
        if not self.mounted:
            raise LazyFsError("the lazy filesystem is not mounted")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(60.0)
            sock.connect(self._control)
            sock.sendall(command.encode() + b"\n")
            with sock.makefile("rb") as stream:
                answer = json.loads(stream.readline() or b"{}")
        if not isinstance(answer, dict) or "error" in answer or not answer:
            raise LazyFsError(f"{command}: {answer!r}")
        return {str(k): int(v) for k, v in answer.items()}

    def drop_unsynced(self) -> dict[str, int]:
        """Lose every write not fsynced (what a power cut does); returns what was lost.
        Whoever wrote must be dead first: a write racing the drop may survive it."""
        return self._ask("drop")

    def stats(self) -> dict[str, int]:
        """What is pending now: files, pages, namespace changes; bytes synced so far."""
        return self._ask("stats")

    def close(self) -> None:
        """Unmount (our mount point only), stop our server by PID, remove our temp dirs.
        Best effort and idempotent; a busy mount is detached lazily."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            if not unmount(str(self.path)):
                unmount(str(self.path), lazy=True)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, 15)  # FUSE's own handler unmounts and exits
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        self._proc = None
        if os.path.ismount(self.path):
            unmount(str(self.path), lazy=True)
        if os.path.ismount(self.path):
            return  # never remove through a live mount: that would delete the backing data
        shutil.rmtree(self.trash, ignore_errors=True)
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> LazyMount:
        return self.mount()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LazyMount({str(self.backing)!r} at {str(self.path)!r}, pid={self.pid})"

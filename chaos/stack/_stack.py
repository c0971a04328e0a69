"""The whole stack of a run, started in order and torn down in reverse.

Topology (what crosses what)::

    fleet nodes --HTTP--> ingest relay (127.0.0.1, root ns; upstream sockets in netns A)
                 ==veth A (L3 loss/partition/tbf)==> Toxiproxy "ingest" (listens on A's
                 root-side address) --> backend (127.0.0.1)
    dashboards  --WS----> stream relay (same, netns B) ==veth B==> Toxiproxy "stream"
                 (listens on B's root-side address) --> backend
    backend     --SQL---> Toxiproxy "database" (127.0.0.1) --> PostgreSQL
    operator (blackout), verdict queries --> backend / PostgreSQL directly (out of band)

Without L3 (not root, no ``ip``/``nft``, or not asked for) the relays are left out and the
fleet talks to the Toxiproxy proxies on loopback; L3 steps are then skipped with the reason.
PostgreSQL runs as its own process (``EmbeddedPostgres``) so a kill -9 of the backend
leaves it up and restarting, killing or power-cutting the database is a fault of its own
(``power_cut``: its data directory is on a lazy filesystem, ``chaos.lazyfs``, asked for
with ``StackOptions(power_cut=True)``). Every process is owned by
PID and every namespace removed on close, also after a failed start, Ctrl-C or a crash of
this process (the L3 layer's atexit/signal handlers and leftover sweep).

With ``StackOptions(tls=True)`` the backend serves HTTPS/WSS with a certificate from a
throwaway CA made for the run (``chaos.tls_ca``; in a private temp dir removed on close).
The proxies and the L3 links are TCP, so the TLS handshake itself crosses every fault;
the client URLs become ``https://`` and ``ca_file`` is what clients must trust.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chaos.stack._containers import (
    POSTGRES_ENV,
    TOXIPROXY_ENV,
    Choice,
    ContainerPostgres,
    ContainerToxiproxy,
    backend_choice,
    require_docker,
)
from chaos.stack._processes import kill_tree, signal_tree

if TYPE_CHECKING:
    from chaos.l3 import Link as L3Link
    from chaos.lazyfs import LazyMount
    from chaos.toxiproxy import ToxiproxyHandle
    from sentinel_backend.launcher import BackendProcess
    from sentinel_backend.pg import EmbeddedPostgres

DATABASE_NAME = "sentinel"
LINK_NAMES = ("ingest", "stream")  # the links that may cross a network namespace (L3)
PROXY_NAMES = (*LINK_NAMES, "database")  # the Toxiproxy proxies: L4 links of a scenario


def _wait_port(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"relay exited with {proc.returncode} at startup")
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"relay did not listen on {host}:{port} within {timeout:.0f}s")


@dataclass
class StackOptions:
    """``data_dir``: keep PostgreSQL's data there (None: a throwaway temp dir).
    ``backend_env``: extra backend settings (e.g. planted faults ``SENTINEL_FAULT_*``).
    ``l3_links``: which links cross a network namespace (only where L3 is available).
    ``echo``: where the one line per startup step goes (None: silent).
    ``power_cut``: put the data dir on a lazy filesystem so ``power_cut`` steps can run
    (slower: FUSE in user space; without FUSE the stack starts anyway and says why).
    ``tls``: serve the backend over TLS with a throwaway CA (``Stack.ca_file``)."""

    data_dir: Path | None = None
    backend_env: Mapping[str, str] = field(default_factory=dict)
    l3_links: Sequence[str] = LINK_NAMES
    echo: Callable[[str], None] | None = None
    power_cut: bool = False
    #: ``docker``: PostgreSQL / Toxiproxy as containers (chaos.stack._containers); the
    #: default comes from SENTINEL_CHAOS_POSTGRES / SENTINEL_CHAOS_TOXIPROXY (embedded).
    postgres: Choice = field(default_factory=lambda: backend_choice(POSTGRES_ENV))
    toxiproxy: Choice = field(default_factory=lambda: backend_choice(TOXIPROXY_ENV))
    tls: bool = False


class Stack:
    """PostgreSQL, the backend, Toxiproxy (``ingest`` + ``stream``) and the L3 links.

    Sync (``with Stack() as s``) or async (``async with Stack() as s``; the blocking
    start and stop run in a thread). After start: ``ingest_url`` (nodes post here),
    ``stream_url`` (dashboards connect here), ``backend_url`` (direct), ``toxiproxy_url``,
    ``database_url`` (direct; the backend's goes through the ``database`` proxy), the three
    tokens, ``links`` (L3 links by name), ``l3_reason`` (why there is no L3, or None) and
    ``power_cut_reason`` (why a power cut cannot be simulated, or None), ``ca_file`` (the
    throwaway CA clients trust with ``tls=True``, else None).
    """

    def __init__(self, options: StackOptions | None = None, **kw: Any) -> None:
        self.options = options or StackOptions(**kw)
        self.postgres: EmbeddedPostgres | ContainerPostgres | None = None
        self._toxiproxy_container: ContainerToxiproxy | None = None
        self.backend: BackendProcess | None = None
        self.toxiproxy: ToxiproxyHandle | None = None
        self.links: dict[str, L3Link] = {}
        self.relays: dict[str, subprocess.Popen[bytes]] = {}
        self.l3_reason: str | None = None
        self.lazyfs: LazyMount | None = None
        self.power_cut_reason: str | None = "the stack was not asked for power cuts"
        self._paused: list[int] = []
        self.database_url = ""
        self.backend_database_url = ""
        self.enrollment_key = secrets.token_urlsafe(24)
        self.operator_token = secrets.token_urlsafe(24)
        self.viewer_token = secrets.token_urlsafe(24)
        self.proxy_urls: dict[str, str] = {}
        self.client_urls: dict[str, str] = {}
        self.ca_file: Path | None = None
        self._tls_dir: Path | None = None
        self._closed = False

    # -- addresses ---------------------------------------------------------------
    @property
    def backend_url(self) -> str:
        assert self.backend is not None, "the stack is not started"
        return self.backend.url

    @property
    def toxiproxy_url(self) -> str:
        assert self.toxiproxy is not None, "the stack is not started"
        return self.toxiproxy.url

    @property
    def ingest_url(self) -> str:
        return self.client_urls["ingest"]

    @property
    def stream_url(self) -> str:
        return self.client_urls["stream"]

    def describe(self) -> dict[str, str]:
        """Everything a person (or Locust) needs to poke the stack, for printing."""
        out = {
            "backend (direct)": self.backend_url,
            "ingest (nodes)": self.ingest_url,
            "stream (dashboards)": self.stream_url,
            "ingest proxy": self.proxy_urls["ingest"],
            "stream proxy": self.proxy_urls["stream"],
            "database proxy": self.proxy_urls["database"],
            "toxiproxy API": self.toxiproxy_url,
            "DATABASE_URL": self.database_url,
            "SENTINEL_ENROLLMENT_KEY": self.enrollment_key,
            "SENTINEL_OPERATOR_TOKEN": self.operator_token,
            "SENTINEL_VIEWER_TOKEN": self.viewer_token,
        }
        for name, link in self.links.items():
            out[f"L3 link {name}"] = (f"netns {link.namespace}, {link.root_address} <-> "
                                      f"{link.ns_address}")
        if self.l3_reason:
            out["L3"] = f"unavailable: {self.l3_reason}"
        if self.lazyfs is not None:
            out["lazy filesystem"] = f"{self.lazyfs.path} (backing {self.lazyfs.backing})"
        if self.ca_file is not None:
            out["TLS CA file (--ca-file)"] = str(self.ca_file)
        return out

    def environment(self) -> dict[str, str]:
        """For the report: what this run's stack was made of."""
        assert self.toxiproxy is not None
        env = {"backend": self.backend_url, "database": (
               "PostgreSQL in a container " if isinstance(self.postgres, ContainerPostgres)
               else "embedded PostgreSQL ")
               + (f"(data dir {self.options.data_dir})" if self.options.data_dir
                  else "(throwaway data dir)")
               + (", on a lazy filesystem (power cuts)" if self.lazyfs is not None else ""),
               "toxiproxy": f"{self.toxiproxy.kind} at {self.toxiproxy.url}",
               "l3": (", ".join(f"{n}: netns {lk.namespace}" for n, lk in self.links.items())
                      or f"unavailable: {self.l3_reason}")}
        if self.ca_file is not None:
            env["tls"] = "backend over TLS, certificate from a throwaway CA"
        return env

    def _echo(self, text: str) -> None:
        if self.options.echo is not None:
            self.options.echo(text)

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> Stack:
        try:
            if "docker" in (self.options.postgres, self.options.toxiproxy):
                require_docker()
            self._start_database()
            self._start_links()
            self._start_toxiproxy()
            self._start_backend()
            self._start_link_proxies()
            self._start_relays()
        except BaseException:
            self.close()
            raise
        return self

    def _start_database(self) -> None:
        if self.options.postgres == "docker":
            box = self.postgres = ContainerPostgres().start()
            asyncio.run(_ensure_database(box.dsn, DATABASE_NAME))
            self.database_url = box.dsn_for(DATABASE_NAME)
            self._echo(f"postgres: container {box.spec.image} on {box.host}:{box.port}")
            return
        from sentinel_backend.pg import EmbeddedPostgres

        pg = self.postgres = EmbeddedPostgres(self._mount_lazyfs() or self.options.data_dir)
        pg.start()
        asyncio.run(_ensure_database(pg.dsn, DATABASE_NAME))
        self.database_url = pg.dsn_for(DATABASE_NAME)
        self._echo(f"postgres: pid {pg.pid} on {pg.host}:{pg.port}, data {pg.data_dir}")

    def _mount_lazyfs(self) -> Path | None:
        """The data dir on a lazy filesystem (its mount root), when power cuts are asked for."""
        if not self.options.power_cut:
            return None
        from chaos.lazyfs import LazyFsError, LazyMount

        mount = LazyMount(self.options.data_dir)
        try:
            mount.mount()
        except LazyFsError as exc:
            self.power_cut_reason = f"no lazy filesystem: {exc}"
            self._echo(f"lazyfs: unavailable ({exc}); power_cut steps will be skipped")
            return None
        self.lazyfs = mount
        self.power_cut_reason = None
        self._echo(f"lazyfs: pid {mount.pid} at {mount.path} (backing {mount.backing})")
        return mount.path

    def _start_backend(self) -> None:
        from sentinel_backend.launcher import BackendProcess

        cert, key = self._server_certificate()
        backend = self.backend = BackendProcess(
            self.backend_database_url, env=dict(self.options.backend_env),
            enrollment_key=self.enrollment_key, operator_token=self.operator_token,
            viewer_token=self.viewer_token, ssl_certfile=cert, ssl_keyfile=key,
            ca_file=self.ca_file)
        backend.start(timeout=60.0)
        planted = sorted(k for k in self.options.backend_env if k.startswith("SENTINEL_FAULT"))
        self._echo(f"backend: pid {backend.pid} at {backend.url}"
                   + (f" (planted faults: {', '.join(planted)})" if planted else ""))

    def _server_certificate(self) -> tuple[Path | None, Path | None]:
        """With ``tls``: a throwaway CA and a server certificate for loopback and the L3
        links' root-side addresses (where the proxies listen), in a private temp dir."""
        if not self.options.tls:
            return None, None
        from chaos.tls_ca import LOOPBACK_NAMES, ThrowawayCa

        directory = self._tls_dir = Path(tempfile.mkdtemp(prefix="sentinel-stack-tls-"))
        ca = ThrowawayCa("sentinel-chaos stack CA")
        self.ca_file = ca.write_ca_cert(directory / "ca.crt")
        names = dict.fromkeys([*LOOPBACK_NAMES, *(lk.root_address for lk in self.links.values())])
        files = ca.issue(directory, "server", "localhost", list(names))
        self._echo(f"tls: throwaway CA {self.ca_file}; server certificate for {', '.join(names)}")
        return files.cert, files.key

    def _start_links(self) -> None:
        if not self.options.l3_links:
            self.l3_reason = "no link asked for L3"
            return
        from chaos.l3 import l3_available, open_link

        ok, why = l3_available()
        if not ok:
            self.l3_reason = why
            self._echo(f"l3: unavailable ({why}); L3 steps will be skipped")
            return
        for name in self.options.l3_links:
            link = open_link()
            self.links[name] = link
            self._echo(f"l3: link {name} netns {link.namespace} "
                       f"{link.root_address} <-> {link.ns_address}")

    def _start_toxiproxy(self) -> None:
        from chaos.toxiproxy import ToxiproxyControl, acquire_toxiproxy

        if self.options.toxiproxy == "docker":
            from chaos.toxiproxy import ToxiproxyHandle
            from sentinel_backend.pg import free_port

            self._toxiproxy_container = ContainerToxiproxy(free_port()).start()
            handle = self.toxiproxy = ToxiproxyHandle(self._toxiproxy_container.url, "url")
        else:
            handle = self.toxiproxy = acquire_toxiproxy(prefer_subprocess=True)
        assert self.postgres is not None
        upstream = f"{self.postgres.host}:{self.postgres.port}"
        with ToxiproxyControl(handle.url) as control:
            with contextlib.suppress(Exception):
                control.delete_proxy("database")
            host, port = control.create_proxy("database", upstream, "127.0.0.1:0"
                                              ).listen_host_port
        self.proxy_urls["database"] = f"postgresql://{host}:{port}"
        self.backend_database_url = self.postgres.dsn_for(DATABASE_NAME).replace(
            f"@{self.postgres.host}:{self.postgres.port}/", f"@{host}:{port}/")
        self._echo(f"toxiproxy: {handle.kind} at {handle.url}; proxy database "
                   f"{host}:{port} -> {upstream}")

    def _start_link_proxies(self) -> None:
        from chaos.toxiproxy import ToxiproxyControl

        assert self.backend is not None and self.toxiproxy is not None
        upstream = f"{self.backend.host}:{self.backend.port}"
        with ToxiproxyControl(self.toxiproxy.url) as control:
            proxies = {}
            for name in LINK_NAMES:
                link = self.links.get(name)
                listen_host = link.root_address if link is not None else "127.0.0.1"
                with contextlib.suppress(Exception):
                    control.delete_proxy(name)
                proxies[name] = control.create_proxy(name, upstream, f"{listen_host}:0")
        scheme = "https" if self.options.tls else "http"
        for name, info in proxies.items():
            host, port = info.listen_host_port
            self.proxy_urls[name] = f"{scheme}://{host}:{port}"
            self.client_urls[name] = self.proxy_urls[name]
        self._echo(f"toxiproxy: proxies ingest "
                   f"{self.proxy_urls['ingest']}, stream {self.proxy_urls['stream']} -> "
                   f"{upstream}")

    def _start_relays(self) -> None:
        from sentinel_backend.pg import free_port

        for name, link in self.links.items():
            proxy = urlsplit(self.proxy_urls[name])
            host, port = proxy.hostname, proxy.port
            listen_port = free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "chaos.stack.relay", "--netns", link.namespace,
                 "--listen", f"127.0.0.1:{listen_port}", "--upstream", f"{host}:{port}"],
                stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            self.relays[name] = proc
            _wait_port("127.0.0.1", listen_port, proc, 15.0)
            self.client_urls[name] = f"{proxy.scheme}://127.0.0.1:{listen_port}"
            self._echo(f"relay: {name} pid {proc.pid} 127.0.0.1:{listen_port} -> "
                       f"netns {link.namespace} -> {host}:{port}")

    def close(self) -> None:
        """Stop everything we started, in reverse order; best effort, idempotent."""
        if self._closed:
            return
        self._closed = True
        for proc in self.relays.values():
            _stop_process(proc)
        self.relays.clear()
        if self._toxiproxy_container is not None:
            self._toxiproxy_container.close()
        if self.toxiproxy is not None:
            with contextlib.suppress(Exception):
                self.toxiproxy.close()
        for link in self.links.values():
            with contextlib.suppress(Exception):
                link.close()
        if self.backend is not None:
            with contextlib.suppress(Exception):
                self.resume_backend()
                self.backend.close()
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                self.postgres.stop(mode="fast")
        if self.lazyfs is not None:
            with contextlib.suppress(Exception):
                self.lazyfs.close()
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
        self._echo("stack: stopped")

    # -- crash-class faults (blocking: the step adapters run them in a thread) -----------
    def kill_database(self) -> list[int]:
        """SIGKILL every PostgreSQL process (the postmaster and its children), by PID;
        returns once all are gone. ``postgres.start()`` brings it back on the same data."""
        assert self.postgres is not None, "the stack is not started"
        killed = kill_tree(self.postgres.pid) if self.postgres.pid is not None else []
        self.postgres.kill(remove=False)  # reaps the postmaster, forgets its handle
        return killed

    def power_cut(self) -> dict[str, int]:
        """Kill PostgreSQL, then lose every write of its data dir not fsynced."""
        if self.lazyfs is None:
            raise RuntimeError(f"cannot simulate a power cut: {self.power_cut_reason}")
        self.kill_database()
        return self.lazyfs.drop_unsynced()

    def pause_backend(self) -> list[int]:
        """SIGSTOP the backend and its workers, by PID (``resume_backend`` undoes it)."""
        assert self.backend is not None, "the stack is not started"
        if self.backend.pid is not None:
            self._paused = signal_tree(self.backend.pid, signal.SIGSTOP, self._paused)
        return list(self._paused)

    def resume_backend(self) -> None:
        """SIGCONT every process ``pause_backend`` stopped (and the backend's tree now)."""
        pids, self._paused = self._paused, []
        root = self.backend.pid if self.backend is not None else None
        if pids or root is not None:
            signal_tree(root, signal.SIGCONT, pids)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> Stack:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.shield(asyncio.to_thread(self.close))


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, 15)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def _ensure_database(dsn: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()

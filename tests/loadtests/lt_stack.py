"""A stack for the Locust tests: a database, a backend, the embedded Toxiproxy in front.

The stack launcher (``sentinel-chaos stack up``) is not there yet, so this puts the same
parts together from their own helpers: a fresh database on the session's embedded
PostgreSQL (tests/conftest.py ``postgres``; the backend applies the migrations),
``sentinel_backend.launcher.BackendProcess`` (a subprocess owned by PID) and
``chaos.toxiproxy.start_embedded`` (in-process thread) with the ``ingest`` and ``stream``
proxies in front of the backend. Everything is stopped on exit, also on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg

from chaos.toxiproxy import ToxiproxyControl, start_embedded
from sentinel_backend.launcher import BackendProcess
from sentinel_backend.pg import EmbeddedPostgres

_COUNTER = itertools.count(1)


@dataclass(frozen=True)
class Stack:
    backend_url: str
    ingest_url: str
    stream_url: str
    toxiproxy_url: str
    database_url: str
    enrollment_key: str
    viewer_token: str
    operator_token: str

    def env(self) -> dict[str, str]:
        """The environment a Locust process gets: the stack's own variable names."""
        env = dict(os.environ)
        env.update({
            "SENTINEL_ENROLLMENT_KEY": self.enrollment_key,
            "SENTINEL_VIEWER_TOKEN": self.viewer_token,
            "SENTINEL_OPERATOR_TOKEN": self.operator_token,
            "SENTINEL_API_URL": self.backend_url,
            "SENTINEL_STREAM_URL": self.stream_url,
            "TOXIPROXY_URL": self.toxiproxy_url,
        })
        env.pop("DATABASE_URL", None)
        return env


async def _create_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.contextmanager
def running_stack(pg: EmbeddedPostgres,
                  backend_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """Database ``lt_<pid>_<n>`` on ``pg``, a backend on it, the two proxies in front."""
    name = f"lt_{os.getpid()}_{next(_COUNTER)}"
    with contextlib.ExitStack() as stack:
        asyncio.run(_create_database(pg.dsn, name))
        stack.callback(lambda: asyncio.run(_drop_database(pg.dsn, name)))
        dsn = pg.dsn_for(name)
        backend = BackendProcess(dsn, env=backend_env).start(timeout=60)
        stack.callback(backend.close)
        toxi = start_embedded()
        stack.callback(toxi.close)
        control = ToxiproxyControl(toxi.url)
        stack.callback(control.close)
        target = f"{backend.host}:{backend.port}"
        proxies = control.create_stack_proxies(target, target)
        ihost, iport = proxies.ingest.listen_host_port
        shost, sport = proxies.stream.listen_host_port
        yield Stack(
            backend_url=backend.url, ingest_url=f"http://{ihost}:{iport}",
            stream_url=f"ws://{shost}:{sport}", toxiproxy_url=toxi.url, database_url=dsn,
            enrollment_key=backend.enrollment_key, viewer_token=backend.viewer_token,
            operator_token=backend.operator_token,
        )

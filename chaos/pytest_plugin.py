"""The sentinel-chaos pytest plugin (entry point ``pytest11``: loaded in every pytest session
where the package is installed, so it imports nothing heavy and starts nothing by itself).

Fixtures:

- ``sentinel_stack`` (session): a running :class:`chaos.stack.Stack` (PostgreSQL, backend,
  Toxiproxy ``ingest``/``stream``, L3 links where available), torn down at the end.
- ``toxiproxy_control``: a sync :class:`chaos.toxiproxy.ToxiproxyControl` on that stack;
  toxics are cleared and the proxies re-enabled after each test.
- ``sentinel_fleet``: ``make(**FleetConfig overrides) -> simulator.Fleet`` aimed at the
  stack (nodes through ``ingest``, dashboards through ``stream``), state in ``tmp_path``.
- ``chaos_scenario``: ``run(name_or_file, *, nodes=, dashboards=, duration=, report_dir=,
  backend_env=) -> Verdict``: a whole ``sentinel-chaos run`` on its own fresh stack.

Marker ``chaos``: a resilience gate that runs a chaos scenario.

Options (command line, or the ini keys ``sentinel_postgres`` / ``sentinel_toxiproxy``):
``--sentinel-postgres=docker`` and ``--sentinel-toxiproxy=docker`` start PostgreSQL and
Toxiproxy as containers (testcontainers; the ``docker`` extra) instead of the embedded
ones; without Docker the fixtures fail with "Docker is not available: ...". Only that
refusal and the container configuration are tested here (no Docker engine in CI).

A ten-line gate::

    import pytest

    @pytest.mark.chaos
    def test_survives_a_bad_uplink(chaos_scenario):
        verdict = chaos_scenario("smoke", nodes=5, duration="10s")
        assert verdict.passed, [s.name for s in verdict.failed_slos]
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from chaos.stack import Stack
    from chaos.toxiproxy import ToxiproxyControl
    from chaos.verdict import Verdict
    from simulator import Fleet

ScenarioRunner = Callable[..., "Verdict"]


_CONTAINER_OPTIONS = ("postgres", "toxiproxy")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sentinel-chaos")
    for name in _CONTAINER_OPTIONS:
        group.addoption(f"--sentinel-{name}", choices=("embedded", "docker"), default=None,
                        help=f"{name} of the sentinel fixtures: embedded (default) or docker")
        parser.addini(f"sentinel_{name}", f"{name} of the sentinel fixtures: embedded|docker",
                      default="embedded")


def _container_choices(config: pytest.Config) -> dict[str, str]:
    """``{"postgres": ..., "toxiproxy": ...}``: the command line, else the ini file."""
    return {name: str(config.getoption(f"--sentinel-{name}")
                      or config.getini(f"sentinel_{name}")) for name in _CONTAINER_OPTIONS}


@contextlib.contextmanager
def _containers_env(choices: Mapping[str, str]) -> Iterator[None]:
    """The choices in the stack's environment variables (for runs that build their own
    stack), restored afterwards; fails at once when Docker is asked for and missing."""
    import os

    from chaos.stack._containers import POSTGRES_ENV, TOXIPROXY_ENV, require_docker

    if "docker" in choices.values():
        require_docker()
    names = {"postgres": POSTGRES_ENV, "toxiproxy": TOXIPROXY_ENV}
    saved = {env: os.environ.get(env) for env in names.values()}
    os.environ.update({names[k]: v for k, v in choices.items()})
    try:
        yield
    finally:
        for env, value in saved.items():
            if value is None:
                os.environ.pop(env, None)
            else:
                os.environ[env] = value


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: a resilience gate that runs a chaos scenario")


@pytest.fixture(scope="session")
def sentinel_stack(pytestconfig: pytest.Config) -> Iterator[Stack]:
    """The whole stack, started once per session."""
    from chaos.stack import Stack, StackOptions

    with _containers_env(_container_choices(pytestconfig)):
        stack = Stack(StackOptions())
    stack.start()
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture
def toxiproxy_control(sentinel_stack: Stack) -> Iterator[ToxiproxyControl]:
    from chaos.stack import PROXY_NAMES
    from chaos.toxiproxy import ToxiproxyControl

    control = ToxiproxyControl(sentinel_stack.toxiproxy_url)
    try:
        yield control
    finally:
        for name in PROXY_NAMES:
            with contextlib.suppress(Exception):
                control.clear_toxics(name)
                control.restore(name)
        control.close()


@pytest.fixture
def sentinel_fleet(sentinel_stack: Stack, tmp_path: Path) -> Callable[..., Fleet]:
    from simulator import Fleet, FleetConfig

    def make(**overrides: Any) -> Fleet:
        base: dict[str, Any] = dict(
            target=sentinel_stack.ingest_url, state_dir=tmp_path / "fleet", nodes=5,
            rate=2.0, dashboards=1, duration=10.0, heartbeat_s=1.0,
            enrollment_key=sentinel_stack.enrollment_key,
            viewer_token=sentinel_stack.viewer_token, stream_target=sentinel_stack.stream_url)
        base.update(overrides)
        return Fleet(FleetConfig(**base))

    return make


@pytest.fixture
def chaos_scenario(tmp_path: Path, pytestconfig: pytest.Config) -> ScenarioRunner:
    """Run a scenario (built-in name or YAML path) end to end; returns its Verdict. Reports
    land in ``report_dir`` (default: a temp dir of the test). A harness error raises."""

    def run(scenario: str | Path, *, nodes: int | None = None,
            dashboards: int | None = None, duration: str | float | None = None,
            report_dir: str | Path | None = None,
            backend_env: Mapping[str, str] | None = None) -> Verdict:
        import asyncio

        from chaos.runner import RunOptions, run_scenario
        from chaos.scenario import parse_duration, resolve_scenario

        loaded = resolve_scenario(scenario)
        seconds = parse_duration(str(duration)) if isinstance(duration, str) else duration
        loaded = loaded.with_overrides(nodes=nodes, dashboards=dashboards, duration_s=seconds)
        options = RunOptions(scenario=loaded, report_dir=Path(report_dir or tmp_path / "report"),
                             backend_env=dict(backend_env or {}), quiet=True,
                             state_dir=tmp_path / "fleet-state")  # not the user's state dir
        box: dict[str, Any] = {}

        def worker() -> None:  # its own event loop: the test may be async itself
            try:
                box["outcome"] = asyncio.run(run_scenario(options))
            except BaseException as exc:
                box["error"] = exc

        thread = threading.Thread(target=worker, name="chaos-scenario")
        with _containers_env(_container_choices(pytestconfig)):
            thread.start()
            thread.join()
        if "error" in box:
            raise box["error"]
        outcome = box["outcome"]
        if outcome.published is None:
            raise RuntimeError(outcome.error)
        verdict: Verdict = outcome.published.verdict
        return verdict

    return run

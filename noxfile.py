"""Developer sessions: tests, lint, typecheck, the CI gate, a bounded load run and benchmarks."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
PACKAGES = ["sentinel_backend", "simulator", "chaos", "loadtests"]


@nox.session
def tests(session: nox.Session) -> None:
    """The project's own test suite against real PostgreSQL, sockets and proxies."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over every package, the tests and this file."""
    session.install("ruff")
    session.run("ruff", "check", *PACKAGES, "tests", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy in strict mode over every package."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def gate(session: nox.Session) -> None:
    """The CI resilience gate: smoke on the embedded stack; the exit code is the verdict."""
    session.install("-e", ".")
    session.run("sentinel-chaos", "run", "--scenario", "smoke", *session.posargs)


@nox.session
def load(session: nox.Session) -> None:
    """A bounded headless Locust run with a fault timeline against a fresh stack, gate on."""
    session.install("-e", ".[dev]")
    session.run("pytest", "tests/loadtests", "-q", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks that print figures side by side (never timed unit tests)."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "sentinel_backend.bench", *session.posargs)
    session.run("python", "-m", "chaos.toxiproxy.bench")
    session.run("python", "-m", "simulator.bench")

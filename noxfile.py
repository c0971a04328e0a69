"""Developer sessions: tests, lint, typecheck and benchmarks, each in its own venv."""

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
    """ruff: lint and formatting check."""
    session.install("ruff")
    session.run("ruff", "check", *PACKAGES, "tests", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy in strict mode over every package."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks that print figures side by side (never timed unit tests)."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "sentinel_backend.bench", *session.posargs)

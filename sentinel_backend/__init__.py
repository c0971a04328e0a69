"""sentinel_backend: the compact resilient backend API of the Sentinel system.

Public API: :func:`create_app` (the ASGI app), :class:`Settings`, :class:`EmbeddedPostgres`
(an embedded PostgreSQL owned by PID) and :class:`BackendProcess` (``sentinel-backend
serve`` as a subprocess, for harnesses and tests). Imports are lazy: no side effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["BackendProcess", "EmbeddedPostgres", "Settings", "__version__", "create_app"]

if TYPE_CHECKING:
    from .app import create_app
    from .config import Settings
    from .launcher import BackendProcess
    from .pg import EmbeddedPostgres

_LAZY = {
    "create_app": "app",
    "Settings": "config",
    "BackendProcess": "launcher",
    "EmbeddedPostgres": "pg",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(name)

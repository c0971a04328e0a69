"""Toxic types, one module each; dropping a new module in this folder adds a toxic type.

:func:`toxic_types` imports every module here once (on first use, not at import time) so
each can register itself with :func:`~chaos.toxiproxy.toxics.base.register`.
"""

from __future__ import annotations

import importlib
import pkgutil

from chaos.toxiproxy.toxics.base import TOXICS, Chunk, Passthrough, Stub, Toxic, register

__all__ = ["Chunk", "Passthrough", "Stub", "Toxic", "register", "toxic_types"]

_loaded = False


def toxic_types() -> dict[str, type[Toxic]]:
    """All registered toxic types by name (``latency``, ``bandwidth``, ...)."""
    global _loaded
    if not _loaded:
        for module in pkgutil.iter_modules(__path__):
            if not module.name.startswith("_") and module.name != "base":
                importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True
    return TOXICS

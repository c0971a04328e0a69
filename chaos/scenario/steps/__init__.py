"""Step types, one module per type (like Toxiproxy's toxics folder).

Adding a step type is adding one module here that defines an ``Action`` subclass and names
it ``STEP``; ``registry()`` finds it on first use (no import-time registration).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from chaos.scenario.steps._base import Action, Link, require_link

__all__ = ["Action", "Link", "UnknownStepType", "get_step_type", "registry", "require_link"]


class UnknownStepType(KeyError):
    """Raised by ``get_step_type`` for a name no module in this folder registers."""


@cache
def registry() -> dict[str, type[Action]]:
    """Map step kind -> Action class, discovered from the modules of this package."""
    found: dict[str, type[Action]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        step = getattr(module, "STEP", None)
        if not (isinstance(step, type) and issubclass(step, Action)):
            raise TypeError(f"{module.__name__} must define STEP = <an Action subclass>")
        if step.kind in found:
            raise TypeError(f"step kind {step.kind!r} is defined twice")
        found[step.kind] = step
    return dict(sorted(found.items()))


def get_step_type(kind: str) -> type[Action]:
    try:
        return registry()[kind]
    except KeyError:
        raise UnknownStepType(
            f"unknown step type {kind!r}; known: {', '.join(registry())}") from None

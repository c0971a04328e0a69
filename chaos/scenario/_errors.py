"""The one error a scenario file can raise, pointing at the line and the field to fix."""

from __future__ import annotations


class ScenarioError(ValueError):
    """A scenario that cannot be loaded or resolved.

    The message reads ``file:line: field: what is wrong`` so an editor (or a person) can jump
    straight to the place; the parts are kept as attributes for tools that want them.
    """

    def __init__(self, message: str, *, source: str = "", line: int | None = None,
                 field: str = "") -> None:
        self.source = source
        self.line = line
        self.field = field
        self.reason = message
        where = source
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        parts = [p for p in (where, field) if p]
        super().__init__(": ".join([*parts, message]))

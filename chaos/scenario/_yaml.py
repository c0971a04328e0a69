"""A typed reader over the composed YAML node tree that never loses track of the line.

The loader composes the document (it does not construct it) so every value keeps its
``start_mark``; each accessor checks one type and, on failure, raises a ``ScenarioError``
that names the file, the line and the dotted field path (``steps[2].for``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from chaos.scenario._durations import parse_duration
from chaos.scenario._errors import ScenarioError


def compose(text: str, source: str) -> Field:
    """Compose ``text`` into a root ``Field``; YAML syntax errors keep yaml's own line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ScenarioError(f"invalid YAML: {exc.problem or exc}", source=source,
                            line=line) from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}", source=source) from exc
    if node is None:
        raise ScenarioError("the file is empty; expected a mapping with 'name', 'fleet', "
                            "'steps', 'slos'", source=source, line=1)
    return Field(node, "", source)


class Field:
    """One value of the document, with its path and its position."""

    def __init__(self, node: Node, path: str, source: str) -> None:
        self.node = node
        self.path = path
        self.source = source

    @property
    def line(self) -> int:
        return int(self.node.start_mark.line) + 1

    def error(self, message: str) -> ScenarioError:
        return ScenarioError(message, source=self.source, line=self.line, field=self.path)

    def _child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    # -- containers -------------------------------------------------------------------

    def is_null(self) -> bool:
        return isinstance(self.node, ScalarNode) and self.node.tag == "tag:yaml.org,2002:null"

    def is_mapping(self) -> bool:
        return isinstance(self.node, MappingNode)

    def is_sequence(self) -> bool:
        return isinstance(self.node, SequenceNode)

    def _pairs(self) -> list[tuple[str, Field]]:
        if self.is_null():
            return []
        if not isinstance(self.node, MappingNode):
            raise self.error(f"expected a mapping, got {self.describe()}")
        pairs: list[tuple[str, Field]] = []
        seen: set[str] = set()
        for key_node, value_node in self.node.value:
            if not isinstance(key_node, ScalarNode):
                raise Field(key_node, self.path, self.source).error("expected a plain key")
            key = str(key_node.value)
            if key in seen:
                raise Field(key_node, self._child_path(key), self.source).error(
                    "duplicate key")
            seen.add(key)
            pairs.append((key, Field(value_node, self._child_path(key), self.source)))
        return pairs

    def field_names(self) -> list[str]:
        return [key for key, _ in self._pairs()]

    def items(self) -> list[tuple[str, Field]]:
        return self._pairs()

    def get(self, key: str) -> Field | None:
        for name, value in self._pairs():
            if name == key:
                return value
        return None

    def require(self, key: str) -> Field:
        value = self.get(key)
        if value is None:
            raise ScenarioError(f"missing required field '{key}'", source=self.source,
                                line=self.line, field=self._child_path(key))
        return value

    def only(self, allowed: Sequence[str]) -> None:
        """Reject unknown keys: a typo (``fro: 10s``) must not silently mean "default"."""
        for key, value in self._pairs():
            if key not in allowed:
                raise ScenarioError(
                    f"unknown field; expected one of: {', '.join(allowed)}",
                    source=self.source, line=Field(self._key_node(key), "", "").line,
                    field=value.path)

    def _key_node(self, key: str) -> Node:
        assert isinstance(self.node, MappingNode)
        for key_node, _ in self.node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == key:
                return key_node
        return self.node

    def elements(self) -> Iterator[Field]:
        if self.is_null():
            return
        if not isinstance(self.node, SequenceNode):
            raise self.error(f"expected a list, got {self.describe()}")
        for index, child in enumerate(self.node.value):
            yield Field(child, self._child_path(index), self.source)

    # -- scalars ----------------------------------------------------------------------

    def value(self) -> object:
        constructor = SafeConstructor()
        return constructor.construct_object(self.node, deep=True)

    def describe(self) -> str:
        if isinstance(self.node, MappingNode):
            return "a mapping"
        if isinstance(self.node, SequenceNode):
            return "a list"
        return repr(self.node.value)

    def text(self) -> str:
        value = self.value()
        if not isinstance(value, str) or not value:
            raise self.error(f"expected a non-empty string, got {self.describe()}")
        return value

    def choice(self, options: Sequence[str]) -> str:
        value = self.value()
        if value not in options:
            raise self.error(f"expected one of {', '.join(options)}, got {self.describe()}")
        assert isinstance(value, str)
        return value

    def boolean(self) -> bool:
        value = self.value()
        if not isinstance(value, bool):
            raise self.error(f"expected true or false, got {self.describe()}")
        return value

    def integer(self, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.value()
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"expected an integer, got {self.describe()}")
        self._check_range(value, minimum, maximum)
        return value

    def number(self, *, minimum: float | None = None, maximum: float | None = None) -> float:
        value = self.value()
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"expected a number, got {self.describe()}")
        number = float(value)
        if not math.isfinite(number):
            raise self.error(f"expected a finite number, got {self.describe()}")
        self._check_range(number, minimum, maximum)
        return number

    def fraction(self) -> float:
        """A share in [0, 1]; ``50%`` is accepted too because that is how people say it."""
        value = self.value()
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                number = float(value.strip()[:-1]) / 100.0
            except ValueError:
                raise self.error(f"expected a fraction like 0.5 or '50%', "
                                 f"got {self.describe()}") from None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        else:
            raise self.error(f"expected a fraction like 0.5 or '50%', got {self.describe()}")
        if not 0.0 <= number <= 1.0:
            raise self.error(f"expected a fraction between 0 and 1, got {self.describe()}")
        return number

    def duration(self, *, minimum: float = 0.0) -> float:
        value = self.value()
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise self.error(f"expected a duration like '20s', got {self.describe()}") from None
        if seconds < minimum:
            raise self.error(f"expected a duration of at least {minimum:g}s, "
                             f"got {self.describe()}")
        return seconds

    def _check_range(self, value: float, minimum: float | None,
                     maximum: float | None) -> None:
        if minimum is not None and value < minimum:
            raise self.error(f"expected a value >= {minimum:g}, got {self.describe()}")
        if maximum is not None and value > maximum:
            raise self.error(f"expected a value <= {maximum:g}, got {self.describe()}")

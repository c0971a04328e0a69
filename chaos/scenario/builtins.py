"""The scenarios shipped with the package: list them, and resolve a NAME or a FILE."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from chaos.scenario._errors import ScenarioError
from chaos.scenario.loader import load_scenario_file, load_scenario_text
from chaos.scenario.model import Scenario

_PACKAGE = "chaos.scenario.builtin"
DEFAULT_SCENARIO = "smoke"


@dataclass(frozen=True)
class BuiltinScenario:
    name: str
    description: str


def _files() -> dict[str, str]:
    root = resources.files(_PACKAGE)
    return {entry.name[: -len(".yaml")]: entry.name for entry in root.iterdir()
            if entry.name.endswith(".yaml")}


def builtin_names() -> list[str]:
    return sorted(_files())


def load_builtin(name: str) -> Scenario:
    files = _files()
    if name not in files:
        raise ScenarioError(f"no built-in scenario {name!r}; built-in: "
                            f"{', '.join(sorted(files))} (or give a path to a .yaml file)")
    text = resources.files(_PACKAGE).joinpath(files[name]).read_text(encoding="utf-8")
    return load_scenario_text(text, source=files[name])


def list_builtins() -> list[BuiltinScenario]:
    """Name and one-line description of every built-in, for ``sentinel-chaos scenarios``."""
    return [BuiltinScenario(name=name, description=load_builtin(name).description)
            for name in builtin_names()]


def resolve_scenario(name_or_path: str | Path | None = None) -> Scenario:
    """``None`` -> the default; an existing file (or anything with a path separator or a
    ``.yaml``/``.yml`` suffix) -> that file; otherwise a built-in name."""
    if name_or_path is None:
        return load_builtin(DEFAULT_SCENARIO)
    text = str(name_or_path)
    path = Path(text)
    looks_like_path = (isinstance(name_or_path, Path) or "/" in text or "\\" in text
                       or path.suffix in (".yaml", ".yml"))
    if path.is_file() or looks_like_path:
        return load_scenario_file(path)
    return load_builtin(text)

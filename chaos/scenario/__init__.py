"""Scenarios: the YAML model and loader, the step types, the timeline player, the built-ins."""

from chaos.scenario._durations import (
    format_duration,
    format_offset,
    parse_duration,
    parse_offset,
)
from chaos.scenario._errors import ScenarioError
from chaos.scenario.builtins import (
    DEFAULT_SCENARIO,
    BuiltinScenario,
    builtin_names,
    list_builtins,
    load_builtin,
    resolve_scenario,
)
from chaos.scenario.context import (
    BackendControl,
    DatabaseControl,
    FleetClocks,
    FleetInfo,
    L3Control,
    L3Impairments,
    OperatorControl,
    StepContext,
    ToxicSpec,
    ToxiproxyControl,
)
from chaos.scenario.loader import load_scenario_file, load_scenario_text
from chaos.scenario.model import Fleet, Scenario, Slos, Step
from chaos.scenario.player import TimelinePlayer
from chaos.scenario.steps import Action, Link, UnknownStepType, get_step_type, registry
from chaos.scenario.windows import FaultWindow

__all__ = [
    "DEFAULT_SCENARIO",
    "Action",
    "BackendControl",
    "BuiltinScenario",
    "DatabaseControl",
    "FaultWindow",
    "Fleet",
    "FleetClocks",
    "FleetInfo",
    "L3Control",
    "L3Impairments",
    "Link",
    "OperatorControl",
    "Scenario",
    "ScenarioError",
    "Slos",
    "Step",
    "StepContext",
    "TimelinePlayer",
    "ToxicSpec",
    "ToxiproxyControl",
    "UnknownStepType",
    "builtin_names",
    "format_duration",
    "format_offset",
    "get_step_type",
    "list_builtins",
    "load_builtin",
    "load_scenario_file",
    "load_scenario_text",
    "parse_duration",
    "parse_offset",
    "registry",
    "resolve_scenario",
]

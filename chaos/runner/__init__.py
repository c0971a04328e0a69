"""Run orchestration: a scenario against the stack (or a target), judged and reported."""

from chaos.runner._run import RunOptions, RunOutcome, run_scenario
from chaos.runner.adapters import (
    L3Links,
    OperatorApi,
    RunContext,
    l3_direction,
)
from chaos.runner.evidence import ledger_evidence, stored_from_api, stored_from_database
from chaos.runner.live import LiveView

__all__ = [
    "L3Links",
    "LiveView",
    "OperatorApi",
    "RunContext",
    "RunOptions",
    "RunOutcome",
    "l3_direction",
    "ledger_evidence",
    "run_scenario",
    "stored_from_api",
    "stored_from_database",
]

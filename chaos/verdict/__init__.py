"""The verdict (DESIGN section 9): a pure computation over plain ``Evidence``."""

from chaos.verdict._stats import Percentiles, nearest_rank, percentiles
from chaos.verdict.compute import compute_verdict, first_receipts, in_fault
from chaos.verdict.evidence import (
    ContentHash,
    DashboardRecord,
    Evidence,
    GeneratedDetection,
    ReceivedEvent,
    SeriesPoint,
    StoredDetection,
)
from chaos.verdict.evidence_io import (
    evidence_from_dict,
    evidence_to_dict,
    read_evidence,
    write_evidence,
)
from chaos.verdict.result import (
    EXIT_HARNESS_ERROR,
    EXIT_PASS,
    EXIT_SLO_FAILED,
    DashboardResult,
    Integrity,
    LatencyResult,
    Recovery,
    SloResult,
    Verdict,
    exit_code,
)

__all__ = [
    "EXIT_HARNESS_ERROR",
    "EXIT_PASS",
    "EXIT_SLO_FAILED",
    "ContentHash",
    "DashboardRecord",
    "DashboardResult",
    "Evidence",
    "GeneratedDetection",
    "Integrity",
    "LatencyResult",
    "Percentiles",
    "ReceivedEvent",
    "Recovery",
    "SeriesPoint",
    "SloResult",
    "StoredDetection",
    "Verdict",
    "compute_verdict",
    "evidence_from_dict",
    "evidence_to_dict",
    "exit_code",
    "first_receipts",
    "in_fault",
    "nearest_rank",
    "percentiles",
    "read_evidence",
    "write_evidence",
]

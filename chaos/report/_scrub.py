"""No secret in a report file: what the reports write, redacted on its way out.

The reports are what a CI job uploads, so whatever text a run put into them (a step's
description, an environment entry, a harness error quoting a URL with ``?token=``, a
dashboard's close reason) goes through ``chaos._secrets.redact`` first. Evidence is scrubbed
field by field, only its free text: identities and content hashes are left as they are, so
``python -m chaos.verdict`` judges ``evidence.json`` exactly as the run did.
"""

from __future__ import annotations

from dataclasses import replace

from chaos._secrets import redact, redact_value
from chaos.report.run_info import RunInfo
from chaos.verdict.evidence import Evidence


def scrub_run(run: RunInfo) -> RunInfo:
    """`run` with its environment's values redacted."""
    return replace(run, environment=redact_value(dict(run.environment)))


def scrub_evidence(evidence: Evidence) -> Evidence:
    """`evidence` with the free text of its windows, dashboards and errors redacted."""
    windows = [replace(w, description=redact(w.description), reason=redact(w.reason))
               for w in evidence.fault_windows]
    dashboards = [replace(d, fatal=redact(d.fatal)) if isinstance(d.fatal, str) else d
                  for d in evidence.dashboards]
    return replace(evidence, fault_windows=windows, dashboards=dashboards,
                   harness_errors=tuple(redact(e) for e in evidence.harness_errors))

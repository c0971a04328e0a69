"""``python -m chaos.verdict EVIDENCE.json``: judge kept evidence again, offline.

Useful after changing an SLO, or to look at an old run with today's reports; the exit code
is the run's (0 pass, 1 an SLO failed, 2 harness error).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chaos.report.publish import publish
from chaos.report.run_info import RunInfo, basic_environment
from chaos.scenario import ScenarioError, resolve_scenario
from chaos.verdict.evidence_io import read_evidence
from chaos.verdict.result import EXIT_HARNESS_ERROR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chaos.verdict",
        description="Judge a run's evidence.json again and rewrite its reports.")
    parser.add_argument("evidence", type=Path, help="evidence.json written by a run")
    parser.add_argument("--scenario", default=None,
                        help="built-in name or YAML file whose SLOs to judge by "
                             "(default: smoke)")
    parser.add_argument("--report-dir", type=Path, default=None,
                        help="where to write the reports (default: next to the evidence)")
    parser.add_argument("--junit", type=Path, default=None, help="JUnit XML path")
    args = parser.parse_args(argv)
    try:
        scenario = resolve_scenario(args.scenario)
        evidence = read_evidence(args.evidence)
    except (ScenarioError, ValueError, OSError, KeyError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    run = RunInfo(scenario=scenario, environment={**basic_environment(),
                                                  "judged_from": str(args.evidence)},
                  started_at=evidence.run_started_at)
    report_dir = args.report_dir or args.evidence.parent
    published = publish(evidence, run, report_dir, junit_path=args.junit)
    print(published.summary, end="")
    print(f"reports: {published.paths.index_html}")
    return published.exit_code


if __name__ == "__main__":
    sys.exit(main())

"""JUnit XML: one test case per SLO, so CI shows each promise as its own green or red line."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from chaos.report._format import slo_line
from chaos.verdict.result import Verdict


def render_junit(verdict: Verdict, scenario_name: str, *, duration_s: float = 0.0) -> str:
    suite_name = f"sentinel-chaos.{scenario_name}"
    failures = len(verdict.failed_slos)
    errors = 1 if verdict.harness_errors else 0
    root = ET.Element("testsuites", name="sentinel-chaos")
    suite = ET.SubElement(root, "testsuite", name=suite_name,
                          tests=str(len(verdict.slos) + errors), failures=str(failures),
                          errors=str(errors), skipped="0", time=f"{duration_s:.3f}")
    properties = ET.SubElement(suite, "properties")
    for window in verdict.skipped:
        ET.SubElement(properties, "property", name=f"skipped_step.{window.step_index}",
                      value=f"{window.description}: {window.reason}")
    for slo in verdict.slos:
        case = ET.SubElement(suite, "testcase", classname=suite_name, name=slo.name, time="0")
        if not slo.passed:
            failure = ET.SubElement(case, "failure", type="SLOFailed", message=slo_line(slo))
            failure.text = (f"measured: {slo.measured}\nlimit: {slo.limit}\nunit: {slo.unit}\n"
                            f"detail: {slo.detail}\n")
    if verdict.harness_errors:
        case = ET.SubElement(suite, "testcase", classname=suite_name, name="harness", time="0")
        error = ET.SubElement(case, "error", type="HarnessError",
                              message=verdict.harness_errors[0])
        error.text = "\n".join(verdict.harness_errors) + "\n"
    if verdict.skipped:
        out = ET.SubElement(suite, "system-out")
        out.text = "\n".join(f"skipped step {w.step_index} ({w.description}): {w.reason}"
                             for w in verdict.skipped) + "\n"
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

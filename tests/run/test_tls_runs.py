"""Field rehearsals over TLS: ``sentinel-chaos run`` against an HTTPS backend with a private
CA, refused in one line when the CA is not trusted, and ``--tls`` on the embedded stack."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chaos.tls_ca import Pki, write_pki
from sentinel_backend.launcher import BackendProcess

from ._runhelpers import explain, report, sentinel_chaos
from .test_clock_offset_run import steady_scenario

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return write_pki(tmp_path / "pki")


@pytest.fixture
def https_backend(backend_factory: Callable[..., BackendProcess], pki: Pki) -> BackendProcess:
    return backend_factory(ssl_certfile=pki.server.cert, ssl_keyfile=pki.server.key,
                           ca_file=pki.ca_cert)


def _target_env(backend: BackendProcess, database_url: str) -> dict[str, str]:
    return {"SENTINEL_ENROLLMENT_KEY": backend.enrollment_key,
            "SENTINEL_VIEWER_TOKEN": backend.viewer_token,
            "SENTINEL_OPERATOR_TOKEN": backend.operator_token,
            "DATABASE_URL": database_url, "SSL_CERT_FILE": ""}


def test_an_https_target_with_a_private_ca_passes_judged_from_its_database(
        https_backend: BackendProcess, pki: Pki, tmp_path: Path) -> None:
    assert https_backend.url.startswith("https://")
    out = tmp_path / "report"
    proc = sentinel_chaos("run", "--target", https_backend.url, "--ca-file", str(pki.ca_cert),
                          "--scenario", str(steady_scenario(tmp_path)),
                          "--report-dir", str(out), cwd=tmp_path,
                          env=_target_env(https_backend, https_backend.database_url))
    assert proc.returncode == 0, explain(proc)
    data = report(out)
    assert data["environment"]["stored set"] == "DATABASE_URL"
    assert data["environment"]["tls"] == f"verified against CA file {pki.ca_cert}"
    assert data["integrity"]["generated"] > 20
    assert data["integrity"]["stored"] == data["integrity"]["generated"]
    assert all(d["received"] > 0 for d in data["dashboards"])  # over wss
    # One machine, one clock: the estimate is about zero, within its uncertainty.
    offset, uncertainty = data["run"]["clock_offset_s"], data["run"]["clock_uncertainty_s"]
    assert offset is not None and abs(offset) <= uncertainty + 0.002, (offset, uncertainty)
    assert "INSECURE" not in proc.stdout


def test_an_https_target_without_its_ca_is_refused_in_one_line(
        https_backend: BackendProcess, tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = sentinel_chaos("run", "--target", https_backend.url,
                          "--scenario", str(steady_scenario(tmp_path)),
                          "--report-dir", str(out), cwd=tmp_path, timeout=60,
                          env=_target_env(https_backend, ""))
    assert proc.returncode == 2, explain(proc)
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, explain(proc)
    assert "unknown CA" in errors[0] and "--ca-file" in errors[0], explain(proc)
    assert not (out / "report.json").exists()  # refused before anything started


def test_insecure_is_marked_loudly(https_backend: BackendProcess, tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = sentinel_chaos("run", "--target", https_backend.url, "--insecure",
                          "--scenario", str(steady_scenario(tmp_path)), "--duration", "3s",
                          "--report-dir", str(out), cwd=tmp_path,
                          env=_target_env(https_backend, ""))
    assert proc.returncode == 0, explain(proc)
    assert "verification is OFF" in proc.stderr, explain(proc)
    assert report(out)["environment"]["tls"].startswith("INSECURE")
    summary = proc.stdout[proc.stdout.index("PASS"):].splitlines()
    assert "INSECURE" in summary[2], explain(proc)


def test_run_tls_passes_tls_smoke_on_the_embedded_stack(tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = sentinel_chaos("run", "--tls", "--scenario", "tls-smoke", "--report-dir", str(out),
                          cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    data = report(out)
    assert data["environment"]["tls"].startswith("backend over TLS"), data["environment"]
    assert data["run"]["clock_offset_s"] is None  # one clock: nothing corrected
    assert data["integrity"]["stored"] == data["integrity"]["generated"] > 0
    assert all(d["sessions"] >= 1 for d in data["dashboards"])

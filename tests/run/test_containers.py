"""``--postgres docker`` / ``--toxiproxy docker``: what can be checked without an engine.

The configuration handed to testcontainers (images and environment as in
docker-compose.chaos.yml, ports) and the refusal when Docker is asked for and missing (a
real CLI run, a real pytest run). Starting the containers needs an engine: untested here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chaos.stack import StackOptions
from chaos.stack._containers import (
    POSTGRES_ENV,
    TOXIPROXY_ENV,
    docker_unavailable_reason,
    postgres_spec,
    toxiproxy_spec,
)

from ._runhelpers import explain, sentinel_chaos

ROOT = Path(__file__).resolve().parents[2]
needs_no_docker = pytest.mark.skipif(docker_unavailable_reason() is None,
                                     reason="a Docker engine answers here")


def _compose() -> dict[str, dict[str, object]]:
    services: dict[str, dict[str, object]] = yaml.safe_load(
        (ROOT / "docker-compose.chaos.yml").read_text())["services"]
    return services


def test_postgres_container_is_the_compose_files() -> None:
    spec, service = postgres_spec(), _compose()["postgres"]
    assert spec.image == service["image"]
    assert spec.env == service["environment"]
    assert spec.ports == (5432,)


def test_toxiproxy_container_is_the_compose_files_image_on_the_host_network() -> None:
    spec = toxiproxy_spec(18474)
    assert spec.image == _compose()["toxiproxy"]["image"]
    assert spec.image.startswith("ghcr.io/shopify/toxiproxy:")
    assert spec.network_mode == "host"  # its proxies listen on loopback, dial the backend
    assert "-port=18474" in spec.command and "-host=127.0.0.1" in spec.command


def test_embedded_is_the_default_and_the_environment_chooses(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POSTGRES_ENV, raising=False)
    monkeypatch.delenv(TOXIPROXY_ENV, raising=False)
    assert (StackOptions().postgres, StackOptions().toxiproxy) == ("embedded", "embedded")
    monkeypatch.setenv(POSTGRES_ENV, "docker")
    assert StackOptions().postgres == "docker"
    monkeypatch.setenv(TOXIPROXY_ENV, "podman")
    with pytest.raises(ValueError, match="embedded' or 'docker'"):
        StackOptions()


@needs_no_docker
@pytest.mark.parametrize("flag", ["--postgres", "--toxiproxy"])
def test_cli_without_docker_exits_2_with_one_line(flag: str, tmp_path: Path) -> None:
    proc = sentinel_chaos("run", flag, "docker", "--report-dir", str(tmp_path / "r"),
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, explain(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Docker is not available: "), explain(proc)
    assert not (tmp_path / "r").exists()  # refused before anything started


@needs_no_docker
def test_plugin_option_without_docker_fails_the_fixture(tmp_path: Path) -> None:
    (tmp_path / "test_gate.py").write_text(
        "def test_uses_stack(sentinel_stack):\n    pass\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
         str(tmp_path), "--sentinel-postgres=docker", str(tmp_path / "test_gate.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "Docker is not available: " in proc.stdout, proc.stdout[-3000:]

"""schemathesis against the live backend: every check, zero failures, a fixed seed.

A real ``sentinel-backend serve`` on loopback (the ``backend`` fixture) on the embedded
PostgreSQL; schemathesis reads its ``/openapi.json`` and sends what the document allows
(and what it forbids) to every operation, once with the operator token and once with a
node token. Any failure prints the seed: ``schemathesis run ... --seed <SEED>`` with the
same options reproduces it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sentinel_backend.launcher import BackendProcess

from .helpers import bearer, count

SEED = 20261122
MAX_EXAMPLES = 12
NODE_ID = "fuzz-node"
_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _config(path: Path) -> Path:
    """Path parameters pinned to the registered node, so that node-token calls can pass."""
    path.write_text(f'[parameters]\n"path.node_id" = "{NODE_ID}"\n', encoding="utf-8")
    return path


def _schemathesis(backend: BackendProcess, token: str, config: Path) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
           f"{backend.url}/openapi.json", "--checks", "all", "--seed", str(SEED),
           "--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--no-shrink",
           "--phases", "examples,coverage,fuzzing", "--generation-database", "none",
           "--request-timeout", "10", "-H", f"Authorization: Bearer {token}", "--no-color"]
    print(f"schemathesis seed {SEED}: {' '.join(cmd[:-3])} -H 'Authorization: Bearer ...'")
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.backend._fuzz_hooks",
           "SENTINEL_FUZZ_NODE_ID": NODE_ID,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False,
                          stdin=subprocess.DEVNULL, cwd=_ROOT, env=env)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("role", ["operator", "node"])
def test_schemathesis_finds_nothing(backend: BackendProcess, database_url: str, role: str,
                                    tmp_path: Path) -> None:
    with httpx.Client(base_url=backend.url) as client:
        resp = client.post("/api/nodes/register", json={"node_id": NODE_ID},
                           headers=bearer(backend.enrollment_key))
        assert resp.status_code == 201, resp.text
        node_token: str = resp.json()["token"]
    token = backend.operator_token if role == "operator" else node_token
    code, output = _schemathesis(backend, token, _config(tmp_path / "schemathesis.toml"))
    print(output[-6000:])
    assert code == 0, f"schemathesis found failures (seed {SEED}):\n{output[-12000:]}"
    if role == "node":  # the generated detections reached the store, not only a 4xx
        assert asyncio.run(count(database_url, "detections")) > 0

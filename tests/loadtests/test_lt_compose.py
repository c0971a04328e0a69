"""docker-compose.chaos.yml, docker/toxiproxy.json and the Dockerfile agree with the code.

No Docker engine runs here, so these check what can be checked without one: the files
parse, every environment variable a service is given is one the code reads, ports line
up end to end, the Toxiproxy populate file creates exactly the proxies the harness uses
(and the embedded Toxiproxy-compatible server accepts it), healthchecks exist.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from chaos.scenario import builtin_names, load_builtin
from chaos.stack import PROXY_NAMES
from chaos.toxiproxy import INGEST, STREAM, ToxiproxyControl, start_embedded
from sentinel_backend.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.chaos.yml"
POPULATE = ROOT / "docker" / "toxiproxy.json"
DOCKERFILE = ROOT / "Dockerfile"

# Variables of third-party images, read by them and not by our code.
IMAGE_VARS = {"postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def populate() -> list[dict[str, Any]]:
    data = json.loads(POPULATE.read_text())
    assert isinstance(data, list)
    return data


def _backend_settings() -> tuple[set[str], set[str]]:
    """(every env var the backend's settings read, the ones it requires)."""
    source = (ROOT / "sentinel_backend" / "config.py").read_text()
    names = set(re.findall(r'"((?:SENTINEL|DATABASE)_[A-Z0-9_]+)"', source))
    required = set(re.findall(r'_required\("([A-Z0-9_]+)"\)', source))
    assert required, "sentinel_backend/config.py no longer reads settings with _required()"
    return names, required


def _locust_settings() -> set[str]:
    source = (ROOT / "loadtests" / "_options.py").read_text()
    return set(re.findall(r'env_var="([A-Z0-9_]+)"', source))


def _port(url: str) -> int:
    port = urlparse(url).port
    assert port is not None, f"{url} names no port"
    return port


def _listen_port(listen: str) -> int:
    return int(listen.rpartition(":")[2])


def _published(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split(":")[-1].split("/")[0]) for p in service.get("ports", [])}


def _flag(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_compose_has_the_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "toxiproxy", "backend", "locust-master", "locust-worker"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["toxiproxy"]["image"].startswith("ghcr.io/shopify/toxiproxy:")
    assert services["backend"]["build"]["target"] == "backend"
    for name in ("locust-master", "locust-worker"):
        assert services[name]["build"]["target"] == "locust"
    assert "--master" in services["locust-master"]["command"]
    assert "--worker" in services["locust-worker"]["command"]
    assert services["locust-worker"]["deploy"]["replicas"] >= 2


def test_every_env_name_is_read_by_the_code(compose: dict[str, Any]) -> None:
    backend_names, required = _backend_settings()
    locust_names = _locust_settings()
    services = compose["services"]
    backend_env = set(services["backend"]["environment"])
    assert backend_env <= backend_names, f"not read by the backend: {backend_env - backend_names}"
    assert required <= backend_env, f"backend settings missing: {required - backend_env}"
    for name in ("locust-master", "locust-worker"):
        env = set(services[name]["environment"])
        assert env <= locust_names, f"{name}: not a loadtests option: {env - locust_names}"
    for name, allowed in IMAGE_VARS.items():
        assert set(services[name]["environment"]) <= allowed
    # one secret, one name: the backend and Locust read the same variables
    secrets = {n for n in required if n != "DATABASE_URL"}
    for name in ("locust-master", "locust-worker"):
        env = services[name]["environment"]
        for secret in secrets:
            assert env[secret] == services["backend"]["environment"][secret]
            assert f"${{{secret}" in env[secret]


def test_ports_agree_end_to_end(compose: dict[str, Any], populate: list[dict[str, Any]]) -> None:
    services = compose["services"]
    backend_cmd = services["backend"]["command"]
    backend_port = int(_flag(backend_cmd, "--port"))
    serve_default = build_parser().parse_args(["serve"]).port
    assert backend_port == serve_default
    assert str(backend_port) in [str(p) for p in services["backend"]["expose"]]
    assert not services["backend"].get("ports"), "published ports would stop --scale backend=N"
    assert f":{backend_port}/health/ready" in " ".join(services["backend"]["healthcheck"]["test"])
    db = urlparse(services["backend"]["environment"]["DATABASE_URL"])
    proxies = {p["name"]: p for p in populate}
    # the backend reaches PostgreSQL through the "database" proxy, which dials postgres:5432
    assert (db.hostname, db.port, db.path) == (
        "toxiproxy", _listen_port(proxies["database"]["listen"]), "/sentinel")
    assert proxies["database"]["upstream"] == "postgres:5432"
    assert db.username == services["postgres"]["environment"]["POSTGRES_USER"]
    assert db.password == services["postgres"]["environment"]["POSTGRES_PASSWORD"]

    for name in (INGEST, STREAM):
        proxy = proxies[name]
        assert proxy["upstream"] == f"backend:{backend_port}"
        assert _listen_port(proxy["listen"]) in _published(services["toxiproxy"])
    env = services["locust-master"]["environment"]
    assert _port(_flag(services["locust-master"]["command"], "--host")) == _listen_port(
        proxies[INGEST]["listen"])
    assert _port(env["SENTINEL_STREAM_URL"]) == _listen_port(proxies[STREAM]["listen"])
    assert urlparse(env["SENTINEL_STREAM_URL"]).hostname == "toxiproxy"
    assert _port(env["TOXIPROXY_URL"]) == 8474 and 8474 in _published(services["toxiproxy"])
    assert _port(env["SENTINEL_API_URL"]) == backend_port
    assert _flag(services["locust-worker"]["command"], "--master-host") == "locust-master"


def test_populate_config_is_the_harness_proxies(populate: list[dict[str, Any]],
                                                compose: dict[str, Any]) -> None:
    assert sorted(p["name"] for p in populate) == sorted(PROXY_NAMES)
    assert all(p.get("enabled", True) for p in populate)
    mount = compose["services"]["toxiproxy"]["volumes"][0]
    assert mount.startswith("./docker/toxiproxy.json:")
    target = mount.split(":")[1]
    assert f"-config={target}" in compose["services"]["toxiproxy"]["command"]
    # every L4 step of the built-in scenarios acts on one of these proxies
    for name in builtin_names():
        for step in load_builtin(name).steps:
            if step.kind in ("toxic", "cut") and step.link is not None:
                assert step.link.proxy in PROXY_NAMES, (name, step.describe())


def test_populate_config_is_accepted_by_a_toxiproxy_server(populate: list[dict[str, Any]]) -> None:
    """The same JSON through POST /populate (what -config does at start), on loopback ports."""
    local = [dict(p, listen="127.0.0.1:0", upstream="127.0.0.1:9") for p in populate]
    with start_embedded() as handle, ToxiproxyControl(handle.url) as control:
        created = control.populate(local)
        assert sorted(p.name for p in created) == sorted(PROXY_NAMES)
        assert set(control.proxies()) == set(PROXY_NAMES)


def test_healthchecks_and_ordering(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("postgres", "backend", "toxiproxy"):
        check = services[name]["healthcheck"]
        assert check["test"] and check.get("interval"), name
    # postgres -> toxiproxy (its "database" proxy) -> backend -> Locust
    assert services["toxiproxy"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["backend"]["depends_on"]["toxiproxy"]["condition"] == "service_healthy"
    assert services["locust-master"]["depends_on"]["backend"]["condition"] == "service_healthy"
    assert "@toxiproxy:5433/" in services["backend"]["environment"]["DATABASE_URL"]


def test_dockerfile_is_slim_non_root_with_healthcheck() -> None:
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    final = stages[-1]
    assert final.split()[2] == "backend", "the default (last) stage is the backend"
    assert re.search(r"^FROM python:3\.\d+-slim", text, flags=re.M)
    for stage in stages[1:]:  # every runnable stage drops root
        users = re.findall(r"^USER (\S+)", stage, flags=re.M)
        assert users and users[-1].split(":")[0] not in ("root", "0"), stage.split()[2]
    assert "HEALTHCHECK" in final and "/health/ready" in final
    assert "EXPOSE 8000" in final and "--port\", \"8000\"" in final
    assert re.search(r"useradd .*--uid 10001", text)

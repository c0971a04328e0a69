"""The OpenAPI document tells the truth: its schemas and the validator agree, every route
is in it (the hot plain-Starlette ones too), with its token, answers and content types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import jsonschema_rs
import orjson
import pytest

from sentinel_backend import validation as v
from sentinel_backend.app import create_app
from sentinel_backend.config import Settings
from sentinel_backend.launcher import BackendProcess
from sentinel_backend.openapi import OPERATIONS, build_openapi
from sentinel_backend.schemas import MAX_DETECTIONS, MAX_ITEM_KEYS, MAX_STRING

from .helpers import detection

DOC = build_openapi("test")


def _schema_accepts(name: str, body: Any) -> bool:
    root = {"$ref": f"#/components/schemas/{name}", "components": DOC["components"]}
    return bool(jsonschema_rs.validator_for(root, validate_formats=True).is_valid(body))


def _fast_detection(body: Any) -> object:
    """The hot route's way: parse the raw bytes, deep-check only when they need it."""
    raw = orjson.dumps(body)
    return v.validate_detection(orjson.loads(raw), deep_check=v.needs_deep_check(raw))


def _accepts(check: Callable[[Any], object], body: Any) -> bool:
    try:
        check(orjson.loads(orjson.dumps(body)))  # a fresh copy: validators may normalise
    except v.Invalid:
        return False
    return True


def _det(**over: Any) -> dict[str, Any]:
    body = detection("edge-1", 1)
    body.update(over)
    return body


def _item(**extra: Any) -> dict[str, Any]:
    return {"label": "person", "confidence": 0.5, **extra}


_LONG = "x" * (MAX_STRING + 1)
DETECTIONS: list[tuple[str, Any, bool]] = [
    ("the documented example", _det(), True),
    ("extra fields", _det(firmware="1.2", tags=["a", {"b": None}]), True),
    ("no items", _det(detections=[], detection_count=0), True),
    ("integral float seq", _det(seq=3.0), True),
    ("null optionals", _det(event_id=None, model=None, inference_time_ms=None), True),
    ("uuid event id", _det(event_id="5f0c8a4e-1b2c-4d3e-8f9a-0b1c2d3e4f5a"), True),
    ("model at the limit", _det(model="m" * MAX_STRING), True),
    ("label at the limit", _det(detections=[_item(label="l" * MAX_STRING)]), True),
    (f"{MAX_ITEM_KEYS} keys", _det(detections=[{f"k{i}": i for i in range(MAX_ITEM_KEYS)}]),
     True),
    (f"{MAX_DETECTIONS} items", _det(detections=[_item()] * MAX_DETECTIONS,
                                     detection_count=MAX_DETECTIONS), True),
    ("not an object", [1], False),
    ("missing location", {k: x for k, x in _det().items() if k != "location"}, False),
    ("seq 0", _det(seq=0), False),
    ("fractional seq", _det(seq=1.5), False),
    ("seq as string", _det(seq="1"), False),
    ("bad node id", _det(node_id="a b"), False),
    ("latitude 91", _det(location={"latitude": 91, "longitude": 0}), False),
    ("longitude -181", _det(location={"latitude": 0, "longitude": -181}), False),
    ("negative accuracy", _det(location={"latitude": 0, "longitude": 0, "accuracy_m": -1}),
     False),
    ("no zone", _det(captured_at="2026-11-22T10:00:00"), False),
    ("not a time", _det(captured_at="yesterday"), False),
    ("bad event id", _det(event_id="nope"), False),
    ("model too long", _det(model=_LONG), False),
    ("label too long", _det(detections=[_item(label=_LONG)]), False),
    ("long extra string", _det(note=_LONG), False),
    ("long key", _det(detections=[{_LONG: 1}]), False),
    ("long string deep down", _det(location={"latitude": 0, "longitude": 0,
                                             "src": {"a": [_LONG]}}), False),
    ("long string with an escaped quote", _det(note='"' + _LONG), False),
    ("NUL in a label", _det(detections=[_item(label="a\x00b")]), False),
    ("too many keys", _det(detections=[{f"k{i}": i for i in range(MAX_ITEM_KEYS + 1)}]),
     False),
    ("item not an object", _det(detections=[1]), False),
    ("too many items", _det(detections=[_item()] * (MAX_DETECTIONS + 1),
                            detection_count=MAX_DETECTIONS + 1), False),
    ("negative inference time", _det(inference_time_ms=-1), False),
]


@pytest.mark.parametrize(("case", "body", "valid"), DETECTIONS, ids=[c[0] for c in DETECTIONS])
def test_detection_schema_and_validator_agree(case: str, body: Any, valid: bool) -> None:
    assert _schema_accepts("Detection", body) is valid, case
    assert _accepts(v.validate_detection, body) is valid, case
    assert _accepts(_fast_detection, body) is valid, case


def test_detection_count_rule_is_in_the_description_not_the_schema() -> None:
    body = _det(detection_count=2)
    assert _schema_accepts("Detection", body)  # JSON Schema cannot say it ...
    assert not _accepts(v.validate_detection, body)  # ... the validator does
    assert "detection_count == len(detections)" in DOC["components"]["schemas"][
        "Detection"]["description"]


def _blackout(activate: bool) -> Callable[[Any], object]:
    return lambda body: v.blackout_body(body, activate=activate)


OTHERS: list[tuple[str, Callable[[Any], object], Any, bool]] = [
    ("Registration", v.registration_body, {"node_id": "n1"}, True),
    ("Registration", v.registration_body, {"node_id": "n1", "name": "N" * MAX_STRING,
                                           "location": None, "extra": [1]}, True),
    ("Registration", v.registration_body, {"node_id": "n1", "name": _LONG}, False),
    ("Registration", v.registration_body, {"node_id": "n1", "x": {"y": _LONG}}, False),
    ("Registration", v.registration_body, {"name": "n"}, False),
    ("Registration", v.registration_body, {"node_id": "n1",
                                           "location": {"latitude": 100, "longitude": 0}},
     False),
    ("Heartbeat", v.heartbeat_body, {}, True),
    ("Heartbeat", v.heartbeat_body, {"status": "covert", "outbox_depth": 12.0}, True),
    ("Heartbeat", v.heartbeat_body, {"status": "offline"}, False),
    ("Heartbeat", v.heartbeat_body, {"status": None}, False),
    ("Heartbeat", v.heartbeat_body, {"outbox_depth": -1}, False),
    ("Heartbeat", v.heartbeat_body, {"outbox_depth": 2**31}, False),
    ("Heartbeat", v.heartbeat_body, {"outbox_depth": True}, False),
    ("DetectionBatch", v.batch_items, {"items": [{"anything": 1}]}, True),
    ("DetectionBatch", v.batch_items, {"items": []}, False),
    ("DetectionBatch", v.batch_items, {"items": [{}] * 1001}, False),
    ("DetectionBatch", v.batch_items, [], False),
    ("BlackoutActivate", _blackout(True), {"node_ids": ["a", "a"], "reason": "r"}, True),
    ("BlackoutActivate", _blackout(True), {"node_id": "a", "reason": "r"}, True),
    ("BlackoutActivate", _blackout(True), {"node_id": "a", "node_ids": ["a"], "reason": "r"},
     False),
    ("BlackoutActivate", _blackout(True), {"node_id": "a"}, False),
    ("BlackoutActivate", _blackout(True), {"node_id": "a", "reason": ""}, False),
    ("BlackoutActivate", _blackout(True), {"node_ids": [], "reason": "r"}, False),
    ("BlackoutActivate", _blackout(True), {"reason": "r"}, False),
    ("BlackoutActivate", _blackout(True), {"node_id": "a", "reason": "x" * 1001}, False),
    ("BlackoutDeactivate", _blackout(False), {"node_id": "a"}, True),
    ("BlackoutDeactivate", _blackout(False), {"node_ids": ["a"], "reason": None}, True),
    ("BlackoutDeactivate", _blackout(False), {"node_id": "a b"}, False),
    ("CommandAck", v.ack_body, {"ok": True}, True),
    ("CommandAck", v.ack_body, {"ok": True, "result": {"queued": 4.0}}, True),
    ("CommandAck", v.ack_body, {"ok": "yes"}, False),
    ("CommandAck", v.ack_body, {"ok": True, "result": {"queued": -1}}, False),
    ("CommandAck", v.ack_body, {"ok": True, "result": [1]}, False),
    ("CommandAck", v.ack_body, {"ok": True, "result": {"why": _LONG}}, False),
    ("CommandCreate", v.command_body, {"node_id": "a", "type": "reboot"}, True),
    ("CommandCreate", v.command_body, {"node_id": "a", "type": "x", "payload": {"k": _LONG}},
     True),
    ("CommandCreate", v.command_body, {"node_id": "a", "type": "no spaces"}, False),
    ("CommandCreate", v.command_body, {"node_id": "a", "type": "x", "payload": None}, False),
    ("CommandCreate", v.command_body, {"node_id": "a", "type": "x", "payload": {"k": "\x00"}},
     False),
]


@pytest.mark.parametrize(("name", "check", "body", "valid"), OTHERS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(OTHERS)])
def test_other_schemas_and_validators_agree(name: str, check: Callable[[Any], object],
                                            body: Any, valid: bool) -> None:
    assert _schema_accepts(name, body) is valid
    assert _accepts(check, body) is valid


def _leaf_routes(routes: list[Any]) -> list[Any]:
    """Routes, with included routers opened (FastAPI keeps them nested; no prefixes here)."""
    out = []
    for route in routes:
        inner = getattr(getattr(route, "original_router", None), "routes", None)
        out.extend(_leaf_routes(inner) if inner is not None else [route])
    return out


def test_every_route_is_documented_with_its_token_and_answers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "SENTINEL_ENROLLMENT_KEY", "SENTINEL_OPERATOR_TOKEN",
                 "SENTINEL_VIEWER_TOKEN"):
        monkeypatch.setenv(name, "postgresql://unused" if name == "DATABASE_URL" else "t")
    app = create_app(Settings.from_env())  # built, not started: no database needed
    documented = {(op.path, op.method.upper()) for op in OPERATIONS}
    served = set()
    for route in _leaf_routes(app.routes):
        path, methods = getattr(route, "path", ""), getattr(route, "methods", None) or ()
        if path in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"):
            continue
        served |= {(path, m) for m in methods if m != "HEAD"}
    assert served == documented
    for path, item in DOC["paths"].items():
        for method, op in item.items():
            if path.startswith("/api/"):
                assert op["security"] == [{"bearer": []}], (method, path)
                assert "401" in op["responses"] and "403" in op["responses"]
                assert op["x-sentinel-roles"], (method, path)
                assert "Retry-After" in op["responses"]["503"]["headers"]
            if "requestBody" in op:
                assert {"400", "413", "422"} <= op["responses"].keys(), (method, path)
    assert "text/plain" in DOC["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert "4008" in DOC["info"]["description"]  # the WebSocket protocol is described


async def test_the_live_document_is_the_contract(backend: BackendProcess) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        served = (await client.get("/openapi.json")).json()
        assert served["paths"] == orjson.loads(orjson.dumps(DOC["paths"]))
        assert (await client.get("/docs")).status_code == 200
        metrics = await client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        wrong = await client.delete("/api/detections")
        assert wrong.status_code == 405
        assert set(wrong.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}

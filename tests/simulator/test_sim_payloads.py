"""The payload generator: deterministic and valid per docs/api.md."""

from __future__ import annotations

import math
import re

import orjson

from simulator.payloads import canonical_bytes, content_hash, make_detection, payload_bytes

NODE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def test_same_inputs_same_bytes() -> None:
    a = payload_bytes(make_detection("edge-00001", 7, 1_790_000_000.25, seed=3))
    b = payload_bytes(make_detection("edge-00001", 7, 1_790_000_000.25, seed=3))
    assert a == b
    c = payload_bytes(make_detection("edge-00001", 8, 1_790_000_000.25, seed=3))
    assert a != c


def test_payloads_follow_the_contract() -> None:
    for seq in range(1, 300):
        p = make_detection(f"edge-{seq % 7:05d}", seq, 1_790_000_000.0 + seq, seed=1)
        assert NODE_RE.match(p["node_id"])
        assert p["seq"] == seq >= 1
        assert p["captured_at"].endswith("+00:00")
        loc = p["location"]
        assert -90 <= loc["latitude"] <= 90 and -180 <= loc["longitude"] <= 180
        assert p["detection_count"] == len(p["detections"]) <= 256
        for d in p["detections"]:
            assert 0 <= d["confidence"] <= 1
            assert len(d["bbox"]) == 4 and all(0 <= v <= 1 for v in d["bbox"])
            assert isinstance(d["label"], str) and "\x00" not in d["label"]
        body = payload_bytes(p)
        assert len(body) < 1024 * 1024
        for v in orjson.loads(body)["location"].values():
            assert math.isfinite(v)


def test_track_moves_with_seq() -> None:
    locs = {
        (p["location"]["latitude"], p["location"]["longitude"])
        for p in (make_detection("edge-1", s, 0.0) for s in range(1, 20))
    }
    assert len(locs) > 10


def test_content_hash_ignores_server_fields_and_key_order() -> None:
    p = make_detection("edge-1", 5, 1_790_000_000.0)
    stored = dict(reversed(list(p.items())))
    stored.update(id=99, stream_seq=12, committed_at="2026-11-22T00:00:00+00:00")
    assert content_hash(stored) == content_hash(p)
    assert canonical_bytes(stored) == canonical_bytes(p)
    altered = dict(p, inference_time_ms=p["inference_time_ms"] + 1)
    assert content_hash(altered) != content_hash(p)

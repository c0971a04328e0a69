"""Synthetic Sentinel detection payloads.

One implementation shared by the fleet runner and the Locust users, so every
load source sends the same plausible shape (docs/api.md, "Detections").
Everything here is a pure function of its arguments: the same ``(seed, node_id,
seq, captured_at)`` always gives the same payload, which makes a resend after a
crash byte-identical (idempotent on the backend) and the ledger's content hash
reproducible.
"""

from __future__ import annotations

import hashlib
import math
import random
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

__all__ = [
    "LABELS",
    "MODELS",
    "canonical_bytes",
    "content_hash",
    "format_time",
    "make_detection",
    "node_home",
    "payload_bytes",
]

LABELS: tuple[str, ...] = ("person", "vehicle", "boat", "animal", "drone", "bicycle")
MODELS: tuple[str, ...] = ("yolov8n", "yolov8s", "rtdetr-l")

# Payload keys the content hash covers: the detection as the node sent it, not
# what the backend adds when it stores it (id, stream_seq, committed_at).
HASHED_KEYS: tuple[str, ...] = (
    "node_id",
    "seq",
    "event_id",
    "captured_at",
    "location",
    "detections",
    "detection_count",
    "inference_time_ms",
    "model",
)


def _digest_int(*parts: object) -> int:
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


@lru_cache(maxsize=65536)
def node_home(node_id: str, seed: int = 0) -> tuple[float, float]:
    """Deterministic home position of a node (latitude, longitude), in northern Norway."""
    rng = random.Random(_digest_int("home", seed, node_id))
    return round(68.0 + rng.random() * 3.0, 6), round(14.0 + rng.random() * 10.0, 6)


@lru_cache(maxsize=65536)
def _node_model(node_id: str, seed: int) -> str:
    return MODELS[_digest_int("model", seed, node_id) % len(MODELS)]


def format_time(ts: float) -> str:
    """RFC 3339 with zone and microseconds, from a POSIX timestamp."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


def make_detection(
    node_id: str,
    seq: int,
    captured_at: float,
    seed: int = 0,
    max_objects: int = 4,
) -> dict[str, Any]:
    """A plausible detection for ``(node_id, seq)`` captured at POSIX time ``captured_at``.

    The node patrols a small circle around its home (a track of positions
    numbered by ``seq``); 0..max_objects labelled boxes with confidences and
    track ids; an inference time and a model name.
    """
    rng = random.Random(_digest_int("det", seed, node_id, seq))
    lat0, lon0 = node_home(node_id, seed)
    angle = (seq % 360) * math.pi / 180.0
    n_obj = rng.randint(0, max_objects)
    objects: list[dict[str, Any]] = []
    for _ in range(n_obj):
        x, y = rng.random() * 0.8, rng.random() * 0.8
        w, h = 0.02 + rng.random() * 0.18, 0.02 + rng.random() * 0.18
        objects.append(
            {
                "label": LABELS[rng.randrange(len(LABELS))],
                "confidence": round(0.3 + rng.random() * 0.69, 4),
                "bbox": [round(x, 4), round(y, 4), round(x + w, 4), round(y + h, 4)],
                "track_id": rng.randrange(1, 1000),
            }
        )
    return {
        "node_id": node_id,
        "seq": seq,
        "captured_at": format_time(captured_at),
        "location": {
            "latitude": round(lat0 + 0.001 * math.sin(angle), 6),
            "longitude": round(lon0 + 0.002 * math.cos(angle), 6),
            "altitude_m": round(10.0 + rng.random() * 5.0, 2),
            "accuracy_m": round(2.0 + rng.random() * 6.0, 2),
        },
        "detections": objects,
        "detection_count": n_obj,
        "inference_time_ms": round(8.0 + rng.random() * 40.0, 2),
        "model": _node_model(node_id, seed),
    }


def payload_bytes(payload: dict[str, Any]) -> bytes:
    """The JSON body the node sends (and stores in its outbox, so a resend is identical)."""
    return orjson.dumps(payload)


def canonical_bytes(payload: dict[str, Any]) -> bytes:
    """Canonical JSON (sorted keys) of the keys in ``HASHED_KEYS`` that are present."""
    return orjson.dumps(
        {k: payload[k] for k in HASHED_KEYS if k in payload and payload[k] is not None},
        option=orjson.OPT_SORT_KEYS,
    )


def content_hash(payload: dict[str, Any]) -> int:
    """64-bit content hash (signed, fits SQLite INTEGER) of the canonical payload.

    The verdict can recompute it from a stored row (GET /api/detections) to tell an
    altered detection from the one the node generated.
    """
    digest = hashlib.blake2b(canonical_bytes(payload), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)

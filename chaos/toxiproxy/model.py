"""The API's view of a toxic, and parsing of Toxiproxy's JSON for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaos.toxiproxy import errors
from chaos.toxiproxy.toxics import Toxic, toxic_types

STREAMS = ("upstream", "downstream")


@dataclass(slots=True)
class ToxicEntry:
    """A toxic as configured on a proxy (shared by every connection's link)."""

    name: str
    type: str
    stream: str
    toxicity: float
    toxic: Toxic

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.toxic.attributes),
        }


def _int_attribute(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.BAD_REQUEST_BODY.joined(f"attribute {name} must be a number")
    if isinstance(value, float) and not value.is_integer():
        raise errors.BAD_REQUEST_BODY.joined(f"attribute {name} must be an integer")
    return int(value)


def _toxicity(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.BAD_REQUEST_BODY.joined("toxicity must be a number")
    return float(value)


def build_toxic(kind: type[Toxic], attributes: object, base: dict[str, int]) -> Toxic:
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise errors.BAD_REQUEST_BODY.joined("attributes must be an object")
    merged = dict(base)
    for key, value in attributes.items():
        if key in kind.defaults:
            merged[key] = _int_attribute(key, value)
    toxic = kind(merged)
    problem = toxic.validate()
    if problem:
        raise errors.BAD_REQUEST_BODY.joined(problem)
    return toxic


def parse_new_toxic(body: object) -> ToxicEntry:
    """A toxic from a ``POST /proxies/{p}/toxics`` body, with Toxiproxy's defaults and checks."""
    if not isinstance(body, dict):
        raise errors.BAD_REQUEST_BODY.joined("expected a JSON object")
    stream = body.get("stream") or "downstream"
    if stream not in STREAMS:
        raise errors.INVALID_STREAM
    type_name = body.get("type")
    if not isinstance(type_name, str):
        type_name = ""
    name = body.get("name") or f"{type_name}_{stream}"
    if not isinstance(name, str):
        raise errors.BAD_REQUEST_BODY.joined("name must be a string")
    kind = toxic_types().get(type_name)
    if kind is None:
        raise errors.INVALID_TOXIC_TYPE
    toxicity = _toxicity(body["toxicity"]) if body.get("toxicity") is not None else 1.0
    toxic = build_toxic(kind, body.get("attributes"), dict(kind.defaults))
    return ToxicEntry(name, type_name, stream, toxicity, toxic)


def parse_toxic_update(entry: ToxicEntry, body: object) -> ToxicEntry:
    """``entry`` with the fields of a ``POST /proxies/{p}/toxics/{t}`` body merged in."""
    if not isinstance(body, dict):
        raise errors.BAD_REQUEST_BODY.joined("expected a JSON object")
    kind = type(entry.toxic)
    toxic = build_toxic(kind, body.get("attributes"), dict(entry.toxic.attributes))
    toxicity = entry.toxicity
    if body.get("toxicity") is not None:
        toxicity = _toxicity(body["toxicity"])
    return ToxicEntry(entry.name, entry.type, entry.stream, toxicity, toxic)

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
    configured_toxicity: float
    toxic: Toxic

    @property
    def toxicity(self) -> float:
        """The chance a link runs this toxic on a connection (rolled once per connection).

        1 for toxics that apply the configured toxicity per request themselves.
        """
        return 1.0 if self.toxic.rolls_own_toxicity else self.configured_toxicity

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.configured_toxicity,
            "attributes": {**self.toxic.attributes, **self.toxic.text_attributes},
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


def _text_attribute(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise errors.BAD_REQUEST_BODY.joined(f"attribute {name} must be a string")
    return value


def build_toxic(
    kind: type[Toxic], attributes: object, base: Toxic | None, toxicity: float
) -> Toxic:
    """``kind`` with ``attributes`` over ``base``'s (an update) or the defaults (a create).

    Unknown attribute names are ignored, as Go's JSON decoding ignores unknown fields.
    """
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise errors.BAD_REQUEST_BODY.joined("attributes must be an object")
    numbers = dict(base.attributes if base is not None else kind.defaults)
    texts = dict(base.text_attributes if base is not None else kind.text_defaults)
    for key, value in attributes.items():
        if key in kind.defaults:
            numbers[key] = _int_attribute(key, value)
        elif key in kind.text_defaults:
            texts[key] = _text_attribute(key, value)
    toxic = kind(numbers, texts, toxicity)
    problem = toxic.validate()
    if problem:
        raise errors.BAD_REQUEST_BODY.joined(problem)
    return toxic


def parse_new_toxic(body: object) -> ToxicEntry:
    """A toxic from a ``POST /proxies/{p}/toxics`` body, with Toxiproxy's defaults and checks."""
    if not isinstance(body, dict):
        raise errors.BAD_REQUEST_BODY.joined("expected a JSON object")
    # Go decodes into a "downstream" default: a missing or null stream keeps it, an
    # empty one is invalid; the direction is matched case-insensitively.
    requested = body.get("stream")
    if requested is not None and not isinstance(requested, str):
        raise errors.BAD_REQUEST_BODY.joined("stream must be a string")
    stream = "downstream" if requested is None else requested.lower()
    if stream not in STREAMS:
        raise errors.INVALID_STREAM
    type_name = body.get("type")
    if not isinstance(type_name, str):
        type_name = ""
    kind = toxic_types().get(type_name)
    if kind is not None and kind.only_stream is not None:
        if requested is None:
            stream = kind.only_stream
        elif stream != kind.only_stream:
            raise errors.BAD_REQUEST_BODY.joined(
                f"{type_name} works on the {kind.only_stream} stream only"
            )
    name = body.get("name") or f"{type_name}_{stream}"
    if not isinstance(name, str):
        raise errors.BAD_REQUEST_BODY.joined("name must be a string")
    if kind is None:
        raise errors.INVALID_TOXIC_TYPE
    toxicity = _toxicity(body["toxicity"]) if body.get("toxicity") is not None else 1.0
    toxic = build_toxic(kind, body.get("attributes"), None, toxicity)
    return ToxicEntry(name, type_name, stream, toxicity, toxic)


def parse_toxic_update(entry: ToxicEntry, body: object) -> ToxicEntry:
    """``entry`` with the fields of a ``POST /proxies/{p}/toxics/{t}`` body merged in."""
    if not isinstance(body, dict):
        raise errors.BAD_REQUEST_BODY.joined("expected a JSON object")
    toxicity = entry.configured_toxicity
    if body.get("toxicity") is not None:
        toxicity = _toxicity(body["toxicity"])
    toxic = build_toxic(type(entry.toxic), body.get("attributes"), entry.toxic, toxicity)
    return ToxicEntry(entry.name, entry.type, entry.stream, toxicity, toxic)

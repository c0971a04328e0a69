"""``toxic``: one Toxiproxy toxic on a link's proxy for the step's duration (L4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext, ToxicSpec, ToxicStream
from chaos.scenario.steps._base import Action, Link, require_link

STREAMS = ("upstream", "downstream")
TEXT_ATTRIBUTES = frozenset({"body"})
# Toxics that act on requests: without a ``stream`` they go upstream.
UPSTREAM_BY_DEFAULT = frozenset({"http_error"})

# Attribute names per toxic type, as in the Toxiproxy v2 API, and our server's extensions
# (``http_error``, ``handshake_delay``: see chaos/toxiproxy/README.md).
TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
    "noop": (),
    "handshake_delay": ("delay",),
    "http_error": ("status", "retry_after", "body"),
}

@dataclass(frozen=True)
class Toxic(Action):
    kind = "toxic"
    capability = "toxiproxy"
    needs_link = True
    summary = "a Toxiproxy toxic (latency, bandwidth, slicer, reset_peer, ...) on a link"

    link: Link
    spec: ToxicSpec

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(("type", "attributes", "stream", "toxicity", "name"))
        toxic_type = params.require("type").choice(tuple(TOXIC_ATTRIBUTES))
        attributes: dict[str, int | str] = {}
        attrs = params.get("attributes")
        if attrs is not None:
            attrs.only(TOXIC_ATTRIBUTES[toxic_type])
            for key, value in attrs.items():
                attributes[key] = (value.text() if key in TEXT_ATTRIBUTES
                                   else value.integer(minimum=0))
        stream_field = params.get("stream")
        stream: ToxicStream = "upstream" if toxic_type in UPSTREAM_BY_DEFAULT else "downstream"
        if stream_field is not None:
            stream = "upstream" if stream_field.choice(STREAMS) == "upstream" else "downstream"
        toxicity_field = params.get("toxicity")
        toxicity = toxicity_field.fraction() if toxicity_field else 1.0
        name_field = params.get("name")
        # The default name must be unique per proxy (409 otherwise) when steps overlap, and
        # stable across loads: the step's position in the file is both.
        column = int(params.node.start_mark.column) + 1
        default_name = f"chaos_{toxic_type}_{stream}_{params.line}_{column}"
        name = name_field.text() if name_field else default_name
        return cls(link=require_link(link),
                   spec=ToxicSpec(name=name, type=toxic_type, stream=stream,
                                  toxicity=toxicity, attributes=attributes))

    async def start(self, ctx: StepContext) -> None:
        assert ctx.toxiproxy is not None
        await ctx.toxiproxy.add_toxic(self.link.proxy, self.spec)

    async def stop(self, ctx: StepContext) -> None:
        assert ctx.toxiproxy is not None
        await ctx.toxiproxy.remove_toxic(self.link.proxy, self.spec.name)

    def describe(self) -> str:
        attrs = self.spec.attributes
        if self.spec.type == "latency":
            text = f"latency {attrs.get('latency', 0)}±{attrs.get('jitter', 0)}ms"
        else:
            text = " ".join([self.spec.type, *(f"{k}={v}" for k, v in attrs.items())])
        if self.spec.toxicity < 1.0:
            text += f" toxicity={self.spec.toxicity:g}"
        return f"{text} ({self.spec.stream}) on {self.link.name}"


STEP = Toxic

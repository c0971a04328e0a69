"""L4 faults: a Toxiproxy-compatible server and the typed control the harness uses.

- :func:`acquire_toxiproxy` finds or starts a Toxiproxy (``TOXIPROXY_URL``, a
  ``toxiproxy-server`` binary, else the embedded server).
- :class:`ToxiproxyControl` / :class:`AsyncToxiproxyControl` drive any Toxiproxy: the same
  operations, written once, sent with a blocking or an asyncio httpx client.
- :class:`StepToxiproxy` adapts the async control to the scenario steps' interface.
- :class:`EmbeddedToxiproxy` runs the embedded server on a thread (tests, the harness);
  ``sentinel-chaos toxiproxy`` / ``python -m chaos.toxiproxy`` runs it standalone.

The control classes use httpx, not toxiproxy-python: that client keeps host and port as
class attributes of ``APIConsumer`` (one server per process), raises only for 400/404/409,
and has no update-toxic call. It is still the client the tests drive the server with.
"""

from chaos.toxiproxy.adapters import StepToxiproxy
from chaos.toxiproxy.control import (
    INGEST,
    STREAM,
    AsyncToxiproxyControl,
    ProxyInfo,
    StackProxies,
    ToxicInfo,
    ToxiproxyControl,
    ToxiproxyError,
)
from chaos.toxiproxy.provider import ToxiproxyHandle, acquire_toxiproxy, start_embedded
from chaos.toxiproxy.server import EmbeddedToxiproxy, ToxiproxyServer, serve

__all__ = [
    "INGEST",
    "STREAM",
    "AsyncToxiproxyControl",
    "EmbeddedToxiproxy",
    "ProxyInfo",
    "StackProxies",
    "StepToxiproxy",
    "ToxicInfo",
    "ToxiproxyControl",
    "ToxiproxyError",
    "ToxiproxyHandle",
    "ToxiproxyServer",
    "acquire_toxiproxy",
    "serve",
    "start_embedded",
]

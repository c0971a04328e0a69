"""noop: pass everything through unchanged (Toxiproxy registers it as a type clients may add).

It is the same toxic a link runs when a toxicity roll does not pick a toxic, so it lives
in :mod:`~chaos.toxiproxy.toxics.base`; this module only makes it creatable by name.
"""

from __future__ import annotations

from chaos.toxiproxy.toxics.base import Passthrough, register

NoopToxic = register(Passthrough)
